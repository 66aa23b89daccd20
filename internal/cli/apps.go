package cli

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/apogee-dev/apogee"
)

func newAppsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "apps",
		Aliases: []string{"app"},
		Short:   "See, scale and restart Node.js apps",
		Long: `Apps are projects whose production runs a Node.js server: each deploy makes
a release (the tree with its production dependencies, the start command,
the variables), and the release's instances serve the project's hosts.

  apogee apps status NAME        releases and instances (state, health, uptime, memory, CPU)
  apogee apps scale NAME --instances 3
  apogee apps restart NAME       new instances, then the old ones drain: no downtime

The app's output: ` + "`apogee logs --project NAME --runtime`" + `.`,
		Args: args(cobra.NoArgs),
	}
	cmd.AddCommand(newAppsStatusCmd(a), newAppsScaleCmd(a), newAppsRestartCmd(a))
	return cmd
}

func newAppsStatusCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "status NAME",
		Aliases: []string{"ps"},
		Short:   "Show an app's releases and the instances running them",
		Example: `  apogee apps status api
  apogee apps status api --json`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			st, err := c.AppStatus(cmd.Context(), argv[0])
			if err != nil {
				return projectHint(err)
			}
			return printAppStatus(a.output(cmd), st)
		},
	}
}

func newAppsScaleCmd(a *app) *cobra.Command {
	var n int
	cmd := &cobra.Command{
		Use:     "scale NAME --instances N",
		Short:   "Set how many instances serve an app",
		Long:    "Scale runs N instances of the app's production release (1 to 10). New instances take requests once they answer their health check; extra ones finish their requests first.",
		Example: `  apogee apps scale api --instances 3`,
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if !cmd.Flags().Changed("instances") {
				return usageError(cmd, fmt.Errorf("give the number of instances with --instances N"))
			}
			if n < 1 || n > apogee.DefaultMaxInstances {
				return usageError(cmd, fmt.Errorf("--instances is 1 to %d, not %d", apogee.DefaultMaxInstances, n))
			}
			c, _, err := a.client()
			if err != nil {
				return err
			}
			st, err := c.ScaleApp(cmd.Context(), argv[0], n)
			if err != nil {
				return appHint(err, argv[0])
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(st)
			}
			o.Notef("%s runs %s.\n", st.Project, plural(st.Instances, "instance", "instances"))
			return printAppStatus(o, st)
		},
	}
	cmd.Flags().IntVar(&n, "instances", 0, "instances to run (1 to 10)")
	return cmd
}

func newAppsRestartCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "restart NAME",
		Short: "Replace every instance of an app, with no downtime",
		Long:  "Restart starts a new instance for each running one, waits until all are ready, then drains and stops the old ones: requests never see a gap.",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			st, err := c.RestartApp(cmd.Context(), argv[0])
			if err != nil {
				return appHint(err, argv[0])
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(st)
			}
			o.Notef("Restarted %s.\n", st.Project)
			return printAppStatus(o, st)
		},
	}
}

// appHint suggests what to do when a project is no running app.
func appHint(err error, project string) error {
	switch apogee.ErrorCode(err) {
	case apogee.ENOTFOUND:
		return projectHint(err)
	case apogee.ECONFLICT:
		return withHint(err, apogee.ECONFLICT, "Deploy the app first: `apogee deploy --project "+project+" --git`, or see `apogee apps status "+project+"`.")
	}
	return err
}

// printAppStatus prints an app's releases and instances, or the status
// as JSON.
func printAppStatus(o *output, st *apogee.AppStatus) error {
	if o.json {
		return o.JSON(st)
	}
	o.Fields(
		"App", st.Project,
		"Kind", orDash(st.Kind),
		"Production", orDash(st.Production),
		"Instances", strconv.Itoa(st.Instances),
	)
	if len(st.Releases) > 0 {
		o.Println()
		rows := make([][]string, 0, len(st.Releases))
		for _, r := range st.Releases {
			mark := ""
			switch {
			case r.Production:
				mark = "production"
			case r.Warm:
				mark = "warm"
			case r.PrunedAt != nil:
				mark = "pruned"
			}
			rows = append(rows, []string{fmt.Sprintf("v%d", r.Version), r.DeploymentID, string(r.Status), mark, r.Description, ago(r.CreatedAt)})
		}
		o.Table([]string{"RELEASE", "DEPLOYMENT", "STATUS", "", "WHAT", "CREATED"}, rows)
	}
	o.Println()
	if len(st.Running) == 0 {
		o.Println("No instances run.")
		if st.Kind != apogee.KindApp {
			o.Notef("Deploy the app with `apogee deploy --project %s --git` (or --zip FILE).\n", st.Project)
		}
		return nil
	}
	rows := make([][]string, 0, len(st.Running))
	for _, in := range st.Running {
		health := "failing"
		if in.Healthy {
			health = "ok"
		}
		state := in.State
		if in.Reason != "" && !in.Healthy {
			state += " (" + in.Reason + ")"
		}
		rows = append(rows, []string{in.ID, in.Release, state, health, strconv.Itoa(in.Restarts),
			uptime(in.UptimeSeconds), formatBytes(in.MemoryBytes), fmt.Sprintf("%.1fs", in.CPUSeconds), strconv.FormatInt(in.InFlight, 10)})
	}
	o.Table([]string{"INSTANCE", "RELEASE", "STATE", "HEALTH", "RESTARTS", "UPTIME", "MEMORY", "CPU", "IN FLIGHT"}, rows)
	return nil
}

// uptime prints seconds as a short duration: "45s", "12m", "3h20m".
func uptime(s float64) string {
	if s <= 0 {
		return "-"
	}
	d := time.Duration(s * float64(time.Second))
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// appSettingFlags are the app settings of `projects create` and
// `projects update`.
type appSettingFlags struct {
	kind, start, health string
	boot, instances     int
}

func (f *appSettingFlags) add(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.kind, "kind", "", "static or app (\"auto\": detect at each build)")
	fs.StringVar(&f.start, "start-command", "", "an app's start command, run with PORT set (\"auto\": the Procfile's web: line, else npm start)")
	fs.StringVar(&f.health, "health-path", "", "path an app's health check GETs (default /)")
	fs.IntVar(&f.boot, "boot-timeout", 0, "seconds an app's instance has to listen on PORT and pass its check (default 60)")
	fs.IntVar(&f.instances, "instances", 0, "instances serving an app's production (default 1)")
}

// settings returns the app settings the flags give (for a new project).
func (f *appSettingFlags) settings(cmd *cobra.Command) (apogee.AppSettings, error) {
	var s apogee.AppSettings
	patch, err := f.patch(cmd)
	if err != nil {
		return s, err
	}
	str := func(k string) *string {
		if v, ok := patch[k].(string); ok {
			return &v
		}
		return nil
	}
	num := func(k string) *int {
		if v, ok := patch[k].(int); ok {
			return &v
		}
		return nil
	}
	s.Kind, s.StartCommand, s.HealthPath, s.BootTimeout, s.Instances = str("kind"), str("start_command"), str("health_path"), num("boot_timeout"), num("instances")
	return s, apogee.ValidateAppSettings(s)
}

// patch returns the merge patch of settings.app the flags given make:
// "auto" is null (detect, or the default).
func (f *appSettingFlags) patch(cmd *cobra.Command) (map[string]any, error) {
	p := map[string]any{}
	fs := cmd.Flags()
	for flag, kv := range map[string]struct {
		key string
		v   string
	}{"kind": {"kind", f.kind}, "start-command": {"start_command", f.start}, "health-path": {"health_path", f.health}} {
		if !fs.Changed(flag) {
			continue
		}
		if kv.v == "auto" {
			p[kv.key] = nil
		} else {
			p[kv.key] = kv.v
		}
	}
	if fs.Changed("kind") && f.kind != "auto" && f.kind != apogee.KindStatic && f.kind != apogee.KindApp {
		return nil, usageError(cmd, fmt.Errorf("--kind is static, app or auto, not %q", f.kind))
	}
	if fs.Changed("boot-timeout") {
		p["boot_timeout"] = f.boot
	}
	if fs.Changed("instances") {
		p["instances"] = f.instances
	}
	return p, nil
}
