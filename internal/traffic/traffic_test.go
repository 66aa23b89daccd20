package traffic

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/sqlstore"
	"github.com/apogee-dev/apogee/internal/testbed"
)

func TestTopK(t *testing.T) {
	for _, tt := range []struct {
		name     string
		capacity int
		stream   func(add func(string))
		want     []apogee.TrafficTop // the top 2
	}{
		{"exact below capacity", 10, func(add func(string)) {
			for i := range 30 {
				add([]string{"/a", "/b", "/a", "/c", "/a", "/b"}[i%6])
			}
		}, []apogee.TrafficTop{{Key: "/a", Count: 15}, {Key: "/b", Count: 10}}},
		{"ties by key", 10, func(add func(string)) {
			for _, k := range []string{"/z", "/y", "/x", "/x", "/y"} {
				add(k)
			}
		}, []apogee.TrafficTop{{Key: "/x", Count: 2}, {Key: "/y", Count: 2}}},
		{"a heavy hitter survives a flood of unique keys", 10, func(add func(string)) {
			for i := range 10_000 {
				if i%4 == 0 {
					add("/hot")
				} else {
					add(fmt.Sprintf("/scan/%d", i))
				}
			}
		}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k := newTopK(tt.capacity)
			tt.stream(k.add)
			got := k.top(2)
			if len(k.counts) > tt.capacity {
				t.Errorf("%d keys kept, capacity %d", len(k.counts), tt.capacity)
			}
			if tt.want != nil {
				if !slices.Equal(got, tt.want) {
					t.Errorf("top = %v, want %v", got, tt.want)
				}
				return
			}
			// 2,500 of 10,000: under by at most 10,000/11.
			if len(got) == 0 || got[0].Key != "/hot" || got[0].Count > 2500 || got[0].Count < 2500-10_000/11 {
				t.Errorf("top = %v, want /hot first with 2,500 less at most 909", got)
			}
		})
	}
}

// TestTopKWeighted: counting a key n times at once keeps the summary's
// bound, whatever the weights: every count is under its true count by at
// most N/(capacity+1), and every key more frequent than that is kept.
func TestTopKWeighted(t *testing.T) {
	for seed := range uint64(20) {
		rnd := rand.New(rand.NewPCG(seed, 1))
		k := newTopK(10)
		truth := map[string]int64{}
		var total int64
		for range 2000 {
			key := fmt.Sprintf("/p/%d", rnd.IntN(40))
			if rnd.IntN(3) == 0 {
				key = "/hot"
			}
			n := int64(1 + rnd.IntN(20))
			k.addN(key, n)
			truth[key] += n
			total += n
		}
		if len(k.counts) > 10 {
			t.Fatalf("seed %d: %d keys kept, capacity 10", seed, len(k.counts))
		}
		bound := total / 11
		for key, want := range truth {
			got, ok := k.counts[key]
			if got > want || (ok && got < want-bound) || (!ok && want > bound) {
				t.Errorf("seed %d: %s counted %d (kept %v), true %d, bound %d", seed, key, got, ok, want, bound)
			}
		}
	}
}

func TestNearestRank(t *testing.T) {
	for _, tt := range []struct {
		q, n float64
		want int // the 0-based rank the sketch then picks: floor(q'·(n−1))
	}{
		{0.5, 20, 9}, {0.95, 20, 18}, {0.99, 20, 19}, {0.99, 5, 4}, {0.5, 5, 2}, {0.5, 2, 0}, {0.99, 1000, 989},
	} {
		if got := int(nearestRank(tt.q, tt.n) * (tt.n - 1)); got != tt.want {
			t.Errorf("nearestRank(%v, %v) picks rank %d, want %d", tt.q, tt.n, got, tt.want)
		}
	}
}

// TestFlush: rollups come back as they change and periods are forgotten
// once final; an hour's top tables only when asked for or once it ends.
func TestFlush(t *testing.T) {
	a := NewAggregator("w")
	t0 := time.Date(2026, 12, 5, 10, 59, 30, 0, time.UTC)
	a.Add(&apogee.Request{Time: t0, ProjectID: "p", DeploymentID: "d", Path: "/", Status: 200, Device: "desktop"}, 1)
	rows, tops := a.Flush(t0.Add(time.Second), false)
	if len(rows) != 2 || len(tops) != 0 || a.Pending() != 3 {
		t.Fatalf("first flush: %d rows, %d tables, %d pending; want a minute and an hour, no tables, 3 (with the day)", len(rows), len(tops), a.Pending())
	}
	if rows, _ := a.Flush(t0.Add(2*time.Second), false); len(rows) != 0 {
		t.Errorf("nothing new, yet %d rows", len(rows))
	}
	_, tops = a.Flush(t0.Add(3*time.Second), true)
	if len(tops) != 4 { // paths and devices of the hour and the day: no referrer, country or 404
		t.Errorf("tables asked for: %d, want 4", len(tops))
	}
	a.Add(&apogee.Request{Time: t0.Add(20 * time.Second), ProjectID: "p", DeploymentID: "d", Path: "/x", Status: 404, Device: "desktop"}, 2)
	rows, tops = a.Flush(t0.Add(30*time.Second+Grace), false) // 11:00:10: both periods over
	if len(rows) != 2 || rows[0].Requests != 2 || rows[1].Requests != 2 || len(tops) != 3 || a.Pending() != 1 {
		t.Errorf("at the hour's end: %d rows (%v), %d tables, %d pending; want a minute and an hour of 2 requests each, the hour's 3 tables, the day pending",
			len(rows), rows, len(tops), a.Pending())
	}
}

// BenchmarkSum30Days is the figure: the analytics of 30 days of a
// busy project (10 million requests over three deployments, 2,000 paths,
// 100 referrers, 50 countries) read from the store, by day as the
// dashboard's 30-day range asks, on SQLite and PostgreSQL. Writing the
// rollups (through the Aggregator, hour by hour) is the setup, not timed.
func BenchmarkSum30Days(b *testing.B) {
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run(db, func(b *testing.B) {
			var st *sqlstore.Store
			if db == "postgres" {
				st = testbed.PostgresStore(b)
			} else {
				var err error
				st, err = sqlstore.Open(b.Context(), "sqlite://"+filepath.ToSlash(filepath.Join(b.TempDir(), "a.db")), testbed.Quiet)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { st.Close() })
			}
			until := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
			since := until.Add(-30 * 24 * time.Hour)
			fill(b, st, since, until, 10_000_000)
			q := apogee.TrafficQuery{Since: since, Until: until, Bucket: 24 * time.Hour}
			b.ResetTimer()
			for b.Loop() {
				tr, err := Sum(b.Context(), st, "busy", q)
				if err != nil || tr.Requests != 10_000_000 || len(tr.Series) != 30 || len(tr.Paths) != 10 {
					b.Fatalf("%d requests in %d days, %d paths, %v", tr.Requests, len(tr.Series), len(tr.Paths), err)
				}
			}
		})
	}
}

// fill counts n requests spread evenly over [since, until) into st's
// rollups, as the access writer would.
func fill(b *testing.B, st *sqlstore.Store, since, until time.Time, n int) {
	b.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(rng, 1.2, 1, 1999)
	var paths, refs, countries [2000]string
	for i := range paths {
		paths[i], refs[i], countries[i] = fmt.Sprintf("/docs/page-%d", i), fmt.Sprintf("site-%d.example", i%100), fmt.Sprintf("C%d", i%50)
	}
	devices := []string{apogee.DeviceDesktop, apogee.DeviceMobile, apogee.DeviceBot}
	deployments := []string{"d1", "d2", "d3"}
	a := NewAggregator("bench")
	step := until.Sub(since) / time.Duration(n)
	hour := since
	r := apogee.Request{ProjectID: "busy", Method: "GET", Bytes: 4000}
	for i := range n {
		r.Time = since.Add(time.Duration(i) * step)
		if r.Time.Sub(hour) >= time.Hour {
			rows, tops := a.Flush(r.Time, false)
			if err := st.SaveTraffic(ctx, rows, tops); err != nil {
				b.Fatal(err)
			}
			hour = r.Time.Truncate(time.Hour)
		}
		p := zipf.Uint64()
		r.DeploymentID = deployments[i*3/n]
		r.Path, r.Referrer, r.Country, r.Device = paths[p], refs[p], countries[p], devices[i%3]
		r.Status = 200
		if p%97 == 0 {
			r.Status = 404
		}
		r.Duration = time.Duration(1+p%300) * time.Millisecond
		a.Add(&r, rng.Uint64()%200_000)
	}
	rows, tops := a.Flush(until.Add(time.Hour), true)
	if err := st.SaveTraffic(ctx, rows, tops); err != nil {
		b.Fatal(err)
	}
}

// TestSumAcrossDays: a range of several days sums its first and last
// partial days from hour tables and the whole days between from day
// tables, each request once.
func TestSumAcrossDays(t *testing.T) {
	st, err := sqlstore.Open(t.Context(), "sqlite://"+filepath.ToSlash(filepath.Join(t.TempDir(), "a.db")), testbed.Quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var rs []apogee.Request
	for i := range 72 { // one request an hour for three days, /a twice as often as /b
		rs = append(rs, apogee.Request{Time: start.Add(time.Duration(i) * time.Hour), ProjectID: "web", DeploymentID: "d",
			Path: []string{"/a", "/a", "/b"}[i%3], Status: 200, Device: apogee.DeviceDesktop, Visitor: "v"})
	}
	if err := Save(t.Context(), st, "w", rs); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name         string
		since, until time.Time
		a, b         int64
	}{
		{"three days", start.Add(-30 * time.Minute), start.Add(72 * time.Hour), 48, 24},
		{"within a day", start, start.Add(6 * time.Hour), 4, 2},
		{"from midnight", time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC), 16, 8},
	} {
		tr, err := Sum(t.Context(), st, "web", apogee.TrafficQuery{Since: tt.since, Until: tt.until, Bucket: Day})
		want := []apogee.Count{{Key: "/a", Count: tt.a}, {Key: "/b", Count: tt.b}}
		if err != nil || !slices.Equal(tr.Paths, want) || tr.Requests != tt.a+tt.b {
			t.Errorf("%s: %d requests, paths %v, %v; want %d, %v", tt.name, tr.Requests, tr.Paths, err, tt.a+tt.b, want)
		}
	}
}
