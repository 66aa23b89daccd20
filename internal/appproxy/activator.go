package appproxy

import (
	"bytes"
	"context"
	"errors"
	"html"
	"io"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Waker brings an app back when the activator holds a request for a
// pool with no ready target (Knative's activator, Fly's proxy): it
// resumes a paused instance, or starts one.
//
// Wake returns once a target of the pool is ready (in the pool and
// Ready), or with the reason none will be; ctx ends at the hold timeout.
// The activator calls it from a goroutine of its own, at once for the
// first held request, and never twice at a time for one pool; pool is
// the pool's name (Pool.Name). It must be safe for concurrent use across
// pools.
type Waker interface {
	Wake(ctx context.Context, pool string) error
}

// WakeError is a Waker's error that says why the app cannot take
// requests and when to ask again: the held requests are answered 503
// with Reason in the page and Retry-After (WriteWakeError). A Waker that
// backs off after a failed start returns one for every request until the
// backoff ends, so that queued requests never retry the start in a loop.
type WakeError struct {
	// Reason is for the person who sent the request: no internals.
	Reason string
	// RetryAfter is how long until the app is tried again (at least 1 s
	// is sent).
	RetryAfter time.Duration
	// Err is the cause, for the server's log.
	Err error
}

func (e *WakeError) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

func (e *WakeError) Unwrap() error { return e.Err }

// WriteWakeError answers a request that a failed wake leaves without an
// instance: 503, the WakeError's reason and Retry-After when err has one,
// else the generic page (the app could not start; try again in 5 s).
func WriteWakeError(w http.ResponseWriter, err error) {
	var we *WakeError
	if !errors.As(err, &we) {
		writePage(w, pageWakeFailed)
		return
	}
	secs := max(int64((we.RetryAfter+time.Second-1)/time.Second), 1)
	p := newPage(http.StatusServiceUnavailable, "503: the app could not start", html.EscapeString(we.Reason))
	writePageRetry(w, p, []string{strconv.FormatInt(secs, 10)})
}

// HealthCheckUserAgent is the User-Agent of the platform's own health
// checks of app instances. They dial instances directly, never through a
// pool; a request that carries it and finds no ready target is answered
// 503 at once, so a check can never wake an app that was left to sleep.
const HealthCheckUserAgent = "Apogee-Health-Check"

// The activator's defaults.
const (
	// DefaultHoldQueue bounds the requests held per pool (Knative's
	// activator holds up to 10,000 per revision; a single machine holds
	// fewer: past this a request is refused at once).
	DefaultHoldQueue = 1000
	// DefaultHoldTimeout is the shortest a request is held (the issue's
	// figure; Cloud Run lets a request wait 10 s for an instance too). The
	// hold lasts max(HoldTimeout, BootFactor × the pool's measured boot).
	DefaultHoldTimeout = 10 * time.Second
	// BootFactor scales the measured boot time into the hold timeout.
	BootFactor = 3.5
	// DefaultHoldMemory is how much of a held request's body is kept in
	// memory; the rest goes to a temporary file until the request is sent.
	DefaultHoldMemory = 1 << 20
	// DefaultHoldMemoryTotal and DefaultHoldDiskTotal bound the bodies
	// held across every pool, so that requests to sleeping apps cannot
	// exhaust the server's memory or disk: past the memory budget a body
	// goes to disk from its first byte, past the disk budget the request
	// is refused (503).
	DefaultHoldMemoryTotal = 64 << 20
	DefaultHoldDiskTotal   = 1 << 30
)

// errHoldFull is spool's error when the disk budget is spent.
var errHoldFull = errors.New("appproxy: no room left for held request bodies")

// budget is bytes that holds may take, across goroutines.
type budget struct {
	left atomic.Int64
}

// take takes up to n bytes and returns how many it took.
func (b *budget) take(n int64) int64 {
	for {
		left := b.left.Load()
		got := min(n, left)
		if got <= 0 {
			return 0
		}
		if b.left.CompareAndSwap(left, left-got) {
			return got
		}
	}
}

func (b *budget) give(n int64) { b.left.Add(n) }

// bootSamples is how many recent boot times set the hold timeout (the
// slowest of them counts: a resume in milliseconds must not shorten the
// wait for the next cold start).
const bootSamples = 8

// activation is one call of the Waker for a pool.
type activation struct {
	done chan struct{} // closed when Wake returned
	err  error         // why it failed; set before done closes
}

// holdState is the activator's state of one pool.
type holdState struct {
	mu      sync.Mutex
	held    int
	stop    chan struct{} // ends the watcher; nil while nothing is held
	act     *activation   // the Wake in flight, nil when none
	changed chan struct{} // closed by Switch and Notify
	boots   [bootSamples]time.Duration
	nboot   int
	// waiting, when set (tests), hears each request that starts to wait
	// once its body is read.
	waiting func()
}

// Held returns the requests the activator holds for the pool now (an
// autoscaler counts them as demand: Knative does).
func (pl *Pool) Held() int {
	pl.hold.mu.Lock()
	defer pl.hold.mu.Unlock()
	return pl.hold.held
}

// Notify tells the requests held for the pool to look for a ready target
// again: call it when a target became ready without a Switch (Wake
// returning, and Switch, do it already).
func (pl *Pool) Notify() {
	pl.hold.mu.Lock()
	defer pl.hold.mu.Unlock()
	if pl.hold.changed != nil {
		close(pl.hold.changed)
	}
	pl.hold.changed = make(chan struct{})
}

// ObserveBoot records how long one of the pool's instances took from
// start (or resume) to ready; the hold timeout follows the slowest of
// the last few. Wake's own duration is recorded already.
func (pl *Pool) ObserveBoot(d time.Duration) {
	pl.hold.mu.Lock()
	defer pl.hold.mu.Unlock()
	pl.hold.boots[pl.hold.nboot%bootSamples] = d
	pl.hold.nboot++
}

// HoldTimeout returns how long a request is held for the pool now:
// max(Options.HoldTimeout, BootFactor × the slowest recent boot).
func (pl *Pool) HoldTimeout() time.Duration {
	pl.hold.mu.Lock()
	defer pl.hold.mu.Unlock()
	return pl.holdTimeoutLocked()
}

func (pl *Pool) holdTimeoutLocked() time.Duration {
	var slowest time.Duration
	for _, d := range pl.hold.boots {
		slowest = max(slowest, d)
	}
	return max(pl.proxy.opts.HoldTimeout, time.Duration(BootFactor*float64(slowest)))
}

// holdFor holds r until a target of the pool is ready and claims it for
// rs, or answers r itself (and returns false): 503 at once when the
// queue is full, 503 with Retry-After at the hold timeout or when the
// Waker failed, 413 when the body is too large. The body is read while
// the app wakes, so that a slow upload and the boot overlap; it is sent
// from memory or its temporary file, removed when the request ends.
func (pl *Pool) holdFor(w http.ResponseWriter, r *http.Request, rs *reqState) (*http.Request, func(), bool) {
	o := &pl.proxy.opts
	h := &pl.hold
	h.mu.Lock()
	if h.held >= o.HoldQueue {
		h.mu.Unlock()
		pl.proxy.opts.Log.Warn("app proxy: hold queue full", "pool", pl.name, "held", o.HoldQueue)
		writePage(w, pageQueueFull)
		return nil, nil, false
	}
	h.held++
	if h.stop == nil {
		h.stop = make(chan struct{})
		go pl.watch(h.stop)
	}
	act := h.act
	if act == nil {
		act = &activation{done: make(chan struct{})}
		h.act = act
		go pl.wake(act, pl.holdTimeoutLocked())
	}
	timeout := pl.holdTimeoutLocked()
	h.mu.Unlock()
	release := func() {
		h.mu.Lock()
		h.held--
		if h.held == 0 {
			close(h.stop)
			h.stop = nil
		}
		h.mu.Unlock()
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()

	cleanup := func() {}
	if r.Body != nil && r.Body != http.NoBody {
		body, err := pl.proxy.spool(r.Body)
		if err != nil {
			release()
			var mbe *http.MaxBytesError
			switch {
			case errors.As(err, &mbe):
				writePage(w, pageTooLarge)
			case errors.Is(err, errHoldFull):
				pl.proxy.opts.Log.Warn("app proxy: no room left for held request bodies", "pool", pl.name)
				writePage(w, pageQueueFull)
			case r.Context().Err() != nil:
				w.WriteHeader(499)
			default:
				pl.proxy.opts.Log.Error("app proxy: holding a request body", "pool", pl.name, "err", err)
				writePage(w, pageUnavailable)
			}
			return nil, nil, false
		}
		r.Body, cleanup = body, func() { body.Close() }
	}
	fail := func(p *page) (*http.Request, func(), bool) {
		release()
		cleanup()
		writePage(w, p)
		return nil, nil, false
	}

	if h.waiting != nil {
		h.waiting()
	}
	actDone := act.done
	for {
		h.mu.Lock()
		if h.changed == nil {
			h.changed = make(chan struct{})
		}
		changed := h.changed
		h.mu.Unlock()
		if pl.claim(rs) {
			release()
			return r, cleanup, true
		}
		select {
		case <-changed:
		case <-actDone:
			if act.err != nil {
				release()
				cleanup()
				WriteWakeError(w, act.err)
				return nil, nil, false
			}
			actDone = nil // woke, yet no target: wait for the next change
		case <-deadline.C:
			pl.proxy.opts.Log.Warn("app proxy: no instance ready within the hold timeout", "pool", pl.name, "timeout", timeout)
			return fail(pageStarting)
		case <-r.Context().Done():
			release()
			cleanup()
			w.WriteHeader(499)
			return nil, nil, false
		}
	}
}

// Changer is a Backend that tells when it may have changed (every
// apps.Instance is one): Changed returns a channel closed at its next
// change, taken before Ready is read.
type Changer interface {
	Changed() <-chan struct{}
}

// watch runs while requests are held for the pool: it calls Notify when
// a target that is a Changer changes, so that an instance made ready by
// anyone (a Resume outside Wake, a restart) releases the held requests.
func (pl *Pool) watch(stop <-chan struct{}) {
	for {
		cases := []reflect.SelectCase{{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(stop)}, {}}
		ready := false
		for _, t := range pl.Targets() {
			if c, ok := t.backend.(Changer); ok {
				cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(c.Changed())})
			}
			ready = ready || t.available()
		}
		if ready {
			// Ready before its channel was taken: nobody was told.
			pl.Notify()
		}
		pl.hold.mu.Lock()
		cases[1] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(pl.hold.changed)}
		pl.hold.mu.Unlock()
		i, _, _ := reflect.Select(cases)
		switch {
		case i == 0:
			return
		case i >= 2:
			pl.Notify()
		}
	}
}

// wake calls the Waker for act and tells the held requests how it went.
func (pl *Pool) wake(act *activation, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	err := pl.proxy.opts.Waker.Wake(ctx, pl.name)
	took := time.Since(start)
	if err != nil {
		pl.proxy.opts.Log.Warn("app proxy: waking the app failed", "pool", pl.name, "err", err)
	}
	h := &pl.hold
	h.mu.Lock()
	if err == nil {
		h.boots[h.nboot%bootSamples] = took
		h.nboot++
	}
	act.err = err
	h.act = nil
	h.mu.Unlock()
	close(act.done)
}

// spooled is a held request's body: the first part in memory, the rest
// in a temporary file that Close (or the body's end) removes, giving back
// what it took of the budgets.
type spooled struct {
	io.Reader
	p *Proxy

	mu        sync.Mutex // Read (the transport's goroutine) and Close
	f         *os.File
	mem, disk int64
}

// Read reads the body; at its end it gives back the budgets and removes
// the file at once, not when the response is done.
func (s *spooled) Read(b []byte) (int, error) {
	n, err := s.Reader.Read(b)
	if err == io.EOF {
		s.Close()
	}
	return n, err
}

func (s *spooled) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.p.memHeld.give(s.mem)
	s.p.diskHeld.give(s.disk)
	s.mem, s.disk = 0, 0
	if s.f == nil {
		return nil
	}
	s.f.Close()
	err := os.Remove(s.f.Name())
	s.f = nil
	return err
}

// spool reads body to its end: up to HoldMemory bytes (as far as the
// memory budget goes) into memory, the rest into a temporary file in
// TempDir (as far as the disk budget goes, else errHoldFull), and
// closes it.
func (p *Proxy) spool(body io.ReadCloser) (_ io.ReadCloser, err error) {
	defer body.Close()
	s := &spooled{p: p}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	s.mem = p.memHeld.take(p.opts.HoldMemory)
	var buf bytes.Buffer
	n, err := io.CopyN(&buf, body, s.mem)
	if err == io.EOF {
		p.memHeld.give(s.mem - n)
		s.mem = n
		s.Reader = bytes.NewReader(buf.Bytes())
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(p.opts.TempDir, "apogee-held-body-*")
	if err != nil {
		return nil, err
	}
	s.f = f
	if _, err := io.Copy(&budgetWriter{w: f, s: s}, body); err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	s.Reader = io.MultiReader(bytes.NewReader(buf.Bytes()), f)
	return s, nil
}

// budgetWriter writes to the spool's file what the disk budget allows.
type budgetWriter struct {
	w io.Writer
	s *spooled
}

func (bw *budgetWriter) Write(b []byte) (int, error) {
	n := int64(len(b))
	if got := bw.s.p.diskHeld.take(n); got < n {
		bw.s.p.diskHeld.give(got)
		return 0, errHoldFull
	}
	bw.s.disk += n
	return bw.w.Write(b)
}
