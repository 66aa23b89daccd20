package appproxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// waker is a Waker the test drives: each call is announced on calls and
// returns what the test sends on result (or ctx's error).
type waker struct {
	calls  chan string
	result chan error
	mu     sync.Mutex
	n      int
}

func newWaker() *waker {
	return &waker{calls: make(chan string, 16), result: make(chan error, 1)}
}

func (w *waker) Wake(ctx context.Context, pool string) error {
	w.mu.Lock()
	w.n++
	w.mu.Unlock()
	w.calls <- pool
	select {
	case err := <-w.result:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *waker) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// activatorPool is a pool of one target that is not ready, on a proxy
// with wk as its Waker; waiting receives one value per request that
// starts to wait.
func activatorPool(t *testing.T, opts Options, wk Waker) (*Pool, *backend, chan struct{}) {
	t.Helper()
	opts.Log, opts.Waker = quiet(), wk
	p := New(opts)
	b := newBackend(t, "a", echo())
	b.ready.Store(false)
	pool := p.NewPool("web", p.NewTarget(b))
	waiting := make(chan struct{}, 64)
	pool.hold.waiting = func() { waiting <- struct{}{} }
	return pool, b, waiting
}

type answer struct {
	code  int
	body  string
	retry string
	err   error
}

func send(url, method, body string, hdr ...string) <-chan answer {
	ch := make(chan answer, 1)
	go func() {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequest(method, url, rd)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			ch <- answer{err: err}
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		ch <- answer{code: res.StatusCode, body: string(b), retry: res.Header.Get("Retry-After")}
	}()
	return ch
}

// Requests for a sleeping app are held; the first wakes it at once, the
// others wait for the same wake; when Wake returns with the app ready,
// each is sent, body and all.
func TestActivatorHoldsWhileWaking(t *testing.T) {
	wk := newWaker()
	pool, b, waiting := activatorPool(t, Options{}, wk)
	url := front(t, pool)
	first := send(url+"/one", "POST", "first body")
	if got := <-wk.calls; got != "web" {
		t.Fatalf("woke pool %q", got)
	}
	<-waiting
	var rest []<-chan answer
	for range 4 {
		rest = append(rest, send(url+"/more", "GET", ""))
		<-waiting
	}
	if n := pool.Held(); n != 5 || wk.count() != 1 || b.hits.Load() != 0 {
		t.Fatalf("held %d, wakes %d, hits %d; want 5, 1, 0", n, wk.count(), b.hits.Load())
	}
	b.ready.Store(true)
	wk.result <- nil
	if a := <-first; a.err != nil || a.code != 200 || !strings.Contains(a.body, "POST /one") || !strings.HasSuffix(a.body, "body=first body") {
		t.Fatalf("first held request: %+v", a)
	}
	for _, ch := range rest {
		if a := <-ch; a.err != nil || a.code != 200 {
			t.Fatalf("held request: %+v", a)
		}
	}
	if n := pool.Held(); n != 0 || wk.count() != 1 {
		t.Fatalf("after: held %d, wakes %d", n, wk.count())
	}
}

// A target made ready by a Switch releases the held requests even while
// Wake still runs.
func TestActivatorReleasedBySwitch(t *testing.T) {
	wk := newWaker()
	pool, _, waiting := activatorPool(t, Options{}, wk)
	url := front(t, pool)
	ch := send(url+"/", "GET", "")
	<-wk.calls
	<-waiting
	fresh := newBackend(t, "b", echo())
	pool.Switch(pool.proxy.NewTarget(fresh))
	if a := <-ch; a.code != 200 || fresh.hits.Load() != 1 {
		t.Fatalf("after the switch: %+v, hits %d", a, fresh.hits.Load())
	}
	wk.result <- nil
}

// No ready target within the hold timeout: 503 with Retry-After, and
// Wake's context ends with it.
func TestActivatorTimeout(t *testing.T) {
	wk := newWaker()
	pool, b, waiting := activatorPool(t, Options{HoldTimeout: 100 * time.Millisecond}, wk)
	url := front(t, pool)
	start := time.Now()
	ch := send(url+"/", "GET", "")
	<-wk.calls
	<-waiting
	a := <-ch
	if a.code != 503 || a.retry == "" || !strings.Contains(a.body, "the app is starting") || b.hits.Load() != 0 {
		t.Fatalf("held past the timeout: %+v", a)
	}
	if took := time.Since(start); took < 100*time.Millisecond {
		t.Fatalf("answered after %v, before the hold timeout", took)
	}
}

// A failed wake answers every held request at once.
func TestActivatorWakeFails(t *testing.T) {
	wk := newWaker()
	pool, _, waiting := activatorPool(t, Options{}, wk)
	url := front(t, pool)
	ch := send(url+"/", "GET", "")
	<-wk.calls
	<-waiting
	wk.result <- errors.New("out of memory for apps")
	if a := <-ch; a.code != 503 || !strings.Contains(a.body, "could not start") || a.retry == "" {
		t.Fatalf("after a failed wake: %+v", a)
	}
	// The next request tries again.
	ch = send(url+"/", "GET", "")
	<-wk.calls
	<-waiting
	wk.result <- errors.New("still no memory")
	<-ch
	if wk.count() != 2 {
		t.Fatalf("%d wakes, want 2", wk.count())
	}
}

// A WakeError's reason and Retry-After reach every request held for the
// one wake that failed: the queued requests do not each wake the app.
func TestActivatorWakeErrorReachesEveryHeldRequest(t *testing.T) {
	wk := newWaker()
	pool, _, waiting := activatorPool(t, Options{}, wk)
	url := front(t, pool)
	var chs []<-chan answer
	for range 5 {
		chs = append(chs, send(url+"/", "GET", ""))
		<-waiting
	}
	<-wk.calls
	wk.result <- &WakeError{Reason: "the app exited with code 1 <as it started>", RetryAfter: 9500 * time.Millisecond, Err: errors.New("instance x crashed")}
	for i, ch := range chs {
		a := <-ch
		if a.code != 503 || a.retry != "10" || !strings.Contains(a.body, "exited with code 1 &lt;as it started&gt;") || strings.Contains(a.body, "instance x") {
			t.Errorf("held request %d: %d, Retry-After %q, %q", i, a.code, a.retry, a.body)
		}
	}
	if n := wk.count(); n != 1 {
		t.Fatalf("%d wakes for 5 held requests, want 1", n)
	}
}

// Past HoldQueue held requests, one more is refused at once.
func TestActivatorQueueFull(t *testing.T) {
	wk := newWaker()
	pool, b, waiting := activatorPool(t, Options{HoldQueue: 2}, wk)
	url := front(t, pool)
	held := []<-chan answer{send(url+"/", "GET", "")}
	<-wk.calls
	<-waiting
	held = append(held, send(url+"/", "GET", ""))
	<-waiting
	if a := <-send(url+"/", "GET", ""); a.code != 503 || !strings.Contains(a.body, "too many requests waiting") {
		t.Fatalf("third request with a queue of 2: %+v", a)
	}
	b.ready.Store(true)
	wk.result <- nil
	for _, ch := range held {
		if a := <-ch; a.code != 200 {
			t.Fatalf("held request: %+v", a)
		}
	}
}

// The platform's own health checks never wake an app.
func TestActivatorIgnoresHealthChecks(t *testing.T) {
	wk := newWaker()
	pool, _, _ := activatorPool(t, Options{}, wk)
	url := front(t, pool)
	if a := <-send(url+"/", "GET", "", "User-Agent", HealthCheckUserAgent); a.code != 503 || !strings.Contains(a.body, "no instance ready") {
		t.Fatalf("health check: %+v", a)
	}
	if wk.count() != 0 || pool.Held() != 0 {
		t.Fatalf("a health check woke the app (%d wakes) or was held", wk.count())
	}
}

// A held body beyond HoldMemory waits in a temporary file, removed once
// the request is done; one within it never touches the disk; one over
// MaxBodyBytes is 413.
func TestActivatorBodies(t *testing.T) {
	dir := t.TempDir()
	wk := newWaker()
	pool, b, waiting := activatorPool(t, Options{HoldMemory: 16, TempDir: dir, MaxBodyBytes: 1000}, wk)
	url := front(t, pool)
	files := func() []string {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return names
	}

	big := strings.Repeat("0123456789", 50) // 500 bytes
	ch := send(url+"/", "POST", big)
	<-wk.calls
	<-waiting
	if f := files(); len(f) != 1 || !strings.HasPrefix(f[0], "apogee-held-body-") {
		t.Fatalf("while a 500-byte body is held with 16 in memory: files %v", f)
	}
	small := send(url+"/", "POST", "tiny")
	<-waiting
	if f := files(); len(f) != 1 {
		t.Fatalf("a 4-byte body went to disk: %v", f)
	}
	tooBig := send(url+"/", "POST", strings.Repeat("x", 1001))
	if a := <-tooBig; a.code != 413 {
		t.Fatalf("1001 bytes held with a limit of 1000: %+v", a)
	}
	b.ready.Store(true)
	wk.result <- nil
	if a := <-ch; a.code != 200 || !strings.HasSuffix(a.body, "body="+big) {
		t.Fatalf("the big body arrived as %d bytes: %+v", len(a.body), a.code)
	}
	if a := <-small; a.code != 200 || !strings.HasSuffix(a.body, "body=tiny") {
		t.Fatalf("small: %+v", a)
	}
	if f := files(); len(f) != 0 {
		t.Fatalf("left behind: %v", f)
	}
}

// The hold timeout is max(HoldTimeout, 3.5 × the slowest recent boot);
// a fast resume does not shorten it while a slow boot is recent.
func TestHoldTimeoutFollowsBoots(t *testing.T) {
	p := New(Options{Log: quiet(), Waker: newWaker()})
	pool := p.NewPool("web")
	if got := pool.HoldTimeout(); got != DefaultHoldTimeout {
		t.Fatalf("no boot yet: %v", got)
	}
	pool.ObserveBoot(2 * time.Second)
	if got := pool.HoldTimeout(); got != DefaultHoldTimeout {
		t.Fatalf("2 s boots: %v, want the floor", got)
	}
	pool.ObserveBoot(4 * time.Second)
	pool.ObserveBoot(5 * time.Millisecond)
	if got := pool.HoldTimeout(); got != 14*time.Second {
		t.Fatalf("4 s boot then a resume: %v, want 14s", got)
	}
	for range bootSamples {
		pool.ObserveBoot(time.Millisecond)
	}
	if got := pool.HoldTimeout(); got != DefaultHoldTimeout {
		t.Fatalf("after %d fast boots: %v", bootSamples, got)
	}
}

// changer is a backend that tells when it changes, as apps.Instance
// does.
type changer struct {
	*backend
	mu sync.Mutex
	ch chan struct{}
}

func (c *changer) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ch
}

func (c *changer) setReady(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ready.Store(on)
	close(c.ch)
	c.ch = make(chan struct{})
}

// An instance made ready outside Wake (resumed by someone else)
// releases the held requests when it says it changed.
func TestActivatorReleasedByBackendChange(t *testing.T) {
	wk := newWaker()
	p := New(Options{Log: quiet(), Waker: wk})
	c := &changer{backend: newBackend(t, "a", echo()), ch: make(chan struct{})}
	c.ready.Store(false)
	pool := p.NewPool("web", p.NewTarget(c))
	waiting := make(chan struct{}, 4)
	pool.hold.waiting = func() { waiting <- struct{}{} }
	url := front(t, pool)
	ch := send(url+"/", "GET", "")
	<-wk.calls
	<-waiting
	c.setReady(true)
	if a := <-ch; a.code != 200 {
		t.Fatalf("after the backend became ready: %+v", a)
	}
	wk.result <- nil
}

// Held bodies share budgets across pools: past the memory budget a body
// goes to disk, past the disk budget the request is refused; all of it
// is given back when the requests are done.
func TestActivatorBodyBudgets(t *testing.T) {
	dir := t.TempDir()
	wk := newWaker()
	pool, b, waiting := activatorPool(t, Options{HoldMemory: 16, HoldMemoryTotal: 16, HoldDiskTotal: 100, TempDir: dir}, wk)
	url := front(t, pool)
	first := send(url+"/", "POST", "0123456789")
	<-wk.calls
	<-waiting
	second := send(url+"/", "POST", "abcdefghij") // 6 bytes left in memory: 4 go to disk
	<-waiting
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("files while the memory budget is spent: %d, want 1", len(ents))
	}
	if a := <-send(url+"/", "POST", strings.Repeat("x", 200)); a.code != 503 || !strings.Contains(a.body, "too many requests waiting") {
		t.Fatalf("a body past the disk budget: %+v", a)
	}
	b.ready.Store(true)
	wk.result <- nil
	for _, c := range []struct {
		ch   <-chan answer
		body string
	}{{first, "0123456789"}, {second, "abcdefghij"}} {
		if a := <-c.ch; a.code != 200 || !strings.HasSuffix(a.body, "body="+c.body) {
			t.Fatalf("held: %+v", a)
		}
	}
	if m, d := pool.proxy.memHeld.left.Load(), pool.proxy.diskHeld.left.Load(); m != 16 || d != 100 {
		t.Fatalf("budgets after: memory %d, disk %d; want 16, 100", m, d)
	}
}
