package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/apogee-dev/apogee"
)

// newProjectsUpdateCmd changes a project's serve settings: only the flags
// given are sent, so the others stay as they are.
func newProjectsUpdateCmd(a *app) *cobra.Command {
	var spa, clean, hsts, nosniff bool
	var slash, watch string
	var appFlags appSettingFlags
	build := map[string]*string{}
	cmd := &cobra.Command{
		Use:   "update NAME [--build-command C] [--install-command C] [--output-dir D] [--root-dir D] [--watch-paths P,P] [--ignore-command C] [--framework F] [--node-version V] [--spa] [--clean-urls] [--trailing-slash=true|false|unset] [--hsts] [--nosniff] [--kind K] [--start-command C] [--health-path P] [--boot-timeout S] [--instances N]",
		Short: "Change how a project is built, served and run",
		Long: `Update changes a project's build and serve settings. Only the flags you give change.

Build settings override what framework detection finds, for the next build:

  --framework F        a preset (vite, nextjs, create-react-app, static, …)
  --install-command C  e.g. "pnpm install --frozen-lockfile"; "" skips the install
  --build-command C    e.g. "npm run build:prod"; "" skips the build
  --output-dir D       the folder the build leaves the site in, e.g. build
  --root-dir D         the app's folder inside the repository, e.g. apps/web
  --node-version V     the Node.js builds run with: 22, 22.12.0, ">=22", lts/*;
                       by default package.json's engines.node, else .nvmrc,
                       else .node-version, else the current LTS
Give "auto" to any of them to go back to what detection finds.

Monorepos: several projects may build from one repository, each with its
own --root-dir. A push builds a project only if it changed a file in its
root folder or in one of its watch paths; the others get a deployment
marked skipped that says why.

  --watch-paths P,P    folders or files besides the root folder whose change
                       builds the project, e.g. packages/ui,pnpm-lock.yaml
                       (globs allowed); "auto": the root folder only
  --ignore-command C   the ignored build step: run in the root folder of the
                       checkout before the install; exit code 0 skips the
                       build, any other builds. It sees APOGEE_GIT_COMMIT_SHA,
                       APOGEE_GIT_PREVIOUS_SHA, APOGEE_GIT_COMMIT_REF and
                       APOGEE_TARGET; "auto": none

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
  --nosniff         X-Content-Type-Options: nosniff

App settings (Node.js apps) apply at once: a new start command or health
check makes a new release of the app and rolls it out (the old one keeps
serving if the new one fails), and --instances scales it.

  --kind K            static or app; "auto" detects it at each build
  --start-command C   e.g. "node dist/server.js"; "auto": the Procfile's web:
                      line, else npm start
  --health-path P     the path the health check GETs, e.g. /healthz
  --boot-timeout S    seconds an instance has to listen on PORT and pass it
  --instances N       instances serving production (1 to 10)`,
		Example: `  apogee projects update web --spa --clean-urls
  apogee projects update web --trailing-slash=false --hsts --nosniff
  apogee projects update web --spa=false --trailing-slash=unset --json
  apogee projects update docs --root-dir apps/docs --watch-paths packages/ui
  apogee projects update docs --ignore-command 'git diff --quiet $APOGEE_GIT_PREVIOUS_SHA HEAD -- .' 
  apogee projects update api --kind app --start-command 'node server.js' --health-path /healthz`,
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
				"build-command": "build_command", "output-dir": "output_dir", "root-dir": "root_dir", "node-version": "node_version",
				"ignore-command": "ignore_command"} {
				if !cmd.Flags().Changed(flag) {
					continue
				}
				if v := *build[flag]; v == "auto" {
					buildPatch[key] = nil
				} else {
					buildPatch[key] = v
				}
			}
			if cmd.Flags().Changed("watch-paths") {
				if v := strings.TrimSpace(watch); v == "auto" || v == "" {
					buildPatch["watch_paths"] = nil
				} else {
					var paths []string
					for _, p := range strings.Split(v, ",") {
						if p = strings.TrimSpace(p); p != "" {
							paths = append(paths, p)
						}
					}
					buildPatch["watch_paths"] = paths
				}
			}
			appPatch, err := appFlags.patch(cmd)
			if err != nil {
				return err
			}
			if len(serve) == 0 && len(buildPatch) == 0 && len(appPatch) == 0 {
				return usageError(cmd, fmt.Errorf("nothing to change: give a build flag (--build-command, --install-command, --output-dir, --root-dir, --watch-paths, --ignore-command, --framework, --node-version), a serve flag (--spa, --clean-urls, --trailing-slash, --hsts, --nosniff) or an app flag (--kind, --start-command, --health-path, --boot-timeout, --instances)"))
			}
			patch := map[string]map[string]any{}
			if len(serve) > 0 {
				patch["serve"] = serve
			}
			if len(buildPatch) > 0 {
				patch["build"] = buildPatch
			}
			if len(appPatch) > 0 {
				patch["app"] = appPatch
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
				"Watch paths", watchPaths(bs.WatchPaths),
				"Ignored build step", orNone(bs.IgnoreCommand),
				"Node.js", orAuto(bs.NodeVersion),
				"SPA fallback", onOff(s.SPA),
				"Clean URLs", onOff(s.CleanURLs),
				"Trailing slash", slashSetting(s.TrailingSlash),
				"HSTS", onOff(s.HSTS),
				"nosniff", onOff(s.NoSniff),
				"Kind", orAuto(p.Settings.App.Kind),
				"Start command", orAuto(p.Settings.App.StartCommand),
				"Health path", orDefault(p.Settings.App.HealthPath, apogee.DefaultHealthPath),
				"Boot timeout", orDefaultInt(p.Settings.App.BootTimeout, apogee.DefaultBootTimeout, "s"),
				"Instances", orDefaultInt(p.Settings.App.Instances, 1, ""),
				"Sandbox", orDefault(p.Settings.App.Sandbox, "the server's"),
			)
			if len(serve) > 0 || len(buildPatch) > 0 {
				o.Notef("Build and serve settings apply from the next deployment of %s on: run `apogee deploy --project %s` (or redeploy).\n", p.Name, p.Name)
			}
			if len(appPatch) > 0 {
				o.Notef("App settings apply now; see the app with `apogee apps status %s`.\n", p.Name)
			}
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
		{"ignore-command", "ignored build step: exit code 0 skips the build (\"auto\": none)"},
		{"node-version", "Node.js of builds: a version or range, e.g. 22 or >=22 (\"auto\": engines.node, .nvmrc, else the current LTS)"},
	} {
		build[b.flag] = f.String(b.flag, "", b.usage)
	}
	f.StringVar(&watch, "watch-paths", "", "comma-separated paths besides the root folder whose change builds the project (\"auto\": the root folder only)")
	appFlags.add(cmd)
	return cmd
}

// watchPaths shows a project's watch paths.
func watchPaths(p []string) string {
	if len(p) == 0 {
		return "none (the root folder only)"
	}
	return strings.Join(p, ", ")
}

// orNone shows an optional command.
func orNone(s *string) string {
	if s == nil || *s == "" {
		return "none"
	}
	return *s
}

// orDefault shows a setting, or its default.
func orDefault(s *string, def string) string {
	if s == nil {
		return def + " (default)"
	}
	return *s
}

func orDefaultInt(n *int, def int, unit string) string {
	if n == nil {
		return fmt.Sprintf("%d%s (default)", def, unit)
	}
	return fmt.Sprintf("%d%s", *n, unit)
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
