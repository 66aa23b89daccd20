// Package traffic keeps the traffic analytics cheap at any volume (issue
// 15): an Aggregator sums the edge's requests per deployment into minute
// and hour rollups in memory (counts, bytes, status classes, cache hits,
// a HyperLogLog of visitors and a DDSketch of latencies) and top tables of
// each hour (paths, referrers, 404s, countries, devices) with a
// heavy-hitters sketch; Sum reads a range back from the stored rows
// alone. A 30-day range is 720 hour rows per deployment however many
// requests it saw.
package traffic

import (
	"cmp"
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/store"
	"github.com/axiomhq/hyperloglog"

	"github.com/apogee-dev/apogee"
)

// The periods of rollups.
const (
	Minute = time.Minute
	Hour   = time.Hour
	Day    = 24 * time.Hour
)

// Accuracy is the latency sketch's relative accuracy: a percentile is
// within 1% of the true value.
const Accuracy = 0.01

// Sizes of the top tables: keys counted per kind and hour (exact below
// it), and keys stored.
const (
	topTracked = 1000
	TopStored  = 50
)

var kinds = [...]string{apogee.TopPath, apogee.TopReferrer, apogee.TopNotFound, apogee.TopCountry, apogee.TopDevice}

// indexMapping is shared by every latency sketch, so that all merge.
var indexMapping = func() mapping.IndexMapping {
	m, err := mapping.NewLogarithmicMapping(Accuracy)
	if err != nil {
		panic(err)
	}
	return m
}()

func newLatency() *ddsketch.DDSketch {
	return ddsketch.NewDDSketch(indexMapping, store.NewDenseStore(), store.NewDenseStore())
}

// Source is what Sum reads of the store.
type Source interface {
	Rollups(ctx context.Context, projectID string, q apogee.RollupQuery) ([]apogee.TrafficRollup, error)
	TopCounts(ctx context.Context, projectID string, q apogee.RollupQuery, kind string, n int) ([]apogee.Count, error)
}

// Sum sums a project's traffic in q's range from its rollups: minute rows
// for a series by minute, hour rows otherwise, so the range starts at the
// start of its first minute or hour. Top tables cover the range's hours
// (whole days from day tables).
func Sum(ctx context.Context, src Source, projectID string, q apogee.TrafficQuery) (apogee.Traffic, error) {
	if q.Until.IsZero() {
		q.Until = time.Now()
	}
	if q.Top <= 0 {
		q.Top = 10
	}
	if q.Bucket <= 0 {
		q.Bucket = Hour
	}
	period := Hour
	if q.Bucket < Hour {
		period = Minute
	}
	t := apogee.Traffic{Since: q.Since.UTC(), Until: q.Until.UTC(), Status: map[string]int64{}}
	rq := apogee.RollupQuery{Since: q.Since.Truncate(period), Until: q.Until, Period: period, DeploymentID: q.DeploymentID}
	rows, err := src.Rollups(ctx, projectID, rq)
	if err != nil {
		return t, fmt.Errorf("traffic: %w", err)
	}
	if len(rows) == 0 {
		return t, nil
	}
	visitors, latency := hyperloglog.New14(), newLatency()
	type bucket struct {
		apogee.TrafficPoint
		visitors *hyperloglog.Sketch
	}
	var status [5]int64
	var series []*bucket
	byTime := map[int64]*bucket{}
	for _, r := range rows {
		t.Requests += r.Requests
		t.Bytes += r.Bytes
		t.CacheHits += r.CacheHits
		for i, n := range r.Status {
			status[i] += n
		}
		h := new(hyperloglog.Sketch)
		if err := h.UnmarshalBinary(r.Visitors); err != nil {
			return t, fmt.Errorf("traffic: visitors of %s at %s: %w", r.DeploymentID, r.Start, err)
		}
		if err := visitors.Merge(h); err != nil {
			return t, fmt.Errorf("traffic: visitors: %w", err)
		}
		if err := latency.DecodeAndMergeWith(r.Latency); err != nil {
			return t, fmt.Errorf("traffic: latency of %s at %s: %w", r.DeploymentID, r.Start, err)
		}
		at := r.Start.Truncate(q.Bucket)
		b := byTime[at.Unix()]
		if b == nil {
			b = &bucket{TrafficPoint: apogee.TrafficPoint{Time: at.UTC()}, visitors: h}
			byTime[at.Unix()] = b
			series = append(series, b)
		} else if err := b.visitors.Merge(h); err != nil {
			return t, fmt.Errorf("traffic: visitors: %w", err)
		}
		b.Requests += r.Requests
		b.Bytes += r.Bytes
		b.Errors += r.Status[4]
	}
	t.Visitors = int64(visitors.Estimate())
	for i, n := range status {
		if n > 0 {
			t.Status[fmt.Sprintf("%dxx", i+1)] = n
		}
	}
	if !latency.IsEmpty() {
		n := latency.GetCount()
		for _, p := range []struct {
			q   float64
			out *time.Duration
		}{{0.50, &t.P50}, {0.95, &t.P95}, {0.99, &t.P99}} {
			v, err := latency.GetValueAtQuantile(nearestRank(p.q, n))
			if err != nil {
				return t, fmt.Errorf("traffic: p%d: %w", int(p.q*100), err)
			}
			*p.out = micros(v)
		}
	}
	slices.SortFunc(series, func(a, b *bucket) int { return a.Time.Compare(b.Time) })
	t.Series = make([]apogee.TrafficPoint, len(series))
	for i, b := range series {
		b.Visitors = int64(b.visitors.Estimate())
		t.Series[i] = b.TrafficPoint
	}
	for _, tb := range []struct {
		kind string
		out  *[]apogee.Count
	}{
		{apogee.TopPath, &t.Paths},
		{apogee.TopReferrer, &t.Referrers},
		{apogee.TopNotFound, &t.NotFound},
		{apogee.TopCountry, &t.Countries},
		{apogee.TopDevice, &t.Devices},
	} {
		if *tb.out, err = tops(ctx, src, projectID, q, tb.kind); err != nil {
			return t, fmt.Errorf("traffic: %w", err)
		}
	}
	return t, nil
}

// tops sums the top tables of kind over q's range from its hours: the
// day tables for the whole days in it, the hour tables for the rest.
func tops(ctx context.Context, src Source, projectID string, q apogee.TrafficQuery, kind string) ([]apogee.Count, error) {
	since := q.Since.Truncate(Hour)
	firstDay, lastDay := since.Truncate(Day), q.Until.Truncate(Day)
	if firstDay.Before(since) {
		firstDay = firstDay.Add(Day)
	}
	spans := []apogee.RollupQuery{{Since: since, Until: q.Until, Period: Hour}}
	if firstDay.Before(lastDay) {
		spans = []apogee.RollupQuery{
			{Since: since, Until: firstDay, Period: Hour},
			{Since: firstDay, Until: lastDay, Period: Day},
			{Since: lastDay, Until: q.Until, Period: Hour},
		}
	}
	counts := map[string]int64{}
	for _, sq := range spans {
		if !sq.Since.Before(sq.Until) {
			continue
		}
		sq.DeploymentID = q.DeploymentID
		cs, err := src.TopCounts(ctx, projectID, sq, kind, max(q.Top, TopStored))
		if err != nil {
			return nil, err
		}
		if len(spans) == 1 {
			return cs[:min(q.Top, len(cs))], nil
		}
		for _, c := range cs {
			counts[c.Key] += c.Count
		}
	}
	out := make([]apogee.Count, 0, len(counts))
	for k, n := range counts {
		out = append(out, apogee.Count{Key: k, Count: n})
	}
	slices.SortFunc(out, func(a, b apogee.Count) int { return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Key, b.Key)) })
	return out[:min(q.Top, len(out))], nil
}

// nearestRank is the quantile to ask a DDSketch of n values for the
// nearest-rank percentile q, the ceil(q·n)-th smallest value (p99 of 5
// requests is the slowest): the sketch picks the value of rank
// floor(q'·(n−1)), counting from 0.
func nearestRank(q, n float64) float64 {
	if n <= 1 {
		return q
	}
	k := math.Ceil(q*n) - 1
	return min((k+0.5)/(n-1), 1)
}

// micros is a sketch's value in microseconds as a duration, to the
// microsecond.
func micros(us float64) time.Duration {
	return time.Duration(us+0.5) * time.Microsecond
}

// Saver is what Save needs of the store.
type Saver interface {
	SaveTraffic(ctx context.Context, rollups []apogee.TrafficRollup, tops []apogee.TrafficTops) error
}

var saveSeed = maphash.MakeSeed()

// Save sums records, as the access writer does, and saves their rollups
// and top tables under writer. Records are counted once: saving the same
// records again under the same writer replaces their rollups with what
// they sum to alone.
func Save(ctx context.Context, s Saver, writer string, rs []apogee.Request) error {
	a := NewAggregator(writer)
	for i := range rs {
		a.Add(&rs[i], maphash.String(saveSeed, rs[i].Visitor))
	}
	rollups, tops := a.Flush(time.Now().Add(100*365*24*time.Hour), true)
	return s.SaveTraffic(ctx, rollups, tops)
}
