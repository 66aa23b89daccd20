package cli

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
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

  apogee apps status NAME        releases, instances (state, health, uptime, memory, CPU)
                                 and the autoscaler's last decisions
  apogee apps scale NAME --min 0 --max 5 --concurrency 50
                                 autoscale on requests in flight, to zero when idle
  apogee apps scale NAME --instances 3   (or --min 3 --max 3): a fixed number
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
	var n, lo, hi, conc int
	var pause, stop time.Duration
	cmd := &cobra.Command{
		Use:   "scale NAME [--min N --max N --concurrency N | --instances N]",
		Short: "Set how an app scales: autoscaled between bounds, or a fixed number",
		Long: `Scale sets the bounds of the app's autoscaler: it runs at least --min and at
most --max instances (and no more than your plan allows), adding instances when
the requests in flight per instance pass --concurrency × 0.7 and removing them,
drained first, when traffic falls. With --min 0 an idle app's last instance is
paused after --pause-after (no CPU, memory kept; it resumes in milliseconds)
and stopped after --stop-after (memory freed; the next request starts it).
--min N --max N, or --instances N, fixes the number. New instances take
requests once they answer their health check. Flags not given keep their
value.`,
		Example: `  apogee apps scale api --min 0 --max 5 --concurrency 50
  apogee apps scale api --min 2 --max 2
  apogee apps scale api --instances 3`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			f := cmd.Flags()
			var req apogee.ScaleRequest
			intFlag := func(name string, v int) *int {
				if f.Changed(name) {
					return &v
				}
				return nil
			}
			secFlag := func(name string, d time.Duration) *int {
				if f.Changed(name) {
					s := int(d / time.Second)
					return &s
				}
				return nil
			}
			req.Min, req.Max, req.Concurrency = intFlag("min", lo), intFlag("max", hi), intFlag("concurrency", conc)
			req.PauseAfter, req.StopAfter = secFlag("pause-after", pause), secFlag("stop-after", stop)
			if f.Changed("instances") {
				if req.Min != nil || req.Max != nil {
					return usageError(cmd, fmt.Errorf("give --instances N or --min and --max, not both"))
				}
				if n < 1 || n > apogee.DefaultMaxInstances {
					return usageError(cmd, fmt.Errorf("--instances is 1 to %d, not %d", apogee.DefaultMaxInstances, n))
				}
				req.Instances = n
			}
			if req == (apogee.ScaleRequest{}) {
				return usageError(cmd, fmt.Errorf("give --min, --max and --concurrency (or --instances N for a fixed number)"))
			}
			c, _, err := a.client()
			if err != nil {
				return err
			}
			st, err := c.ScaleApp(cmd.Context(), argv[0], req)
			if err != nil {
				return appHint(err, argv[0])
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(st)
			}
			if st.Scale.Fixed() {
				o.Notef("%s runs %s.\n", st.Project, plural(st.Scale.Min, "instance", "instances"))
			} else {
				o.Notef("%s scales from %d to %d instances, at %d requests in flight per instance.\n", st.Project, st.Scale.Min, st.Scale.Max, st.Scale.Concurrency)
			}
			return printAppStatus(o, st)
		},
	}
	f := cmd.Flags()
	f.IntVar(&lo, "min", 0, "fewest instances (0: scale to zero when idle)")
	f.IntVar(&hi, "max", 0, "most instances (1 to 10, and within your plan)")
	f.IntVar(&conc, "concurrency", apogee.DefaultConcurrency, "target requests in flight per instance")
	f.DurationVar(&pause, "pause-after", apogee.DefaultPauseAfter*time.Second, "with --min 0: pause the idle app's last instance after this long without a request")
	f.DurationVar(&stop, "stop-after", apogee.DefaultStopAfter*time.Second, "with --min 0: stop it after this long without a request")
	f.IntVar(&n, "instances", 0, "a fixed number of instances (1 to 10): --min N --max N")
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
		"Sandbox", sandboxText(st.Sandbox),
		"Scale", scaleText(st.Scale),
	)
	if as := st.Autoscale; as != nil {
		state := as.State
		if as.Panic {
			state += " (panic)"
		}
		o.Fields(
			"State", orDash(state),
			"Desired", strconv.Itoa(as.Desired),
			"Ready", strconv.Itoa(as.Ready),
			"In flight", strconv.FormatInt(as.InFlight, 10),
		)
		if len(as.Decisions) > 0 {
			o.Println()
			rows := [][]string{}
			for i, d := range as.Decisions {
				if i == 10 {
					break
				}
				rows = append(rows, []string{ago(d.At), d.Action, fmt.Sprintf("%d → %d", d.From, d.To), d.Reason})
			}
			o.Table([]string{"WHEN", "ACTION", "INSTANCES", "WHY"}, rows)
		}
	}
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

// scaleText says how an app scales.
func scaleText(s apogee.AppScale) string {
	if s.Fixed() {
		return "fixed at " + plural(s.Min, "instance", "instances")
	}
	t := fmt.Sprintf("%d to %d instances at %d requests in flight each", s.Min, s.Max, s.Concurrency)
	if s.Min == 0 {
		t += fmt.Sprintf("; idle: paused after %s, stopped after %s", time.Duration(s.PauseAfter)*time.Second, time.Duration(s.StopAfter)*time.Second)
	}
	return t
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
	kind, start, health, sandbox string
	boot, instances              int
}

func (f *appSettingFlags) add(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.kind, "kind", "", "static or app (\"auto\": detect at each build)")
	fs.StringVar(&f.start, "start-command", "", "an app's start command, run with PORT set (\"auto\": the Procfile's web: line, else npm start)")
	fs.StringVar(&f.health, "health-path", "", "path an app's health check GETs (default /)")
	fs.IntVar(&f.boot, "boot-timeout", 0, "seconds an app's instance has to listen on PORT and pass its check (default 60)")
	fs.IntVar(&f.instances, "instances", 0, "instances serving an app's production (default 1)")
	fs.StringVar(&f.sandbox, "app-sandbox", "", "sandbox an app runs in: bwrap, or runsc (gVisor) where the server allows it (\"default\": the server's)")
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
	s.Sandbox = str("sandbox")
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
	if fs.Changed("app-sandbox") {
		switch {
		case f.sandbox == "default":
			p["sandbox"] = nil
		case slices.Contains(apogee.AppSandboxes, f.sandbox):
			p["sandbox"] = f.sandbox
		default:
			return nil, usageError(cmd, fmt.Errorf("--app-sandbox is %s or default, not %q", strings.Join(apogee.AppSandboxes, ", "), f.sandbox))
		}
	}
	if fs.Changed("boot-timeout") {
		p["boot_timeout"] = f.boot
	}
	if fs.Changed("instances") {
		p["instances"] = f.instances
	}
	return p, nil
}

// sandboxText is how the CLI shows an app's sandbox: the kind the project
// asks for, or the server's default.
func sandboxText(kind string) string {
	if kind == "" {
		return orDefault(nil, "the server's")
	}
	return kind
}
