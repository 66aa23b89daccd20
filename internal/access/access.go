// Package access turns the edge's requests into request records (issue
// 15) at no cost to the edge: Record copies a fixed-size Entry into a
// bounded channel without blocking (a full buffer drops the entry and
// counts it), and Run, in the background, classifies the User-Agent,
// hashes the visitor, looks up the country and writes batches to the
// store. No client address reaches the store.
package access

import (
	"context"
	"hash/maphash"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/medama-io/go-useragent"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/apogee-dev/apogee"
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
}

// Countries tells a client address's country ("" unknown).
type Countries interface {
	Country(ip netip.Addr) string
}

// Config configures a Log. Store is required.
type Config struct {
	Store      Store
	Countries  Countries     // nil: no country
	Buffer     int           // entries held before dropping (default 65,536)
	Batch      int           // records per write at most (default 2,000)
	FlushEvery time.Duration // longest an entry waits (default 1 s)
	Retention  time.Duration // records kept (default apogee.DefaultRequestRetention)
	Log        *slog.Logger
	Registerer prometheus.Registerer // nil: metrics not registered
}

// Log is the buffer and its writer. Record is safe for concurrent use;
// Run is called once, by one goroutine.
type Log struct {
	cfg     Config
	ch      chan Entry
	dropped atomic.Int64
	written atomic.Int64
	mDrop   prometheus.Counter
	mWrite  prometheus.Counter
	ua      *useragent.Parser

	// Only Run's goroutine uses these.
	saltDay int64 // Unix days
	salt    maphash.Seed
	devices map[string]string // User-Agent → device class, reset when large
}

// maxDevices bounds the device cache: User-Agents repeat, so most
// requests skip the parser.
const maxDevices = 10_000

// New returns a Log; call Run to write what it records.
func New(cfg Config) (*Log, error) {
	if cfg.Buffer <= 0 {
		cfg.Buffer = 1 << 16
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
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	l := &Log{
		cfg:    cfg,
		ch:     make(chan Entry, cfg.Buffer),
		mDrop:  prometheus.NewCounter(prometheus.CounterOpts{Name: "apogee_access_dropped_total", Help: "Request records dropped because the access buffer was full."}),
		mWrite: prometheus.NewCounter(prometheus.CounterOpts{Name: "apogee_access_written_total", Help: "Request records written to the store."}),
		ua:     useragent.NewParser(),
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
// full. It never blocks and allocates nothing.
func (l *Log) Record(e Entry) {
	select {
	case l.ch <- e:
	default:
		l.dropped.Add(1)
		l.mDrop.Inc()
	}
}

// Dropped is how many entries Record dropped so far.
func (l *Log) Dropped() int64 { return l.dropped.Load() }

// Written is how many records were stored so far.
func (l *Log) Written() int64 { return l.written.Load() }

// Run writes recorded entries in batches and prunes old records every
// hour until ctx ends; then it writes what is buffered (with a short
// deadline of its own) and returns.
func (l *Log) Run(ctx context.Context) error {
	batch := make([]apogee.Request, 0, l.cfg.Batch)
	tick := time.NewTicker(l.cfg.FlushEvery)
	defer tick.Stop()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	l.prune(ctx)
	flush := func(ctx context.Context) {
		if len(batch) == 0 {
			return
		}
		if err := l.cfg.Store.AppendRequests(ctx, batch); err != nil {
			l.cfg.Log.Error("write request records failed", "records", len(batch), "err", err)
		} else {
			l.written.Add(int64(len(batch)))
			l.mWrite.Add(float64(len(batch)))
		}
		batch = batch[:0]
	}
	for {
		select {
		case e := <-l.ch:
			batch = append(batch, l.request(e))
			if len(batch) == cap(batch) {
				flush(ctx)
			}
		case <-tick.C:
			flush(ctx)
		case <-prune.C:
			l.prune(ctx)
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			for {
				select {
				case e := <-l.ch:
					batch = append(batch, l.request(e))
					if len(batch) == cap(batch) {
						flush(dctx)
					}
				default:
					flush(dctx)
					return nil
				}
			}
		}
	}
}

func (l *Log) prune(ctx context.Context) {
	n, err := l.cfg.Store.PruneRequests(ctx, time.Now().Add(-l.cfg.Retention))
	if err != nil && ctx.Err() == nil {
		l.cfg.Log.Error("prune request records failed", "err", err)
	} else if n > 0 {
		l.cfg.Log.Info("pruned request records", "records", n)
	}
}

// request makes the stored record of e: the path without its query, the
// referrer's host (none when it is the request's own host), the device
// class, the country and the visitor hash.
func (l *Log) request(e Entry) apogee.Request {
	r := apogee.Request{
		Time: e.Start, ProjectID: e.ProjectID, DeploymentID: e.DeploymentID, Host: e.Host, Method: e.Method,
		Path: e.Path, Status: e.Status, Bytes: e.Bytes, Duration: e.Duration, CacheHit: e.CacheHit,
		Referrer: referrerHost(e.Referer, e.Host), Device: l.device(e.UserAgent),
	}
	ipText, _, err := net.SplitHostPort(e.RemoteAddr)
	if err != nil {
		ipText = e.RemoteAddr
	}
	ip, _ := netip.ParseAddr(ipText)
	if l.cfg.Countries != nil && ip.IsValid() {
		r.Country = l.cfg.Countries.Country(ip.Unmap())
	}
	r.Visitor = l.visitor(e.Start, ip.Unmap().String(), e.UserAgent, e.ProjectID)
	return r
}

// visitor hashes the visitor with the salt of start's UTC day: a random
// maphash seed that lives in memory only and is replaced when the day
// changes, so yesterday's hashes cannot be recomputed (a restart starts a
// new salt too: a visitor then counts twice that day).
func (l *Log) visitor(start time.Time, ip, ua, project string) string {
	if day := start.Unix() / 86400; day != l.saltDay {
		l.salt, l.saltDay = maphash.MakeSeed(), day
	}
	var h maphash.Hash
	h.SetSeed(l.salt)
	for _, s := range [...]string{ip, ua, project} {
		h.WriteString(s)
		h.WriteByte(0)
	}
	return strconv.FormatUint(h.Sum64(), 36)
}

// device classes a User-Agent with go-useragent.
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
	d := l.parseDevice(ua)
	l.devices[strings.Clone(ua)] = d // not the request's memory
	return d
}

func (l *Log) parseDevice(ua string) string {
	a := l.ua.Parse(ua)
	switch {
	case a.IsBot():
		return apogee.DeviceBot
	case a.IsTablet():
		return apogee.DeviceTablet
	case a.IsMobile():
		return apogee.DeviceMobile
	case a.IsDesktop():
		return apogee.DeviceDesktop
	}
	return apogee.DeviceOther
}

// referrerHost is the host of a Referer, lower-case without a port; ""
// when there is none or it is own (navigation within the site).
func referrerHost(ref, own string) string {
	if ref == "" {
		return ""
	}
	u, err := url.Parse(ref)
	if err != nil || u.Host == "" {
		return ""
	}
	h := strings.ToLower(u.Hostname())
	if h == own {
		return ""
	}
	return h
}
