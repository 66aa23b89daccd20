// Package runtimetest is the suite every apps.Runtime must pass. It runs
// real Node.js apps (testdata/app/app.js, whose MODE variable picks a
// behaviour: a good app, or one of the faults an app can have) and checks
// the contract written on apps.Runtime: start, readiness, output, stop,
// restarts with their reasons, boot timeouts, liveness, and, for runtimes
// that claim them, limits and isolation.
//
// Timings in the suite are short (boot timeout 5 s, liveness windows of
// a second) so that faults show quickly; the defaults themselves, and the
// backoff's exact schedule, are tested on a fake clock beside the
// implementation.
package runtimetest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/apps"
)

// Caps says what a runtime under test enforces beyond the basics.
type Caps struct {
	// Limits: memory, CPU and process limits hold (an OOM kill is
	// reported as one; a fork bomb is contained).
	Limits bool
	// Isolated: instances have a network of their own (the host's
	// loopback is out of reach, all listen on the same PORT) and a
	// read-only release tree.
	Isolated bool
	// Boot is how long the test app may take to listen on this runtime
	// (default 1 s; gVisor's takes about 2 s here). The fault tests set
	// boot timeouts from it.
	Boot time.Duration
	// OneStream: the runtime's output comes as one stream, stdout and
	// stderr merged (Kubernetes' pod log API, whose stream split,
	// PodLogsQuerySplitStreams, is alpha). Lines the app wrote to stderr
	// are then not asked to be stderr.
	OneStream bool
	// WholeSeconds: the runtime's health checks count in whole seconds
	// (Kubernetes' probes: periodSeconds, timeoutSeconds), so a 100 ms
	// check timeout is a second there, and the reasons say so.
	WholeSeconds bool
}

// Factory makes a fresh runtime for one test, reporting to obs. The
// suite closes it at the end of the test.
type Factory func(t *testing.T, obs apps.Observer) apps.Runtime

// Run runs the suite.
func Run(t *testing.T, caps Caps, newRuntime Factory) {
	if caps.Boot <= 0 {
		caps.Boot = time.Second
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("runtimetest needs Node.js: apt-get install nodejs")
	}
	tests := []suiteTest{
		{"StartServeStop", testStartServeStop},
		{"Environment", testEnvironment},
		{"BadSpec", testBadSpec},
		{"ExitsAtOnce", testExitsAtOnce},
		{"CommandNotFound", testCommandNotFound},
		{"NeverListens", testNeverListens},
		{"WrongPort", testWrongPort},
		{"Health500", testHealth500},
		{"HoldsConnections", testHoldsConnections},
		{"IgnoresSIGTERM", testIgnoresSIGTERM},
		{"FloodsStdout", testFloodsStdout},
		{"KilledProcessIsReplaced", testKilledProcessIsReplaced},
		{"Liveness", testLiveness},
		{"CloseStopsAll", testCloseStopsAll},
	}
	if caps.Limits {
		tests = append(tests, suiteTest{"OutOfMemory", testOutOfMemory}, suiteTest{"ForkBomb", testForkBomb})
	}
	if caps.Isolated {
		tests = append(tests, suiteTest{"Isolation", testIsolation})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obs := NewRecorder()
			rt := newRuntime(t, obs)
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if err := rt.Close(ctx); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, &env{rt: rt, obs: obs, dir: AppDir(t), boot: caps.Boot, caps: caps})
		})
	}
}

type suiteTest struct {
	name string
	fn   func(*testing.T, *env)
}

type env struct {
	rt   apps.Runtime
	obs  *Recorder
	dir  string
	boot time.Duration
	caps Caps
}

// stderr is the stream the app's stderr arrives on.
func (e *env) stderr() string {
	if e.caps.OneStream {
		return apogee.StreamStdout
	}
	return apogee.StreamStderr
}

// checkTime is how a check's timeout d shows in reasons.
func (e *env) checkTime(d time.Duration) time.Duration {
	if e.caps.WholeSeconds {
		return ((d + time.Second - 1) / time.Second) * time.Second
	}
	return d
}

// AppDir copies the suite's test app (testdata/app/app.js; see its MODE
// variable) to a fresh folder, a release tree, and returns its path.
func AppDir(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "testdata", "app", "app.js")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "release")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "app.js"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// spec is a spec of the test app in mode with the suite's short timings.
func (e *env) spec(mode string, env ...string) apps.Spec {
	if mode != "" {
		env = append(env, "MODE="+mode)
	}
	return apps.Spec{
		Project: "web", Release: "r1", Dir: e.dir, Command: "exec node app.js", Env: env,
		Health: apps.Health{
			// Past the boot this machine measured, four times over: a
			// loaded machine (runsc most) boots slowly.
			BootTimeout: 5*time.Second + 4*e.boot, BootInterval: 20 * time.Millisecond,
			Interval: 100 * time.Millisecond, Timeout: 500 * time.Millisecond,
			Unready: 300 * time.Millisecond, Replace: 900 * time.Millisecond,
		},
		Restart: apps.Restart{Initial: 200 * time.Millisecond, Max: time.Second, StopGrace: 5 * time.Second},
	}
}

func (e *env) start(t *testing.T, s apps.Spec) apps.Instance {
	t.Helper()
	in, err := e.rt.Start(context.Background(), s)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return in
}

// waitFor waits until cond holds for in's status, or fails the test after
// a minute (a guard, not a timing).
func waitFor(t *testing.T, in apps.Instance, what string, cond func(apps.Status) bool) apps.Status {
	t.Helper()
	deadline := time.NewTimer(time.Minute)
	defer deadline.Stop()
	for {
		ch := in.Changed()
		st := in.Status()
		if cond(st) {
			return st
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("instance %s never %s; status %+v", in.ID(), what, st)
		}
	}
}

func waitReady(t *testing.T, in apps.Instance) apps.Status {
	t.Helper()
	return waitFor(t, in, "became ready", func(s apps.Status) bool { return s.State == apps.StateReady })
}

// waitCrash waits for the instance's n-th crash and returns its status.
func waitCrash(t *testing.T, in apps.Instance, n int) apps.Status {
	t.Helper()
	return waitFor(t, in, fmt.Sprintf("crashed %d times", n), func(s apps.Status) bool {
		return s.State == apps.StateCrashed && s.Failures >= n || s.Failures > n
	})
}

// get sends a request to the instance through Dial.
func get(t *testing.T, in apps.Instance, path string) (int, string) {
	t.Helper()
	code, body, err := tryGet(in, path)
	if err != nil {
		t.Fatalf("GET %s from %s: %v", path, in.ID(), err)
	}
	return code, body
}

func tryGet(in apps.Instance, path string) (int, string, error) {
	c := &http.Client{
		Transport: &http.Transport{
			DialContext:       func(ctx context.Context, _, _ string) (net.Conn, error) { return in.Dial(ctx) },
			DisableKeepAlives: true,
		},
		Timeout: 10 * time.Second,
	}
	res, err := c.Get("http://instance" + path)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}

func testStartServeStop(t *testing.T, e *env) {
	in := e.start(t, e.spec("", "GREETING=suite"))
	if in.ID() == "" || in.Spec().Release != "r1" {
		t.Fatalf("instance %q of release %q", in.ID(), in.Spec().Release)
	}
	st := waitReady(t, in)
	if !in.Ready() || st.Restarts != 0 || st.Started.IsZero() || st.ReadySince.IsZero() {
		t.Errorf("ready status %+v, Ready() %v", st, in.Ready())
	}
	if code, body := get(t, in, "/"); code != 200 || body != "hello from suite\n" {
		t.Errorf("GET /: %d %q", code, body)
	}
	if !containsInstance(e.rt.Instances(), in) {
		t.Error("Instances does not list the running instance")
	}
	e.obs.waitLine(t, func(l apps.Line) bool {
		return l.Instance == in.ID() && l.Stream == apogee.StreamStdout && strings.HasPrefix(l.Text, "listening on ")
	})
	u, err := in.Usage()
	if err != nil || u.MemoryBytes < 1<<20 {
		t.Errorf("usage %+v, %v: a Node app uses more than 1 MiB", u, err)
	}

	if err := in.Stop(context.Background(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if st := in.Status(); st.State != apps.StateStopped || in.Ready() {
		t.Errorf("after Stop: %+v", st)
	}
	// It left on SIGTERM, by itself.
	e.obs.waitLine(t, func(l apogee.LogLine) bool { return l.Instance == in.ID() && l.Text == "SIGTERM: closing" })
	if e.obs.hasLine(func(l apogee.LogLine) bool { return strings.Contains(l.Text, "did not exit within") }) {
		t.Error("a good app was killed after the grace period")
	}
	if _, _, err := tryGet(in, "/"); err == nil {
		t.Error("the stopped instance still answers")
	}
	if containsInstance(e.rt.Instances(), in) {
		t.Error("Instances lists the stopped instance")
	}
	// The observer saw the life in order.
	states := e.obs.states(in.ID())
	want := []apps.State{apps.StateStarting, apps.StateReady, apps.StateStopping, apps.StateStopped}
	if fmt.Sprint(states) != fmt.Sprint(want) {
		t.Errorf("states %v, want %v", states, want)
	}
	// Stop again waits again and is fine.
	if err := in.Stop(context.Background(), time.Second); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func containsInstance(list []apps.Instance, in apps.Instance) bool {
	for _, x := range list {
		if x.ID() == in.ID() {
			return true
		}
	}
	return false
}

func testEnvironment(t *testing.T, e *env) {
	t.Setenv("APOGEE_SERVER_SECRET", "must-not-leak")
	in := e.start(t, e.spec("", "FOO=bar baz", "PORT=1"))
	waitReady(t, in)
	for name, want := range map[string]string{
		"FOO":                  "bar baz",
		"NODE_ENV":             "production",
		"APOGEE_SERVER_SECRET": "(unset)",
	} {
		if _, got := get(t, in, "/env/"+name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	// PORT is the runtime's, not the spec's Env: the app listens on it
	// (it answered), and it is not the 1 the Env tried.
	if _, got := get(t, in, "/env/PORT"); got == "1" || got == "(unset)" {
		t.Errorf("PORT = %q", got)
	}
	if _, got := get(t, in, "/env/HOME"); got == "(unset)" || got == os.Getenv("HOME") {
		t.Errorf("HOME = %q: the instance needs a home of its own", got)
	}
}

func testBadSpec(t *testing.T, e *env) {
	good := e.spec("")
	for name, mod := range map[string]func(*apps.Spec){
		"no command":        func(s *apps.Spec) { s.Command = " " },
		"relative tree":     func(s *apps.Spec) { s.Dir = "release" },
		"missing tree":      func(s *apps.Spec) { s.Dir = "/nonexistent/tree" },
		"no project":        func(s *apps.Spec) { s.Project = "" },
		"bad env":           func(s *apps.Spec) { s.Env = []string{"NOEQUALS"} },
		"bad port":          func(s *apps.Spec) { s.Port = 70000 },
		"bad health path":   func(s *apps.Spec) { s.Health.Path = "healthz" },
		"negative memory":   func(s *apps.Spec) { s.Limits.MemoryBytes = -1 },
		"replace < unready": func(s *apps.Spec) { s.Health.Unready, s.Health.Replace = time.Minute, time.Second },
	} {
		s := good
		s.Env = append([]string(nil), good.Env...)
		mod(&s)
		_, err := e.rt.Start(context.Background(), s)
		if apogee.ErrorCode(err) != apogee.EINVALID {
			t.Errorf("%s: %v, want an EINVALID error", name, err)
		}
	}
	if n := len(e.rt.Instances()); n != 0 {
		t.Errorf("bad specs started %d instances", n)
	}
}

func testExitsAtOnce(t *testing.T, e *env) {
	in := e.start(t, e.spec("exit"))
	st := waitCrash(t, in, 1)
	if st.LastExit == nil || st.LastExit.Code != 1 || st.Reason != "exited with code 1" || in.Ready() {
		t.Fatalf("after the first crash: %+v", st)
	}
	// Restarted at once, then after a backoff, with the count going up.
	st = waitCrash(t, in, 3)
	if st.Restarts < 2 {
		t.Errorf("after three crashes: %+v", st)
	}
	e.obs.waitLine(t, func(l apogee.LogLine) bool { return l.Stream == e.stderr() && l.Text == "exiting at once" })
	e.obs.waitLine(t, func(l apogee.LogLine) bool {
		return l.Stream == apogee.StreamSystem && strings.HasPrefix(l.Text, "crashed: exited with code 1; restarting")
	})
	if !e.obs.sawState(in.ID(), apps.StateCrashed, "exited with code 1") {
		t.Error("the observer did not hear of the crash with its reason")
	}
}

func testCommandNotFound(t *testing.T, e *env) {
	s := e.spec("")
	s.Command = "no-such-command --port $PORT"
	in := e.start(t, s)
	st := waitCrash(t, in, 1)
	if st.LastExit == nil || st.LastExit.Code != 127 || !strings.Contains(st.Reason, "not found") {
		t.Errorf("status %+v", st)
	}
}

func testNeverListens(t *testing.T, e *env) {
	s := e.spec("never")
	s.Health.BootTimeout = e.boot / 2
	in := e.start(t, s)
	st := waitCrash(t, in, 1)
	if !strings.Contains(st.Reason, "did not listen on PORT") || !strings.Contains(st.Reason, "boot timeout") {
		t.Errorf("reason %q", st.Reason)
	}
}

func testWrongPort(t *testing.T, e *env) {
	s := e.spec("wrongport")
	s.Health.BootTimeout = e.boot + 500*time.Millisecond
	in := e.start(t, s)
	e.obs.waitLine(t, func(l apogee.LogLine) bool { return strings.HasPrefix(l.Text, "listening on ") })
	st := waitCrash(t, in, 1)
	if !strings.Contains(st.Reason, "did not listen on PORT") {
		t.Errorf("reason %q", st.Reason)
	}
}

func testHealth500(t *testing.T, e *env) {
	s := e.spec("health500")
	s.Health.BootTimeout = e.boot + 500*time.Millisecond
	in := e.start(t, s)
	st := waitCrash(t, in, 1)
	if !strings.Contains(st.Reason, "not ready") || !strings.Contains(st.Reason, "GET / answered 500") {
		t.Errorf("reason %q", st.Reason)
	}
	if e.obs.sawState(in.ID(), apps.StateReady, "") {
		t.Error("an app answering 500 was ready")
	}
}

func testHoldsConnections(t *testing.T, e *env) {
	s := e.spec("hang")
	s.Health.BootTimeout = e.boot + 500*time.Millisecond
	s.Health.Timeout = 100 * time.Millisecond
	in := e.start(t, s)
	st := waitCrash(t, in, 1)
	if !strings.Contains(st.Reason, fmt.Sprintf("GET / did not answer within %s", e.checkTime(100*time.Millisecond))) {
		t.Errorf("reason %q", st.Reason)
	}
}

func testIgnoresSIGTERM(t *testing.T, e *env) {
	in := e.start(t, e.spec("ignoreterm"))
	waitReady(t, in)
	// The grace is long enough for the app's signal handler to run and
	// say so on a loaded machine; after it, the whole instance is killed.
	if err := in.Stop(context.Background(), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	e.obs.waitLine(t, func(l apogee.LogLine) bool { return l.Text == "SIGTERM ignored" })
	e.obs.waitLine(t, func(l apogee.LogLine) bool {
		return l.Stream == apogee.StreamSystem && strings.HasPrefix(l.Text, "did not exit within 2s of SIGTERM")
	})
	if _, _, err := tryGet(in, "/"); err == nil {
		t.Error("the instance still answers after Stop")
	}
}

func testFloodsStdout(t *testing.T, e *env) {
	// The app's own event loop is busy writing: give its checks the
	// default timeout, not the suite's short one.
	s := e.spec("flood")
	s.Health.Timeout = apps.DefaultCheckTimeout
	s.Health.BootTimeout = 5*time.Second + 4*e.boot
	in := e.start(t, s)
	waitReady(t, in)
	e.obs.waitLine(t, func(l apogee.LogLine) bool {
		return l.Stream == apogee.StreamSystem && strings.Contains(l.Text, "lines") && strings.Contains(l.Text, "dropped")
	})
	// Still serving while it floods.
	if code, _ := get(t, in, "/"); code != 200 {
		t.Errorf("GET / while flooding: %d", code)
	}
}

func testKilledProcessIsReplaced(t *testing.T, e *env) {
	a := e.start(t, e.spec(""))
	b := e.start(t, e.spec(""))
	waitReady(t, a)
	waitReady(t, b)
	tryGet(a, "/crash") // kill -9 of itself
	st := waitFor(t, a, "was replaced", func(s apps.Status) bool { return s.State == apps.StateReady && s.Restarts == 1 })
	if st.LastExit == nil || st.LastExit.Signal != 9 || !strings.Contains(st.LastExit.Reason, "signal 9") {
		t.Errorf("last exit %+v", st.LastExit)
	}
	if code, _ := get(t, a, "/"); code != 200 {
		t.Errorf("the replacement answers %d", code)
	}
	// The other instance never noticed.
	if s := b.Status(); s.Restarts != 0 || s.State != apps.StateReady {
		t.Errorf("the other instance: %+v", s)
	}
}

func testLiveness(t *testing.T, e *env) {
	in := e.start(t, e.spec(""))
	waitReady(t, in)
	get(t, in, "/sick")
	// Out of rotation after Unready, then replaced after Replace; the new
	// process is healthy again.
	st := waitFor(t, in, "became unhealthy", func(s apps.Status) bool { return s.State == apps.StateUnhealthy })
	if in.Ready() || !strings.Contains(st.Reason, "GET / answered 500") {
		t.Errorf("unhealthy: %+v, Ready() %v", st, in.Ready())
	}
	st = waitFor(t, in, "was replaced and ready", func(s apps.Status) bool { return s.State == apps.StateReady && s.Restarts == 1 })
	if st.LastExit == nil || !strings.Contains(st.LastExit.Reason, "failed its health check") {
		t.Errorf("after the replacement: %+v", st)
	}
	// Replaced with SIGTERM first: the app closed by itself.
	e.obs.waitLine(t, func(l apogee.LogLine) bool { return l.Text == "SIGTERM: closing" })
}

func testCloseStopsAll(t *testing.T, e *env) {
	var ins []apps.Instance
	for range 3 {
		ins = append(ins, e.start(t, e.spec("")))
	}
	// The crashing instance is of another release: a runtime may run a
	// release's instances from one definition (Kubernetes: a Deployment
	// and a Secret per release), as apps.Manager starts them.
	bad := e.spec("exit")
	bad.Release = "r2"
	crashing := e.start(t, bad)
	for _, in := range ins {
		waitReady(t, in)
	}
	waitCrash(t, crashing, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.rt.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, in := range append(ins, crashing) {
		if st := in.Status(); st.State != apps.StateStopped {
			t.Errorf("%s after Close: %s", in.ID(), st.State)
		}
		if _, _, err := tryGet(in, "/"); err == nil {
			t.Errorf("%s answers after Close", in.ID())
		}
	}
	if _, err := e.rt.Start(context.Background(), e.spec("")); err == nil {
		t.Error("Start after Close worked")
	}
}

func testOutOfMemory(t *testing.T, e *env) {
	s := e.spec("oom")
	s.Limits.MemoryBytes = 128 << 20
	s.Health.BootTimeout = 30 * time.Second
	in := e.start(t, s)
	st := waitCrash(t, in, 1)
	if st.LastExit == nil || !st.LastExit.OOM || !strings.Contains(st.Reason, "out of memory (limit 128 MiB)") {
		t.Errorf("status %+v", st)
	}
}

func testForkBomb(t *testing.T, e *env) {
	s := e.spec("forkbomb")
	s.Limits.Pids = 64
	in := e.start(t, s)
	// Either the app's spawns fail at the limit and it keeps serving
	// (bwrap), or the instance dies of it and says so (gVisor, whose own
	// threads count against the limit); the host is untouched either way.
	l := e.obs.WaitLine(t, func(l apps.Line) bool {
		return strings.Contains(l.Text, "EAGAIN") || strings.Contains(l.Text, "limit of 64 processes")
	})
	if strings.Contains(l.Text, "EAGAIN") {
		waitReady(t, in)
		if code, _ := get(t, in, "/"); code != 200 {
			t.Errorf("GET / during the fork bomb: %d", code)
		}
		if u, err := in.Usage(); err != nil || u.Pids > 64 {
			t.Errorf("usage %+v, %v: over the limit of 64", u, err)
		}
		return
	}
	st := waitCrash(t, in, 1)
	if !strings.Contains(st.Reason, "limit of 64 processes") {
		t.Errorf("status %+v", st)
	}
}

func testIsolation(t *testing.T, e *env) {
	// A service on the host's loopback, which no instance may reach.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	a, b := e.start(t, e.spec("")), e.start(t, e.spec(""))
	waitReady(t, a)
	waitReady(t, b)
	if _, body := get(t, a, "/connect/127.0.0.1/"+port); !strings.HasPrefix(body, "refused") {
		t.Errorf("an instance reached the host's loopback: %s", body)
	}
	// Both listen on the same PORT, each in its own network.
	_, pa := get(t, a, "/env/PORT")
	_, pb := get(t, b, "/env/PORT")
	if pa != pb {
		t.Errorf("PORT %s and %s: instances should share one port number", pa, pb)
	}
	// The release tree is read-only; the data folder (HOME) and /tmp are
	// not.
	if _, body := get(t, a, "/write/app.js"); !strings.HasPrefix(body, "refused") {
		t.Errorf("writing the release tree: %s", body)
	}
	if _, body := get(t, a, "/write/"+url.QueryEscape("/tmp/x")); body != "written" {
		t.Errorf("writing /tmp: %s", body)
	}
	_, home := get(t, a, "/env/HOME")
	if _, body := get(t, a, "/write/"+url.QueryEscape(home+"/x")); body != "written" {
		t.Errorf("writing the data folder %s: %s", home, body)
	}
}

// Recorder is an apps.Observer that keeps what it hears, for tests.
type Recorder struct {
	mu       sync.Mutex
	statuses []apps.Status
	lines    []apps.Line
	changed  chan struct{}
}

var _ apps.Observer = (*Recorder)(nil)

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder { return &Recorder{changed: make(chan struct{})} }

func (r *Recorder) InstanceChanged(s apps.Status) {
	r.mu.Lock()
	r.statuses = append(r.statuses, s)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

func (r *Recorder) InstanceOutput(l apps.Line) {
	r.mu.Lock()
	r.lines = append(r.lines, l)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// Lines returns the lines heard so far.
func (r *Recorder) Lines() []apps.Line {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]apps.Line(nil), r.lines...)
}

func (r *Recorder) hasLine(match func(apogee.LogLine) bool) bool {
	for _, l := range r.Lines() {
		if match(l.LogLine) {
			return true
		}
	}
	return false
}

// WaitLine waits until a line matching match was heard, or fails the test
// after a minute.
func (r *Recorder) WaitLine(t *testing.T, match func(apps.Line) bool) apps.Line {
	t.Helper()
	deadline := time.NewTimer(time.Minute)
	defer deadline.Stop()
	seen := 0
	for {
		r.mu.Lock()
		ch := r.changed
		lines := r.lines[seen:]
		seen = len(r.lines)
		r.mu.Unlock()
		for _, l := range lines {
			if match(l) {
				return l
			}
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("no such line within a minute; heard:\n%s", dump(r.Lines()))
		}
	}
}

func (r *Recorder) waitLine(t *testing.T, match any) {
	t.Helper()
	switch m := match.(type) {
	case func(apps.Line) bool:
		r.WaitLine(t, m)
	case func(apogee.LogLine) bool:
		r.WaitLine(t, func(l apps.Line) bool { return m(l.LogLine) })
	default:
		panic("waitLine: bad matcher")
	}
}

func (r *Recorder) states(id string) []apps.State {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []apps.State
	for _, s := range r.statuses {
		if s.ID == id && (len(out) == 0 || out[len(out)-1] != s.State) {
			out = append(out, s.State)
		}
	}
	return out
}

func (r *Recorder) sawState(id string, state apps.State, reason string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.statuses {
		if s.ID == id && s.State == state && strings.Contains(s.Reason, reason) {
			return true
		}
	}
	return false
}

func dump(lines []apps.Line) string {
	var b strings.Builder
	w := bufio.NewWriter(&b)
	start := max(0, len(lines)-50)
	for _, l := range lines[start:] {
		fmt.Fprintf(w, "  %s %s %s\n", l.Instance, l.Stream, l.Text)
	}
	w.Flush()
	return b.String()
}
