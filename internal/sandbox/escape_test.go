package sandbox

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The sandbox-escape suite: a hostile build script (or program) tries
// each way out it can think of and prints ESCAPED when one works. Each
// attempt is first run without the protection ("none", or no limit) where
// that is safe, and must print ESCAPED there, so the test can fail; then
// it runs in the sandbox and must not. The egress attempts (the host's
// loopback services through the NAT, the cloud metadata address, private
// ranges, the machine's own addresses) are TestEgress*, which needs a
// network namespace of its own for its listeners.
type attempt struct {
	name string
	// script is run by sh; args follow it ($1…).
	script string
	args   func(t *testing.T, f *fixture) []string
	// spec adjusts the sandboxed run (limits, network, a disk).
	spec func(t *testing.T, s *Spec)
	// noBaseline: the unprotected run would harm the machine (a fork
	// bomb) or cannot show anything.
	noBaseline bool
	// bwrapOnly: what stops it is bwrap's (seccomp, capabilities); under
	// gVisor the same call meets gVisor's own kernel.
	bwrapOnly bool
	// contained checks the sandboxed result beyond "no ESCAPED".
	contained func(t *testing.T, res Result, out string)
}

// fixture is what the attempts aim at: a data folder, another project's
// workspace and cache, a loopback service, this process (the server).
type fixture struct {
	data, secret, otherWorkspace, otherCache string
	port                                     int
}

const escapeSecret = "TOPSECRET-escape-7d31"

func newFixture(t *testing.T) *fixture {
	f := &fixture{data: t.TempDir(), otherWorkspace: t.TempDir(), otherCache: t.TempDir()}
	f.secret = filepath.Join(f.data, "apogee.db")
	for _, p := range []string{f.secret, filepath.Join(f.otherWorkspace, "index.html")} {
		if err := os.WriteFile(p, []byte(escapeSecret), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(f.otherCache, 0o777) // even a world-writable cache stays out of reach
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "+PONG "+escapeSecret+"\r\n") // as Redis would
			c.Close()
		}
	})
	f.port = ln.Addr().(*net.TCPAddr).Port
	return f
}

var attempts = []attempt{
	{name: "read the data folder", script: `grep -q TOPSECRET "$1" && echo ESCAPED`,
		args: func(t *testing.T, f *fixture) []string { return []string{f.secret} }},
	{name: "read the server's /proc", script: `tr '\0' ' ' < /proc/$1/cmdline | grep -q sandbox.test && echo ESCAPED; ls /proc/$1/fd >/dev/null 2>&1 && echo ESCAPED`,
		args: func(t *testing.T, f *fixture) []string { return []string{strconv.Itoa(os.Getpid())} }},
	{name: "read the server's environment", script: `tr '\0' '\n' < /proc/$1/environ 2>/dev/null | grep -q '^PATH=' && echo ESCAPED; env | grep -q TOPSECRET && echo ESCAPED; true`,
		args: func(t *testing.T, f *fixture) []string { return []string{strconv.Itoa(os.Getpid())} }},
	{name: "signal the server", script: `kill -0 $1 2>/dev/null && echo ESCAPED`,
		args: func(t *testing.T, f *fixture) []string { return []string{strconv.Itoa(os.Getpid())} }},
	{name: "read another project's workspace", script: `grep -q TOPSECRET "$1/index.html" && echo ESCAPED`,
		args: func(t *testing.T, f *fixture) []string { return []string{f.otherWorkspace} }},
	{name: "poison another project's cache", script: `echo 'module.exports = "owned"' > "$1/is-number.js" && echo ESCAPED`,
		args: func(t *testing.T, f *fixture) []string { return []string{f.otherCache} }},
	{name: "talk to a loopback service", script: `node -e 'require("net").connect(+process.argv[1], "127.0.0.1").on("data", d => { if (String(d).includes("PONG")) console.log("ESCAPED"); process.exit(0) }).on("error", () => process.exit(0))' $1`,
		args: func(t *testing.T, f *fixture) []string { return []string{strconv.Itoa(f.port)} },
		spec: func(t *testing.T, s *Spec) { s.Network = true }},
	{name: "read /etc/shadow", script: `grep -q '^root:' /etc/shadow 2>/dev/null && echo ESCAPED`},
	{name: "follow a symlink out", script: `ln -s "$1" ./link && grep -q TOPSECRET ./link 2>/dev/null && echo ESCAPED`,
		args: func(t *testing.T, f *fixture) []string { return []string{f.secret} }},
	{name: "hardlink a host file into the output", script: `ln "$1" ./hardlink 2>/dev/null && grep -q TOPSECRET ./hardlink && echo ESCAPED`,
		args: func(t *testing.T, f *fixture) []string { return []string{f.secret} }},
	{name: "make a device file", script: `mknod ./mem c 1 1 2>/dev/null && echo ESCAPED; mknod ./disk b 7 0 2>/dev/null && echo ESCAPED; true`},
	{name: "become root in a user namespace (unshare -Ur)", script: `[ "$(unshare -Ur id -u 2>/dev/null)" = 0 ] && echo ESCAPED`, bwrapOnly: true},
	{name: "make a network namespace", script: `unshare -n true 2>/dev/null && echo ESCAPED`, bwrapOnly: true},
	{name: "mount a file system", script: `mkdir -p ./m && mount -t tmpfs none ./m 2>/dev/null && umount ./m && echo ESCAPED`},
	{name: "leave the cgroup", script: `for f in /sys/fs/cgroup/pids/cgroup.procs /sys/fs/cgroup/cgroup.procs; do (echo $$ > $f) 2>/dev/null && echo ESCAPED; done; true`},
	{name: "ptrace a process", script: `"$1"`, bwrapOnly: true,
		args: func(t *testing.T, f *fixture) []string { return []string{"/run/attempt"} },
		spec: func(t *testing.T, s *Spec) { s.Env = append(s.Env, attemptEnv+"=ptrace") }},
	{name: "use the kernel keyring", script: `"$1"`, bwrapOnly: true,
		args: func(t *testing.T, f *fixture) []string { return []string{"/run/attempt"} },
		spec: func(t *testing.T, s *Spec) { s.Env = append(s.Env, attemptEnv+"=keyctl") }},
	{name: "load a bpf map", script: `"$1"`, bwrapOnly: true,
		args: func(t *testing.T, f *fixture) []string { return []string{"/run/attempt"} },
		spec: func(t *testing.T, s *Spec) { s.Env = append(s.Env, attemptEnv+"=bpf") }},
	{name: "open a perf event", script: `"$1"`, bwrapOnly: true,
		args: func(t *testing.T, f *fixture) []string { return []string{"/run/attempt"} },
		spec: func(t *testing.T, s *Spec) { s.Env = append(s.Env, attemptEnv+"=perf") }},
	{name: "fill the disk", script: `dd if=/dev/zero of=./big bs=1M count=80 2>/dev/null && echo ESCAPED; rm -f ./big`,
		spec: func(t *testing.T, s *Spec) {
			d, err := MountDisk(t.Context(), filepath.Join(t.TempDir(), "disk"), 32<<20)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Unmount() })
			s.Dir = d.dir
		}},
	{name: "take all the memory", script: `node -e 'const a = []; for (let i = 0; i < 300; i++) a.push(Buffer.alloc(1 << 20, 1)); console.log("ESCAPED")'`,
		spec: func(t *testing.T, s *Spec) { s.Limits.MemoryBytes = 128 << 20 },
		contained: func(t *testing.T, res Result, out string) {
			if res.Reason != "killed: memory limit 128 MiB" {
				t.Errorf("reason %q", res.Reason)
			}
		}},
	{name: "run past the time limit", script: `sleep 3; echo ESCAPED`,
		spec: func(t *testing.T, s *Spec) { s.Limits.Wall = time.Second },
		contained: func(t *testing.T, res Result, out string) {
			if res.Reason != "killed: time limit 1s" {
				t.Errorf("reason %q", res.Reason)
			}
		}},
	{name: "fork bomb", script: `bomb() { bomb | bomb & }; bomb; sleep 2; echo survived`, noBaseline: true,
		spec: func(t *testing.T, s *Spec) { s.Limits.Pids, s.Limits.Wall = 64, 10*time.Second },
		contained: func(t *testing.T, res Result, out string) {
			if res.Duration > 15*time.Second {
				t.Errorf("the bomb ran %v", res.Duration)
			}
		}},
}

func testEscapes(t *testing.T, kind string) {
	f := newFixture(t)
	self, err := filepath.Abs(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	base := newTestSandbox(t, "none")
	sb := newTestSandbox(t, kind)
	for _, a := range attempts {
		if a.bwrapOnly && kind != "bwrap" {
			continue
		}
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			var args []string
			if a.args != nil {
				args = a.args(t, f)
			}
			attempt := func(sb Sandbox, protected bool) (Result, string) {
				s := Spec{
					Argv:   append([]string{"sh", "-c", a.script, "attempt"}, args...),
					Dir:    t.TempDir(),
					Env:    append([]string(nil), baseEnv...),
					Limits: Limits{Wall: 30 * time.Second},
					Mounts: []Mount{{Source: self, Target: "/run/attempt"}},
				}
				if protected && a.spec != nil {
					a.spec(t, &s)
				} else if a.spec != nil {
					// Unprotected: the same environment, no bound.
					u := s
					a.spec(t, &u)
					s.Env, s.Network = u.Env, u.Network
				}
				if !protected && len(s.Argv) > 4 && s.Argv[4] == "/run/attempt" {
					s.Argv[4] = self // "none" mounts nothing
				}
				os.Chmod(s.Dir, 0o755)
				res, out, errOut := run(t, sb, s)
				t.Logf("%s: %+v stdout %q stderr %.300q", map[bool]string{true: kind, false: "unprotected"}[protected], res, out, errOut)
				return res, out
			}
			if !a.noBaseline {
				if _, out := attempt(base, false); !strings.Contains(out, "ESCAPED") {
					t.Fatalf("the attempt does not work even unprotected: %q", out)
				}
			}
			res, out := attempt(sb, true)
			if strings.Contains(out, "ESCAPED") {
				t.Errorf("ESCAPED under %s: %q", kind, out)
			}
			if a.contained != nil {
				a.contained(t, res, out)
			}
		})
	}
}

func TestEscapesBwrap(t *testing.T) {
	t.Parallel()
	requireBwrap(t)
	testEscapes(t, "bwrap")
}

func TestEscapesRunsc(t *testing.T) {
	t.Parallel()
	requireRunsc(t)
	testEscapes(t, "runsc")
}

// The attempts that need system calls run this test binary inside the
// sandbox (mounted at /run/attempt).
const attemptEnv = "APOGEE_TEST_ATTEMPT"

func attemptMain(what string) int {
	ok := func(err error) int {
		if err == nil {
			fmt.Println("ESCAPED")
			return 0
		}
		fmt.Println("refused:", err)
		return 0
	}
	switch what {
	case "ptrace":
		c := exec.Command("sleep", "30")
		if err := c.Start(); err != nil {
			fmt.Println("error", err)
			return 1
		}
		defer func() { c.Process.Kill(); c.Wait() }()
		err := unix.PtraceAttach(c.Process.Pid)
		if err == nil {
			var ws unix.WaitStatus
			unix.Wait4(c.Process.Pid, &ws, 0, nil)
			unix.PtraceDetach(c.Process.Pid)
		}
		return ok(err)
	case "keyctl":
		_, err := unix.AddKey("user", "apogee-escape-test", []byte("x"), unix.KEY_SPEC_PROCESS_KEYRING)
		return ok(err)
	case "bpf":
		attr := struct{ mapType, keySize, valueSize, maxEntries uint32 }{2, 4, 4, 1} // an array map
		fd, _, e := unix.Syscall(unix.SYS_BPF, 0 /* BPF_MAP_CREATE */, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
		if e != 0 {
			return ok(e)
		}
		unix.Close(int(fd))
		return ok(nil)
	case "perf":
		attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_CPU_CLOCK, Size: uint32(unsafe.Sizeof(unix.PerfEventAttr{}))}
		fd, err := unix.PerfEventOpen(&attr, 0, -1, -1, 0)
		if err == nil {
			unix.Close(fd)
		}
		return ok(err)
	}
	fmt.Println("unknown attempt", what)
	return 2
}
