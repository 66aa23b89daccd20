package access_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/access"
	"github.com/apogee-dev/apogee/internal/sqlstore"
	"github.com/apogee-dev/apogee/internal/traffic"
)

const (
	chromeMac    = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
	safariIPhone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
	googlebot    = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
)

func openStore(t *testing.T) *sqlstore.Store {
	t.Helper()
	return openStoreAt(t, filepath.Join(t.TempDir(), "a.db"))
}

func openStoreAt(t *testing.T, path string) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(t.Context(), "sqlite://"+filepath.ToSlash(path), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWrite(t *testing.T) {
	st := openStore(t)
	l, err := access.New(access.Config{Store: st, FlushEvery: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- l.Run(ctx) }()

	now := time.Now().UTC().Truncate(time.Millisecond)
	i := 0
	entry := func(addr, ua, ref string) access.Entry {
		i++
		return access.Entry{Start: now.Add(time.Duration(i) * time.Millisecond), Duration: 3 * time.Millisecond, ProjectID: "web", DeploymentID: "d1",
			Host: "web.localhost", Method: "GET", Path: "/a", Status: 200, Bytes: 10, RemoteAddr: addr, UserAgent: ua, Referer: ref}
	}
	for _, e := range []access.Entry{
		entry("192.0.2.1:5000", chromeMac, "https://news.example/item?id=1"),
		entry("192.0.2.1:5001", chromeMac, "http://web.localhost/other"), // same visitor, an inner link
		entry("192.0.2.2:5000", safariIPhone, ""),
		entry("[2001:db8::1]:443", googlebot, "not a url"),
	} {
		l.Record(e)
	}
	waitFor(t, "4 records written", func() bool { return l.Written() == 4 })
	rs, err := st.Requests(t.Context(), "web", apogee.RequestQuery{})
	if err != nil || len(rs) != 4 {
		t.Fatalf("requests = %d, %v", len(rs), err)
	}
	for i, want := range []struct{ device, ref string }{
		{apogee.DeviceDesktop, "news.example"},
		{apogee.DeviceDesktop, ""},
		{apogee.DeviceMobile, ""},
		{apogee.DeviceBot, ""},
	} {
		if rs[i].Device != want.device || rs[i].Referrer != want.ref || !rs[i].Time.Equal(now.Add(time.Duration(i+1)*time.Millisecond)) || rs[i].Duration != 3*time.Millisecond {
			t.Errorf("record %d = %+v, want device %q referrer %q", i, rs[i], want.device, want.ref)
		}
	}
	var tr apogee.Traffic
	waitFor(t, "rollups of 4 requests", func() bool {
		tr, err = traffic.Sum(t.Context(), st, "web", apogee.TrafficQuery{Since: now.Add(-time.Minute), Bucket: time.Minute})
		return err == nil && tr.Requests == 4
	})
	if tr.Visitors != 3 || tr.Bytes != 40 || tr.Status["2xx"] != 4 {
		t.Errorf("rollups = %d visitors, %d bytes, status %v; want 3 (two requests of one client), 40, 4 2xx", tr.Visitors, tr.Bytes, tr.Status)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestNoAddressStored checks that no stored column holds the client's
// address.
func TestNoAddressStored(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	st := openStoreAt(t, path)
	l, err := access.New(access.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	l.Record(access.Entry{Start: time.Now(), ProjectID: "web", Host: "web.localhost", Method: "GET", Path: "/", Status: 200,
		RemoteAddr: "198.51.100.77:1234", UserAgent: chromeMac})
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // Run writes what is buffered and returns
	if err := l.Run(ctx); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var dump strings.Builder
	for _, table := range []string{"requests", "traffic_rollups", "traffic_tops"} {
		rows, err := db.QueryContext(t.Context(), "SELECT * FROM "+table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		n := 0
		for ; rows.Next(); n++ {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&dump, vals...)
		}
		rows.Close()
		if n == 0 {
			t.Fatalf("nothing stored in %s", table)
		}
	}
	if !strings.Contains(dump.String(), "web.localhost") {
		t.Fatalf("the record was not stored: %s", dump.String())
	}
	if strings.Contains(dump.String(), "198.51.100.77") {
		t.Errorf("the client's address is stored: %s", dump.String())
	}
}

// TestRawPerSecond: past RawPerSecond a second, a project's requests keep
// no raw record but every one counts in the rollups, and another project
// has its own budget.
func TestRawPerSecond(t *testing.T) {
	st := openStore(t)
	l, err := access.New(access.Config{Store: st, RawPerSecond: 3})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	for i := range 10 {
		l.Record(access.Entry{Start: now.Add(time.Duration(i) * time.Millisecond), ProjectID: "web", DeploymentID: "d1",
			Host: "web.localhost", Method: "GET", Path: "/", Status: 200, RemoteAddr: "192.0.2.1:1"})
	}
	l.Record(access.Entry{Start: now.Add(time.Second), ProjectID: "web", DeploymentID: "d1", Host: "web.localhost",
		Method: "GET", Path: "/next", Status: 200, RemoteAddr: "192.0.2.1:1"}) // the next second: a new budget
	l.Record(access.Entry{Start: now, ProjectID: "api", DeploymentID: "d2", Host: "api.localhost", Method: "GET",
		Path: "/", Status: 200, RemoteAddr: "192.0.2.1:1"})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := l.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if l.Written() != 5 || l.Sampled() != 7 {
		t.Errorf("written %d, sampled %d; want 5 (3 + 1 of web, 1 of api) and 7", l.Written(), l.Sampled())
	}
	tr, err := traffic.Sum(t.Context(), st, "web", apogee.TrafficQuery{Since: now.Add(-time.Minute), Bucket: time.Minute})
	if err != nil || tr.Requests != 11 || len(tr.Paths) != 2 || tr.Paths[0] != (apogee.Count{Key: "/", Count: 10}) {
		t.Errorf("rollups = %d requests, paths %v, %v; want 11, / 10 and /next 1", tr.Requests, tr.Paths, err)
	}
}

// TestRetentions: each project's request log is kept within its own
// retention (age, records), the log as a whole within the longest.
func TestRetentions(t *testing.T) {
	st := openStore(t)
	now := time.Now()
	rec := func(project string, ago time.Duration) apogee.Request {
		return apogee.Request{Time: now.Add(-ago), ProjectID: project, DeploymentID: "d", Host: "h", Method: "GET", Path: "/", Status: 200}
	}
	rs := []apogee.Request{rec("web", 2*time.Hour), rec("web", 90*time.Minute), rec("web", time.Minute), rec("gone", 48*time.Hour)}
	for i := range 5 {
		rs = append(rs, rec("api", time.Duration(i)*time.Minute))
	}
	if err := st.AppendRequests(t.Context(), rs); err != nil {
		t.Fatal(err)
	}
	l, err := access.New(access.Config{Store: st, Retentions: func(context.Context) (map[string]access.Retention, time.Duration, error) {
		return map[string]access.Retention{
			"web": {MaxAge: time.Hour, MaxRows: -1},
			"api": {MaxAge: 24 * time.Hour, MaxRows: 2},
		}, 24 * time.Hour, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- l.Run(ctx) }() // it prunes at its start
	want := map[string]int{"web": 1, "api": 2, "gone": 0}
	kept := func() map[string]int {
		got := map[string]int{}
		for project := range want {
			rs, err := st.Requests(t.Context(), project, apogee.RequestQuery{})
			if err != nil {
				t.Fatal(err)
			}
			got[project] = len(rs)
		}
		return got
	}
	deadline := time.Now().Add(10 * time.Second)
	for !maps.Equal(kept(), want) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := kept(); !maps.Equal(got, want) {
		t.Errorf("records kept = %v, want %v", got, want)
	}
}

func TestDropWhenFull(t *testing.T) {
	l, err := access.New(access.Config{Store: openStore(t), Buffer: 2})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 { // no Run: nothing drains the buffer
		l.Record(access.Entry{ProjectID: "web"})
	}
	if got := l.Dropped(); got != 3 {
		t.Errorf("dropped %d, want 3", got)
	}
}

// stuckStore is a store whose writes wait until release is closed.
type stuckStore struct {
	*sqlstore.Store
	release chan struct{}
}

func (s stuckStore) AppendRequests(ctx context.Context, rs []apogee.Request) error {
	<-s.release
	return s.Store.AppendRequests(ctx, rs)
}

func (s stuckStore) SaveTraffic(ctx context.Context, rollups []apogee.TrafficRollup, tops []apogee.TrafficTops) error {
	<-s.release
	return s.Store.SaveTraffic(ctx, rollups, tops)
}

// TestSlowStoreDropsNothing: a store that takes its time (here: until
// the test lets it go) keeps no entry from being drained and counted;
// once it answers, everything counted is written.
func TestSlowStoreDropsNothing(t *testing.T) {
	st := stuckStore{Store: openStore(t), release: make(chan struct{})}
	l, err := access.New(access.Config{Store: st, Buffer: 16, DrainEvery: time.Millisecond, FlushEvery: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- l.Run(ctx) }()
	start := time.Now()
	for i := range 20 { // 20 buffers' worth while the store is stuck
		for range 16 {
			l.Record(access.Entry{Start: start, ProjectID: "web", DeploymentID: "d1", Host: "web.localhost", Method: "GET",
				Path: fmt.Sprintf("/%d", i), Status: 200, RemoteAddr: "192.0.2.1:1"})
		}
		waitFor(t, "the buffer to be drained", func() bool { return l.Dropped() > 0 || l.Pending() == 0 })
	}
	if n := l.Dropped(); n != 0 {
		t.Fatalf("%d entries dropped while the store was slow, want 0", n)
	}
	close(st.release)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got, err := st.Rollups(t.Context(), "web", apogee.RollupQuery{Period: traffic.Minute,
		Since: start.Add(-time.Hour), Until: start.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, r := range got {
		n += r.Requests
	}
	if n != 20*16 {
		t.Errorf("rollups count %d requests, want %d", n, 20*16)
	}
}

func BenchmarkRecord(b *testing.B) {
	l, err := access.New(access.Config{Store: nil, Buffer: 1 << 10})
	if err != nil {
		b.Fatal(err)
	}
	e := access.Entry{Start: time.Now(), ProjectID: "web", Path: "/", RemoteAddr: "192.0.2.1:1"}
	b.ReportAllocs()
	for b.Loop() {
		l.Record(e) // full after 1,024: the drop path, what a burst costs
	}
}
