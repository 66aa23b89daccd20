package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/client"
)

func newLogsCmd(a *app) *cobra.Command {
	var (
		follow, runtime bool
		requests        bool
		reqo            client.RequestOptions
		after           int64
		projectFlag     string
		ro              client.RuntimeLogOptions
	)
	cmd := &cobra.Command{
		Use:   "logs [ID] | logs --runtime --project NAME",
		Short: "Print a deployment's build log or an app's runtime log, or follow it live",
		Long: `Logs prints the build log of a deployment: the build's own output as it is
and the platform's lines (steps, exit codes, the reason a build failed)
after "==> ".

With --runtime it prints the runtime log of an app instead: what its
instances write to stdout and stderr, and the platform's lines about them
(started, ready, crashed and why, lines dropped over the instance's rate),
one line each as

  TIME INSTANCE STREAM TEXT

By default the newest 100 lines; --since and --until pick a time range
(a duration before now such as 15m, 1h or 2d, or an RFC 3339 time),
--instance one instance, --search lines containing a text (ignoring the
case of ASCII letters), --lines how many.

With --follow it streams the log live, picking up where it was if the
connection drops: a build log until the build ends, a runtime log until
you stop it (or --until passes), after the newest --lines lines (or those
since --since).

With --json it prints one object {"lines": [...], ...}; with --json and
--follow it prints JSON lines instead, one object per log line ({"seq",
"time", "stream", "text", "instance"}) as they come.

With --requests it prints the project's request log: one line per request
the edge answered (time, method, status, host, path without its query,
bytes, duration), filtered by --status (a class: 5xx), --path (a prefix
ending in *: '/api/*') and --since; --follow asks for new ones every two
seconds. With --json, one JSON array, or JSON lines with --follow.`,
		Example: `  apogee logs 7k2m9q4x1b3c
  apogee logs 7k2m9q4x1b3c --follow
  apogee logs --runtime --project api
  apogee logs --runtime --project api -f
  apogee logs --requests --project web --status 5xx --path '/api/*' --since 1h
  apogee logs --requests --project web -f
  apogee logs --runtime --project api --since 1h --search error
  apogee logs --runtime --project api --instance 3f9a1c2b7d0e --json | jq -r '.lines[].text'`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if requests {
				if len(argv) > 0 || runtime {
					return usageError(cmd, fmt.Errorf("--requests reads a project's request log: give --project, not a deployment id or --runtime"))
				}
				proj, err := project(projectFlag)
				if err != nil {
					return err
				}
				reqo.Since = ro.Since
				if cmd.Flags().Changed("lines") {
					reqo.Limit = ro.Limit
				}
				return requestLogs(cmd, a, proj, follow, reqo)
			}
			if runtime || projectFlag != "" && len(argv) == 0 {
				if len(argv) > 0 {
					return usageError(cmd, fmt.Errorf("--runtime reads an app's log by its project, not a deployment id"))
				}
				if ro.Limit < 1 || ro.Limit > apogee.MaxRuntimeLogLines {
					return usageError(cmd, fmt.Errorf("--lines %d: show 1 to %d lines", ro.Limit, apogee.MaxRuntimeLogLines))
				}
				proj, err := project(projectFlag)
				if err != nil {
					return err
				}
				return runtimeLogs(cmd, a, proj, follow, ro)
			}
			if len(argv) == 0 {
				return usageError(cmd, fmt.Errorf("give a deployment id for its build log, or --runtime --project NAME for an app's runtime log"))
			}
			for _, f := range []string{"since", "until", "instance", "search", "lines"} {
				if cmd.Flags().Changed(f) {
					return usageError(cmd, fmt.Errorf("--%s is for runtime logs (--runtime)", f))
				}
			}
			return buildLogs(cmd, a, argv[0], follow, after)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&follow, "follow", "f", false, "stream the log live (a build log until the build ends)")
	f.Int64Var(&after, "after", 0, "start after this line number (seq)")
	f.BoolVar(&requests, "requests", false, "the project's request log (what the edge answered) instead of a build log")
	f.StringVar(&reqo.Status, "status", "", "only requests of this status class: 2xx, 4xx, 5xx (with --requests)")
	f.StringVar(&reqo.Path, "path", "", "only requests of this path, or paths starting with a prefix ending in * (with --requests)")
	f.BoolVar(&runtime, "runtime", false, "the app's runtime log (its instances' output) instead of a build log")
	f.StringVarP(&projectFlag, "project", "p", "", "project of the runtime log (default $APOGEE_PROJECT)")
	f.StringVar(&ro.Since, "since", "", "runtime log lines since this time: 15m, 1h, 2d or RFC 3339")
	f.StringVar(&ro.Until, "until", "", "runtime log lines before this time: 15m, 1h, 2d or RFC 3339")
	f.StringVar(&ro.Instance, "instance", "", "only this instance's runtime log lines")
	f.StringVar(&ro.Search, "search", "", "only runtime log lines containing this text")
	f.IntVarP(&ro.Limit, "lines", "n", 100, "how many runtime log lines (the newest; 1 to 10000)")
	cmd.PreRunE = func(*cobra.Command, []string) error {
		ro.After = after
		return nil
	}
	return cmd
}

// buildLogs prints or follows the build log of deployment id.
func buildLogs(cmd *cobra.Command, a *app, id string, follow bool, after int64) error {
	c, _, err := a.client()
	if err != nil {
		return err
	}
	o := a.output(cmd)
	hint := func(err error) error {
		return withHint(err, apogee.ENOTFOUND, "List deployments with `apogee deployments list --project NAME`.")
	}
	if !follow {
		page, err := c.Logs(cmd.Context(), id, after)
		if err != nil {
			return hint(err)
		}
		if a.json {
			if page.Lines == nil {
				page.Lines = []apogee.LogLine{}
			}
			return o.JSON(page)
		}
		p := newLogPrinter(o.out)
		for _, l := range page.Lines {
			p.print(l)
		}
		if apogee.Building(page.Status) {
			o.Notef("The build is %s; follow it with `apogee logs %s --follow`.\n", page.Status, id)
		} else if len(page.Lines) == 0 {
			o.Notef("Deployment %s has no log lines (%s).\n", id, page.Status)
		}
		return nil
	}
	enc := json.NewEncoder(o.out)
	p := newLogPrinter(o.out)
	status, err := c.FollowLogs(cmd.Context(), id, after, func(l apogee.LogLine) error {
		if a.json {
			return enc.Encode(l)
		}
		p.print(l)
		return nil
	})
	if err != nil {
		return hint(err)
	}
	if a.json {
		return enc.Encode(map[string]apogee.Status{"status": status})
	}
	o.Notef("Build ended: %s.\n", status)
	return nil
}

// runtimeLogs prints or follows the runtime log of project.
func runtimeLogs(cmd *cobra.Command, a *app, project string, follow bool, ro client.RuntimeLogOptions) error {
	c, _, err := a.client()
	if err != nil {
		return err
	}
	o := a.output(cmd)
	if !follow {
		page, err := c.RuntimeLogs(cmd.Context(), project, ro)
		if err != nil {
			return projectHint(err)
		}
		if a.json {
			return o.JSON(page)
		}
		for _, l := range page.Lines {
			printRuntimeLine(o.out, l)
		}
		switch {
		case len(page.Lines) == 0:
			o.Notef("No runtime log lines of %s match.\n", project)
		case page.More && ro.After == 0:
			o.Notef("Older lines are left out: raise --lines (up to 10000), or narrow with --since and --until.\n")
		case page.More:
			o.Notef("More lines follow: run again with --after %d.\n", page.Lines[len(page.Lines)-1].Seq)
		}
		return nil
	}
	enc := json.NewEncoder(o.out)
	err = c.FollowRuntimeLogs(cmd.Context(), project, ro, func(l apogee.LogLine) error {
		if a.json {
			return enc.Encode(l)
		}
		printRuntimeLine(o.out, l)
		return nil
	})
	return projectHint(err)
}

// printRuntimeLine prints "TIME INSTANCE STREAM TEXT".
func printRuntimeLine(w io.Writer, l apogee.LogLine) {
	inst := l.Instance
	if inst == "" {
		inst = "-"
	}
	fmt.Fprintf(w, "%s %s %s %s\n", l.Time.UTC().Format("2006-01-02T15:04:05.000Z"), inst, l.Stream, l.Text)
}
