package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/platform"
	"github.com/apogee-dev/apogee/internal/testbed"
	"github.com/apogee-dev/apogee/internal/traffic"
)

// analyticsNow is the fixed clock of the analytics tests: 12:30 UTC.
var analyticsNow = time.Date(2026, 12, 5, 12, 30, 0, 0, time.UTC)

// trafficFixture stores request records of alice's project web (two
// deployments: old, production) and bob's project docs, as the access
// writer would, and returns web's deployments.
func trafficFixture(t *testing.T, e *env) (web *apogee.Project, old, prod *apogee.Deployment) {
	t.Helper()
	web, old, prod = e.project(e.alice, "web")
	docs, _, docsProd := e.project(e.bob, "docs")
	at := func(h, m int) time.Time { return time.Date(2026, 12, 5, h, m, 0, 0, time.UTC) }
	rec := func(tm time.Time, d *apogee.Deployment, path string, status int, bytes int64, ms int, device, visitor, ref, country string, hit bool) apogee.Request {
		return apogee.Request{Time: tm, ProjectID: d.ProjectID, DeploymentID: d.ID, Host: "web.localhost", Method: "GET", Path: path,
			Status: status, Bytes: bytes, Duration: time.Duration(ms) * time.Millisecond, CacheHit: hit, Referrer: ref,
			Country: country, Device: device, Visitor: visitor}
	}
	rs := []apogee.Request{
		rec(analyticsNow.Add(-72*time.Hour), old, "/old", 200, 200, 10, apogee.DeviceDesktop, "v4", "", "", false),
		rec(at(10, 5), prod, "/", 200, 1000, 10, apogee.DeviceDesktop, "v1", "news.ycombinator.com", "DE", true),
		rec(at(10, 10), prod, "/", 200, 1000, 20, apogee.DeviceMobile, "v2", "google.com", "FR", false),
		rec(at(11, 0), prod, "/about", 200, 500, 30, apogee.DeviceDesktop, "v1", "", "", false),
		rec(at(11, 30), prod, "/missing", 404, 100, 5, apogee.DeviceBot, "v3", "", "", false),
		rec(at(12, 0), old, "/api/x", 500, 50, 400, apogee.DeviceDesktop, "v1", "", "", false),
		rec(at(9, 0), docsProd, "/", 200, 300, 10, apogee.DeviceDesktop, "d1", "", "", false),
		rec(at(12, 10), docsProd, "/", 200, 300, 10, apogee.DeviceDesktop, "d2", "", "", false),
	}
	_ = docs
	if err := e.store.AppendRequests(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	if err := traffic.Save(context.Background(), e.store, "test", rs); err != nil {
		t.Fatal(err)
	}
	return web, old, prod
}

// cardValue reads a figure card's value.
func cardValue(body, label string) string {
	re := regexp.MustCompile(`<span class="label">` + regexp.QuoteMeta(label) + `</span>\s*<span class="value">(?:<a [^>]*>)?([^<]*)<`)
	if m := re.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return "(no card " + label + ")"
}

var topRowRE = regexp.MustCompile(`<td class="key">(?:<a [^>]*>)?([^<]*)(?:</a>)?</td><td class="right num">([^<]*)</td>`)

// topRows reads the rows of the section with id as "key=count".
func topRows(body, id string) []string {
	_, sec, ok := strings.Cut(body, `id="`+id+`"`)
	if !ok {
		return []string{"(no section " + id + ")"}
	}
	sec, _, _ = strings.Cut(sec, "</section>")
	rows := []string{}
	for _, m := range topRowRE.FindAllStringSubmatch(sec, -1) {
		rows = append(rows, m[1]+"="+m[2])
	}
	return rows
}

// backends are the stores the analytics tests run on: a platform
// configuration change that sets none (SQLite), and PostgreSQL.
var backends = map[string]func(*testing.T) func(*platform.Config){
	"sqlite": func(*testing.T) func(*platform.Config) { return nil },
	"postgres": func(t *testing.T) func(*platform.Config) {
		return func(c *platform.Config) { c.Store = testbed.PostgresStore(t) }
	},
}

func TestAnalyticsTab(t *testing.T) {
	for db, plat := range backends {
		t.Run(db, func(t *testing.T) {
			testAnalyticsTab(t, newEnvOn(t, SignupClosed, func() time.Time { return analyticsNow }, plat(t), nil))
		})
	}
}

func testAnalyticsTab(t *testing.T, e *env) {
	_, old, _ := trafficFixture(t, e)
	alice := e.signedIn(e.alice)

	res := alice.get("/projects/web/analytics")
	want(t, "analytics", res, http.StatusOK, `aria-current="page">Analytics</a>`, "Last 24 hours: 2026-12-04 13:00:00 UTC to 2026-12-05 12:30:00 UTC")
	for label, value := range map[string]string{
		"Requests": "5", "Visitors": "3", "Bandwidth": "2.6 KiB", "Error rate": "20%",
		"Latency p50": "20 ms", "Latency p95": "400 ms", "Latency p99": "400 ms", "Cache hits": "20%",
	} {
		if got := cardValue(res.body, label); got != value {
			t.Errorf("card %s = %q, want %q", label, got, value)
		}
	}
	for id, rows := range map[string][]string{
		"top-pages":     {"/=2", "/about=1", "/api/x=1", "/missing=1"},
		"top-referrers": {"google.com=1", "news.ycombinator.com=1"},
		"top-not-found": {"/missing=1"},
		"top-countries": {"DE=1", "FR=1"},
		"top-devices":   {"Desktop=3", "Bot=1", "Mobile=1"},
	} {
		if got := topRows(res.body, id); !slices.Equal(got, rows) {
			t.Errorf("table %s = %q, want %q", id, got, rows)
		}
	}
	var classes []string
	for _, m := range regexp.MustCompile(`<tr data-class="(\dxx)">.*?<td class="right num">([^<]*)</td>`).FindAllStringSubmatch(res.body, -1) {
		classes = append(classes, m[1]+"="+m[2])
	}
	if want := []string{"2xx=3", "4xx=1", "5xx=1"}; !slices.Equal(classes, want) {
		t.Errorf("status classes = %q, want %q", classes, want)
	}
	// Nothing the CSP (default-src 'self') would refuse: no inline style
	// or script, nothing from another origin.
	for _, page := range []string{res.body, alice.get("/projects/web/requests").body} {
		if m := regexp.MustCompile(`(?i) style=|<style|src="(?:https?:)?//`).FindString(page); m != "" {
			t.Errorf("a page has %q, which the CSP refuses", m)
		}
		for _, tag := range regexp.MustCompile(`<script[^>]*>[^<]*`).FindAllString(page, -1) {
			if !regexp.MustCompile(`^<script src="/static/[^"]+"[^>]*>$`).MatchString(tag) {
				t.Errorf("a page has the script %q, which the CSP refuses", tag)
			}
		}
	}
	// The charts: an hour a bar, the errors drawn over the requests.
	_, chart, _ := strings.Cut(res.body, `id="chart-requests"`)
	chart, _, _ = strings.Cut(chart, "</section>")
	if n := strings.Count(chart, `<rect class="bar`); n != 24+1 {
		t.Errorf("the requests chart has %d bars and marks, want 24 hours and 1 error mark", n)
	}
	for _, s := range []string{"<title>Dec 5 10:00: 2</title>", "<title>Dec 5 12:00: 1, 1 with a server error (5xx)</title>", `<rect class="bar err"`} {
		if !strings.Contains(chart, s) {
			t.Errorf("the requests chart lacks %s", s)
		}
	}
	if !strings.Contains(res.body, "<title>Dec 5 10:00: 2.0 KiB</title>") {
		t.Error("the bandwidth chart lacks 10:00's 2 KiB")
	}
	// The tables link to the request log of the same selection.
	want(t, "links", res, http.StatusOK, `href="/projects/web/requests?path=%2Fmissing&amp;since=24h&amp;status=4xx"`,
		`href="/projects/web/requests?since=24h&amp;status=5xx"`)

	// 7 days: the old request too, an hour a bar.
	res = alice.get("/projects/web/analytics?range=7d")
	if got := cardValue(res.body, "Requests"); got != "6" {
		t.Errorf("7d requests = %s, want 6", got)
	}
	_, chart, _ = strings.Cut(res.body, `id="chart-visitors"`)
	chart, _, _ = strings.Cut(chart, "</section>")
	if n := strings.Count(chart, `<rect class="bar`); n != 7*24 {
		t.Errorf("the 7-day visitors chart has %d bars, want %d", n, 7*24)
	}
	// 30 days: a day a bar.
	res = alice.get("/projects/web/analytics?range=30d")
	_, chart, _ = strings.Cut(res.body, `id="chart-bandwidth"`)
	chart, _, _ = strings.Cut(chart, "</section>")
	if n := strings.Count(chart, `<rect class="bar`); n != 30 {
		t.Errorf("the 30-day bandwidth chart has %d bars, want 30", n)
	}
	// The last hour, by minute: 12:00's error only.
	res = alice.get("/projects/web/analytics?range=1h")
	_, chart, _ = strings.Cut(res.body, `id="chart-requests"`)
	chart, _, _ = strings.Cut(chart, "</section>")
	if got, n := cardValue(res.body, "Requests"), strings.Count(chart, `<rect class="bar`); got != "1" || n != 60+1 {
		t.Errorf("1h: %s requests, %d bars and marks; want 1, 60 minutes and 1 mark", got, n)
	}
	if !strings.Contains(chart, "<title>12:00: 1, 1 with a server error (5xx)</title>") || !strings.Contains(chart, "<span>11:31</span><span>12:01</span><span>12:30</span>") {
		t.Errorf("the 1h chart lacks 12:00's error or its axis by minute:\n%s", chart)
	}
	// One deployment.
	res = alice.get("/projects/web/analytics?deployment=" + old.ID)
	if got, pages := cardValue(res.body, "Requests"), topRows(res.body, "top-pages"); got != "1" || !slices.Equal(pages, []string{"/api/x=1"}) {
		t.Errorf("deployment %s: %s requests, pages %q; want 1, /api/x", old.ID, got, pages)
	}
	want(t, "selected", res, http.StatusOK, `<option value="`+old.ID+`" selected>`)
}

func TestAnalyticsEmptyAndRefused(t *testing.T) {
	e := newEnvAt(t, SignupClosed, func() time.Time { return analyticsNow })
	e.project(e.alice, "quiet")
	_, _, bobsProd := e.project(e.bob, "bobs")
	alice, bob := e.signedIn(e.alice), e.signedIn(e.bob)
	res := alice.get("/projects/quiet/analytics")
	want(t, "empty", res, http.StatusOK, `id="no-traffic"`, "No traffic yet", "no cookie")
	if strings.Contains(res.body, "<svg viewBox=\"0 0 600") {
		t.Error("an empty range draws charts")
	}
	want(t, "no requests", alice.get("/projects/quiet/requests"), http.StatusOK, "No requests yet.")

	for _, c := range []struct {
		who  *browser
		path string
		code int
		msg  string
	}{
		{alice, "/projects/quiet/analytics?range=1y", 400, "choose 1h, 24h, 7d or 30d"},
		{alice, "/projects/quiet/analytics?deployment=" + bobsProd.ID, 404, "not found"},
		{alice, "/projects/quiet/requests?status=6xx", 400, "1xx to 5xx"},
		{alice, "/projects/quiet/requests?path=about", 400, "must start with /"},
		{alice, "/projects/quiet/requests?since=yesterday", 400, "a duration before now"},
		{alice, "/projects/quiet/requests/stream?status=9", 400, "1xx to 5xx"},
		{bob, "/projects/quiet/analytics", 404, "not found"},
		{bob, "/projects/quiet/requests", 404, "not found"},
		{bob, "/projects/quiet/requests/stream", 404, "not found"},
		{e.browser(), "/projects/quiet/analytics", 303, ""},
	} {
		res := c.who.get(c.path)
		if res.code != c.code || !strings.Contains(res.body, c.msg) {
			t.Errorf("GET %s = %d %.200q, want %d saying %q", c.path, res.code, res.body, c.code, c.msg)
		}
	}
}

var requestRowRE = regexp.MustCompile(`<tr data-id="\d+"><td class="nowrap"><time[^>]*>([^<]*)</time></td><td><span class="status-code s\d">(\d+)</span></td><td class="req"><span class="method">GET</span> <span class="path">([^<]*)</span>`)

// requestRows reads the request log's rows as "time status path".
func requestRows(body string) []string {
	rows := []string{}
	for _, m := range requestRowRE.FindAllStringSubmatch(body, -1) {
		rows = append(rows, m[1]+" "+m[2]+" "+m[3])
	}
	return rows
}

func TestRequestLogSearch(t *testing.T) {
	for db, plat := range backends {
		t.Run(db, func(t *testing.T) {
			testRequestLogSearch(t, newEnvOn(t, SignupClosed, func() time.Time { return analyticsNow }, plat(t), nil))
		})
	}
}

func testRequestLogSearch(t *testing.T, e *env) {
	_, old, _ := trafficFixture(t, e)
	alice := e.signedIn(e.alice)
	for _, c := range []struct {
		query string
		rows  []string
	}{
		{"", []string{"Dec 5 12:00:00 500 /api/x", "Dec 5 11:30:00 404 /missing", "Dec 5 11:00:00 200 /about", "Dec 5 10:10:00 200 /", "Dec 5 10:05:00 200 /"}},
		{"?status=4xx", []string{"Dec 5 11:30:00 404 /missing"}},
		{"?path=/a*", []string{"Dec 5 12:00:00 500 /api/x", "Dec 5 11:00:00 200 /about"}},
		{"?path=/", []string{"Dec 5 10:10:00 200 /", "Dec 5 10:05:00 200 /"}},
		{"?path=/a*&status=2xx", []string{"Dec 5 11:00:00 200 /about"}},
		{"?since=1h", []string{"Dec 5 12:00:00 500 /api/x", "Dec 5 11:30:00 404 /missing"}}, // from 11:30 on, 11:30 included
		{"?since=15m", []string{}},
		{"?since=all&deployment=" + old.ID, []string{"Dec 5 12:00:00 500 /api/x", "Dec 2 12:30:00 200 /old"}},
		{"?status=3xx", []string{}},
	} {
		res := alice.get("/projects/web/requests" + c.query)
		want(t, c.query, res, http.StatusOK, `aria-current="page">Requests</a>`)
		if got := requestRows(res.body); !slices.Equal(got, c.rows) {
			t.Errorf("requests%s = %q, want %q", c.query, got, c.rows)
		}
		if len(c.rows) == 0 && !strings.Contains(res.body, "No request matches this search.") {
			t.Errorf("requests%s: no empty-search message", c.query)
		}
	}
}

// The live request log sends the records that arrive after the page's
// newest, that its search selects, and nothing it has already.
func TestRequestLogFollow(t *testing.T) {
	e := newEnvWith(t, SignupClosed, func() time.Time { return analyticsNow }, func(c *Config) { c.FollowEvery = 10 * time.Millisecond })
	_, _, prod := trafficFixture(t, e)
	alice := e.signedIn(e.alice)
	page := alice.get("/projects/web/requests?status=2xx")
	m := regexp.MustCompile(`data-requests-src="([^"]+)"`).FindStringSubmatch(page.body)
	if m == nil {
		t.Fatal("the request log has no live stream")
	}
	src := strings.ReplaceAll(m[1], "&amp;", "&")
	if !strings.Contains(src, "status=2xx") || !strings.Contains(src, "after=") {
		t.Fatalf("stream %s does not carry the search and the newest record", src)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+src, nil)
	res, err := alice.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	br := bufio.NewReader(res.Body)
	if line, _ := br.ReadString('\n'); line != ": following\n" {
		t.Fatalf("the stream begins with %q", line)
	}
	// A 500 (not selected) and then a 200 arrive.
	live := func(path string, status int) apogee.Request {
		return apogee.Request{Time: analyticsNow.Add(time.Minute), ProjectID: prod.ProjectID, DeploymentID: prod.ID, Method: "GET",
			Path: path, Status: status, Bytes: 10, Duration: time.Millisecond, Device: apogee.DeviceMobile, Visitor: "v9"}
	}
	if err := e.store.AppendRequests(ctx, []apogee.Request{live("/broken", 500), live("/live", 200)}); err != nil {
		t.Fatal(err)
	}
	var got []requestRow
	for len(got) < 1 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended: %v", err)
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var r requestRow
			if err := json.Unmarshal([]byte(data), &r); err != nil {
				t.Fatal(err)
			}
			got = append(got, r)
		}
	}
	if r := got[0]; r.Path != "/live" || r.Status != 200 || r.Class != "s2" || r.Device != "Mobile" || r.Time != "Dec 5 12:31:00" {
		t.Errorf("first live record = %+v, want GET /live 200 from a phone at 12:31", r)
	}
}

// edgeCount is the process's edge counters, as the server reads them
// from its metrics.
type edgeCount apogee.EdgeTraffic

func (c edgeCount) EdgeTraffic(context.Context) (apogee.EdgeTraffic, error) {
	return apogee.EdgeTraffic(c), nil
}

func TestAdminTraffic(t *testing.T) {
	e := newEnvOn(t, SignupClosed, func() time.Time { return analyticsNow },
		func(c *platform.Config) { c.Edge = edgeCount{Requests: 8, Bytes: 3550, AccessDropped: 1234} }, nil)
	trafficFixture(t, e)
	res := e.signedIn(e.admin).get("/admin")
	for label, value := range map[string]string{
		"Requests, 24 h": "7", "Bandwidth, 24 h": "3.2 KiB", "Visitors, 24 h": "5", "Server errors, 24 h": "1",
	} {
		if got := cardValue(res.body, label); got != value {
			t.Errorf("card %s = %q, want %q", label, got, value)
		}
	}
	if got, want := topRows(res.body, "platform-traffic"), []string{"web=5", "docs=2"}; !slices.Equal(got, want) {
		t.Errorf("top projects = %q, want %q", got, want)
	}
	want(t, "dropped", res, http.StatusOK, `id="access-dropped"`, "1,234 request records were dropped", `href="/projects/web/analytics"`)

	// No drops, no warning.
	e = newEnvOn(t, SignupClosed, nil, func(c *platform.Config) { c.Edge = edgeCount{} }, nil)
	res = e.signedIn(e.admin).get("/admin")
	want(t, "quiet", res, http.StatusOK, "No project had a request in the last 24 hours.")
	if strings.Contains(res.body, "access-dropped") {
		t.Error("a warning of dropped records with none dropped")
	}
}

func TestTrafficHelpers(t *testing.T) {
	for _, c := range []struct {
		part, whole int64
		want        string
	}{{0, 0, "0%"}, {0, 5, "0%"}, {1, 5, "20%"}, {1, 3, "33%"}, {1, 30, "3.3%"}, {1, 20, "5%"}, {1, 5000, "<0.1%"}, {5, 5, "100%"}} {
		if got := percent(c.part, c.whole); got != c.want {
			t.Errorf("percent(%d, %d) = %s, want %s", c.part, c.whole, got, c.want)
		}
	}
	for _, c := range []struct {
		d    time.Duration
		want string
	}{{0, "<0.1 ms"}, {90 * time.Microsecond, "<0.1 ms"}, {400 * time.Microsecond, "0.4 ms"}, {2 * time.Millisecond, "2 ms"}, {12400 * time.Microsecond, "12 ms"}, {1500 * time.Millisecond, "1.5 s"}, {2 * time.Second, "2 s"}} {
		if got := latency(c.d); got != c.want {
			t.Errorf("latency(%s) = %s, want %s", c.d, got, c.want)
		}
	}
	// The window is whole buckets, the current one included; fill puts
	// each point in its bucket.
	for _, tr := range trafficRanges {
		since, until := tr.window(analyticsNow)
		if until != analyticsNow || since.Add(time.Duration(tr.Points-1)*tr.Bucket) != analyticsNow.Truncate(tr.Bucket) || until.Sub(since) > 31*24*time.Hour {
			t.Errorf("%s: window %s to %s", tr.Key, since, until)
		}
		pts := tr.fill(since, []apogee.TrafficPoint{{Time: since, Requests: 2}, {Time: analyticsNow.Truncate(tr.Bucket), Requests: 3, Errors: 1}, {Time: since.Add(-tr.Bucket), Requests: 9}})
		if len(pts) != tr.Points || pts[0].Requests != 2 || pts[len(pts)-1].Requests != 3 || pts[len(pts)-1].Errors != 1 {
			t.Errorf("%s: fill = %d points, first %+v, last %+v", tr.Key, len(pts), pts[0], pts[len(pts)-1])
		}
	}
}

// BenchmarkAnalyticsTab renders the Analytics tab over 7 days of 100,000
// requests (SQLite, the raw records), the time a person waits for it.
func BenchmarkAnalyticsTab(b *testing.B) {
	e := newEnvOn(b, SignupClosed, func() time.Time { return analyticsNow }, nil, nil)
	_, _, prod := e.project(e.alice, "web")
	const n = 100_000
	paths := []string{"/", "/about", "/blog/a", "/blog/b", "/pricing", "/docs", "/missing"}
	devices := []string{apogee.DeviceDesktop, apogee.DeviceMobile, apogee.DeviceBot}
	batch := make([]apogee.Request, 0, 5000)
	for i := range n {
		p := paths[i%len(paths)]
		status := 200
		if p == "/missing" {
			status = 404
		}
		batch = append(batch, apogee.Request{Time: analyticsNow.Add(-time.Duration(i+1) * (167 * time.Hour / n)), ProjectID: prod.ProjectID,
			DeploymentID: prod.ID, Method: "GET", Path: p, Status: status, Bytes: int64(500 + i%1000), Duration: time.Duration(i%5000) * time.Microsecond,
			Device: devices[i%len(devices)], Visitor: strconv.Itoa(i % 3000), Referrer: []string{"", "google.com", "news.ycombinator.com"}[i%3]})
		if len(batch) == cap(batch) {
			if err := e.store.AppendRequests(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
			if err := traffic.Save(context.Background(), e.store, "bench-"+strconv.Itoa(i), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	alice := e.signedIn(e.alice)
	b.ResetTimer()
	for b.Loop() {
		if res := alice.get("/projects/web/analytics?range=7d"); res.code != 200 || cardValue(res.body, "Requests") != "100,000" {
			b.Fatalf("%d %s", res.code, cardValue(res.body, "Requests"))
		}
	}
}
