package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// newProjectsUpdateCmd changes a project's serve settings: only the flags
// given are sent, so the others stay as they are.
func newProjectsUpdateCmd(a *app) *cobra.Command {
	var spa, clean, hsts, nosniff bool
	var slash string
	cmd := &cobra.Command{
		Use:   "update NAME [--spa] [--clean-urls] [--trailing-slash=true|false|unset] [--hsts] [--nosniff]",
		Short: "Change how a project's sites are served",
		Long: `Update changes a project's serve settings. Only the flags you give change;
--spa=false turns a switch off again. The settings apply from the project's
next deployment on: a deployment keeps the settings it was made with, so
redeploy (or deploy) to see them. A vercel.json's cleanUrls and
trailingSlash win over these settings.

  --spa             unknown page paths serve /index.html (single-page apps)
  --clean-urls      /about serves about.html; /about.html redirects to /about
  --trailing-slash  true: page URLs end with "/"; false: never; unset: only
                    directories get one (the default)
  --hsts            Strict-Transport-Security on HTTPS responses
  --nosniff         X-Content-Type-Options: nosniff`,
		Example: `  apogee projects update web --spa --clean-urls
  apogee projects update web --trailing-slash=false --hsts --nosniff
  apogee projects update web --spa=false --trailing-slash=unset --json`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			serve := map[string]any{}
			for flag, key := range map[string]string{"spa": "spa", "clean-urls": "clean_urls", "hsts": "hsts", "nosniff": "nosniff"} {
				if cmd.Flags().Changed(flag) {
					v, _ := cmd.Flags().GetBool(flag)
					serve[key] = v
				}
			}
			if cmd.Flags().Changed("trailing-slash") {
				switch strings.ToLower(slash) {
				case "true", "yes", "on":
					serve["trailing_slash"] = true
				case "false", "no", "off":
					serve["trailing_slash"] = false
				case "unset", "default", "":
					serve["trailing_slash"] = nil
				default:
					return usageError(cmd, fmt.Errorf("--trailing-slash is true, false or unset, not %q", slash))
				}
			}
			if len(serve) == 0 {
				return usageError(cmd, fmt.Errorf("nothing to change: give at least one of --spa, --clean-urls, --trailing-slash, --hsts, --nosniff"))
			}
			c, _, err := a.client()
			if err != nil {
				return err
			}
			p, err := c.UpdateProjectSettings(cmd.Context(), argv[0], map[string]map[string]any{"serve": serve})
			if err != nil {
				return projectHint(err)
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(p)
			}
			s := p.Settings.Serve
			o.Printf("Updated project %s.\n", p.Name)
			o.Fields(
				"SPA fallback", onOff(s.SPA),
				"Clean URLs", onOff(s.CleanURLs),
				"Trailing slash", slashSetting(s.TrailingSlash),
				"HSTS", onOff(s.HSTS),
				"nosniff", onOff(s.NoSniff),
			)
			o.Notef("These apply from the next deployment of %s on: run `apogee deploy --project %s` (or redeploy).\n", p.Name, p.Name)
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&spa, "spa", false, "serve /index.html for unknown page paths")
	f.BoolVar(&clean, "clean-urls", false, "serve /about from about.html and drop .html from URLs")
	f.StringVar(&slash, "trailing-slash", "", "true, false or unset")
	f.BoolVar(&hsts, "hsts", false, "send Strict-Transport-Security on HTTPS")
	f.BoolVar(&nosniff, "nosniff", false, "send X-Content-Type-Options: nosniff")
	return cmd
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func slashSetting(b *bool) string {
	switch {
	case b == nil:
		return "unset (directories only)"
	case *b:
		return "always"
	default:
		return "never"
	}
}
