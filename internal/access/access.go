// Package access turns the edge's requests into traffic analytics and a
// request log (issue 15) at no cost to the edge: Record copies a
// fixed-size Entry into a bounded buffer without blocking (channels, one
// per core, so that the edge's cores rarely meet on one; a full buffer
// drops the entry and counts it), and Run, in the background, classifies
// the User-Agent, hashes the visitor, looks up the country, counts every
// request into the rollups of package traffic (saved every second) and
// keeps up to RawPerSecond raw records a second of each project for the
// request log, written in batches. No client address reaches the store.
package access

import (
	"context"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mileusna/useragent"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/traffic"
)

// Entry is what the edge hands over for one request. Its strings are the
// request's own (no copy is made), so recording allocates nothing.
type Entry struct {
	Start        time.Time
	Duration     time.Duration
	ProjectID    string
	DeploymentID string
	Host         string
	Method       string
	Path         string
	Status       int
	Bytes        int64
	CacheHit     bool
	RemoteAddr   string // host:port; hashed, never stored
	UserAgent    string
	Referer      string
}

// Store is what the writer needs of the store.
type Store interface {
	AppendRequests(ctx context.Context, rs []apogee.Request) error
	PruneRequests(ctx context.Context, before time.Time) (int64, error)
	PruneProjectRequests(ctx context.Context, projectID string, before time.Time, maxRows int64) (int64, error)
	SaveTraffic(ctx context.Context, rollups []apogee.TrafficRollup, tops []apogee.TrafficTops) error
	PruneTraffic(ctx context.Context, period time.Duration, before time.Time) (int64, error)
}

// Retention is how much of one project's request log is kept: records
// younger than MaxAge and at most MaxRows of them (< 0: no bound).
type Retention struct {
	MaxAge  time.Duration
	MaxRows int64
}

// RetentionsFunc returns the retention of each project and the longest
// MaxAge of all (< 0: none), which bounds the log as a whole: records of
// deleted projects, and PostgreSQL's day partitions.
type RetentionsFunc func(ctx context.Context) (projects map[string]Retention, longest time.Duration, err error)

// Countries tells a client address's country ("" unknown).
type Countries interface {
	Country(ip netip.Addr) string
}

// Config configures a Log. Store is required.
type Config struct {
	Store      Store
	Countries  Countries      // nil: no country
	Buffer     int            // entries held before dropping (default 16,384)
	Batch      int            // records per write at most (default 2,000)
	DrainEvery time.Duration  // how often the writer empties the buffer (default 20 ms)
	FlushEvery time.Duration  // longest an entry waits before its rollups and record are saved (default 1 s)
	TopsEvery  time.Duration  // how often the hour's top tables are saved under steady traffic (default 10 s; when it pauses and at the hour's end too)
	Retention  time.Duration  // raw records kept when Retentions is nil (default apogee.DefaultRequestRetention)
	Retentions RetentionsFunc // each project's request log retention (its owner's plan); nil: Retention for all
	// RawPerSecond bounds the raw records kept of each project each
	// second (default 100; every request still counts in the rollups).
	RawPerSecond int
	Writer       string // names this log's rollups (default: host name and a random suffix)
	Log          *slog.Logger
	Registerer   prometheus.Registerer // nil: metrics not registered
}

// Log is the buffer and its writer. Record is safe for concurrent use;
// Run is called once, by one goroutine.
type Log struct {
	cfg     Config
	shards  []chan Entry // the buffer, cut so that the edge's cores rarely send to the same one at once
	dropped atomic.Int64
	written atomic.Int64
	mDrop   prometheus.Counter
	mWrite  prometheus.Counter

	// Only Run's goroutine uses these.
	saltDay int64 // Unix days
	salt    maphash.Seed
	devices map[string]string // User-Agent → device class, reset when large
	agg     *traffic.Aggregator
	kept    map[string]*seconds // raw records kept in the latest seconds, by project
	sampled atomic.Int64
}

// seconds counts the raw records kept of a project in its latest second
// and the one before: entries reach the writer through several shards, so
// a second's last entries may come after the next second's first.
type seconds struct {
	last, prev second
}

// second counts the raw records kept of a project in one second.
type second struct {
	unix int64
	n    int
}

// of returns the count of second unix: the latest, the previous (or
// anything older, which counts against it), or a new latest.
func (s *seconds) of(unix int64) *second {
	switch {
	case unix == s.last.unix:
		return &s.last
	case unix < s.last.unix:
		return &s.prev
	}
	s.prev, s.last = s.last, second{unix: unix}
	return &s.last
}

// maxDevices bounds the device cache: User-Agents repeat, so most
// requests skip the parser.
const maxDevices = 10_000

// New returns a Log; call Run to write what it records.
func New(cfg Config) (*Log, error) {
	if cfg.Buffer <= 0 {
		cfg.Buffer = 1 << 14
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 2000
	}
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = time.Second
	}
	if cfg.Retention <= 0 {
		cfg.Retention = apogee.DefaultRequestRetention
	}
	if cfg.DrainEvery <= 0 {
		cfg.DrainEvery = 20 * time.Millisecond
	}
	if cfg.TopsEvery <= 0 {
		cfg.TopsEvery = 10 * time.Second
	}
	if cfg.RawPerSecond <= 0 {
		cfg.RawPerSecond = 100
	}
	if cfg.Writer == "" {
		host, _ := os.Hostname()
		cfg.Writer = fmt.Sprintf("%s-%08x", host, rand.Uint32())
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	l := &Log{
		cfg:    cfg,
		shards: make([]chan Entry, min(runtime.GOMAXPROCS(0), cfg.Buffer)),
		mDrop:  prometheus.NewCounter(prometheus.CounterOpts{Name: "apogee_access_dropped_total", Help: "Request records dropped because the access buffer was full."}),
		mWrite: prometheus.NewCounter(prometheus.CounterOpts{Name: "apogee_access_written_total", Help: "Request records written to the store."}),
		agg:    traffic.NewAggregator(cfg.Writer),
		kept:   map[string]*seconds{},
	}
	for i := range l.shards { // Buffer entries in all
		n := cfg.Buffer / len(l.shards)
		if i < cfg.Buffer%len(l.shards) {
			n++
		}
		l.shards[i] = make(chan Entry, n)
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{l.mDrop, l.mWrite} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return l, nil
}

// Record hands e to the writer, or drops and counts it when the buffer is
// full. It never blocks and allocates nothing. It tries a shard picked at
// random (a per-thread generator: no shared state), then the others.
func (l *Log) Record(e Entry) {
	n := uint32(len(l.shards))
	i := rand.Uint32N(n)
	for range n {
		select {
		case l.shards[i] <- e:
			return
		default:
		}
		if i++; i == n {
			i = 0
		}
	}
	l.dropped.Add(1)
	l.mDrop.Inc()
}

// Dropped is how many entries Record dropped so far.
func (l *Log) Dropped() int64 { return l.dropped.Load() }

// Pending is how many entries wait in the buffer.
func (l *Log) Pending() int {
	n := 0
	for _, ch := range l.shards {
		n += len(ch)
	}
	return n
}

// Written is how many raw records were stored so far.
func (l *Log) Written() int64 { return l.written.Load() }

// Sampled is how many requests were counted in the rollups but kept no
// raw record, their project being over RawPerSecond.
func (l *Log) Sampled() int64 { return l.sampled.Load() }

// Run counts recorded entries into rollups and writes them and the raw
// records in batches, and prunes old records every hour, until ctx ends;
// then it writes what is buffered and counted (with a short deadline of
// its own) and returns.
func (l *Log) Run(ctx context.Context) error {
	// The store is written by a goroutine of its own, so that a slow
	// write never keeps the buffer from being drained: writes queue up to
	// maxWrites, and what finds the queue full is dropped and logged
	// (rollups carry their period's totals so far, so the next save of a
	// period makes up for a dropped one).
	writes := make(chan func(context.Context), maxWrites)
	wctx, stopWrites := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWrites()
	written := make(chan struct{})
	go func() {
		defer close(written)
		for w := range writes {
			w(wctx)
		}
	}()
	queue := func(what string, w func(context.Context)) {
		select {
		case writes <- w:
		default:
			l.cfg.Log.Warn("the store is slow: dropped a write of "+what, "queued", maxWrites)
		}
	}
	batch := make([]apogee.Request, 0, l.cfg.Batch)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		rs := batch
		batch = make([]apogee.Request, 0, l.cfg.Batch)
		// The shards mix the order of the entries a drain takes:
		// records get their ids in the order of their times.
		slices.SortStableFunc(rs, func(a, b apogee.Request) int { return a.Time.Compare(b.Time) })
		queue("request records", func(ctx context.Context) {
			if err := l.cfg.Store.AppendRequests(ctx, rs); err != nil {
				l.cfg.Log.Error("write request records failed", "records", len(rs), "err", err)
				return
			}
			l.written.Add(int64(len(rs)))
			l.mWrite.Add(float64(len(rs)))
		})
	}
	save := func(now time.Time, tops bool) {
		rollups, tables := l.agg.Flush(now, tops)
		if len(rollups) == 0 && len(tables) == 0 {
			return
		}
		queue("traffic rollups", func(ctx context.Context) {
			if err := l.cfg.Store.SaveTraffic(ctx, rollups, tables); err != nil {
				l.cfg.Log.Error("write traffic rollups failed", "rollups", len(rollups), "err", err)
			}
		})
	}
	add := func(e Entry) {
		if r, keep := l.count(e); keep {
			batch = append(batch, r)
			if len(batch) == cap(batch) {
				flush()
			}
		}
	}
	drain := time.NewTicker(l.cfg.DrainEvery)
	defer drain.Stop()
	tick := time.NewTicker(l.cfg.FlushEvery)
	defer tick.Stop()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	queue("pruning", l.prune)
	var lastTops time.Time
	busy := false // entries came since the last tick
	for {
		select {
		case <-drain.C:
			// The writer takes what the buffer holds every DrainEvery
			// and never waits on the channel itself: a waiting receiver
			// would be woken by each request's send, a scheduler round
			// trip per request on the edge's cores.
			for _, ch := range l.shards {
				for n := len(ch); n > 0; n-- {
					add(<-ch)
					busy = true
				}
			}
		case now := <-tick.C:
			flush()
			// The top tables are rewritten whole: under steady traffic
			// every TopsEvery, and as soon as it pauses.
			tops := !busy || now.Sub(lastTops) >= l.cfg.TopsEvery
			busy = false
			if tops {
				lastTops = now
			}
			save(now, tops)
		case <-prune.C:
			queue("pruning", l.prune)
		case <-ctx.Done():
			// What is buffered and counted is written, within a short
			// deadline of its own.
			for _, ch := range l.shards {
				for n := len(ch); n > 0; n-- {
					add(<-ch)
				}
			}
			flush()
			save(time.Now(), true)
			close(writes)
			select {
			case <-written:
			case <-time.After(5 * time.Second):
				stopWrites()
				<-written
			}
			return nil
		}
	}
}

// maxWrites bounds the store writes waiting for the store.
const maxWrites = 64

// count counts e into the rollups and returns its raw record, and whether
// to keep it: at most RawPerSecond of its project's each second.
func (l *Log) count(e Entry) (apogee.Request, bool) {
	r, visitor := l.request(e)
	l.agg.Add(&r, visitor)
	ks := l.kept[r.ProjectID]
	if ks == nil {
		if len(l.kept) >= maxDevices {
			clear(l.kept)
		}
		ks = new(seconds)
		l.kept[r.ProjectID] = ks
	}
	k := ks.of(e.Start.Unix())
	if k.n >= l.cfg.RawPerSecond {
		l.sampled.Add(1)
		return r, false
	}
	k.n++
	r.Visitor = strconv.FormatUint(visitor, 36)
	return r, true
}

func (l *Log) prune(ctx context.Context) {
	now := time.Now()
	l.pruneRequests(ctx, now)
	for _, p := range []struct {
		what   string
		before time.Time
		prune  func(context.Context, time.Time) (int64, error)
	}{
		{"minute rollups", now.Add(-apogee.MinuteRollupRetention), func(ctx context.Context, t time.Time) (int64, error) {
			return l.cfg.Store.PruneTraffic(ctx, traffic.Minute, t)
		}},
		{"hour rollups", now.Add(-apogee.HourRollupRetention), func(ctx context.Context, t time.Time) (int64, error) {
			return l.cfg.Store.PruneTraffic(ctx, traffic.Hour, t)
		}},
		{"day top tables", now.Add(-apogee.HourRollupRetention), func(ctx context.Context, t time.Time) (int64, error) {
			return l.cfg.Store.PruneTraffic(ctx, traffic.Day, t)
		}},
	} {
		n, err := p.prune(ctx, p.before)
		if err != nil && ctx.Err() == nil {
			l.cfg.Log.Error("prune "+p.what+" failed", "err", err)
		} else if n > 0 {
			l.cfg.Log.Info("pruned "+p.what, "rows", n)
		}
	}
}

// pruneRequests keeps each project's request log within its retention:
// the log as a whole within the longest, then each project within its
// own.
func (l *Log) pruneRequests(ctx context.Context, now time.Time) {
	projects, longest := map[string]Retention(nil), l.cfg.Retention
	if l.cfg.Retentions != nil {
		var err error
		if projects, longest, err = l.cfg.Retentions(ctx); err != nil {
			l.cfg.Log.Error("prune request records failed: retentions", "err", err)
			return
		}
	}
	var total int64
	if longest >= 0 {
		n, err := l.cfg.Store.PruneRequests(ctx, now.Add(-longest))
		if err != nil {
			l.cfg.Log.Error("prune request records failed", "err", err)
			return
		}
		total += n
	}
	for id, r := range projects {
		var before time.Time
		if r.MaxAge >= 0 && (longest < 0 || r.MaxAge < longest) {
			before = now.Add(-r.MaxAge)
		}
		if before.IsZero() && r.MaxRows < 0 {
			continue
		}
		n, err := l.cfg.Store.PruneProjectRequests(ctx, id, before, r.MaxRows)
		if err != nil {
			l.cfg.Log.Error("prune request records failed", "project", id, "err", err)
			continue
		}
		total += n
	}
	if total > 0 {
		l.cfg.Log.Info("pruned request records", "rows", total)
	}
}

// request makes the record of e: the path without its query, the
// referrer's host (none when it is the request's own host), the device
// class and the country; and the visitor hash.
func (l *Log) request(e Entry) (apogee.Request, uint64) {
	r := apogee.Request{
		Time: e.Start, ProjectID: e.ProjectID, DeploymentID: e.DeploymentID, Host: e.Host, Method: e.Method,
		Path: e.Path, Status: e.Status, Bytes: e.Bytes, Duration: e.Duration, CacheHit: e.CacheHit,
		Referrer: referrerHost(e.Referer, e.Host), Device: l.device(e.UserAgent),
	}
	ip, _, err := net.SplitHostPort(e.RemoteAddr) // substrings: no allocation
	if err != nil {
		ip = e.RemoteAddr
	}
	if l.cfg.Countries != nil {
		if addr, err := netip.ParseAddr(ip); err == nil {
			r.Country = l.cfg.Countries.Country(addr.Unmap())
		}
	}
	return r, l.visitor(e.Start, ip, e.UserAgent, e.ProjectID)
}

// visitor hashes the visitor with the salt of start's UTC day: a random
// maphash seed that lives in memory only and is replaced when the day
// changes, so yesterday's hashes cannot be recomputed (a restart starts a
// new salt too: a visitor then counts twice that day).
func (l *Log) visitor(start time.Time, ip, ua, project string) uint64 {
	if day := start.Unix() / 86400; day != l.saltDay {
		l.salt, l.saltDay = maphash.MakeSeed(), day
	}
	var h maphash.Hash
	h.SetSeed(l.salt)
	for _, s := range [...]string{ip, ua, project} {
		h.WriteString(s)
		h.WriteByte(0)
	}
	return h.Sum64()
}

// device classes a User-Agent with mileusna/useragent, caching the class
// of each User-Agent seen.
func (l *Log) device(ua string) string {
	if ua == "" {
		return apogee.DeviceOther
	}
	if d, ok := l.devices[ua]; ok {
		return d
	}
	if len(l.devices) >= maxDevices || l.devices == nil {
		l.devices = make(map[string]string)
	}
	d := deviceOf(ua)
	l.devices[strings.Clone(ua)] = d // not the request's memory
	return d
}

// deviceOf classes a User-Agent. The parser is a function over the string
// with a few kilobytes of tables: a parser that builds a trie of the
// browsers it knows (go-useragent's keeps 166,000 objects, 5 MB) is
// marked by the garbage collector on every cycle, which cost the edge 3%
// of its CPU (perf, gctrace and bench/edge.sh). A client that is no
// browser and no known bot (curl, Wget, python-requests, Go-http-client:
// no "Mozilla/" product and no device) is counted as a bot too, as
// Plausible and Vercel count automated clients apart from people.
func deviceOf(ua string) string {
	a := useragent.Parse(ua)
	switch {
	case a.Bot:
		return apogee.DeviceBot
	case a.Tablet:
		return apogee.DeviceTablet
	case a.Mobile:
		return apogee.DeviceMobile
	case a.Desktop:
		return apogee.DeviceDesktop
	case !strings.HasPrefix(ua, "Mozilla/"):
		return apogee.DeviceBot
	}
	return apogee.DeviceOther
}

// referrerHost is the host of a Referer, lower-case without a port; ""
// when there is none or it is own (navigation within the site). It reads
// scheme://[userinfo@]host[:port][/…] without allocating.
func referrerHost(ref, own string) string {
	_, rest, ok := strings.Cut(ref, "://")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	h := rest
	if strings.HasPrefix(h, "[") { // [v6]:port
		if i := strings.IndexByte(h, ']'); i > 0 {
			h = h[1:i]
		} else {
			return ""
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	h = strings.ToLower(h) // no copy when it is lower-case already
	if h == "" || h == own {
		return ""
	}
	return h
}
