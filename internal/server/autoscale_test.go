package server

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/autoscale"
	"github.com/apogee-dev/apogee/internal/client"
)

// fakeClock is the autoscaler's clock in tests: it moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// slowExpress answers /slow after 100 ms (or ?ms=N), so that requests stay in
// flight.
const slowExpress = `const express = require('express');
const app = express();
app.get('/', (req, res) => res.send('hello'));
app.get('/slow', (req, res) => setTimeout(() => res.send('slow'), Number(req.query.ms) || 100));
app.listen(process.env.PORT);
`

// stepLoad is closed-loop load: n clients each sending GET path one
// after another until stop.
type stepLoad struct {
	ok, failed atomic.Int64
	first      atomic.Value // string: the first failure
	cancel     context.CancelFunc
	stopping   atomic.Bool
	wg         sync.WaitGroup
	mu         sync.Mutex
	waiters    []waiter
}

type waiter struct {
	n  int64
	ch chan struct{}
}

func startStepLoad(addr, host, path string, n int) *stepLoad {
	ctx, cancel := context.WithCancel(context.Background())
	l := &stepLoad{cancel: cancel}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: n}, Timeout: 30 * time.Second}
	for range n {
		l.wg.Go(func() {
			for !l.stopping.Load() {
				req, _ := http.NewRequestWithContext(ctx, "GET", addr+path, nil)
				req.Host = host
				res, err := hc.Do(req)
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					l.fail(err.Error())
					continue
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 || string(b) != "slow" {
					l.fail(res.Status + " " + string(b))
					continue
				}
				l.done()
			}
		})
	}
	return l
}

func (l *stepLoad) fail(s string) {
	l.failed.Add(1)
	l.first.CompareAndSwap(nil, s)
}

func (l *stepLoad) done() {
	n := l.ok.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	kept := l.waiters[:0]
	for _, w := range l.waiters {
		if n >= w.n {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	l.waiters = kept
}

// waitMore waits, on a signal, for n more answers.
func (l *stepLoad) waitMore(t testing.TB, n int64) {
	t.Helper()
	ch := make(chan struct{})
	l.mu.Lock()
	l.waiters = append(l.waiters, waiter{n: l.ok.Load() + n, ch: ch})
	l.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(time.Minute):
		t.Fatalf("the load got no %d more answers in a minute (%d ok, %d failed)", n, l.ok.Load(), l.failed.Load())
	}
}

// stop lets every client finish its request, then ends the load.
func (l *stepLoad) stop() {
	l.stopping.Store(true)
	l.wg.Wait()
	l.cancel()
}

// TestAutoscaleStepLoad: a step load of 200 concurrent connections on a
// real Express app scaled min 0, max 3, concurrency 50. The autoscaler's
// clock is fake and stepped a second at a time by the test: the
// instances rise to the max within the panic window (6 s), no request
// fails, they fall back to one once the load ends, which is paused
// after pause_after and stopped after stop_after without a request; the
// next request starts the app again.
func TestAutoscaleStepLoad(t *testing.T) {
	needAppTools(t)
	clock := &fakeClock{now: time.Now()}
	s, addr := startServer(t, Config{Data: t.TempDir(), BuildWorkers: 1, Sandbox: "bwrap", AppSandbox: "bwrap",
		appNow: clock.Now, appTick: -1})
	c := client.New(addr, userToken(t, s.Store(), "dev@example.com", "password", false), client.WithTimeout(3*time.Minute))
	ctx := t.Context()
	if _, err := c.CreateProject(ctx, "api"); err != nil {
		t.Fatal(err)
	}
	d, log := zipBuild(t, c, "api", expressApp(t, map[string]string{"server.js": slowExpress}))
	if d.Status != apogee.StatusReady || !d.Production {
		t.Fatalf("the app's build is %s (%s):\n%s", d.Status, d.Error, log)
	}
	ptr := func(v int) *int { return &v }
	if _, err := c.ScaleApp(ctx, "api", apogee.ScaleRequest{Min: ptr(0), Max: ptr(3), Concurrency: ptr(50)}); err != nil {
		t.Fatal(err)
	}
	h := s.apps.host
	pool := s.apps.manager.Production("api")
	step := func() {
		clock.Add(time.Second)
		h.Autoscale(ctx)
		h.Settle() // the instances it started are ready, or those it stopped gone
	}
	for range 10 {
		step()
	}
	if n := len(pool.Targets()); n != 1 {
		t.Fatalf("before the load: %d instances, want 1", n)
	}

	// Half a second each: the 200 clients keep about 200 requests in
	// flight at every sample, however loaded the machine that runs them.
	l := startStepLoad(addr, "api.localhost", "/slow?ms=500", 200)
	defer l.stop()
	l.waitMore(t, 400)
	steps := 0
	for len(pool.Targets()) < 3 && steps < 6 {
		step()
		steps++
	}
	if n := len(pool.Targets()); n != 3 {
		t.Fatalf("after %d s of 200 connections: %d instances, want 3 (the max) within the 6 s panic window", steps, n)
	}
	sc := h.Scaling("api")
	if len(sc.Decisions) == 0 || !sc.Decisions[0].Panic || !strings.Contains(sc.Decisions[0].Reason, "at target 50×0.7") {
		t.Errorf("the scale-up decision: %+v", sc.Decisions)
	}
	// Every instance takes a share of the load.
	l.waitMore(t, 600)
	for i, tg := range pool.Targets() {
		if !tg.Backend().Ready() {
			t.Errorf("instance %d is not ready under load", i)
		}
	}
	l.stop()
	if f := l.failed.Load(); f > 0 {
		t.Fatalf("%d of %d requests failed during the step, first: %v", f, f+l.ok.Load(), l.first.Load())
	}
	// The edge counts a request out once its handler returns, a moment
	// after the client has its answer.
	for deadline := time.Now().Add(10 * time.Second); autoscale.Total(pool.Targets()) > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests still in flight 10 s after the load ended", autoscale.Total(pool.Targets()))
		}
		runtime.Gosched()
	}
	step()
	loadEnd := h.Scaling("api").IdleSince // the last second with a request in flight

	// Back to one instance once no panic (a stable window, 60 s) and the
	// stable window's average falls.
	for steps = 0; len(pool.Targets()) > 1 && steps < 200; steps++ {
		step()
	}
	if n := len(pool.Targets()); n != 1 {
		t.Fatalf("%d s after the load: %d instances, want 1: %+v", steps, n, h.Scaling("api"))
	}
	// Paused after pause_after (300 s) idle, stopped after stop_after
	// (3600 s).
	for h.Scaling("api").State == "running" && clock.Now().Sub(loadEnd) < 400*time.Second {
		step()
	}
	if at := clock.Now().Sub(loadEnd); h.Scaling("api").State != "paused" || at < 300*time.Second || at > 302*time.Second {
		t.Fatalf("state %s %s after the load; want paused at 300 s: %+v", h.Scaling("api").State, at, h.Scaling("api").Decisions)
	}
	if n := len(pool.Targets()); n != 1 || pool.Targets()[0].Backend().Ready() {
		t.Errorf("paused: %d instances, the first ready: want 1, frozen (not ready)", n)
	}
	for h.Scaling("api").State == "paused" && clock.Now().Sub(loadEnd) < 3700*time.Second {
		step()
	}
	if at := clock.Now().Sub(loadEnd); h.Scaling("api").State != "stopped" || at < 3600*time.Second || at > 3602*time.Second {
		t.Fatalf("state %s %s after the load; want stopped at 3600 s", h.Scaling("api").State, at)
	}
	if n := len(pool.Targets()); n != 0 {
		t.Errorf("stopped: %d instances", n)
	}
	// The next request starts it again.
	if code, body, _ := request(t, addr, "GET", "api.localhost", "/", ""); code != 200 || body != "hello" {
		t.Errorf("the first request after the stop: %d %q", code, body)
	}
	sc = h.Scaling("api")
	if sc.State != "running" || sc.Decisions[0].Action != "start" {
		t.Errorf("after the request: %s, last decision %+v", sc.State, sc.Decisions[0])
	}
	var actions []string
	for _, d := range sc.Decisions {
		actions = append(actions, d.Action)
	}
	t.Logf("decisions, newest first: %v", actions)
}

// BenchmarkScaleUpReaction measures how long a step load waits for new
// instances: from the autoscaler's tick that sees 100 connections on one
// instance (min 1, max 3, concurrency 10) to both new instances taking
// requests. Reported: ms per scale-up (the instances' boot included).
func BenchmarkScaleUpReaction(b *testing.B) {
	needAppTools(b)
	clock := &fakeClock{now: time.Now()}
	s, addr := startServer(b, Config{Data: b.TempDir(), BuildWorkers: 1, Sandbox: "bwrap", AppSandbox: "bwrap",
		appNow: clock.Now, appTick: -1})
	c := client.New(addr, userToken(b, s.Store(), "dev@example.com", "password", false), client.WithTimeout(3*time.Minute))
	ctx := b.Context()
	if _, err := c.CreateProject(ctx, "api"); err != nil {
		b.Fatal(err)
	}
	d, log := zipBuild(b, c, "api", expressApp(b, map[string]string{"server.js": slowExpress}))
	if d.Status != apogee.StatusReady {
		b.Fatalf("build: %s\n%s", d.Status, log)
	}
	h := s.apps.host
	pool := s.apps.manager.Production("api")
	one := apogee.AppScale{Min: 1, Max: 1, Concurrency: 10, PauseAfter: 300, StopAfter: 3600}
	three := one
	three.Max = 3
	var total time.Duration
	for b.Loop() {
		if err := h.SetScale(ctx, "api", one); err != nil {
			b.Fatal(err)
		}
		if err := h.SetScale(ctx, "api", three); err != nil {
			b.Fatal(err)
		}
		for range 130 { // past the stable window and any panic
			clock.Add(time.Second)
			h.Autoscale(ctx)
			h.Settle()
		}
		l := startStepLoad(addr, "api.localhost", "/slow", 100)
		l.waitMore(b, 200)
		start := time.Now()
		for len(pool.Targets()) < 3 {
			clock.Add(time.Second)
			h.Autoscale(ctx)
			h.Settle()
		}
		for {
			busy := 0
			for _, t := range pool.Targets() {
				if t.InFlight() > 0 {
					busy++
				}
			}
			if busy == 3 {
				break
			}
			runtime.Gosched()
		}
		total += time.Since(start)
		l.stop()
		if f := l.failed.Load(); f > 0 {
			b.Fatalf("%d requests failed, first: %v", f, l.first.Load())
		}
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/scale-up")
}
