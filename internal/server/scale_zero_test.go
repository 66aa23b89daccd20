package server

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/client"
)

// scaleZeroServer is a server running apps in bwrap whose autoscaler's
// clock is clock and steps only when the test says (step), with
// appsMemory MiB for apps (0: no bound).
func scaleZeroServer(t *testing.T, appsMemory int64) (*Server, *client.Client, string, *fakeClock, func()) {
	t.Helper()
	needAppTools(t)
	clock := &fakeClock{now: time.Now()}
	s, addr := startServer(t, Config{Data: t.TempDir(), BuildWorkers: 1, Sandbox: "bwrap", AppSandbox: "bwrap",
		AppsMemory: appsMemory, appNow: clock.Now, appTick: -1})
	c := client.New(addr, userToken(t, s.Store(), "dev@example.com", "password", false), client.WithTimeout(3*time.Minute))
	step := func() {
		clock.Add(time.Second)
		s.apps.host.Autoscale(t.Context())
		s.apps.host.Settle()
	}
	return s, c, addr, clock, step
}

// deployApp makes project and builds files for its production, min 0.
func deployApp(t *testing.T, c *client.Client, project string, files map[string]string) {
	t.Helper()
	if _, err := c.CreateProject(t.Context(), project); err != nil {
		t.Fatal(err)
	}
	d, log := zipBuild(t, c, project, expressApp(t, files))
	if d.Status != apogee.StatusReady || !d.Production {
		t.Fatalf("the build of %s is %s (%s):\n%s", project, d.Status, d.Error, log)
	}
	ptr := func(v int) *int { return &v }
	if _, err := c.ScaleApp(t.Context(), project, apogee.ScaleRequest{Min: ptr(0), Max: ptr(2), Concurrency: ptr(50)}); err != nil {
		t.Fatal(err)
	}
}

func lastDecision(s *Server, project string) apogee.ScaleDecision {
	if sc := s.apps.host.Scaling(project); sc != nil && len(sc.Decisions) > 0 {
		return sc.Decisions[0]
	}
	return apogee.ScaleDecision{}
}

// TestAppsMemoryStopsPausedApps: with --apps-memory for two instances,
// two apps each run one. Both go idle and are paused; a request wakes
// a. When a is scaled to two instances, the paused b is stopped to make
// room (the least recently used paused app), and a request to b is then
// refused with 503, Retry-After and the reason, since nothing paused is
// left to stop; once a gives back an instance, b starts again.
func TestAppsMemoryStopsPausedApps(t *testing.T) {
	s, c, addr, _, step := scaleZeroServer(t, 1024)
	h := s.apps.host
	deployApp(t, c, "a", nil)
	deployApp(t, c, "b", nil)
	spec, ok := s.apps.manager.Spec(s.apps.manager.Current("a"))
	if !ok || spec.Limits.MemoryBytes != 512<<20 {
		t.Fatalf("a's instances have %d bytes of memory; the test sizes --apps-memory for 512 MiB each", spec.Limits.MemoryBytes)
	}
	for i := 0; i < 400 && (h.Scaling("a").State != "paused" || h.Scaling("b").State != "paused"); i++ {
		step()
	}
	if a, b := h.Scaling("a").State, h.Scaling("b").State; a != "paused" || b != "paused" {
		t.Fatalf("after 400 idle seconds: a %s, b %s; want both paused", a, b)
	}
	if code, body, _ := request(t, addr, "GET", "a.localhost", "/", ""); code != 200 {
		t.Fatalf("a request to the paused a: %d %q", code, body)
	}
	ptr := func(v int) *int { return &v }
	if _, err := c.ScaleApp(t.Context(), "a", apogee.ScaleRequest{Min: ptr(2), Max: ptr(2)}); err != nil {
		t.Fatalf("scale a to 2 with b paused: %v", err)
	}
	if n := len(s.apps.manager.Production("a").Targets()); n != 2 {
		t.Errorf("a runs %d instances, want 2", n)
	}
	if st, d := h.Scaling("b").State, lastDecision(s, "b"); st != "stopped" || d.Action != "stop" || !strings.Contains(d.Reason, "a needs the memory") {
		t.Errorf("b: %s, last decision %+v; want stopped for a", st, d)
	}
	code, body, hdr := request(t, addr, "GET", "b.localhost", "/", "")
	if code != 503 || hdr.Get("Retry-After") != "10" || !strings.Contains(body, "--apps-memory 1024 MiB) is full") {
		t.Errorf("a request to b with the memory full: %d, Retry-After %q, %q", code, hdr.Get("Retry-After"), body)
	}
	t.Logf("the refusal: %s", body)
	if st, d := h.Scaling("b").State, lastDecision(s, "b"); st != "stopped" || d.Action != "refused" || !strings.Contains(d.Reason, "no paused app can be stopped") {
		t.Errorf("b after the refusal: %s, last decision %+v", st, d)
	}
	// apps scale refuses the same way, and changes nothing.
	_, err := c.ScaleApp(t.Context(), "b", apogee.ScaleRequest{Min: ptr(1), Max: ptr(2)})
	if err == nil || !strings.Contains(err.Error(), "is full") {
		t.Errorf("scale b to min 1 with the memory full: %v", err)
	}
	if st := h.Scaling("b").State; st != "stopped" {
		t.Errorf("b after a refused scale: %s", st)
	}
	if _, err := c.ScaleApp(t.Context(), "a", apogee.ScaleRequest{Min: ptr(1), Max: ptr(1)}); err != nil {
		t.Fatal(err)
	}
	if code, body, _ := request(t, addr, "GET", "b.localhost", "/", ""); code != 200 {
		t.Errorf("a request to b once a gave back an instance: %d %q", code, body)
	}
}

// crashFirst makes the Express app exit at its start while its release
// tree has a file named crash (the test writes it, as a broken
// configuration would).
const crashFirst = `if (require('fs').existsSync(__dirname + '/crash')) {
  console.error('cannot start: the configuration is broken');
  process.exit(1);
}
`

// TestStoppedAppStartsInASpareAndBacksOffWhenItCrashes: an app stopped
// when idle gets a spare sandbox, which its next cold start takes. When
// the app then crashes as it starts, the request gets 503 with the
// reason and Retry-After, and so does every request during the backoff
// without starting it again; after the backoff the next request starts
// it.
func TestStoppedAppStartsInASpareAndBacksOffWhenItCrashes(t *testing.T) {
	s, c, addr, clock, step := scaleZeroServer(t, 0)
	h := s.apps.host
	src, err := os.ReadFile(filepath.Join("testdata", "express", "server.js"))
	if err != nil {
		t.Fatal(err)
	}
	deployApp(t, c, "api", map[string]string{"server.js": crashFirst + string(src)})
	stopped := func() {
		t.Helper()
		for i := 0; i < 3700 && h.Scaling("api").State != "stopped"; i++ {
			step()
		}
		if d := lastDecision(s, "api"); d.Action != "stop" || !strings.Contains(d.Reason, "a spare sandbox waits") {
			t.Fatalf("after an hour idle: %s, last decision %+v; want stopped with a spare", h.Scaling("api").State, d)
		}
	}
	stopped()
	if code, body, _ := request(t, addr, "GET", "api.localhost", "/", ""); code != 200 {
		t.Fatalf("the first request after the stop: %d %q", code, body)
	}
	if d := lastDecision(s, "api"); d.Action != "start" || !strings.Contains(d.Reason, "its sandbox made beforehand") {
		t.Errorf("the cold start: %+v; want one in the spare sandbox", d)
	}

	stopped()
	spec, _ := s.apps.manager.Spec(s.apps.manager.Current("api"))
	crash := filepath.Join(spec.Dir, "crash")
	if err := os.WriteFile(crash, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code, body, hdr := request(t, addr, "GET", "api.localhost", "/", "")
	if code != 503 || hdr.Get("Retry-After") != "10" || !strings.Contains(body, "did not start") || !strings.Contains(body, "exit") {
		t.Fatalf("a request that starts the crashing app: %d, Retry-After %q, %q", code, hdr.Get("Retry-After"), body)
	}
	t.Logf("the crashing app's 503: %s", body)
	failed := lastDecision(s, "api")
	if failed.Action != "start-failed" || !strings.Contains(failed.Reason, "for 10s") {
		t.Errorf("the failed start's decision: %+v", failed)
	}
	// During the backoff: answered at once, the app not started again.
	clock.Add(4 * time.Second)
	for range 20 {
		start := time.Now()
		code, body, hdr := request(t, addr, "GET", "api.localhost", "/", "")
		if code != 503 || hdr.Get("Retry-After") != "6" || !strings.Contains(body, "tried again in 6s") {
			t.Fatalf("a request during the backoff: %d, Retry-After %q, %q", code, hdr.Get("Retry-After"), body)
		}
		if took := time.Since(start); took > time.Second {
			t.Fatalf("a request during the backoff took %s", took)
		}
	}
	if d := lastDecision(s, "api"); d != failed {
		t.Errorf("requests during the backoff changed the app: %+v", d)
	}
	if n := len(s.apps.manager.Instances(s.apps.manager.Current("api"))); n != 0 {
		t.Errorf("%d instances during the backoff", n)
	}
	// Fixed, and past the backoff: the next request starts it.
	if err := os.Remove(crash); err != nil {
		t.Fatal(err)
	}
	clock.Add(7 * time.Second)
	if code, body, _ := request(t, addr, "GET", "api.localhost", "/", ""); code != 200 {
		t.Fatalf("a request after the backoff: %d %q", code, body)
	}
	if st := h.Scaling("api").State; st != "running" {
		t.Errorf("after the backoff: %s", st)
	}
}

// BenchmarkColdStartAfterIdleStop: the whole path of a cold start
// through the server: an Express app (min 0) is stopped by the
// autoscaler after an hour idle (fake clock), and a request to its
// production host waits for a new instance. The host makes a spare
// sandbox when it stops the app; every other round the spare is dropped
// before the request, so the cold start with a spare (spare-p50-ms) and
// without (p50-ms, what the host did before it made spares) are
// measured under the same load. Times are to the whole answer.
func BenchmarkColdStartAfterIdleStop(b *testing.B) {
	needAppTools(b)
	clock := &fakeClock{now: time.Now()}
	s, addr := startServer(b, Config{Data: b.TempDir(), BuildWorkers: 1, Sandbox: "bwrap", AppSandbox: "bwrap",
		appNow: clock.Now, appTick: -1})
	c := client.New(addr, userToken(b, s.Store(), "dev@example.com", "password", false), client.WithTimeout(3*time.Minute))
	ctx := b.Context()
	if _, err := c.CreateProject(ctx, "api"); err != nil {
		b.Fatal(err)
	}
	d, log := zipBuild(b, c, "api", expressApp(b, nil))
	if d.Status != apogee.StatusReady {
		b.Fatalf("build: %s\n%s", d.Status, log)
	}
	ptr := func(v int) *int { return &v }
	if _, err := c.ScaleApp(ctx, "api", apogee.ScaleRequest{Min: ptr(0), Max: ptr(1)}); err != nil {
		b.Fatal(err)
	}
	h := s.apps.host
	var cold, spared []time.Duration
	i := 0
	for b.Loop() {
		for j := 0; j < 3700 && h.Scaling("api").State != "stopped"; j++ {
			clock.Add(time.Second)
			h.Autoscale(ctx)
			h.Settle()
		}
		if d := lastDecision(s, "api"); d.Action != "stop" || !strings.Contains(d.Reason, "spare sandbox") {
			b.Fatalf("not stopped with a spare: %+v", d)
		}
		withSpare := i%2 == 0
		i++
		if !withSpare {
			h.DropSpare("api")
		}
		start := time.Now()
		code, body, _ := request(b, addr, "GET", "api.localhost", "/", "")
		took := time.Since(start)
		if code != 200 {
			b.Fatalf("the cold start: %d %q", code, body)
		}
		if withSpare {
			spared = append(spared, took)
		} else {
			cold = append(cold, took)
		}
	}
	p50 := func(ds []time.Duration) float64 {
		slices.Sort(ds)
		return float64(ds[(len(ds)-1)/2].Microseconds()) / 1000
	}
	p99 := func(ds []time.Duration) float64 {
		slices.Sort(ds)
		return float64(ds[int(float64(len(ds)-1)*0.99)].Microseconds()) / 1000
	}
	if len(cold) > 0 { // rounds alternate: one round (CI's -benchtime 1x) has only a spare's
		b.ReportMetric(p50(cold), "p50-ms")
		b.ReportMetric(p99(cold), "p99-ms")
	}
	b.ReportMetric(p50(spared), "spare-p50-ms")
	b.ReportMetric(p99(spared), "spare-p99-ms")
	b.ReportMetric(0, "ns/op")
}
