package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/client"
)

func newAnalyticsCmd(a *app) *cobra.Command {
	var projectFlag, since string
	cmd := &cobra.Command{
		Use:   "analytics --project NAME [--since 24h|7d|30d]",
		Short: "Print a project's traffic: requests, visitors, bandwidth, errors, latency, top pages",
		Long: `Analytics sums what the edge saw of a project's requests, server side and
without a script in the pages: requests, unique visitors (a daily hash of
address and browser; no address is stored), bandwidth, status classes,
cache hits, latency percentiles, and the top paths, referrers, 404s,
countries (with --geoip-db on the server) and devices.

The request log is kept as the owner's plan says (7 days and a million
records a project by default); the figures come from sums kept 90 days.`,
		Example: `  apogee analytics --project web
  apogee analytics --project web --since 7d --json`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			proj, c, err := a.projectClient(projectFlag)
			if err != nil {
				return err
			}
			t, err := c.Traffic(cmd.Context(), proj, since)
			if err != nil {
				return projectHint(err)
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(t)
			}
			printTraffic(o.out, proj, t)
			return nil
		},
	}
	cmd.Flags().StringVarP(&projectFlag, "project", "p", "", "project (default $APOGEE_PROJECT or the linked one)")
	cmd.Flags().StringVar(&since, "since", "24h", "from this time: 24h, 7d, 30d or RFC 3339")
	return cmd
}

func printTraffic(w io.Writer, proj string, t *apogee.Traffic) {
	fmt.Fprintf(w, "%s, %s to %s\n\n", proj, t.Since.Local().Format(time.DateTime), t.Until.Local().Format(time.DateTime))
	fmt.Fprintf(w, "  requests   %d\n  visitors   %d\n  bandwidth  %s\n  cache hits %d\n", t.Requests, t.Visitors, humanBytes(t.Bytes), t.CacheHits)
	fmt.Fprintf(w, "  status     2xx %d  3xx %d  4xx %d  5xx %d\n", t.Status["2xx"], t.Status["3xx"], t.Status["4xx"], t.Status["5xx"])
	fmt.Fprintf(w, "  latency    p50 %s  p95 %s  p99 %s\n", t.P50, t.P95, t.P99)
	for _, tb := range []struct {
		title string
		rows  []apogee.Count
	}{{"Top paths", t.Paths}, {"Referrers", t.Referrers}, {"404s", t.NotFound}, {"Countries", t.Countries}, {"Devices", t.Devices}} {
		if len(tb.rows) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s\n", tb.title)
		for _, r := range tb.rows {
			fmt.Fprintf(w, "  %8d  %s\n", r.Count, r.Key)
		}
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// requestLogs prints the project's request log, or follows it by asking
// for the records after the last one every two seconds.
func requestLogs(cmd *cobra.Command, a *app, project string, follow bool, ro client.RequestOptions) error {
	c, _, err := a.client()
	if err != nil {
		return err
	}
	o := a.output(cmd)
	enc := json.NewEncoder(o.out)
	print := func(rs []apogee.Request) error {
		for _, r := range rs {
			if a.json {
				if err := enc.Encode(r); err != nil {
					return err
				}
				continue
			}
			fmt.Fprintf(o.out, "%s %s %d %s %s %d %s\n", r.Time.UTC().Format("2006-01-02T15:04:05.000Z"), r.Method, r.Status,
				r.Host, r.Path, r.Bytes, r.Duration.Round(time.Microsecond))
		}
		return nil
	}
	rs, err := c.Requests(cmd.Context(), project, ro)
	if err != nil {
		return projectHint(err)
	}
	if !follow && a.json {
		if rs == nil {
			rs = []apogee.Request{}
		}
		return o.JSON(rs)
	}
	if err := print(rs); err != nil {
		return err
	}
	if !follow {
		if len(rs) == 0 {
			o.Notef("No requests of %s match.\n", project)
		}
		return nil
	}
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	ro.Since = ""
	for {
		if len(rs) > 0 {
			ro.After = rs[len(rs)-1].ID
		}
		select {
		case <-cmd.Context().Done():
			return nil
		case <-tick.C:
		}
		if rs, err = c.Requests(cmd.Context(), project, ro); err != nil {
			if cmd.Context().Err() != nil {
				return nil
			}
			return projectHint(err)
		}
		if err := print(rs); err != nil {
			return err
		}
	}
}
