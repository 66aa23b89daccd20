package dashboard

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
)

// A project's Analytics tab (issue 15): what its edge answered over the
// last hour (by minute), 24 hours or 7 days (by hour) or 30 days (by
// day), for every deployment or one, from the traffic service. The
// charts are inline SVG drawn here: the pages' CSP allows no inline
// script or style and nothing from elsewhere, and a chart's caption says
// in words what it draws.

// trafficRange is one choice of the Analytics tab's range: Points
// buckets of Bucket, the current one included.
type trafficRange struct {
	Key, Label string
	Bucket     time.Duration
	Points     int
}

var trafficRanges = []trafficRange{
	{Key: "1h", Label: "Last hour", Bucket: time.Minute, Points: 60},
	lastDay,
	{Key: "7d", Label: "Last 7 days", Bucket: time.Hour, Points: 7 * 24},
	{Key: "30d", Label: "Last 30 days", Bucket: 24 * time.Hour, Points: 30},
}

// lastDay is the default range: 24 hours by hour.
var lastDay = trafficRange{Key: "24h", Label: "Last 24 hours", Bucket: time.Hour, Points: 24}

func trafficRangeOf(key string) (trafficRange, error) {
	if key == "" {
		return lastDay, nil
	}
	for _, tr := range trafficRanges {
		if tr.Key == key {
			return tr, nil
		}
	}
	return trafficRange{}, apogee.Errorf(apogee.EINVALID, "range %q: choose 1h, 24h, 7d or 30d", key)
}

// window is the range's first bucket and its end (now): whole buckets,
// so that the first bar counts as much time as the others.
func (tr trafficRange) window(now time.Time) (since, until time.Time) {
	now = now.UTC()
	return now.Truncate(tr.Bucket).Add(-time.Duration(tr.Points-1) * tr.Bucket), now
}

// label names a bucket's start as the chart's tooltips and axis show it.
func (tr trafficRange) label(t time.Time, axis bool) string {
	t = t.UTC()
	switch {
	case tr.Bucket >= 24*time.Hour:
		return t.Format("Jan 2")
	case tr.Bucket < time.Hour:
		return t.Format("15:04")
	case axis && tr.Points > 24:
		return t.Format("Jan 2")
	case axis:
		return t.Format("15:04")
	}
	return t.Format("Jan 2 15:04")
}

// fill returns one point per bucket of the window, oldest first, with
// the service's points in their buckets and zero elsewhere.
func (tr trafficRange) fill(since time.Time, series []apogee.TrafficPoint) []apogee.TrafficPoint {
	out := make([]apogee.TrafficPoint, tr.Points)
	for i := range out {
		out[i].Time = since.Add(time.Duration(i) * tr.Bucket)
	}
	for _, p := range series {
		i := int(p.Time.Sub(since) / tr.Bucket)
		if p.Time.Before(since) || i >= len(out) {
			continue
		}
		o := &out[i]
		o.Requests += p.Requests
		o.Visitors += p.Visitors
		o.Bytes += p.Bytes
		o.Errors += p.Errors
	}
	return out
}

// seriesChart is a bar chart of one measure over time, in SVG units;
// Marks are drawn over the bars (the errors among the requests).
type seriesChart struct {
	ID            string
	Title         string
	Width, Height float64
	Bars, Marks   []bar
	Max           string // the top of the scale
	First, Mid    string
	Last          string
	Caption       string
}

// newSeriesChart draws value of each point; mark, if not nil, is drawn
// over it. unit names one of what is counted ("request"); format writes
// a value.
func newSeriesChart(id, title string, tr trafficRange, points []apogee.TrafficPoint, value, mark func(apogee.TrafficPoint) int64, format func(int64) string) seriesChart {
	c := seriesChart{ID: id, Title: title, Width: chartWidth, Height: chartHeight}
	var top, total int64
	busiest := -1
	for i, p := range points {
		v := value(p)
		total += v
		if v > top {
			top, busiest = v, i
		}
	}
	c.Max = format(top)
	if len(points) == 0 {
		return c
	}
	slot := chartWidth / float64(len(points))
	height := func(v int64) float64 {
		if v == 0 || top == 0 {
			return 0
		}
		return max(2, float64(v)/float64(top)*(chartHeight-4))
	}
	for i, p := range points {
		v := value(p)
		b := bar{X: float64(i)*slot + slot*barGap/2, W: slot * (1 - barGap), Label: tr.label(p.Time, false) + ": " + format(v)}
		if b.H = height(v); b.H == 0 {
			b.H, b.Zero = 2, true
		}
		if mark != nil {
			if m := mark(p); m > 0 {
				b.Label += fmt.Sprintf(", %s with a server error (5xx)", thousands(m))
				mb := bar{X: b.X, W: b.W, H: min(b.H, height(m)), Label: b.Label}
				mb.Y = chartHeight - mb.H
				c.Marks = append(c.Marks, mb)
			}
		}
		b.Y = chartHeight - b.H
		c.Bars = append(c.Bars, b)
	}
	c.First, c.Mid, c.Last = tr.label(points[0].Time, true), tr.label(points[len(points)/2].Time, true), tr.label(points[len(points)-1].Time, true)
	if busiest < 0 {
		c.Caption = fmt.Sprintf("None from %s to %s.", tr.label(points[0].Time, false), tr.label(points[len(points)-1].Time, false))
	} else {
		c.Caption = fmt.Sprintf("From %s to %s UTC; the most, %s, at %s.", tr.label(points[0].Time, false), tr.label(points[len(points)-1].Time, false),
			format(top), tr.label(points[busiest].Time, false))
	}
	return c
}

// topTable is one table of the tab: a top-K list with each row's share
// of the requests.
type topTable struct {
	ID, Title, Column string
	Empty             string // what an empty table says
	Rows              []topRow
}

type topRow struct {
	Key, Link string
	Count     string
	Share     float64 // percent of the range's requests, for the bar
	Percent   string
}

func newTopTable(id, title, column, empty string, counts []apogee.Count, total int64, label func(string) string, link func(string) string) topTable {
	t := topTable{ID: id, Title: title, Column: column, Empty: empty}
	for _, c := range counts {
		r := topRow{Key: c.Key, Count: thousands(c.Count)}
		if label != nil {
			r.Key = label(c.Key)
		}
		if link != nil {
			r.Link = link(c.Key)
		}
		if total > 0 {
			r.Share = float64(c.Count) * 100 / float64(total)
			r.Percent = percent(c.Count, total)
		}
		t.Rows = append(t.Rows, r)
	}
	return t
}

// percent is part of whole, to one decimal below 10 % ("0.4%", "12%").
func percent(part, whole int64) string {
	if whole == 0 {
		return "0%"
	}
	p := float64(part) * 100 / float64(whole)
	switch {
	case part == 0:
		return "0%"
	case p < 0.1:
		return "<0.1%"
	case p < 10:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", p), ".0") + "%"
	}
	return fmt.Sprintf("%.0f%%", p)
}

// latency writes a response time as a person reads it, to two
// significant figures (the percentiles come from a sketch within 1%):
// "0.4 ms", "12 ms", "400 ms", "1.2 s".
func latency(d time.Duration) string {
	switch {
	case d < 100*time.Microsecond:
		return "<0.1 ms"
	case d < 10*time.Millisecond:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)), ".0") + " ms"
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%d ms", d.Round(time.Millisecond)/time.Millisecond)
	case d < time.Second-5*time.Millisecond:
		return fmt.Sprintf("%d ms", d.Round(10*time.Millisecond)/time.Millisecond)
	}
	return strings.TrimSuffix(fmt.Sprintf("%.1f", d.Seconds()), ".0") + " s"
}

var deviceLabels = map[string]string{
	apogee.DeviceDesktop: "Desktop", apogee.DeviceMobile: "Mobile", apogee.DeviceTablet: "Tablet",
	apogee.DeviceBot: "Bot", apogee.DeviceOther: "Other",
}

func deviceLabel(k string) string {
	if l, ok := deviceLabels[k]; ok {
		return l
	}
	return k
}

// projectDeployment checks that ?deployment= (if any) is a deployment
// of project p: the same 404 as for one the user may not see.
func (d *Dashboard) projectDeployment(r *http.Request, p *apogee.ProjectView) (*apogee.DeploymentView, error) {
	id := r.URL.Query().Get("deployment")
	if id == "" {
		return nil, nil
	}
	v, err := d.svc.Deployments.Deployment(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if v.Project != p.Name {
		return nil, apogee.Errorf(apogee.ENOTFOUND, "deployment %s is not a deployment of project %s", id, p.Name)
	}
	return v, nil
}

// analyticsPage is the Analytics tab.
func (d *Dashboard) analyticsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	p, data, err := d.projectBase(r, "analytics")
	if err != nil {
		return err
	}
	tr, err := trafficRangeOf(r.URL.Query().Get("range"))
	if err != nil {
		return err
	}
	dep, err := d.projectDeployment(r, p)
	if err != nil {
		return err
	}
	deps, err := d.svc.Deployments.Deployments(r.Context(), p.Name, 50)
	if err != nil {
		return err
	}
	since, until := tr.window(d.now())
	q := apogee.TrafficQuery{Since: since, Until: until, Bucket: tr.Bucket, Top: 10}
	if dep != nil {
		q.DeploymentID = dep.ID
	}
	t, err := d.svc.Traffic.Traffic(r.Context(), p.Name, q)
	if err != nil {
		return err
	}
	data["Range"], data["Ranges"], data["Deployment"], data["Deployments"] = tr, trafficRanges, dep, deps
	data["Traffic"], data["Since"], data["Until"] = t, since, until
	// The request log of the same selection, for the tables' links.
	logLink := func(v url.Values) string {
		v.Set("since", tr.Key)
		if dep != nil {
			v.Set("deployment", dep.ID)
		}
		return "/projects/" + url.PathEscape(p.Name) + "/requests?" + v.Encode()
	}
	data["LogLink"] = logLink(url.Values{})
	if t.Requests > 0 {
		points := tr.fill(since, t.Series)
		data["Charts"] = []seriesChart{
			newSeriesChart("requests", "Requests", tr, points, func(p apogee.TrafficPoint) int64 { return p.Requests },
				func(p apogee.TrafficPoint) int64 { return p.Errors }, thousands),
			newSeriesChart("visitors", "Visitors", tr, points, func(p apogee.TrafficPoint) int64 { return p.Visitors }, nil, thousands),
			newSeriesChart("bandwidth", "Bandwidth", tr, points, func(p apogee.TrafficPoint) int64 { return p.Bytes }, nil, size),
		}
		data["Cards"] = trafficCards(t, logLink)
		data["Statuses"] = statusRows(t, logLink)
		byPath := func(k string) string { return logLink(url.Values{"path": {k}}) }
		data["Tables"] = []topTable{
			newTopTable("pages", "Top pages", "Path", "No pages.", t.Paths, t.Requests, nil, byPath),
			newTopTable("referrers", "Referrers", "Site", "No visits came from another site.", t.Referrers, t.Requests, nil, nil),
			newTopTable("not-found", "Not found (404)", "Path", "No request was answered 404.", t.NotFound, t.Requests, nil,
				func(k string) string { return logLink(url.Values{"path": {k}, "status": {"4xx"}}) }),
			newTopTable("countries", "Countries", "Country", "No country known: the server finds them with --geoip-db.", t.Countries, t.Requests, nil, nil),
			newTopTable("devices", "Devices", "Device", "No devices.", t.Devices, t.Requests, deviceLabel, nil),
		}
	}
	title := p.Name + " · analytics"
	d.render(w, r, http.StatusOK, "project_analytics", s, title, data)
	return nil
}

// trafficCards are the tab's figures.
func trafficCards(t *apogee.Traffic, logLink func(url.Values) string) []figureCard {
	errs := t.Status["5xx"]
	return []figureCard{
		{Label: "Requests", Value: thousands(t.Requests), Note: plural64(t.Status["4xx"], "client error") + " (4xx)",
			Link: logLink(url.Values{})},
		{Label: "Visitors", Value: thousands(t.Visitors), Note: "unique a day, no cookie"},
		{Label: "Bandwidth", Value: size(t.Bytes), Note: "response bodies"},
		{Label: "Error rate", Value: percent(errs, t.Requests), Note: plural64(errs, "server error") + " (5xx)",
			Link: logLink(url.Values{"status": {"5xx"}})},
		{Label: "Latency p50", Value: latency(t.P50), Note: "half answered faster"},
		{Label: "Latency p95", Value: latency(t.P95)},
		{Label: "Latency p99", Value: latency(t.P99)},
		{Label: "Cache hits", Value: percent(t.CacheHits, t.Requests), Note: thousands(t.CacheHits) + " from the edge's memory"},
	}
}

func plural64(n int64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return thousands(n) + " " + word + "s"
}

// statusRow is one status class of the range.
type statusRow struct {
	Class, Count, Percent, Link string
	Share                       float64
}

func statusRows(t *apogee.Traffic, logLink func(url.Values) string) []statusRow {
	var rows []statusRow
	for c := 1; c <= 5; c++ {
		k := fmt.Sprintf("%dxx", c)
		n := t.Status[k]
		if n == 0 && (c == 1 || c == 3) {
			continue // rare classes show only when there are some
		}
		rows = append(rows, statusRow{Class: k, Count: thousands(n), Percent: percent(n, t.Requests),
			Share: float64(n) * 100 / float64(max(t.Requests, 1)), Link: logLink(url.Values{"status": {k}})})
	}
	return rows
}
