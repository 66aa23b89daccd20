package dashboard

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/apogee-dev/apogee"
)

// The admin pages (/admin…) show the whole platform to its admins: the
// system's figures, every user, project and deployment, and the plans.
// Everything comes from the admin routes of the API (/api/v1/admin/…),
// which check again that the caller is an admin.

var errNotAdmin = apogee.Errorf(apogee.EFORBIDDEN, "the admin pages are for the admins of this server; ask one if you need something changed")

// admin passes an admin's session to h. Anyone else signed in gets 403;
// without a session it is as for every page (authed).
func (d *Dashboard) admin(h func(http.ResponseWriter, *http.Request, *session) error) http.Handler {
	return d.authed(func(w http.ResponseWriter, r *http.Request, s *session) error {
		if !s.user.Admin {
			return errNotAdmin
		}
		return h(w, r, s)
	})
}

// figureCard is one number of the overview.
type figureCard struct {
	Label, Value, Note, Link string
}

// bar is one day of the deployments chart, in the SVG's units.
type bar struct {
	X, Y, W, H float64
	Label      string // "Mar 3: 2 deployments"
	Zero       bool
}

// chart is the deployments-per-day bar chart, drawn on the server as
// inline SVG: no script, and readable as text by its caption.
type chart struct {
	Width, Height float64
	Bars          []bar
	Max, Total    int
	First, Mid    string
	Last          string
	Busiest       string // "Mar 3 (4)", "" when there were none
}

// Chart geometry in SVG units; the SVG stretches to the card's width.
const (
	chartWidth  = 600
	chartHeight = 120
	barGap      = 0.25 // of a day's slot
)

func newChart(days []apogee.DayCount) chart {
	c := chart{Width: chartWidth, Height: chartHeight}
	for _, d := range days {
		c.Total += d.Count
		if d.Count > c.Max {
			c.Max = d.Count
			c.Busiest = fmt.Sprintf("%s (%d)", dayLabel(d.Day), d.Count)
		}
	}
	if len(days) == 0 {
		return c
	}
	slot := chartWidth / float64(len(days))
	for i, d := range days {
		b := bar{X: float64(i)*slot + slot*barGap/2, W: slot * (1 - barGap), Label: fmt.Sprintf("%s: %s", dayLabel(d.Day), plural(d.Count, "deployment"))}
		if d.Count == 0 || c.Max == 0 {
			b.H, b.Zero = 2, true // a stub on the baseline: the day is there, empty
		} else {
			b.H = max(3, float64(d.Count)/float64(c.Max)*(chartHeight-4))
		}
		b.Y = chartHeight - b.H
		c.Bars = append(c.Bars, b)
	}
	c.First, c.Mid, c.Last = dayLabel(days[0].Day), dayLabel(days[len(days)/2].Day), dayLabel(days[len(days)-1].Day)
	return c
}

// dayLabel turns "2026-03-03" into "Mar 3".
func dayLabel(day string) string {
	t, err := time.Parse(apogee.DayLayout, day)
	if err != nil {
		return day
	}
	return t.Format("Jan 2")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return thousands(int64(n)) + " " + word + "s"
}

// thousands writes n with thin separators: 12,345.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func (d *Dashboard) adminOverview(w http.ResponseWriter, r *http.Request, s *session) error {
	f, err := d.svc.Admin.Figures(r.Context())
	if err != nil {
		return err
	}
	c := newChart(f.DeploymentsPerDay)
	cards := []figureCard{
		{Label: fmt.Sprintf("Deployments, %d days", f.Days), Value: thousands(int64(c.Total)), Note: thousands(int64(f.Deployments)) + " in all", Link: "/admin/deployments"},
		{Label: "Builds running", Value: thousands(int64(f.BuildsRunning)), Note: "building now"},
		{Label: "Builds queued", Value: thousands(int64(f.BuildsQueued)), Note: "waiting for a worker"},
		{Label: "Storage used", Value: size(f.StoredBytes), Note: "files, variants, ZIPs"},
		{Label: "Users", Value: thousands(int64(f.Users)), Link: "/admin/users"},
		{Label: "Projects", Value: thousands(int64(f.Projects)), Link: "/admin/projects"},
	}
	if f.Edge != nil {
		cards = append(cards,
			figureCard{Label: "Requests served", Value: thousands(int64(f.Edge.Requests)), Note: "by this server's edge"},
			figureCard{Label: "Bytes served", Value: size(int64(f.Edge.Bytes)), Note: "since this server started"},
		)
	}
	data := map[string]any{"Cards": cards, "Chart": c, "Figures": f}
	if t := f.Traffic; t != nil {
		day := lastDay // by hour, the current one included
		data["TrafficCards"] = []figureCard{
			{Label: "Requests, 24 h", Value: thousands(t.Requests), Note: "every project"},
			{Label: "Bandwidth, 24 h", Value: size(t.Bytes), Note: "response bodies"},
			{Label: "Visitors, 24 h", Value: thousands(t.Visitors), Note: "each project's, summed"},
			{Label: "Server errors, 24 h", Value: thousands(t.Errors), Note: percent(t.Errors, t.Requests) + " of requests (5xx)"},
		}
		data["TrafficChart"] = newSeriesChart("platform-requests", "Requests per hour", day, day.fill(t.Since, t.Series),
			func(p apogee.TrafficPoint) int64 { return p.Requests }, func(p apogee.TrafficPoint) int64 { return p.Errors }, thousands)
		data["TopProjects"] = newTopTable("projects", "Top projects", "Project", "No project had a request in the last 24 hours.",
			t.TopProjects, t.Requests, nil, func(k string) string { return "/projects/" + url.PathEscape(k) + "/analytics" })
	}
	if f.Edge != nil && f.Edge.AccessDropped > 0 {
		data["Dropped"] = thousands(int64(f.Edge.AccessDropped))
	}
	d.render(w, r, http.StatusOK, "admin", s, "Admin", data)
	return nil
}

// adminProjectRow is a project of the admin list.
type adminProjectRow struct {
	*apogee.AdminProjectView
	Last *deploymentRow
}

func (d *Dashboard) adminProjects(w http.ResponseWriter, r *http.Request, s *session) error {
	projects, err := d.svc.Admin.AllProjects(r.Context())
	if err != nil {
		return err
	}
	now := d.now()
	rows := make([]adminProjectRow, len(projects))
	for i, p := range projects {
		rows[i].AdminProjectView = p
		if p.LastDeployment != nil {
			lr := row(p.LastDeployment, now)
			rows[i].Last = &lr
		}
	}
	d.render(w, r, http.StatusOK, "admin_projects", s, "Admin: projects", map[string]any{"Projects": rows})
	return nil
}

// adminDeploymentsShown is how many deployments the admin list shows.
const adminDeploymentsShown = 100

func (d *Dashboard) adminDeployments(w http.ResponseWriter, r *http.Request, s *session) error {
	deployments, err := d.svc.Admin.RecentDeployments(r.Context(), adminDeploymentsShown)
	if err != nil {
		return err
	}
	now := d.now()
	rows := make([]deploymentRow, len(deployments))
	for i, v := range deployments {
		rows[i] = row(v, now)
	}
	d.render(w, r, http.StatusOK, "admin_deployments", s, "Admin: deployments", map[string]any{
		"Deployments": rows, "Limit": adminDeploymentsShown,
	})
	return nil
}
