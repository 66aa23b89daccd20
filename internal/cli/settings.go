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
	build := map[string]*string{}
	cmd := &cobra.Command{
		Use:   "update NAME [--build-command C] [--install-command C] [--output-dir D] [--root-dir D] [--framework F] [--spa] [--clean-urls] [--trailing-slash=true|false|unset] [--hsts] [--nosniff]",
		Short: "Change how a project is built and how its sites are served",
		Long: `Update changes a project's build and serve settings. Only the flags you give change.

Build settings override what framework detection finds, for the next build:

  --framework F        a preset (vite, nextjs, create-react-app, static, …)
  --install-command C  e.g. "pnpm install --frozen-lockfile"; "" skips the install
  --build-command C    e.g. "npm run build:prod"; "" skips the build
  --output-dir D       the folder the build leaves the site in, e.g. build
  --root-dir D         the app's folder inside the repository, e.g. apps/web
Give "auto" to any of them to go back to what detection finds.

Serve settings: only the flags you give change;
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
			buildPatch := map[string]any{}
			for flag, key := range map[string]string{"framework": "framework", "install-command": "install_command",
				"build-command": "build_command", "output-dir": "output_dir", "root-dir": "root_dir"} {
				if !cmd.Flags().Changed(flag) {
					continue
				}
				if v := *build[flag]; v == "auto" {
					buildPatch[key] = nil
				} else {
					buildPatch[key] = v
				}
			}
			if len(serve) == 0 && len(buildPatch) == 0 {
				return usageError(cmd, fmt.Errorf("nothing to change: give a build flag (--build-command, --install-command, --output-dir, --root-dir, --framework) or a serve flag (--spa, --clean-urls, --trailing-slash, --hsts, --nosniff)"))
			}
			patch := map[string]map[string]any{}
			if len(serve) > 0 {
				patch["serve"] = serve
			}
			if len(buildPatch) > 0 {
				patch["build"] = buildPatch
			}
			c, _, err := a.client()
			if err != nil {
				return err
			}
			p, err := c.UpdateProjectSettings(cmd.Context(), argv[0], patch)
			if err != nil {
				return projectHint(err)
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(p)
			}
			s, bs := p.Settings.Serve, p.Settings.Build
			o.Printf("Updated project %s.\n", p.Name)
			o.Fields(
				"Framework", orAuto(bs.Framework),
				"Install command", orAuto(bs.InstallCommand),
				"Build command", orAuto(bs.BuildCommand),
				"Output folder", orAuto(bs.OutputDir),
				"Root folder", orAuto(bs.RootDir),
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
	for _, b := range []struct{ flag, usage string }{
		{"framework", "framework preset to build with (\"auto\": detect)"},
		{"install-command", "install command (\"\": none, \"auto\": detect)"},
		{"build-command", "build command (\"\": none, \"auto\": detect)"},
		{"output-dir", "folder the build writes the site to (\"auto\": detect)"},
		{"root-dir", "the app's folder in the repository (\"auto\": the root)"},
	} {
		build[b.flag] = f.String(b.flag, "", b.usage)
	}
	return cmd
}

// orAuto shows a build override, or that detection decides.
func orAuto(s *string) string {
	switch {
	case s == nil:
		return "auto (detected)"
	case *s == "":
		return "(none)"
	}
	return *s
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
