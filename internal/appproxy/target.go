package appproxy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// errDrained cancels the requests a target still has when its drain
// deadline passes.
var errDrained = errors.New("appproxy: instance drained")

// Target is one instance behind the proxy: its keep-alive connections, its
// requests in flight and whether it is draining. Every pool that holds the
// instance holds the same Target, so the count covers all of them. It is
// safe for concurrent use.
type Target struct {
	backend   Backend
	label     []string        // the Labeler's label, as a header value; nil: none
	transport *http.Transport // requests with bodies, upgrades
	plain     *plainTransport // bodiless GET and HEAD
	inflight  atomic.Int64
	closed    atomic.Bool // draining or drained: no new requests

	mu       sync.Mutex
	draining bool
	reqs     *reqState     // in flight: a list through reqState.prev/next
	idle     chan struct{} // closed once draining with nothing in flight
}

// NewTarget returns the target of b. Make one per instance and share it
// between the pools that serve the instance.
func (p *Proxy) NewTarget(b Backend) *Target {
	t := &Target{backend: b, idle: make(chan struct{})}
	if l, ok := b.(Labeler); ok {
		t.label = []string{l.Label()}
	}
	dialTimeout := p.opts.DialTimeout
	dial := func(ctx context.Context) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, dialTimeout)
		defer cancel()
		c, err := b.Dial(ctx)
		if err != nil {
			return nil, &dialError{err: err}
		}
		return c, nil
	}
	t.plain = &plainTransport{dial: dial, maxIdle: p.opts.IdleConnsPerTarget, idleTimeout: p.opts.IdleConnTimeout,
		responseTimeout: p.opts.ResponseTimeout}
	t.transport = &http.Transport{
		DialContext:           func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) },
		MaxIdleConnsPerHost:   p.opts.IdleConnsPerTarget,
		IdleConnTimeout:       p.opts.IdleConnTimeout,
		ResponseHeaderTimeout: p.opts.ResponseTimeout,
		ExpectContinueTimeout: time.Second,
		// Pass bodies as they are: the client asked for its encoding.
		DisableCompression: true,
	}
	return t
}

// Backend returns the instance the target sends to.
func (t *Target) Backend() Backend { return t.backend }

// InFlight returns the requests in flight to the instance now, WebSockets
// and streams included.
func (t *Target) InFlight() int64 { return t.inflight.Load() }

// Draining reports whether the target takes no new requests.
func (t *Target) Draining() bool { return t.closed.Load() }

// available reports whether the balancer may pick t.
func (t *Target) available() bool { return !t.closed.Load() && t.backend.Ready() }

// begin counts rs as in flight to t; false if t began draining.
func (t *Target) begin(rs *reqState) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.draining {
		return false
	}
	rs.in, rs.prev, rs.next = t, nil, t.reqs
	if t.reqs != nil {
		t.reqs.prev = rs
	}
	t.reqs = rs
	t.inflight.Add(1)
	return true
}

// end counts rs as done.
func (t *Target) end(rs *reqState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if rs.in != t {
		return
	}
	if rs.prev != nil {
		rs.prev.next = rs.next
	} else {
		t.reqs = rs.next
	}
	if rs.next != nil {
		rs.next.prev = rs.prev
	}
	rs.in, rs.prev, rs.next = nil, nil, nil
	t.inflight.Add(-1)
	if t.draining && t.reqs == nil {
		close(t.idle)
	}
}

// Drain stops sending new requests to the instance, waits until the
// requests in flight (WebSockets and streams included) are done or
// timeout has passed or ctx ends, then cancels what is left and closes
// the idle connections. It returns how many requests it canceled. A
// drained target never takes a request again; calling Drain again waits
// again. Take the target out of its pools (Switch) first, so the
// balancer does not even look at it.
func (t *Target) Drain(ctx context.Context, timeout time.Duration) int {
	t.mu.Lock()
	if !t.draining {
		t.draining = true
		t.closed.Store(true)
		if t.reqs == nil {
			close(t.idle)
		}
	}
	t.mu.Unlock()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-t.idle:
	case <-timer.C:
	case <-ctx.Done():
	}
	t.mu.Lock()
	n := 0
	for rs := t.reqs; rs != nil; rs = rs.next {
		rs.abort(errDrained)
		n++
	}
	t.mu.Unlock()
	t.CloseIdleConnections()
	return n
}

// CloseIdleConnections closes the target's idle keep-alive connections
// (say, after its instance restarted).
func (t *Target) CloseIdleConnections() {
	t.transport.CloseIdleConnections()
	t.plain.closeIdle()
}
