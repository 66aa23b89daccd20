package cli

import (
	"encoding/json"

	"github.com/spf13/cobra"

	"github.com/apogee-dev/apogee"
)

func newLogsCmd(a *app) *cobra.Command {
	var follow bool
	var after int64
	cmd := &cobra.Command{
		Use:   "logs ID",
		Short: "Print a deployment's build log, or follow it live",
		Long: `Logs prints the build log of a deployment: the build's own output as it is
and the platform's lines (steps, exit codes, the reason a build failed)
after "==> ".

With --follow it streams the log live until the build ends, picking up
where it was if the connection drops.

With --json it prints one object {"lines": [...], "status": "..."}; with
--json and --follow it prints JSON lines instead, one object per log line
({"seq", "time", "stream", "text"}) as they come, and a last object
{"status": "..."} when the build ends.`,
		Example: `  apogee logs 7k2m9q4x1b3c
  apogee logs 7k2m9q4x1b3c --follow
  apogee logs 7k2m9q4x1b3c --follow --json | jq -r .text`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			id := argv[0]
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
				p := &logPrinter{w: o.out}
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
			p := &logPrinter{w: o.out}
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
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "stream the log live until the build ends")
	cmd.Flags().Int64Var(&after, "after", 0, "start after this line number (seq)")
	return cmd
}
