package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/traffic"
)

// reqFixture is the traffic testRequests stores for project "web": 20
// requests over two hours from 3 visitors, with known durations 1–20 ms.
func reqFixture() []apogee.Request {
	var rs []apogee.Request
	for i := range 20 {
		r := apogee.Request{
			Time: base.Add(time.Duration(i) * 6 * time.Minute), ProjectID: "web", DeploymentID: "d1",
			Host: "web.localhost", Method: "GET", Path: "/", Status: 200, Bytes: 100,
			Duration: time.Duration(i+1) * time.Millisecond, CacheHit: i%2 == 0,
			Device: apogee.DeviceDesktop, Visitor: []string{"v1", "v2", "v3"}[i%3],
		}
		switch {
		case i < 4:
			r.Path, r.Status, r.Referrer = "/missing", 404, "news.example"
		case i < 6:
			r.Path, r.Status, r.Method = "/api/x", 502, "POST"
		case i < 9:
			r.Path, r.Country, r.Device = "/about", "DE", apogee.DeviceMobile
		}
		if i >= 10 {
			r.DeploymentID = "d2"
		}
		rs = append(rs, r)
	}
	return rs
}

func testRequests(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	rs := reqFixture()
	other := rs[0]
	other.ProjectID = "api"
	if err := s.AppendRequests(ctx, append(rs, other)); err != nil {
		t.Fatal(err)
	}

	all, err := s.Requests(ctx, "web", apogee.RequestQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 20 {
		t.Fatalf("got %d records, want 20", len(all))
	}
	got, want := all[7], rs[7]
	want.ID, want.Visitor = got.ID, ""
	if !got.Time.Equal(want.Time.Truncate(time.Millisecond)) { // kept to the millisecond
		t.Errorf("time %v, want %v", got.Time, want.Time)
	}
	got.Time = want.Time
	if got != want {
		t.Errorf("record 7 = %+v\nwant %+v", got, want)
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID <= all[i-1].ID {
			t.Fatalf("ids not increasing: %d then %d", all[i-1].ID, all[i].ID)
		}
	}

	paths := func(q apogee.RequestQuery) []string {
		t.Helper()
		rs, err := s.Requests(ctx, "web", q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rs {
			out = append(out, r.Path)
		}
		return out
	}
	for _, tt := range []struct {
		name string
		q    apogee.RequestQuery
		want int
	}{
		{"5xx", apogee.RequestQuery{StatusClass: 5}, 2},
		{"4xx", apogee.RequestQuery{StatusClass: 4}, 4},
		{"prefix", apogee.RequestQuery{Path: "/a*"}, 5},
		{"exact", apogee.RequestQuery{Path: "/about"}, 3},
		{"prefix not a pattern", apogee.RequestQuery{Path: "/%*"}, 0},
		{"since", apogee.RequestQuery{Since: base.Add(60 * time.Minute)}, 10},
		{"until", apogee.RequestQuery{Until: base.Add(12 * time.Minute)}, 2},
		{"after", apogee.RequestQuery{AfterID: all[17].ID}, 2},
		{"limit keeps the latest", apogee.RequestQuery{Limit: 3}, 3},
		{"deployment", apogee.RequestQuery{DeploymentID: "d2"}, 10},
	} {
		if got := paths(tt.q); len(got) != tt.want {
			t.Errorf("%s: %d records %v, want %d", tt.name, len(got), got, tt.want)
		}
	}
	if last, _ := s.Requests(ctx, "web", apogee.RequestQuery{Limit: 1}); len(last) != 1 || last[0].ID != all[19].ID {
		t.Errorf("limit 1 = %+v, want the latest", last)
	}

	// The analytics read rollups, which the access writer saves as it
	// counts; traffic.Save does the same for these records. Saved twice
	// under one writer they count once.
	for range 2 {
		if err := traffic.Save(ctx, s, "w1", append(rs, other)); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := traffic.Sum(ctx, s, "web", apogee.TrafficQuery{Since: base, Until: base.Add(3 * time.Hour), Bucket: time.Hour, Top: 2})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Requests != 20 || tr.Visitors != 3 || tr.Bytes != 2000 || tr.CacheHits != 10 {
		t.Errorf("totals = %d requests, %d visitors, %d bytes, %d hits; want 20, 3, 2000, 10", tr.Requests, tr.Visitors, tr.Bytes, tr.CacheHits)
	}
	if want := map[string]int64{"2xx": 14, "4xx": 4, "5xx": 2}; !mapsEqual(tr.Status, want) {
		t.Errorf("status = %v, want %v", tr.Status, want)
	}
	if !near(tr.P50, 10*time.Millisecond) || !near(tr.P95, 19*time.Millisecond) || !near(tr.P99, 20*time.Millisecond) {
		// Nearest-rank percentiles, as a sketch within 1% has them.
		t.Errorf("p50/95/99 = %v %v %v, want 10ms 19ms 20ms within 1%%", tr.P50, tr.P95, tr.P99)
	}
	hour := base.Truncate(time.Hour)
	wantSeries := []apogee.TrafficPoint{
		{Time: hour, Requests: 10, Visitors: 3, Bytes: 1000, Errors: 2},
		{Time: hour.Add(time.Hour), Requests: 10, Visitors: 3, Bytes: 1000},
	}
	if !slices.EqualFunc(tr.Series, wantSeries, func(a, b apogee.TrafficPoint) bool {
		return a.Time.Equal(b.Time) && a.Requests == b.Requests && a.Visitors == b.Visitors && a.Bytes == b.Bytes && a.Errors == b.Errors
	}) {
		t.Errorf("series = %+v\nwant %+v", tr.Series, wantSeries)
	}
	for _, tt := range []struct {
		name      string
		got, want []apogee.Count
	}{
		{"paths", tr.Paths, []apogee.Count{c("/", 11), c("/missing", 4)}},
		{"referrers", tr.Referrers, []apogee.Count{c("news.example", 4)}},
		{"404s", tr.NotFound, []apogee.Count{c("/missing", 4)}},
		{"countries", tr.Countries, []apogee.Count{c("DE", 3)}},
		{"devices", tr.Devices, []apogee.Count{c("desktop", 17), c("mobile", 3)}},
	} {
		if !slices.Equal(tt.got, tt.want) {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	d2, err := traffic.Sum(ctx, s, "web", apogee.TrafficQuery{Since: base, Until: base.Add(3 * time.Hour), DeploymentID: "d2"})
	if err != nil || d2.Requests != 10 {
		t.Errorf("deployment d2: %d requests, %v; want 10", d2.Requests, err)
	}
	none, err := traffic.Sum(ctx, s, "nothing", apogee.TrafficQuery{Since: base})
	if err != nil || none.Requests != 0 || none.P99 != 0 {
		t.Errorf("no traffic: %+v, %v", none, err)
	}

	minutes, err := traffic.Sum(ctx, s, "web", apogee.TrafficQuery{Since: base, Until: base.Add(30 * time.Minute), Bucket: time.Minute})
	if err != nil || minutes.Requests != 5 || len(minutes.Series) != 5 || !minutes.Series[1].Time.Equal(base.Truncate(time.Minute).Add(6*time.Minute)) {
		t.Errorf("by minute: %d requests in %d points (%v), %v; want 5 in 5 points, one each 6 minutes", minutes.Requests, len(minutes.Series), minutes.Series, err)
	}

	// A second server's writer counts beside the first: its rows add up.
	if err := traffic.Save(ctx, s, "w2", rs[:2]); err != nil {
		t.Fatal(err)
	}
	both, err := traffic.Sum(ctx, s, "web", apogee.TrafficQuery{Since: base, Until: base.Add(3 * time.Hour), Top: 1})
	if err != nil || both.Requests != 22 || both.Visitors != 3 || !slices.Equal(both.NotFound, []apogee.Count{c("/missing", 6)}) {
		t.Errorf("two writers: %d requests, %d visitors, 404s %v, %v; want 22, 3, /missing 6", both.Requests, both.Visitors, both.NotFound, err)
	}

	// Pruning: minute rows before an hour, then hour rows and top tables.
	if n, err := s.PruneTraffic(ctx, time.Minute, base.Add(60*time.Minute)); err != nil || n != 13 { // web's first 10 minutes by w1, api's one, w2's 2
		t.Errorf("prune minute rollups = %d, %v; want 13", n, err)
	}
	if rows, err := s.Rollups(ctx, "web", apogee.RollupQuery{Period: time.Minute}); err != nil || len(rows) != 10 {
		t.Errorf("minute rollups left = %d, %v; want 10", len(rows), err)
	}
	if _, err := s.PruneTraffic(ctx, time.Hour, base.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if gone, err := traffic.Sum(ctx, s, "web", apogee.TrafficQuery{Since: base, Until: base.Add(3 * time.Hour)}); err != nil || gone.Requests != 0 || len(gone.Paths) != 0 {
		t.Errorf("after pruning hours: %d requests, paths %v, %v; want none", gone.Requests, gone.Paths, err)
	}

	n, err := s.PruneRequests(ctx, base.Add(60*time.Minute))
	if err != nil || n != 11 { // 10 of web, 1 of api
		t.Fatalf("prune = %d, %v; want 11", n, err)
	}
	if left := paths(apogee.RequestQuery{}); len(left) != 10 {
		t.Errorf("after pruning %d records, want 10", len(left))
	}

	// One project's log: past its newest 4, then older than a time.
	if n, err := s.PruneProjectRequests(ctx, "web", time.Time{}, 4); err != nil || n != 6 {
		t.Errorf("prune web to 4 records = %d, %v; want 6", n, err)
	}
	if n, err := s.PruneProjectRequests(ctx, "web", base.Add(108*time.Minute), -1); err != nil || n != 2 {
		t.Errorf("prune web before 108 min = %d, %v; want 2", n, err)
	}
	if left, _ := s.Requests(ctx, "web", apogee.RequestQuery{}); len(left) != 2 || !left[0].Time.Equal(base.Add(108*time.Minute).Truncate(time.Millisecond)) {
		t.Errorf("left %+v, want the records of 108 and 114 min", left)
	}
	if n, err := s.PruneProjectRequests(ctx, "web", time.Time{}, -1); err != nil || n != 0 {
		t.Errorf("no bound pruned %d, %v", n, err)
	}
}

// near tells whether a sketch's percentile is within its 1% of want.
func near(got, want time.Duration) bool {
	d := got - want
	return -want/100 <= d && d <= want/100
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func c(key string, n int64) apogee.Count { return apogee.Count{Key: key, Count: n} }
