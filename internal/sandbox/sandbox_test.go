package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// traits are what the suite may expect of a kind.
type traits struct {
	// isolating: the kind claims isolation ("none" does not and skips only
	// those checks, by name).
	isolating bool
	// hostProcs: the program's processes are host processes (not gVisor
	// tasks), so pids.max counts them one for one and the test can find
	// them by command line.
	hostProcs bool
}

// testSandbox is the one suite every sandbox kind must pass (like
// nomad's driver harness). Every check gets its own Sandbox with its own
// cgroup parent, so they run in parallel and each can count its own
// processes.
func testSandbox(t *testing.T, kind string, tr traits) {
	checks := []struct {
		name      string
		isolation bool
		f         func(*testing.T, Sandbox)
	}{
		{"EchoAndExitCode", false, testEcho},
		{"EnvIsExactlySpecEnv", false, testEnv},
		{"MemoryLimit", false, testMemory},
		{"TimeLimit", false, testTime},
		{"PidsLimit", false, func(t *testing.T, sb Sandbox) { testPids(t, sb, tr) }},
		{"CancelKillsEverything", false, func(t *testing.T, sb Sandbox) { testCancel(t, sb, tr) }},
		{"Network", false, func(t *testing.T, sb Sandbox) { testNetwork(t, sb, tr.isolating) }},
		{"CannotReadHostSecrets", true, testSecrets},
		{"CannotWriteOutsideWorkspace", true, testWrites},
	}
	for _, c := range checks {
		if c.isolation && !tr.isolating {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.f(t, newTestSandbox(t, kind))
		})
	}
}

// serverSecret is in the test process's environment, as a server's
// secrets would be; no sandbox may show it.
const serverSecret = "TOPSECRET-server-env-4f2a9c"

func TestMain(m *testing.M) {
	if spec := os.Getenv(orphanEnv); spec != "" {
		os.Exit(orphanHelper(spec))
	}
	if os.Getenv(echoEnv) != "" {
		os.Exit(echoServer())
	}
	if kind := os.Getenv(egressEnv); kind != "" {
		os.Exit(egressHelper(kind))
	}
	os.Setenv("APOGEE_TEST_SERVER_SECRET", serverSecret)
	os.Exit(m.Run())
}

// newTestSandbox makes a sandbox whose runs' cgroups sit under a parent of
// the test's own, and checks at the end that every run removed its cgroup.
func newTestSandbox(t *testing.T, kind string) Sandbox {
	t.Helper()
	parent := "apogee-test/" + strings.NewReplacer("/", "-").Replace(t.Name())
	sb, err := New(kind, WithCgroupParent(parent))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		g, err := detectCgroups("", parent)
		if err != nil {
			t.Error(err)
			return
		}
		for c, dir := range g.parents {
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if e.IsDir() {
					t.Errorf("cgroup %s left behind: %s", c, filepath.Join(dir, e.Name()))
				}
			}
			os.Remove(dir)
			os.Remove(filepath.Dir(dir)) // apogee-test, once empty
		}
	})
	return sb
}

// cgroupProcs counts the processes in the cgroups of sb's runs.
func cgroupProcs(t *testing.T, sb Sandbox) int {
	g := sb.(interface{ cgroups() *cgroups }).cgroups()
	n := 0
	m, _ := filepath.Glob(filepath.Join(g.parents["pids"], "*", "cgroup.procs"))
	for _, f := range m {
		b, _ := os.ReadFile(f)
		n += len(bytes.Fields(b))
	}
	return n
}

// baseEnv is what a build would get: a PATH and a HOME it may write.
var baseEnv = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp"}

type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// run runs a shell script in a fresh workspace.
func run(t *testing.T, sb Sandbox, s Spec) (Result, string, string) {
	t.Helper()
	if s.Dir == "" {
		s.Dir = t.TempDir()
	}
	if s.Env == nil {
		s.Env = baseEnv
	}
	var stdout, stderr output
	s.Stdout, s.Stderr = &stdout, &stderr
	if s.Limits.Wall == 0 {
		s.Limits.Wall = 30 * time.Second
	}
	res, err := sb.Run(context.Background(), s)
	if err != nil {
		t.Fatalf("Run: %v (stderr: %s)", err, stderr.String())
	}
	return res, stdout.String(), stderr.String()
}

func sh(script string) []string { return []string{"sh", "-c", script} }

func testEcho(t *testing.T, sb Sandbox) {
	res, out, errOut := run(t, sb, Spec{Argv: sh(`echo hello; echo oops >&2; exit 3`)})
	if out != "hello\n" || !strings.Contains(errOut, "oops\n") {
		t.Errorf("stdout %q, stderr %q", out, errOut)
	}
	if res.ExitCode != 3 || res.Reason != ReasonExited {
		t.Errorf("result %+v, want exit 3, %q", res, ReasonExited)
	}
	res, _, errOut = run(t, sb, Spec{Argv: []string{"no-such-program-here"}})
	if res.ExitCode == 0 || !strings.Contains(errOut, "no-such-program-here") {
		t.Errorf("missing program: %+v, stderr %q; want a failure naming it", res, errOut)
	}
}

func testEnv(t *testing.T, sb Sandbox) {
	env := append([]string{"BUILD_VAR=a b=c"}, baseEnv...)
	_, out, _ := run(t, sb, Spec{Argv: []string{"env"}, Env: env})
	got := strings.Split(strings.TrimSpace(out), "\n")
	if strings.Join(sorted(got), "\n") != strings.Join(sorted(env), "\n") {
		t.Errorf("environment inside:\n%s\nwant exactly:\n%s", out, strings.Join(env, "\n"))
	}
	if strings.Contains(out, serverSecret) {
		t.Errorf("the server's environment leaked in")
	}
}

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

func testMemory(t *testing.T, sb Sandbox) {
	const limit = 128 << 20
	res, out, errOut := run(t, sb, Spec{
		Argv:   []string{"node", "-e", `const a = []; for (let i = 0; i < 4096; i++) a.push(Buffer.alloc(1 << 20, 1)); console.log("survived")`},
		Limits: Limits{MemoryBytes: limit},
	})
	if res.Reason != "killed: memory limit 128 MiB" || strings.Contains(out, "survived") {
		t.Errorf("result %+v, stdout %q, stderr %q; want killed at the memory limit", res, out, errOut)
	}
	if res.PeakMemory > 0 && res.PeakMemory > limit+limit/8 {
		t.Errorf("peak memory %d over the limit %d", res.PeakMemory, limit)
	}
	// Under the limit, the same program lives.
	res, out, _ = run(t, sb, Spec{
		Argv:   []string{"node", "-e", `const a = []; for (let i = 0; i < 16; i++) a.push(Buffer.alloc(1 << 20, 1)); console.log("survived")`},
		Limits: Limits{MemoryBytes: limit},
	})
	if res.Reason != ReasonExited || out != "survived\n" {
		t.Errorf("16 MiB under a 128 MiB limit: %+v %q", res, out)
	}
}

func testTime(t *testing.T, sb Sandbox) {
	start := time.Now()
	res, _, _ := run(t, sb, Spec{Argv: []string{"sleep", "60"}, Limits: Limits{Wall: time.Second}})
	if res.Reason != "killed: time limit 1s" {
		t.Errorf("reason %q, want killed: time limit 1s", res.Reason)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
}

func testPids(t *testing.T, sb Sandbox, tr traits) {
	start := time.Now()
	res, out, errOut := run(t, sb, Spec{
		// The fork bomb cannot grow past 32; what it started is killed
		// when the script ends.
		Argv:   sh(`i=0; while [ $i -lt 300 ]; do sleep 20 & i=$((i+1)); done; echo "spawned"`),
		Limits: Limits{Pids: 32, Wall: 20 * time.Second, MemoryBytes: 512 << 20},
	})
	if d := time.Since(start); d > 25*time.Second {
		t.Errorf("the fork bomb ran %v", d)
	}
	if !tr.hostProcs {
		// gVisor's tasks are not host processes: what bounds them is the
		// memory and time limits; the run must still end.
		t.Logf("under gVisor: %+v, stdout %q, stderr %.200q", res, out, errOut)
		if res.ExitCode != 0 && res.Reason != "exited: process limit 32 reached" {
			t.Errorf("reason %q", res.Reason)
		}
		return
	}
	if !strings.Contains(strings.ToLower(errOut), "fork") && !strings.Contains(errOut, "Resource temporarily unavailable") {
		t.Errorf("no fork failed under pids.max 32: %+v, stdout %q, stderr %q", res, out, errOut)
	}
}

// testCancel cancels a run with processes in the background and checks
// none survives: by a marker in their command lines.
func testCancel(t *testing.T, sb Sandbox, tr traits) {
	marker := fmt.Sprintf("%d.%d", 300+os.Getpid()%100, time.Now().UnixNano()%1000000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan struct{})
	var once sync.Once
	w := writerFunc(func(p []byte) (int, error) {
		if bytes.Contains(p, []byte("started")) {
			once.Do(func() { close(started) })
		}
		return len(p), nil
	})
	type ret struct {
		res Result
		err error
	}
	done := make(chan ret, 1)
	go func() {
		res, err := sb.Run(ctx, Spec{
			Argv:   sh(`sleep ` + marker + ` & (sleep ` + marker + ` &) ; setsid sleep ` + marker + ` & echo started; wait`),
			Dir:    t.TempDir(),
			Env:    baseEnv,
			Stdout: w,
			Limits: Limits{Wall: 30 * time.Second},
		})
		done <- ret{res, err}
	}()
	select {
	case <-started:
	case r := <-done:
		t.Fatalf("ended before cancel: %+v %v", r.res, r.err)
	case <-time.After(20 * time.Second):
		t.Fatal("never started")
	}
	if tr.hostProcs {
		// "started" may come before the background shells exec sleep.
		for deadline := time.Now().Add(5 * time.Second); countProcs(marker) < 3 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		if n := countProcs(marker); n != 3 {
			t.Errorf("%d sleeps running, want 3", n)
		}
	}
	if n := cgroupProcs(t, sb); n == 0 {
		t.Errorf("no process in the runs' cgroups while running")
	}
	cancel()
	var r ret
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if r.err != nil || r.res.Reason != ReasonCanceled {
		t.Errorf("after cancel: %+v %v, want reason canceled", r.res, r.err)
	}
	if n := countProcs(marker); n != 0 {
		t.Errorf("%d processes left behind after cancel", n)
	}
	if n := cgroupProcs(t, sb); n != 0 {
		t.Errorf("%d processes left in the runs' cgroups after cancel", n)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// countProcs counts host processes whose command line holds marker.
func countProcs(marker string) int {
	n := 0
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(marker)) && bytes.HasPrefix(b, []byte("sleep\x00")) {
			n++
		}
	}
	return n
}

// testNetwork checks a program with Network reaches the internet (npm's
// registry, through the machine's npm configuration) but, in an isolating
// kind, not the host's loopback, neither as 127.0.0.1 nor through the
// NAT's gateway (10.0.2.2); under "none" the same script does reach it,
// so the check can fail.
func testNetwork(t *testing.T, sb Sandbox, isolating bool) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "hello from the host\n")
			c.Close()
		}
	})
	port := ln.Addr().(*net.TCPAddr).Port
	script := fmt.Sprintf(`
const net = require("net");
let left = 2;
for (const host of ["127.0.0.1", "10.0.2.2"]) {
	const c = net.connect({port: %d, host, timeout: 5000});
	c.on("data", d => { console.log("reached " + host + ": " + String(d).trim()); c.destroy(); if (!--left) process.exit(0) });
	c.on("error", e => { console.log("refused " + host + ": " + e.code); if (!--left) process.exit(0) });
	c.on("timeout", () => { console.log("timeout " + host); c.destroy(); if (!--left) process.exit(0) });
}`, port)
	for _, network := range []bool{true, false} {
		res, out, errOut := run(t, sb, Spec{Argv: []string{"node", "-e", script}, Network: network})
		if res.ExitCode != 0 {
			t.Errorf("network %v: %+v %q %q", network, res, out, errOut)
		}
		reached := strings.Contains(out, "reached")
		switch {
		case isolating && reached:
			t.Errorf("network %v: the host's loopback answered: %q", network, out)
		case !isolating && network && !strings.Contains(out, "reached 127.0.0.1: hello from the host"):
			t.Errorf("unisolated: the host's loopback did not answer: %q", out)
		}
	}
	// The internet, through the machine's npm configuration.
	res, out, errOut := run(t, sb, Spec{Argv: []string{"npm", "view", "is-number@7.0.0", "version"}, Network: true, Limits: Limits{Wall: time.Minute}})
	if res.ExitCode != 0 || strings.TrimSpace(out) != "7.0.0" {
		t.Errorf("npm view with network: %+v %q %q", res, out, errOut)
	}
}

// testSecrets is the hostile build script: it looks for the data folder,
// /root, /var/lib, the host's PID 1 and the server's environment.
func testSecrets(t *testing.T, sb Sandbox) {
	const secret = "TOPSECRET-data-4f2a9c"
	data := t.TempDir() // a fake data folder, outside the workspace
	if err := os.WriteFile(filepath.Join(data, "apogee.db"), []byte(secret), 0o644); err != nil {
		t.Fatal(err)
	}
	targets := []string{filepath.Join(data, "apogee.db")}
	// Real files under /root and /var/lib, world-readable on the host.
	for _, dir := range []string{"/root", "/var/lib"} {
		d, err := os.MkdirTemp(dir, "apogee-sandbox-test-")
		if err != nil {
			t.Logf("cannot create a file under %s (%v): checking it is absent only", dir, err)
			targets = append(targets, dir)
			continue
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		os.Chmod(d, 0o755)
		f := filepath.Join(d, "secret")
		if err := os.WriteFile(f, []byte(secret), 0o644); err != nil {
			t.Fatal(err)
		}
		targets = append(targets, f)
	}
	script := `
for f in "$@"; do
	if cat "$f" 2>/dev/null | grep -q TOPSECRET; then echo "LEAK $f"; fi
	if [ -e "$f" ]; then echo "VISIBLE $f"; fi
done
for f in /proc/*/environ /proc/1/environ /proc/self/environ; do
	if tr '\0' '\n' < "$f" 2>/dev/null | grep -q TOPSECRET; then echo "LEAK $f"; fi
done
for d in /root /home /var/lib /srv /work /run/secrets; do
	ls -A "$d" 2>/dev/null | grep -q . && echo "VISIBLE $d"
done
echo "pid1: $(tr '\0' ' ' < /proc/1/cmdline)"
echo "uid: $(id -u) gid: $(id -g)"
echo done
`
	res, out, errOut := run(t, sb, Spec{Argv: append([]string{"sh", "-c", script, "hostile"}, targets...)})
	if !strings.Contains(out, "done") {
		t.Fatalf("the script did not finish: %+v %q %q", res, out, errOut)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "LEAK") || strings.HasPrefix(line, "VISIBLE") {
			t.Error(line)
		}
	}
	host1, _ := os.ReadFile("/proc/1/cmdline")
	if h := strings.TrimSpace(strings.ReplaceAll(string(host1), "\x00", " ")); h != "" && strings.Contains(out, "pid1: "+h+"\n") {
		t.Errorf("the host's PID 1 is visible: %q", h)
	}
	if os.Geteuid() == 0 && !strings.Contains(out, "uid: 65534 gid: 65534") {
		t.Errorf("not running as nobody: %q", out)
	}
	if t.Failed() {
		t.Logf("inside: %s", out)
	}
}

func testWrites(t *testing.T, sb Sandbox) {
	ws := t.TempDir()
	mark := fmt.Sprintf("apogee-private-%d", time.Now().UnixNano())
	script := `
for f in /usr/x /usr/local/x /etc/x /x /bin/x /run/x /proc/x /dev/x; do
	if echo x > "$f" 2>/dev/null; then echo "WROTE $f"; fi
done
echo ok > /workspace/ok && echo ok > /tmp/` + mark + ` && echo ok > ./rel && echo wrote-allowed
`
	res, out, errOut := run(t, sb, Spec{Argv: sh(script), Dir: ws})
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "WROTE") {
			t.Error(line)
		}
	}
	if !strings.Contains(out, "wrote-allowed") {
		t.Errorf("could not write /workspace or /tmp: %+v %q %q", res, out, errOut)
	}
	if b, err := os.ReadFile(filepath.Join(ws, "ok")); err != nil || string(b) != "ok\n" {
		t.Errorf("workspace file on the host: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join("/tmp", mark)); err == nil {
		t.Errorf("/tmp is not private: %s appeared in the host's /tmp", mark)
	}
}

func requireBwrap(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("bwrap"); err != nil {
		t.Fatal("bwrap not found: install bubblewrap (apt-get install bubblewrap)")
	}
}

func TestBwrap(t *testing.T) {
	t.Parallel()
	requireBwrap(t)
	testSandbox(t, "bwrap", traits{isolating: true, hostProcs: true})
}

func TestBwrapInstances(t *testing.T) {
	t.Parallel()
	requireBwrap(t)
	testInstances(t, "bwrap", traits{isolating: true, hostProcs: true})
}

func TestNoneInstances(t *testing.T) {
	t.Parallel()
	testInstances(t, "none", traits{hostProcs: true})
}

func TestRunscInstances(t *testing.T) {
	t.Parallel()
	requireRunsc(t)
	testInstances(t, "runsc", traits{isolating: true})
}

// TestRunsc runs the suite under gVisor. scripts/test.sh installs runsc
// and sets APOGEE_TEST_RUNSC=1, so there a missing runsc fails; a plain
// `go test` elsewhere skips it.
func TestRunsc(t *testing.T) {
	t.Parallel()
	requireRunsc(t)
	testSandbox(t, "runsc", traits{isolating: true})
}

func requireRunsc(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("runsc"); err != nil {
		if os.Getenv("APOGEE_TEST_RUNSC") == "1" {
			t.Fatal("runsc not found: install gVisor (apt-get install runsc)")
		}
		t.Skip("runsc not installed (apt-get install runsc); APOGEE_TEST_RUNSC=1 makes this a failure")
	}
}

func TestNone(t *testing.T) {
	t.Parallel()
	testSandbox(t, "none", traits{hostProcs: true})
	t.Run("Warns", func(t *testing.T) {
		t.Parallel()
		_, _, errOut := run(t, newTestSandbox(t, "none"), Spec{Argv: []string{"true"}})
		if !strings.Contains(errOut, NoneWarning) {
			t.Errorf("no warning on stderr: %q", errOut)
		}
	})
}

func bgContext() context.Context { return context.Background() }
