package appproxy

import (
	"context"
	"errors"
	"math"
	"net/http"
	"slices"
	"sync"
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

// reqState is one request on its way through the pool. It is also the
// context of the request the proxy sends (so the transport finds it
// without a context.WithValue): its Done is the client request's, and
// for requests with a body or an upgrade, which go through
// http.Transport, a cancel context of its own that Drain can cancel.
// Plain requests (see plain) need no such context: Drain interrupts the
// plain connection they are on.
type reqState struct {
	context.Context

	pool   *Pool
	target *Target
	tried  []*Target
	body   *trackedBody
	cancel context.CancelCauseFunc // nil for plain requests
	w      http.ResponseWriter     // the answer's, for Options.LabelHeader

	// The target's list of requests in flight (see Target.begin).
	in         *Target
	prev, next *reqState

	mu      sync.Mutex
	conn    *plainConn // the plain connection in use, for abort
	aborted error      // why Drain ended it; nil while it runs
}

type stateKey struct{}

// Value returns rs itself for stateKey, and the client request's values
// otherwise.
func (rs *reqState) Value(key any) any {
	if key == (stateKey{}) {
		return rs
	}
	return rs.Context.Value(key)
}

func stateOf(ctx context.Context) *reqState {
	rs, _ := ctx.Value(stateKey{}).(*reqState)
	return rs
}

// abort ends rs because of cause: it cancels its context, or interrupts
// the plain connection it is on (the blocked read or write returns).
func (rs *reqState) abort(cause error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.aborted != nil {
		return
	}
	rs.aborted = cause
	if rs.cancel != nil {
		rs.cancel(cause)
	}
	if rs.conn != nil {
		rs.conn.conn.SetDeadline(aLongTimeAgo)
	}
}

// use records pc as the plain connection rs is on (nil: none); it fails
// when rs was aborted already.
func (rs *reqState) use(pc *plainConn) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.aborted != nil && pc != nil {
		return rs.aborted
	}
	rs.conn = pc
	return nil
}

// abortedBy returns why Drain ended rs, or nil.
func (rs *reqState) abortedBy() error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.aborted
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
	rs := &reqState{Context: r.Context(), pool: pl, w: w}
	if !plain(r) {
		ctx, cancel := context.WithCancelCause(r.Context())
		defer cancel(nil)
		rs.Context, rs.cancel = ctx, cancel
	}
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
	pl.proxy.rp.ServeHTTP(w, r.WithContext(rs))
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
	// Out of the old target's count first: rs is in one target's list at
	// a time. Should no other target take it, ServeHTTP's end of the old
	// one finds it gone and does nothing.
	rs.target.end(rs)
	return pl.claim(rs)
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
