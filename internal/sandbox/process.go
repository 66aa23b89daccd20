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

	"golang.org/x/sys/unix"
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
	// Loopback brings the loopback interface up first (the gate, in a
	// network namespace of its own).
	Loopback bool `json:",omitempty"`
	// ReadyFD, when set, gets one byte just before the exec, and is
	// closed.
	ReadyFD int `json:",omitempty"`
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
	if p.Loopback {
		if err := loopbackUp(); err != nil {
			return fail(125, "bringing up the loopback interface: %v", err)
		}
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
	if p.ReadyFD > 0 {
		unix.Write(p.ReadyFD, []byte{'R'})
		unix.Close(p.ReadyFD)
	}
	err = syscall.Exec(path, p.Argv, p.Env)
	return fail(126, "%s: %v", p.Argv[0], err)
}

func dropPrivileges(uid, gid int) error {
	// Empty the bounding set (needs CAP_SETPCAP), so nothing executed later
	// can gain a capability even without no_new_privs.
	for c := 0; c <= unix.CAP_LAST_CAP; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("dropping capability %d from the bounding set: %w", c, err)
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
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
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

// loopbackUp sets the loopback interface up, as bwrap --unshare-net does.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
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
	// extra are more files for the gate to pass on, from fd 4 (no init)
	// or 5 on; spawn closes them once the gate has started.
	extra []*os.File
	// cleanup runs after the run, whatever happened.
	cleanup func()
	// hostPids, when set, is pids.max instead of Spec.Limits.Pids (runsc:
	// gVisor's threads, not the program's processes).
	hostPids int64
	// netns clones the gate into a network namespace of its own, with its
	// loopback up; with Spec.Network, spawn gives it egress (network.go)
	// before the gate goes on.
	netns bool
	// detached runs outlive the server (instances): no parent-death
	// signal for the gate or slirp4netns.
	detached bool
	// ready, for Start, waits until the program runs and returns how to
	// signal it (nil: signal the gate's process).
	ready func(ctx context.Context, p *proc) (func(syscall.Signal) error, error)
	// signal, when set, signals the program of an instance whose ready
	// gave no way to (nil: signal the gate's process).
	signal func(p *proc, sig syscall.Signal) error
}

// runner is what every kind shares: the gate, the cgroup, the limits.
type runner struct {
	cfg       config
	cg        *cgroups // nil without limits
	hostNetns *os.File // the server's network namespace, for dialing back
}

// proc is one started run: the gate's process, its cgroup, the copies of
// its output.
type proc struct {
	r       *runner
	l       launch
	s       Spec
	cg      *cgroup // nil without limits
	cmd     *exec.Cmd
	start   time.Time
	waitCh  chan error // cmd.Wait's result, once
	wg      sync.WaitGroup
	copies  sync.WaitGroup
	readers []*os.File    // our ends of the output pipes
	closers []func()      // run by finish
	netns   *os.File      // the gate's network namespace, with launch.netns
	helpers []*os.Process // slirp4netns: killed with the run
}

// run starts l, enforces s.Limits and ctx, waits for every process of the
// run and reports how it ended.
func (r *runner) run(ctx context.Context, s Spec, l launch) (Result, error) {
	if err := ctx.Err(); err != nil {
		if l.cleanup != nil {
			l.cleanup()
		}
		return Result{ExitCode: -1, Reason: ReasonCanceled}, nil
	}
	p, err := r.spawn(s, l, newRunID())
	if err != nil {
		return Result{}, err
	}
	var timeout <-chan time.Time
	if s.Limits.Wall > 0 {
		t := time.NewTimer(s.Limits.Wall)
		defer t.Stop()
		timeout = t.C
	}
	var waitErr error
	reason := ""
	select {
	case waitErr = <-p.waitCh:
	case <-ctx.Done():
		reason = ReasonCanceled
		p.killAll()
		waitErr = <-p.waitCh
	case <-timeout:
		reason = timeReason(s.Limits.Wall)
		p.killAll()
		waitErr = <-p.waitCh
	}
	return p.finish(reason, waitErr)
}

// spawn makes the run's cgroup, starts the gate, puts it in the cgroup
// and releases it. On error nothing of the run is left.
func (r *runner) spawn(s Spec, l launch, id string) (_ *proc, err error) {
	p := &proc{r: r, l: l, s: s, waitCh: make(chan error, 1)}
	var toClose []*os.File // the child's ends, closed once it has started
	started := false       // from then on, finish cleans up
	defer func() {
		closeAll(toClose)
		if err != nil && !started {
			closeAll(p.readers)
			if p.cg != nil {
				if derr := p.cg.destroy(); derr != nil {
					r.cfg.logger.Error("sandbox: cleaning up cgroup", "err", derr)
				}
			}
			if l.cleanup != nil {
				l.cleanup()
			}
		}
	}()
	toClose = append(toClose, l.extra...)
	if err := p.makeCgroup(id); err != nil {
		return nil, err
	}
	gateR, gateW, err := pipe()
	if err != nil {
		return nil, err
	}
	// Our ends go to writePayload once the gate is in its cgroup.
	var ours []*os.File
	defer func() {
		if err != nil {
			closeAll(ours)
		}
	}()
	ours = append(ours, gateW)
	toClose = append(toClose, gateR)
	extra := []*os.File{gateR}
	var initW *os.File
	if l.init != nil {
		var initR *os.File
		if initR, initW, err = pipe(); err != nil {
			return nil, err
		}
		ours = append(ours, initW)
		toClose = append(toClose, initR)
		extra = append(extra, initR)
	}
	extra = append(extra, l.extra...)
	var copyFrom []func()
	stdout, err := p.output(s.Stdout, &toClose, &copyFrom)
	if err != nil {
		return nil, err
	}
	stderr, err := p.output(s.Stderr, &toClose, &copyFrom)
	if err != nil {
		return nil, err
	}
	p.cmd = &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{gateName},
		Env:         []string{}, // not the server's
		Stdout:      stdout,
		Stderr:      stderr,
		ExtraFiles:  extra,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	if l.netns {
		p.cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWNET
		l.gate.Loopback = true
	}
	if !l.detached {
		// A run ends with the server: its gate (and bwrap's
		// --die-with-parent) see to that.
		p.cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("sandbox: starting: %w", err)
	}
	started = true
	closeAll(toClose)
	if l.netns {
		// A file keeps the namespace, whatever becomes of the process.
		p.netns, err = os.Open(fmt.Sprintf("/proc/%d/ns/net", p.cmd.Process.Pid))
		if err != nil {
			err = fmt.Errorf("sandbox: opening the instance's network namespace: %w", err)
			closeAll(ours)
			p.killAll()
			p.finish("", <-p.waitCh)
			return nil, err
		}
		p.closers = append(p.closers, func() { p.netns.Close() })
	}
	if l.netns && s.Network {
		if err := p.network(); err != nil {
			closeAll(ours)
			p.killAll()
			p.finish("", <-p.waitCh)
			return nil, err
		}
	}
	toClose = nil
	for _, c := range copyFrom {
		p.copies.Go(c)
	}
	p.wg.Go(func() { p.waitCh <- p.cmd.Wait() })
	if p.cg != nil {
		if err := p.cg.add(p.cmd.Process.Pid); err != nil {
			closeAll(ours)
			p.killAll()
			p.finish("", <-p.waitCh)
			return nil, err
		}
	}
	// Release the gate, then hand the init its payload.
	p.wg.Go(func() {
		writePayload(gateW, l.gate)
		if initW != nil {
			writePayload(initW, *l.init)
		}
	})
	return p, nil
}

func pipe() (*os.File, *os.File, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("sandbox: %w", err)
	}
	return pr, pw, nil
}

// makeCgroup creates the run's cgroup with its limits (none without
// cgroups).
func (p *proc) makeCgroup(id string) error {
	if p.r.cg == nil {
		return nil
	}
	lim := p.s.Limits
	if p.l.hostPids > 0 {
		lim.Pids = p.l.hostPids
	}
	cg, err := p.r.cg.create(id, lim)
	if err != nil {
		return err
	}
	p.cg = cg
	return nil
}

// output gives the child's end for w, and arranges to copy into w when w
// is not a file.
func (p *proc) output(w io.Writer, toClose *[]*os.File, copyFrom *[]func()) (*os.File, error) {
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
	*toClose = append(*toClose, pw)
	p.readers = append(p.readers, pr)
	*copyFrom = append(*copyFrom, func() { io.Copy(w, pr) })
	return pw, nil
}

// killAll kills every process of the run.
func (p *proc) killAll() {
	for _, h := range p.helpers {
		h.Kill()
	}
	pid := p.cmd.Process.Pid
	syscall.Kill(-pid, syscall.SIGKILL) // the gate's process group
	p.cmd.Process.Kill()
	if p.cg != nil {
		if err := p.cg.kill(); err != nil {
			p.r.cfg.logger.Error("sandbox: killing the run", "err", err)
		}
	}
}

// finish ends a run whose gate has exited (waitErr is cmd.Wait's): it
// kills what is left, drains the output, reads how it ended, removes the
// cgroup and runs the launch's cleanup. reason, when set, is why the run
// was stopped.
func (p *proc) finish(reason string, waitErr error) (res Result, err error) {
	defer func() {
		p.wg.Wait()
		if p.cg != nil {
			if derr := p.cg.destroy(); derr != nil {
				p.r.cfg.logger.Error("sandbox: cleaning up cgroup", "err", derr)
				if err == nil {
					err = derr
				}
			}
		}
		for _, c := range p.closers {
			c()
		}
		if p.l.cleanup != nil {
			p.l.cleanup()
		}
	}()
	res.Duration = time.Since(p.start)
	p.killLeftovers()
	p.drainOutput()

	var ee *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &ee) {
		return Result{}, fmt.Errorf("sandbox: waiting: %w", waitErr)
	}
	st := p.cmd.ProcessState
	ws, _ := st.Sys().(syscall.WaitStatus)
	res.ExitCode = st.ExitCode()
	if ws.Signaled() {
		res.ExitCode = 128 + int(ws.Signal())
	}
	if p.cg != nil {
		res.PeakMemory = p.cg.peakMemory()
	}
	res.Reason = p.reason(reason, res.ExitCode, ws)
	return res, nil
}

// killLeftovers kills whatever the program left behind (a daemon under
// "none"); under bwrap the PID namespace has already taken it.
func (p *proc) killLeftovers() {
	for _, h := range p.helpers {
		h.Kill()
	}
	if p.cg != nil {
		if err := p.cg.kill(); err != nil {
			p.r.cfg.logger.Error("sandbox: killing what the run left", "err", err)
		}
		return
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
}

// drainOutput waits until the copies of the output are done. Output ends
// when the last writer is gone; a writer that escaped the kill (only
// possible without cgroups) does not hold the run up.
func (p *proc) drainOutput() {
	done := make(chan struct{})
	go func() { p.copies.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		closeAll(p.readers)
		<-done
	}
	closeAll(p.readers)
}

// reason says why a run ended: stopped (reason set), killed at its memory
// limit, killed by a signal, failed at its process limit, or exited.
func (p *proc) reason(stopped string, code int, ws syscall.WaitStatus) string {
	lim := p.s.Limits
	switch {
	case stopped != "":
		return stopped
	case p.cg != nil && code != 0 && lim.MemoryBytes > 0 && p.cg.oomKilled():
		return memoryReason(lim.MemoryBytes)
	case ws.Signaled():
		return fmt.Sprintf("killed: signal %d", int(ws.Signal()))
	case p.cg != nil && code != 0 && lim.Pids > 0 && p.cg.pidsLimitHit():
		// The program ended after a fork failed at its limit: not a kill,
		// but the likely cause.
		return fmt.Sprintf("exited: process limit %d reached", lim.Pids)
	}
	return ReasonExited
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

// cgroups is the layout found at New (nil without limits), for tests.
func (r *runner) cgroups() *cgroups { return r.cg }
