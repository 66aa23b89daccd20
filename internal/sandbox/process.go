package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// A run starts our own binary again under one of two names (the re-exec
// pattern of runc's "runc init"):
//
//   - the gate runs on the host. It is started with an empty environment
//     and blocks reading its payload until Run has put it in the run's
//     cgroup, then execs what the payload says (bwrap, runsc, or for
//     "none" the program itself). So every process of the run, from the
//     first, is inside the cgroup: none can fork before the move.
//   - the init runs inside bwrap as root with only CAP_SETUID and
//     CAP_SETGID. It reads Spec.Argv and Spec.Env from an inherited pipe
//     (so the environment is never on a command line, and never reaches a
//     process that still has privileges: LD_PRELOAD and friends in a
//     project's variables affect only the unprivileged program), drops to
//     the sandbox uid, sets no_new_privs and execs the program.
const (
	gateName = "apogee-sandbox-gate"
	initName = "apogee-sandbox-init"
	gateFD   = 3
	initFD   = 4
)

// payload is what the gate or the init execs.
type payload struct {
	Argv []string
	Env  []string
	Dir  string `json:",omitempty"`
	// Drop switches to Uid/Gid with no supplementary groups, sets
	// no_new_privs and checks no capability is left.
	Drop     bool `json:",omitempty"`
	Uid, Gid int  `json:",omitempty"`
}

func init() {
	switch filepath.Base(os.Args[0]) {
	case gateName:
		os.Exit(childMain(gateFD, "gate"))
	case initName:
		os.Exit(childMain(initFD, "init"))
	}
}

// childMain is the gate and the init. It returns only on failure: 125 for
// a sandbox fault, 127 when the program is not found, 126 when it cannot
// be executed (the shell's codes).
func childMain(fd int, who string) int {
	fail := func(code int, format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "apogee sandbox %s: %s\n", who, fmt.Sprintf(format, args...))
		return code
	}
	f := os.NewFile(uintptr(fd), who)
	b, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return fail(125, "reading payload: %v", err)
	}
	if len(b) == 0 {
		return 125 // the run was abandoned before it started
	}
	var p payload
	if err := json.Unmarshal(b, &p); err != nil || len(p.Argv) == 0 {
		return fail(125, "bad payload: %v", err)
	}
	if p.Dir != "" {
		if err := os.Chdir(p.Dir); err != nil {
			return fail(125, "%v", err)
		}
	}
	if p.Drop {
		if err := dropPrivileges(p.Uid, p.Gid); err != nil {
			return fail(125, "dropping privileges: %v", err)
		}
	}
	path, err := lookPath(p.Argv[0], p.Env)
	if err != nil {
		return fail(127, "%s: %v", p.Argv[0], err)
	}
	err = syscall.Exec(path, p.Argv, p.Env)
	return fail(126, "%s: %v", p.Argv[0], err)
}

func dropPrivileges(uid, gid int) error {
	// Empty the bounding set (needs CAP_SETPCAP), so nothing executed later
	// can gain a capability even without no_new_privs.
	const prCapbsetDrop = 24
	for c := uintptr(0); c < 64; c++ {
		if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prCapbsetDrop, c, 0); e != 0 && e != syscall.EINVAL {
			return fmt.Errorf("dropping capability %d from the bounding set: %w", c, e)
		}
	}
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setresgid(gid, gid, gid); err != nil {
		return fmt.Errorf("setresgid: %w", err)
	}
	// Leaving uid 0 for good clears the permitted and effective
	// capabilities (no SECBIT_KEEP_CAPS).
	if err := syscall.Setresuid(uid, uid, uid); err != nil {
		return fmt.Errorf("setresuid: %w", err)
	}
	// The inheritable set survives the switch: empty it (and the rest).
	hdr := struct {
		version uint32
		pid     int32
	}{version: 0x20080522} // _LINUX_CAPABILITY_VERSION_3
	var data [2]struct{ effective, permitted, inheritable uint32 }
	if _, _, e := syscall.RawSyscall(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("capset: %w", e)
	}
	const prSetNoNewPrivs = 38
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, prSetNoNewPrivs, 1, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("no_new_privs: %w", e)
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(status), "\n") {
		for _, k := range []string{"CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:"} {
			if v, ok := strings.CutPrefix(line, k); ok && strings.Trim(strings.TrimSpace(v), "0") != "" {
				return fmt.Errorf("capabilities left after the switch to uid %d: %s", uid, line)
			}
		}
	}
	return nil
}

// lookPath finds file in the PATH of env (not of this process).
func lookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	path := "/usr/local/bin:/usr/bin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("not found in PATH")
}

// launch is one run as a kind prepares it.
type launch struct {
	gate payload  // what the gate execs on the host
	init *payload // what the init execs inside the sandbox, if used
	// cleanup runs after the run, whatever happened.
	cleanup func()
	// hostPids, when set, is pids.max instead of Spec.Limits.Pids (runsc:
	// gVisor's threads, not the program's processes).
	hostPids int64
}

// runner is what every kind shares: the gate, the cgroup, the limits.
type runner struct {
	cfg config
	cg  *cgroups // nil without limits
}

// run starts l, enforces s.Limits and ctx, waits for every process of the
// run and reports how it ended.
func (r *runner) run(ctx context.Context, s Spec, l launch) (res Result, err error) {
	if l.cleanup != nil {
		defer l.cleanup()
	}
	if err := ctx.Err(); err != nil {
		return Result{ExitCode: -1, Reason: ReasonCanceled}, nil
	}
	var cg *cgroup
	if r.cg != nil {
		lim := s.Limits
		if l.hostPids > 0 {
			lim.Pids = l.hostPids
		}
		if cg, err = r.cg.create(newRunID(), lim); err != nil {
			return Result{}, err
		}
		defer func() {
			if derr := cg.destroy(); derr != nil {
				r.cfg.logger.Error("sandbox: cleaning up cgroup", "err", derr)
				if err == nil {
					err = derr
				}
			}
		}()
	}

	var (
		toClose []*os.File // the child's ends, closed after Start
		extra   []*os.File
		copies  sync.WaitGroup
		readers []*os.File
	)
	defer func() {
		for _, f := range toClose {
			f.Close()
		}
	}()
	pipe := func() (*os.File, *os.File, error) {
		pr, pw, err := os.Pipe()
		if err != nil {
			return nil, nil, fmt.Errorf("sandbox: %w", err)
		}
		return pr, pw, nil
	}
	gateR, gateW, err := pipe()
	if err != nil {
		return Result{}, err
	}
	defer gateW.Close()
	toClose = append(toClose, gateR)
	extra = append(extra, gateR)
	var initW *os.File
	if l.init != nil {
		var initR *os.File
		if initR, initW, err = pipe(); err != nil {
			return Result{}, err
		}
		defer initW.Close()
		toClose = append(toClose, initR)
		extra = append(extra, initR)
	}
	// output gives the child's end for w, and starts copying into w when
	// w is not a file.
	var copyFrom []func()
	output := func(w io.Writer) (*os.File, error) {
		if w == nil {
			return nil, nil
		}
		if f, ok := w.(*os.File); ok {
			return f, nil
		}
		pr, pw, err := pipe()
		if err != nil {
			return nil, err
		}
		toClose = append(toClose, pw)
		readers = append(readers, pr)
		copyFrom = append(copyFrom, func() { io.Copy(w, pr) })
		return pw, nil
	}
	stdout, err := output(s.Stdout)
	if err != nil {
		return Result{}, err
	}
	stderr, err := output(s.Stderr)
	if err != nil {
		closeAll(readers)
		return Result{}, err
	}

	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{gateName},
		Env:        []string{}, // not the server's
		Stdout:     stdout,
		Stderr:     stderr,
		ExtraFiles: extra,
		SysProcAttr: &syscall.SysProcAttr{
			Setpgid:   true,
			Pdeathsig: syscall.SIGKILL,
		},
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		for _, f := range readers {
			f.Close()
		}
		return Result{}, fmt.Errorf("sandbox: starting: %w", err)
	}
	for _, f := range toClose {
		f.Close()
	}
	toClose = nil
	for _, c := range copyFrom {
		copies.Go(c)
	}
	pid := cmd.Process.Pid
	killAll := func() {
		syscall.Kill(-pid, syscall.SIGKILL) // the gate's process group
		cmd.Process.Kill()
		if cg != nil {
			if err := cg.kill(); err != nil {
				r.cfg.logger.Error("sandbox: killing the run", "err", err)
			}
		}
	}

	waitCh := make(chan error, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { waitCh <- cmd.Wait() })

	if cg != nil {
		if err := cg.add(pid); err != nil {
			gateW.Close()
			killAll()
			<-waitCh
			closeAll(readers)
			copies.Wait()
			return Result{}, err
		}
	}
	// Release the gate, then hand the init its payload.
	wg.Go(func() {
		writePayload(gateW, l.gate)
		if initW != nil {
			writePayload(initW, *l.init)
		}
	})

	var timeout <-chan time.Time
	if s.Limits.Wall > 0 {
		t := time.NewTimer(s.Limits.Wall)
		defer t.Stop()
		timeout = t.C
	}
	var waitErr error
	reason := ""
	select {
	case waitErr = <-waitCh:
	case <-ctx.Done():
		reason = ReasonCanceled
		killAll()
		waitErr = <-waitCh
	case <-timeout:
		reason = timeReason(s.Limits.Wall)
		killAll()
		waitErr = <-waitCh
	}
	res.Duration = time.Since(start)

	// Whatever the program left behind (a daemon under "none") goes now;
	// under bwrap the PID namespace has already taken it.
	if cg != nil {
		if err := cg.kill(); err != nil {
			r.cfg.logger.Error("sandbox: killing what the run left", "err", err)
		}
	} else {
		syscall.Kill(-pid, syscall.SIGKILL)
	}
	// Output ends when the last writer is gone; a writer that escaped the
	// kill (only possible without cgroups) does not hold the run up.
	done := make(chan struct{})
	go func() { copies.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		closeAll(readers)
		<-done
	}
	closeAll(readers)

	var ee *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &ee) {
		return Result{}, fmt.Errorf("sandbox: waiting: %w", waitErr)
	}
	st := cmd.ProcessState
	ws, _ := st.Sys().(syscall.WaitStatus)
	switch {
	case ws.Signaled():
		res.ExitCode = 128 + int(ws.Signal())
	default:
		res.ExitCode = st.ExitCode()
	}
	if cg != nil {
		res.PeakMemory = cg.peakMemory()
	}
	switch {
	case reason != "":
		res.Reason = reason
	case cg != nil && res.ExitCode != 0 && s.Limits.MemoryBytes > 0 && cg.oomKilled():
		res.Reason = memoryReason(s.Limits.MemoryBytes)
	case ws.Signaled():
		res.Reason = fmt.Sprintf("killed: signal %d", int(ws.Signal()))
	case cg != nil && res.ExitCode != 0 && s.Limits.Pids > 0 && cg.pidsLimitHit():
		// The program ended after a fork failed at its limit: not a kill,
		// but the likely cause.
		res.Reason = fmt.Sprintf("exited: process limit %d reached", s.Limits.Pids)
	default:
		res.Reason = ReasonExited
	}
	return res, nil
}

func writePayload(w *os.File, p payload) {
	b, _ := json.Marshal(p)
	w.Write(b) // EPIPE if the run is already gone: nothing to do
	w.Close()
}

func closeAll(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}
