package appproxy

import (
	"context"
	"errors"
	"math"
	"net/http"
	"slices"
	"sync/atomic"
)

// errNoTarget is the error of a request no target was left for.
var errNoTarget = errors.New("appproxy: no ready instance")

// Pool is the set of targets that serve one host. It is an http.Handler.
// Switch replaces the set in one step: every request picks from one set,
// the old or the new, never a mix. It is safe for concurrent use.
type Pool struct {
	proxy   *Proxy
	name    string
	targets atomic.Pointer[[]*Target]
	next    atomic.Uint64 // where the balancer's scan starts, for ties
	hold    holdState     // the activator's (see Waker)
}

var _ http.Handler = (*Pool)(nil)

// NewPool returns an empty pool (every request 503 until Switch). name
// is for logs: the project or release it serves.
func (p *Proxy) NewPool(name string, targets ...*Target) *Pool {
	pl := &Pool{proxy: p, name: name}
	pl.Switch(targets...)
	return pl
}

// Name returns the pool's name.
func (pl *Pool) Name() string { return pl.name }

// Switch makes targets the pool's set and returns the set it replaced.
// Requests already sent to an old target continue there; drain the old
// targets that no other pool holds.
func (pl *Pool) Switch(targets ...*Target) (old []*Target) {
	ts := slices.Clone(targets)
	prev := pl.targets.Swap(&ts)
	pl.Notify()
	if prev != nil {
		return *prev
	}
	return nil
}

// Targets returns the pool's current set. Do not modify it.
func (pl *Pool) Targets() []*Target { return *pl.targets.Load() }

// reqState is one request on its way through the pool.
type reqState struct {
	pool   *Pool
	target *Target
	tried  []*Target
	body   *trackedBody
	cancel context.CancelCauseFunc
	w      http.ResponseWriter // the answer's, for Options.LabelHeader
}

type stateKey struct{}

func stateOf(ctx context.Context) *reqState {
	rs, _ := ctx.Value(stateKey{}).(*reqState)
	return rs
}

// ServeHTTP proxies r to the ready target with the fewest requests in
// flight. When none is ready and the proxy has a Waker, the activator
// holds r while the app wakes (see Waker and Options.HoldTimeout).
func (pl *Pool) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if max := pl.proxy.opts.MaxBodyBytes; max > 0 {
		if r.ContentLength > max {
			writePage(w, pageTooLarge)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, max)
		}
	}
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	rs := &reqState{pool: pl, cancel: cancel, w: w}
	if !pl.claim(rs) {
		if pl.proxy.opts.Waker == nil || r.Header.Get("User-Agent") == HealthCheckUserAgent {
			writePage(w, pageUnavailable)
			return
		}
		held, cleanup, ok := pl.holdFor(w, r, rs)
		if !ok {
			return
		}
		defer cleanup()
		r = held
	}
	defer func() { rs.target.end(rs) }()
	pl.proxy.rp.ServeHTTP(w, r.WithContext(context.WithValue(ctx, stateKey{}, rs)))
}

// claim gives rs a target it has not tried and counts it there.
func (pl *Pool) claim(rs *reqState) bool {
	for {
		t := pl.pick(rs.tried)
		if t == nil {
			return false
		}
		if t.begin(rs) {
			rs.target = t
			rs.tried = append(rs.tried, t)
			return true
		}
		// It began draining between the pick and now.
		rs.tried = append(rs.tried, t)
	}
}

// move sends rs, which never reached its target, to another one.
func (pl *Pool) move(rs *reqState) bool {
	old := rs.target
	if !pl.claim(rs) {
		return false
	}
	old.end(rs)
	return true
}

// pick returns the available target with the fewest requests in flight,
// not in skip; ties go to the first from a rotating start.
func (pl *Pool) pick(skip []*Target) *Target {
	ts := *pl.targets.Load()
	n := len(ts)
	if n == 0 {
		return nil
	}
	if n == 1 {
		if t := ts[0]; t.available() && !slices.Contains(skip, t) {
			return t
		}
		return nil
	}
	start := int(pl.next.Add(1) % uint64(n))
	var best *Target
	least := int64(math.MaxInt64)
	for i := range n {
		t := ts[(start+i)%n]
		if !t.available() || slices.Contains(skip, t) {
			continue
		}
		if c := t.inflight.Load(); c < least {
			best, least = t, c
		}
	}
	return best
}
