package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// testInstances is the suite of Start that every kind must pass.
func testInstances(t *testing.T, kind string, tr traits) {
	checks := []struct {
		name      string
		isolation bool
		f         func(*testing.T, Sandbox)
	}{
		{"NodeServer", false, func(t *testing.T, sb Sandbox) { testNodeServer(t, sb, tr) }},
		{"SIGTERM", false, testSIGTERM},
		{"Kill", false, func(t *testing.T, sb Sandbox) { testKillInstance(t, sb, tr) }},
		{"OOM", false, testInstanceOOM},
		{"StatsFreezeThaw", false, testFreeze},
		{"NotFound", false, func(t *testing.T, sb Sandbox) { testInstanceNotFound(t, sb, tr) }},
		{"NameTaken", false, testNameTaken},
		{"Orphans", false, func(t *testing.T, sb Sandbox) { testOrphans(t, kind, tr) }},
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

// serverJS is an app: an HTTP server on $PORT that says who it is, tries
// to write where it is told, and ends on SIGTERM with a last word.
const serverJS = `
const http = require("http"), fs = require("fs");
const server = http.createServer((req, res) => {
	const u = new URL(req.url, "http://x");
	if (u.pathname === "/write") {
		try { fs.writeFileSync(u.searchParams.get("path"), "x"); res.end("wrote"); }
		catch (e) { res.end("refused " + e.code); }
		return;
	}
	res.end("hello from " + process.env.NAME);
});
process.on("SIGTERM", () => { console.log("SIGTERM received, bye"); process.exit(0); });
server.listen(+process.env.PORT, "127.0.0.1", () => console.log("listening on " + process.env.PORT));
`

// lineWaiter is a Writer that closes a channel when a line holds want.
type lineWaiter struct {
	output
	want string
	once sync.Once
	seen chan struct{}
}

func newLineWaiter(want string) *lineWaiter {
	return &lineWaiter{want: want, seen: make(chan struct{})}
}

func (w *lineWaiter) Write(p []byte) (int, error) {
	n, err := w.output.Write(p)
	if strings.Contains(w.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

// startApp starts serverJS from a read-only release folder with a
// writable data folder, and waits until it listens.
func startApp(t *testing.T, sb Sandbox, name string, lim Limits) (Instance, *lineWaiter, *output, string) {
	t.Helper()
	release := t.TempDir()
	os.Chmod(release, 0o755)
	if err := os.WriteFile(filepath.Join(release, "server.js"), []byte(serverJS), 0o644); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	out, errOut := newLineWaiter("listening on 8080"), &output{}
	if lim.MemoryBytes == 0 {
		lim.MemoryBytes = 256 << 20
	}
	in, err := sb.Start(t.Context(), Spec{
		Argv:     []string{"node", "server.js"},
		Dir:      release,
		ReadOnly: true,
		Env:      append([]string{"PORT=8080", "NAME=" + name}, baseEnv...),
		Mounts:   []Mount{{Source: data, Target: "/data", Writable: true}},
		Stdout:   out,
		Stderr:   errOut,
		Limits:   lim,
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := in.Kill(); err != nil {
			t.Errorf("Kill: %v", err)
		}
	})
	select {
	case <-out.seen:
	case <-in.Done():
		t.Fatalf("ended before listening: %+v, stdout %q, stderr %q", in.Wait(), out.String(), errOut.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("not listening after 30s: stdout %q, stderr %q", out.String(), errOut.String())
	}
	return in, out, errOut, data
}

// client talks HTTP to one instance through DialContext.
func client(in Instance) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return in.DialContext(ctx, "tcp", "127.0.0.1:8080")
		},
	}, Timeout: 20 * time.Second}
}

func get(t *testing.T, c *http.Client, path string) string {
	t.Helper()
	res, err := c.Get("http://app" + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

func testNodeServer(t *testing.T, sb Sandbox, tr traits) {
	a, _, _, data := startApp(t, sb, "a", Limits{})
	b, _, _, _ := startApp(t, sb, "b", Limits{})
	// Both listen on 8080, each in its own namespace.
	if got := get(t, client(a), "/"); got != "hello from a" {
		t.Errorf("a answered %q", got)
	}
	if got := get(t, client(b), "/"); got != "hello from b" {
		t.Errorf("b answered %q", got)
	}
	// Not on the host's loopback.
	if c, err := net.Dial("tcp", "127.0.0.1:8080"); err == nil {
		c.Close()
		t.Errorf("the instance's port answers on the host's loopback")
	}
	if a.ID() == b.ID() || !strings.HasPrefix(a.ID(), InstancePrefix) {
		t.Errorf("IDs %q %q", a.ID(), b.ID())
	}
	if _, err := a.DialContext(t.Context(), "tcp", "localhost:8080"); apogee.ErrorCode(err) != apogee.EINVALID {
		t.Errorf("dialing a name: %v, want EINVALID", err)
	}
	if !tr.isolating {
		return
	}
	if got := get(t, client(a), "/write?path=/data/f"); got != "wrote" {
		t.Errorf("writing the data folder: %q", got)
	}
	if _, err := os.Stat(filepath.Join(data, "f")); err != nil {
		t.Errorf("the data folder's file is not on the host: %v", err)
	}
	if got := get(t, client(a), "/write?path=/tmp/f"); got != "wrote" {
		t.Errorf("writing /tmp: %q", got)
	}
	if got := get(t, client(a), "/write?path=/workspace/f"); !strings.HasPrefix(got, "refused") {
		t.Errorf("writing the read-only release: %q", got)
	}
}

func testSIGTERM(t *testing.T, sb Sandbox) {
	in, out, _, _ := startApp(t, sb, "a", Limits{})
	if err := in.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	res := in.Wait()
	if res.ExitCode != 0 || res.Reason != ReasonExited || !strings.Contains(out.String(), "SIGTERM received, bye") {
		t.Errorf("after SIGTERM: %+v, stdout %q", res, out.String())
	}
	if err := in.Signal(syscall.SIGTERM); !errors.Is(err, ErrEnded) {
		t.Errorf("signaling an ended instance: %v", err)
	}
	if _, err := in.DialContext(t.Context(), "tcp", "127.0.0.1:8080"); !errors.Is(err, ErrEnded) {
		t.Errorf("dialing an ended instance: %v", err)
	}
}

func testKillInstance(t *testing.T, sb Sandbox, tr traits) {
	marker := fmt.Sprintf("%d.%d", 400+os.Getpid()%100, time.Now().UnixNano()%1000000)
	ws := t.TempDir()
	started := newLineWaiter("started")
	in, err := sb.Start(t.Context(), Spec{
		// SIGTERM is ignored, and children run in the background.
		Argv:   sh(`trap "" TERM; sleep ` + marker + ` & (sleep ` + marker + ` &); echo started; wait`),
		Dir:    ws,
		Env:    baseEnv,
		Stdout: started,
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-started.seen:
	case <-time.After(30 * time.Second):
		t.Fatal("never started")
	}
	if tr.hostProcs {
		for deadline := time.Now().Add(5 * time.Second); countProcs(marker) < 2 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		if n := countProcs(marker); n != 2 {
			t.Fatalf("%d sleeps, want 2", n)
		}
	}
	if err := in.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-in.Done():
	default:
		t.Fatal("Done not closed when Kill returned")
	}
	if res := in.Wait(); !res.Killed() {
		t.Errorf("after Kill: %+v", res)
	}
	if n := countProcs(marker); n != 0 {
		t.Errorf("%d processes left after Kill", n)
	}
	if n := cgroupProcs(t, sb); n != 0 {
		t.Errorf("%d processes left in cgroups", n)
	}
	if err := in.Kill(); err != nil {
		t.Errorf("a second Kill: %v", err)
	}
	if _, err := in.Stats(); !errors.Is(err, ErrEnded) {
		t.Errorf("Stats after Kill: %v", err)
	}
}

func testInstanceOOM(t *testing.T, sb Sandbox) {
	in, _, errOut, _ := startApp(t, sb, "a", Limits{MemoryBytes: 128 << 20})
	// The app grows on request until the kernel kills it.
	c, err := in.DialContext(t.Context(), "tcp", "127.0.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	res := oomApp(t, sb)
	if res.Reason != "killed: memory limit 128 MiB" {
		t.Errorf("result %+v, want killed at the memory limit (stderr %q)", res, errOut.String())
	}
}

// oomApp starts an app that allocates until killed and waits for its end.
func oomApp(t *testing.T, sb Sandbox) Result {
	in, err := sb.Start(t.Context(), Spec{
		Argv:   []string{"node", "-e", `const a = []; setInterval(() => { for (let i = 0; i < 16; i++) a.push(Buffer.alloc(1 << 20, 1)) }, 1)`},
		Dir:    t.TempDir(),
		Env:    baseEnv,
		Limits: Limits{MemoryBytes: 128 << 20},
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-in.Done():
	case <-time.After(60 * time.Second):
		in.Kill()
		t.Fatal("not killed within 60s")
	}
	return in.Wait()
}

func testFreeze(t *testing.T, sb Sandbox) {
	in, _, _, _ := startApp(t, sb, "a", Limits{CPUs: 1})
	c := client(in)
	get(t, c, "/")
	st, err := in.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.MemoryBytes < 1<<20 || st.CPU <= 0 || st.Pids < 1 || st.Frozen {
		t.Errorf("stats %+v", st)
	}
	if err := in.Freeze(); err != nil {
		t.Fatal(err)
	}
	if st, _ := in.Stats(); !st.Frozen {
		t.Errorf("not frozen: %+v", st)
	}
	// Frozen, the app does not answer; thawed, it answers the same
	// connection.
	conn, err := in.DialContext(t.Context(), "tcp", "127.0.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: app\r\n\r\n")
	conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	br := bufio.NewReader(conn)
	if _, err := br.ReadByte(); err == nil {
		t.Errorf("a frozen app answered")
	}
	if err := in.Thaw(); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("after thaw: %v", err)
	}
	res.Body.Close()
	if st, _ := in.Stats(); st.Frozen {
		t.Errorf("still frozen: %+v", st)
	}
	// Kill works on a frozen instance.
	if err := in.Freeze(); err != nil {
		t.Fatal(err)
	}
	if err := in.Kill(); err != nil {
		t.Fatal(err)
	}
}

func testInstanceNotFound(t *testing.T, sb Sandbox, tr traits) {
	var errOut output
	in, err := sb.Start(t.Context(), Spec{Argv: []string{"no-such-program-here"}, Dir: t.TempDir(), Env: baseEnv, Stderr: &errOut})
	if err != nil {
		t.Fatal(err)
	}
	res := in.Wait()
	want := 127
	if !tr.hostProcs {
		want = 128 // runsc's own code for it
	}
	if res.ExitCode != want || !strings.Contains(errOut.String(), "no-such-program-here") {
		t.Errorf("%+v, stderr %q; want exit %d naming the program", res, errOut.String(), want)
	}
}

func testNameTaken(t *testing.T, sb Sandbox) {
	s := Spec{Argv: []string{"sleep", "60"}, Dir: t.TempDir(), Env: baseEnv, Name: "web-1"}
	in, err := sb.Start(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Kill()
	if in.ID() != InstancePrefix+"web-1" {
		t.Errorf("ID %q", in.ID())
	}
	if _, err := sb.Start(t.Context(), s); apogee.ErrorCode(err) != apogee.ECONFLICT {
		t.Errorf("the same name again: %v, want ECONFLICT", err)
	}
	s.Name = "../x"
	if _, err := sb.Start(t.Context(), s); apogee.ErrorCode(err) != apogee.EINVALID {
		t.Errorf("name ../x: %v, want EINVALID", err)
	}
}

// The orphan helper is this test binary run again: it starts an instance
// that sleeps with a marker, prints its ID and waits to be killed -9.
const orphanEnv = "APOGEE_TEST_ORPHAN_HELPER"

func orphanHelper(spec string) int {
	kind, rest, _ := strings.Cut(spec, ",")
	parent, marker, _ := strings.Cut(rest, ",")
	sb, err := New(kind, WithCgroupParent(parent))
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	dir, _ := os.MkdirTemp("", "apogee-orphan-")
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	in, err := sb.Start(context.Background(), Spec{Argv: []string{"sleep", marker}, Dir: dir, Env: baseEnv, Stderr: os.Stderr})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("started", in.ID())
	fmt.Printf("ended: %+v\n", in.Wait())
	return 0
}

func testOrphans(t *testing.T, kind string, tr traits) {
	parent := "apogee-test/" + strings.NewReplacer("/", "-").Replace(t.Name()) + "-server"
	marker := fmt.Sprintf("%d.%d", 500+os.Getpid()%100, time.Now().UnixNano()%1000000)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), orphanEnv+"="+kind+","+parent+","+marker)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	id, ok := strings.CutPrefix(strings.TrimSpace(line), "started ")
	if !ok {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper: %q", line)
	}
	// The server dies; its instance lives on.
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	sb, err := New(kind, WithCgroupParent(parent))
	if err != nil {
		t.Fatal(err)
	}
	procs := filepath.Join(sb.(interface{ cgroups() *cgroups }).cgroups().parents["pids"], id, "cgroup.procs")
	if b, err := os.ReadFile(procs); err != nil || len(strings.Fields(string(b))) == 0 {
		t.Fatalf("the instance died with its server: %q %v", b, err)
	}
	if tr.hostProcs {
		// Start returns just before the exec.
		for deadline := time.Now().Add(5 * time.Second); countProcs(marker) < 1 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		if n := countProcs(marker); n != 1 {
			t.Fatalf("%d sleeps running after the server's death, want 1", n)
		}
	}
	killed, err := sb.KillOrphans(t.Context())
	if err != nil || len(killed) != 1 || killed[0] != id {
		t.Errorf("KillOrphans: %v %v, want [%s]", killed, err, id)
	}
	if n := countProcs(marker); n != 0 {
		t.Errorf("%d orphans left", n)
	}
	if _, err := os.Stat(filepath.Dir(procs)); err == nil {
		t.Errorf("the orphan's cgroup is still there")
	}
	if killed, err := sb.KillOrphans(t.Context()); err != nil || len(killed) != 0 {
		t.Errorf("KillOrphans again: %v %v", killed, err)
	}
	g := sb.(interface{ cgroups() *cgroups }).cgroups()
	for _, dir := range g.parents {
		os.Remove(dir)
	}
}
