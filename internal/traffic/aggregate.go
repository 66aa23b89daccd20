package traffic

import (
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/axiomhq/hyperloglog"

	"github.com/apogee-dev/apogee"
)

// Grace is how long after its end a period still takes late requests
// before its rollup is final and forgotten.
const Grace = 10 * time.Second

// What each period keeps: minutes and hours a rollup row, hours and days
// top tables.
var periods = [...]struct {
	d          time.Duration
	rows, tops bool
}{{Minute, true, false}, {Hour, true, true}, {Day, false, true}}

// Aggregator sums requests into rollups and top tables for one writer.
// It is not safe for concurrent use: the access writer's goroutine owns
// it.
type Aggregator struct {
	writer  string
	periods map[key]*rollup
	// pending counts requests by everything the top tables take from
	// them, until fold adds each distinct one to its hour's and day's
	// tables once, with its count: requests repeat, and one map
	// operation a request is cheaper than five for each table.
	pending map[pendingKey]int64
	last    struct { // the previous request's periods: most requests share them
		project, deployment string
		minute              int64
		rollups             [len(periods)]*rollup
	}
}

// pendingKey is what the top tables take from a request, and the tables.
type pendingKey struct {
	hour, day                       *rollup
	path, referrer, country, device string
	notFound                        bool
}

// maxPending bounds pending: reaching it folds (a flood of unique paths
// costs no more memory than this).
const maxPending = 4096

type key struct {
	project, deployment string
	period              time.Duration
	start               int64 // Unix seconds
}

// rollup is a period being counted.
type rollup struct {
	row       apogee.TrafficRollup // counts only; sketches are below
	visitors  *hyperloglog.Sketch  // nil: the period keeps no row
	latency   *ddsketch.DDSketch
	tops      []*topK // by kinds; nil: the period keeps no top tables
	dirty     bool    // counted since the last Flush
	topsDirty bool    // counted since the last Flush of the top tables
}

// NewAggregator returns an Aggregator whose rows carry writer's name.
func NewAggregator(writer string) *Aggregator {
	return &Aggregator{writer: writer, periods: map[key]*rollup{}, pending: map[pendingKey]int64{}}
}

// Add counts r, whose visitor hash is visitor, into its minute, hour and
// day.
func (a *Aggregator) Add(r *apogee.Request, visitor uint64) {
	unix := r.Time.Unix()
	minute := floor(unix, Minute)
	l := &a.last
	if l.rollups[0] == nil || l.minute != minute || l.project != r.ProjectID || l.deployment != r.DeploymentID {
		for i, p := range periods {
			k := key{project: r.ProjectID, deployment: r.DeploymentID, period: p.d, start: floor(unix, p.d)}
			ru := a.periods[k]
			if ru == nil {
				ru = newRollup(k, p.rows, p.tops, a.writer)
				a.periods[k] = ru
			}
			l.rollups[i] = ru
		}
		l.project, l.deployment, l.minute = r.ProjectID, r.DeploymentID, minute
	}
	for _, ru := range l.rollups {
		ru.add(r, visitor)
	}
	a.pending[pendingKey{
		hour: l.rollups[1], day: l.rollups[2],
		path: r.Path, referrer: r.Referrer, country: r.Country, device: r.Device, notFound: r.Status == 404,
	}]++
	if len(a.pending) >= maxPending {
		a.fold()
	}
}

// fold adds the pending counts to the top tables.
func (a *Aggregator) fold() {
	for k, n := range a.pending {
		for _, ru := range [...]*rollup{k.hour, k.day} {
			ru.topsDirty = true
			ru.tops[0].addN(k.path, n)
			if k.referrer != "" {
				ru.tops[1].addN(k.referrer, n)
			}
			if k.notFound {
				ru.tops[2].addN(k.path, n)
			}
			if k.country != "" {
				ru.tops[3].addN(k.country, n)
			}
			ru.tops[4].addN(k.device, n)
		}
	}
	clear(a.pending)
}

// floor is the start of the period d that holds Unix second unix.
func floor(unix int64, d time.Duration) int64 {
	secs := int64(d / time.Second)
	return unix - (unix%secs+secs)%secs
}

func newRollup(k key, rows, tops bool, writer string) *rollup {
	ru := &rollup{row: apogee.TrafficRollup{
		ProjectID: k.project, DeploymentID: k.deployment, Start: time.Unix(k.start, 0).UTC(), Period: k.period, Writer: writer,
	}}
	if rows {
		ru.visitors, ru.latency = hyperloglog.New14(), newLatency()
	}
	if tops {
		ru.tops = make([]*topK, len(kinds))
		for i := range ru.tops {
			ru.tops[i] = newTopK(topTracked)
		}
	}
	return ru
}

func (ru *rollup) add(r *apogee.Request, visitor uint64) {
	if ru.visitors != nil {
		ru.dirty = true
		ru.row.Requests++
		ru.row.Bytes += r.Bytes
		if r.CacheHit {
			ru.row.CacheHits++
		}
		if c := r.Status / 100; 1 <= c && c <= 5 {
			ru.row.Status[c-1]++
		}
		ru.visitors.InsertHash(visitor)
		_ = ru.latency.Add(float64(max(r.Duration, 0) / time.Microsecond)) // fails only for values out of range
	}
}

// Flush returns the rollups counted since the last Flush and, with tops
// (or once a period ends), the top tables of those periods; it forgets
// the periods that ended more than Grace before now, whose rows are
// final.
func (a *Aggregator) Flush(now time.Time, tops bool) ([]apogee.TrafficRollup, []apogee.TrafficTops) {
	var rows []apogee.TrafficRollup
	var tables []apogee.TrafficTops
	a.fold()
	for k, ru := range a.periods {
		ended := !ru.row.Start.Add(k.period + Grace).After(now)
		if ru.dirty {
			rows = append(rows, ru.encode())
			ru.dirty = false
		}
		if ru.topsDirty && (tops || ended) {
			for i, t := range ru.tops {
				if keys := t.top(TopStored); len(keys) > 0 {
					tables = append(tables, apogee.TrafficTops{
						ProjectID: k.project, DeploymentID: k.deployment, Start: ru.row.Start, Period: k.period,
						Writer: a.writer, Kind: kinds[i], Keys: keys,
					})
				}
			}
			ru.topsDirty = false
		}
		if ended {
			delete(a.periods, k)
			a.last.rollups = [len(periods)]*rollup{}
		}
	}
	return rows, tables
}

// Pending is how many periods are being counted.
func (a *Aggregator) Pending() int { return len(a.periods) }

func (ru *rollup) encode() apogee.TrafficRollup {
	row := ru.row
	row.Visitors, _ = ru.visitors.MarshalBinary() // never fails
	ru.latency.Encode(&row.Latency, false)
	return row
}
