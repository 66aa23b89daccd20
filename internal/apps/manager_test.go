package apps_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/appproxy"
	"github.com/apogee-dev/apogee/internal/apps"
	"github.com/apogee-dev/apogee/internal/apps/runtimetest"
	"github.com/apogee-dev/apogee/internal/sandbox"
	"github.com/apogee-dev/apogee/internal/supervisor"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// fixture is a manager on the local runtime with bwrap (the default
// sandbox) running real Node apps, and the project's production host
// served on loopback.
type fixture struct {
	m   *apps.Manager
	obs *runtimetest.Recorder
	dir string
	url string
}

func newFixture(t testing.TB, opts ...apps.ManagerOptions) *fixture {
	t.Helper()
	o := apps.ManagerOptions{DrainTimeout: 10 * time.Second}
	if len(opts) > 0 {
		o = opts[0]
	}
	return newFixtureLogging(t, o, quiet())
}

// newFixtureLogging is newFixture with o, its proxy logging to proxyLog.
func newFixtureLogging(t testing.TB, o apps.ManagerOptions, proxyLog *slog.Logger) *fixture {
	t.Helper()
	o.Log = quiet()
	obs := runtimetest.NewRecorder()
	sb, err := sandbox.New("bwrap", sandbox.WithLogger(quiet()), sandbox.WithCgroupParent("apogee-test/manager"))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := supervisor.New(context.Background(), supervisor.Options{
		Launcher: supervisor.Sandboxed{Sandbox: sb}, DataDir: t.TempDir(), Log: quiet(), Observer: obs,
	})
	if err != nil {
		t.Fatal(err)
	}
	m := apps.NewManager(rt, appproxy.New(appproxy.Options{Log: proxyLog}), o)
	srv := httptest.NewServer(m.Production("web"))
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Error(err)
		}
		if err := rt.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return &fixture{m: m, obs: obs, dir: runtimetest.AppDir(t), url: srv.URL}
}

func (f *fixture) release(id string, n int, env ...string) apps.Release {
	return apps.Release{Instances: n, Spec: apps.Spec{
		Project: "web", Release: id, Dir: f.dir, Command: "exec node app.js",
		Env: append([]string{"GREETING=" + id}, env...),
		Health: apps.Health{
			BootTimeout: 10 * time.Second, BootInterval: 20 * time.Millisecond, Interval: 100 * time.Millisecond,
			Unready: 300 * time.Millisecond, Replace: time.Second,
		},
		Restart: apps.Restart{Initial: 100 * time.Millisecond, StopGrace: 5 * time.Second},
	}}
}

func (f *fixture) get(t *testing.T, path string) (int, string) {
	t.Helper()
	res, err := http.Get(f.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// load sends requests from a few goroutines until stopped and counts the
// answers by body; anything but 200 is a failure.
type load struct {
	stop     chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	bodies   map[string]int
	failures []string
	total    atomic.Int64
	waiters  []waiter
}

type waiter struct {
	at int64
	ch chan struct{}
}

// answered counts one answer and wakes the waiters it satisfies.
func (l *load) answered() {
	n := l.total.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	kept := l.waiters[:0]
	for _, w := range l.waiters {
		if n >= w.at {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	l.waiters = kept
}

func startLoad(url string, workers int) *load {
	l := &load{stop: make(chan struct{}), bodies: map[string]int{}}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	for range workers {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				res, err := client.Get(url + "/")
				var msg string
				if err == nil {
					b, _ := io.ReadAll(res.Body)
					res.Body.Close()
					if res.StatusCode == 200 {
						l.mu.Lock()
						l.bodies[string(b)]++
						l.mu.Unlock()
						l.answered()
						continue
					}
					msg = fmt.Sprintf("%d %s", res.StatusCode, b)
				} else {
					msg = err.Error()
				}
				l.mu.Lock()
				l.failures = append(l.failures, msg)
				l.mu.Unlock()
				l.answered()
			}
		})
	}
	return l
}

// waitMore waits until n more requests have been answered.
func (l *load) waitMore(n int64) {
	w := waiter{at: l.total.Load() + n, ch: make(chan struct{})}
	l.mu.Lock()
	l.waiters = append(l.waiters, w)
	l.mu.Unlock()
	<-w.ch
}

func (l *load) end() {
	close(l.stop)
	l.wg.Wait()
}

func waitStopped(t *testing.T, ins []apps.Instance) {
	t.Helper()
	for _, in := range ins {
		deadline := time.NewTimer(time.Minute)
		for {
			ch := in.Changed()
			if in.Status().State == apps.StateStopped {
				break
			}
			select {
			case <-ch:
			case <-deadline.C:
				t.Fatalf("instance %s never stopped: %+v", in.ID(), in.Status())
			}
		}
		deadline.Stop()
	}
}

func TestRolloutSwitchesWithNoFailedRequest(t *testing.T) {
	f := newFixture(t)
	if code, _ := f.get(t, "/"); code != 503 {
		t.Fatalf("before any release: %d", code)
	}
	ctx := context.Background()
	if err := f.m.Rollout(ctx, f.release("one", 2)); err != nil {
		t.Fatal(err)
	}
	if _, body := f.get(t, "/"); body != "hello from one\n" {
		t.Fatalf("release one: %q", body)
	}
	one := f.m.Instances("one")

	l := startLoad(f.url, 8)
	l.waitMore(200)
	if err := f.m.Rollout(ctx, f.release("two", 2)); err != nil {
		l.end()
		t.Fatal(err)
	}
	// From the switch on, every new request is answered by two.
	for range 20 {
		if _, body := f.get(t, "/"); body != "hello from two\n" {
			t.Errorf("after the switch: %q", body)
		}
	}
	l.waitMore(200)
	// Roll back to one: a release that was retired starts again.
	if err := f.m.Rollout(ctx, f.release("one", 2)); err != nil {
		l.end()
		t.Fatal(err)
	}
	l.waitMore(200)
	l.end()
	if len(l.failures) > 0 {
		t.Errorf("%d of %d requests failed during the switches, first: %s", len(l.failures), l.total.Load(), l.failures[0])
	}
	if l.bodies["hello from one\n"] == 0 || l.bodies["hello from two\n"] == 0 || len(l.bodies) != 2 {
		t.Errorf("answers %v", l.bodies)
	}
	// The first instances of one were stopped after their drain.
	waitStopped(t, one)
	if f.m.Current("web") != "one" || len(f.m.Instances("one")) != 2 || f.m.Instances("two") != nil {
		t.Errorf("current %q, instances of one %d, of two %d", f.m.Current("web"), len(f.m.Instances("one")), len(f.m.Instances("two")))
	}
}

func TestFailedReleaseLeavesTheOldServing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.m.Rollout(ctx, f.release("good", 1)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, mode, want string
		boot             time.Duration
	}{
		{"crash loop", "exit", "exited with code 1 (crashed 3 times)", 0},
		{"never listens", "never", "boot timeout: the app did not listen on PORT", time.Second},
		{"health 500", "health500", "GET / answered 500", time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := f.release("bad", 2, "MODE="+c.mode)
			if c.boot > 0 {
				r.Spec.Health.BootTimeout = c.boot
			}
			err := f.m.Rollout(ctx, r)
			if apogee.ErrorCode(err) != apogee.EINVALID || !strings.Contains(apogee.ErrorMessage(err), c.want) ||
				!strings.HasPrefix(apogee.ErrorMessage(err), "release bad of web did not become ready: instance ") {
				t.Fatalf("Rollout: %v", err)
			}
			if _, body := f.get(t, "/"); body != "hello from good\n" || f.m.Current("web") != "good" {
				t.Errorf("after the failed rollout: %q, current %q", body, f.m.Current("web"))
			}
			if f.m.ReleasePool("bad") != nil || f.m.Instances("bad") != nil {
				t.Error("the failed release is still kept")
			}
		})
	}
}

func TestDrainLetsRequestsFinish(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.m.Rollout(ctx, f.release("old", 1)); err != nil {
		t.Fatal(err)
	}
	old := f.m.Instances("old")
	target := f.m.Targets("old")[0]
	slow := make(chan string)
	go func() {
		res, err := http.Get(f.url + "/slow/1500")
		if err != nil {
			slow <- err.Error()
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		slow <- fmt.Sprintf("%d %s", res.StatusCode, b)
	}()
	f.obs.WaitLine(t, func(l apps.Line) bool { return l.Text == "slow request for 1500 ms" })
	if target.InFlight() != 1 {
		t.Fatalf("in flight on the old instance: %d", target.InFlight())
	}
	if err := f.m.Rollout(ctx, f.release("new", 1)); err != nil {
		t.Fatal(err)
	}
	if _, body := f.get(t, "/"); body != "hello from new\n" {
		t.Errorf("after the switch: %q", body)
	}
	// The old instance still runs: a request is in flight on it.
	if st := old[0].Status(); st.State != apps.StateReady {
		t.Errorf("the old instance while its request runs: %s", st.State)
	}
	if got := <-slow; got != "200 slow old\n" {
		t.Errorf("the request in flight during the switch got %q", got)
	}
	waitStopped(t, old)
}

func TestScaleAndRestart(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.m.Rollout(ctx, f.release("r", 1)); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Scale(ctx, "web", 3); err != nil {
		t.Fatal(err)
	}
	if n := len(f.m.Production("web").Targets()); n != 3 || len(f.m.Instances("r")) != 3 {
		t.Fatalf("after scaling to 3: %d targets", n)
	}
	l := startLoad(f.url, 6)
	l.waitMore(100)
	before := f.m.Instances("r")
	if err := f.m.Restart(ctx, "web"); err != nil {
		l.end()
		t.Fatal(err)
	}
	l.waitMore(100)
	if err := f.m.Scale(ctx, "web", 1); err != nil {
		l.end()
		t.Fatal(err)
	}
	l.waitMore(100)
	l.end()
	if len(l.failures) > 0 {
		t.Errorf("%d of %d requests failed during restart and scale, first: %s", len(l.failures), l.total.Load(), l.failures[0])
	}
	after := f.m.Instances("r")
	if len(after) != 1 {
		t.Fatalf("after scaling to 1: %d instances", len(after))
	}
	for _, b := range before {
		if b.ID() == after[0].ID() {
			t.Error("Restart kept an instance")
		}
	}
	waitStopped(t, before)
	if err := f.m.Scale(ctx, "web", -1); apogee.ErrorCode(err) != apogee.EINVALID {
		t.Errorf("scale to -1: %v", err)
	}
	// Scaled to zero: production keeps its release with no instance, and
	// answers again once scaled up.
	if err := f.m.Scale(ctx, "web", 0); err != nil {
		t.Fatal(err)
	}
	waitStopped(t, after)
	if n := len(f.m.Production("web").Targets()); n != 0 || f.m.Current("web") != "r" {
		t.Errorf("scaled to 0: %d targets, current %q", n, f.m.Current("web"))
	}
	if err := f.m.Scale(ctx, "web", 1); err != nil {
		t.Fatal(err)
	}
	if code, _ := f.get(t, "/"); code != 200 {
		t.Errorf("scaled up from 0: %d", code)
	}
}

// proxyFailures records the instance each failed request went to, as
// the proxy logs it (one warning per request it could not answer).
type proxyFailures struct {
	mu        sync.Mutex
	instances []string
}

func (p *proxyFailures) Enabled(context.Context, slog.Level) bool { return true }
func (p *proxyFailures) WithAttrs([]slog.Attr) slog.Handler       { return p }
func (p *proxyFailures) WithGroup(string) slog.Handler            { return p }
func (p *proxyFailures) Handle(_ context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return nil
	}
	id := "(none)"
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "instance" {
			id = a.Value.String()
		}
		return true
	})
	p.mu.Lock()
	p.instances = append(p.instances, id+": "+r.Message)
	p.mu.Unlock()
	return nil
}

// TestKillNineUnderLoad kills one of two instances with SIGKILL while
// clients keep requesting: the instance is replaced, and the only
// requests that fail are those the killed process held at that instant
// (the proxy names the instance of every request it fails); none sent to
// the other instance fails, and new requests never reach the dead one.
func TestKillNineUnderLoad(t *testing.T) {
	failed := &proxyFailures{}
	f := newFixtureLogging(t, apps.ManagerOptions{DrainTimeout: 10 * time.Second}, slog.New(failed))
	ctx := context.Background()
	if err := f.m.Rollout(ctx, f.release("r", 2)); err != nil {
		t.Fatal(err)
	}
	ins := f.m.Instances("r")
	victim, other := ins[0], ins[1]
	l := startLoad(f.url, 8)
	l.waitMore(200)
	// The app kills itself with SIGKILL: as kill -9 from outside.
	killed := time.Now()
	runtimetestGet(victim, "/crash")
	deadline := time.NewTimer(time.Minute)
	for {
		ch := victim.Changed()
		if st := victim.Status(); st.State == apps.StateReady && st.Restarts == 1 {
			break
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("never replaced: %+v", victim.Status())
		}
	}
	t.Logf("replaced and ready %v after the kill", time.Since(killed).Round(time.Millisecond))
	l.waitMore(200)
	l.end()
	failed.mu.Lock()
	defer failed.mu.Unlock()
	t.Logf("%d of %d requests failed around the kill: %v", len(l.failures), l.total.Load(), l.failures)
	for _, f := range failed.instances {
		if !strings.HasPrefix(f, victim.ID()+": ") {
			t.Errorf("a request failed that was not the killed instance's: %s", f)
		}
	}
	if len(l.failures) != len(failed.instances) || len(l.failures) > 8 {
		t.Errorf("%d requests failed, the proxy failed %d on the killed instance (at most the 8 in flight may): %v; %v",
			len(l.failures), len(failed.instances), l.failures, failed.instances)
	}
	if st := other.Status(); st.Restarts != 0 || st.State != apps.StateReady {
		t.Errorf("the other instance: %+v", st)
	}
}

func runtimetestGet(in apps.Instance, path string) {
	c, err := in.Dial(context.Background())
	if err != nil {
		return
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path)
	io.Copy(io.Discard, c)
}

func TestSwitchNeedsAPreparedRelease(t *testing.T) {
	f := newFixture(t)
	if err := f.m.Switch(context.Background(), "web", "nope"); apogee.ErrorCode(err) != apogee.ECONFLICT {
		t.Errorf("switch to an unknown release: %v", err)
	}
	ctx := context.Background()
	if err := f.m.Prepare(ctx, f.release("p", 1)); err != nil {
		t.Fatal(err)
	}
	// Prepared, not serving production, but its own host serves.
	if code, _ := f.get(t, "/"); code != 503 {
		t.Errorf("production before the switch: %d", code)
	}
	own := httptest.NewServer(f.m.ReleasePool("p"))
	defer own.Close()
	res, err := http.Get(own.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "hello from p\n" {
		t.Errorf("the release's own host: %q", b)
	}
	if err := f.m.Switch(ctx, "web", "p"); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Retire(ctx, "p"); apogee.ErrorCode(err) != apogee.ECONFLICT {
		t.Errorf("retiring the serving release: %v", err)
	}
}

func TestRollbackToAWarmRelease(t *testing.T) {
	f := newFixture(t, apps.ManagerOptions{KeepWarm: 1})
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		if err := f.m.Rollout(ctx, f.release(id, 1)); err != nil {
			t.Fatal(err)
		}
	}
	warmA := f.m.Instances("a")
	if len(warmA) != 1 || !warmA[0].Ready() {
		t.Fatalf("a is not kept warm: %v", warmA)
	}
	// The rollback switches to a's running instance: nothing boots.
	if err := f.m.Rollout(ctx, f.release("a", 1)); err != nil {
		t.Fatal(err)
	}
	if got := f.m.Instances("a"); len(got) != 1 || got[0].ID() != warmA[0].ID() {
		t.Errorf("the rollback started new instances: %v", got)
	}
	if _, body := f.get(t, "/"); body != "hello from a\n" {
		t.Errorf("after the rollback: %q", body)
	}
	// b is the warm one now; a third release keeps a warm and retires b.
	b := f.m.Instances("b")
	if err := f.m.Rollout(ctx, f.release("c", 1)); err != nil {
		t.Fatal(err)
	}
	waitStopped(t, b)
	if f.m.Instances("a") == nil || f.m.Instances("b") != nil {
		t.Errorf("after c: a warm %v, b %v", f.m.Instances("a"), f.m.Instances("b"))
	}
}

// TestStopProject: a project's production and warm releases and a
// release serving only its own host all stop; the production pool
// answers 503 afterwards.
func TestStopProject(t *testing.T) {
	f := newFixture(t, apps.ManagerOptions{KeepWarm: 1})
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		if err := f.m.Rollout(ctx, f.release(id, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.m.Prepare(ctx, f.release("preview", 1)); err != nil {
		t.Fatal(err)
	}
	running := f.m.Running()["web"]
	slices.Sort(running)
	if !slices.Equal(running, []string{"a", "b", "preview"}) || !f.m.Warm("web", "a") || f.m.Warm("web", "b") {
		t.Fatalf("running %v, a warm %v, b warm %v", running, f.m.Warm("web", "a"), f.m.Warm("web", "b"))
	}
	var all []apps.Instance
	for _, id := range running {
		all = append(all, f.m.Instances(id)...)
	}
	if err := f.m.StopProject(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	for _, in := range all {
		if st := in.Status().State; st != apps.StateStopped {
			t.Errorf("instance %s of %s is %s after StopProject", in.ID(), in.Spec().Release, st)
		}
	}
	if code, _ := f.get(t, "/"); code != http.StatusServiceUnavailable {
		t.Errorf("production after StopProject answers %d, want 503", code)
	}
	if len(f.m.Running()) != 0 || f.m.Current("web") != "" {
		t.Errorf("after StopProject: running %v, current %q", f.m.Running(), f.m.Current("web"))
	}
}
