package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/apogee-dev/apogee"
)

// Starter starts long-lived programs (app instances). Every kind (bwrap,
// runsc, none) implements it.
//
// Start starts s.Argv in the sandbox the kind gives to Run, with these
// differences:
//
//   - it returns as soon as the program runs in its cgroup (under bwrap:
//     the sandbox is set up and the program is being executed), not when it
//     ends; ctx bounds only the start. A program that cannot be executed
//     (not found) is an Instance that ends at once with exit code 127
//     (runsc: 128), its stderr saying why;
//   - the instance always gets a network namespace of its own, so every
//     instance can listen on the same port; Instance.DialContext reaches
//     it. With Spec.Network it also reaches the internet through NAT, as
//     a Run does; without, it has only a loopback interface;
//   - the instance is not tied to the server's life: a server that dies
//     (kill -9) leaves it running, and the next server's KillOrphans (call
//     it at start, before starting instances) kills it and removes its
//     cgroup;
//   - Limits.Wall is a limit only when set (an app has none).
//
// Start needs cgroups (not WithoutLimits) and root: an instance is
// supervised through its cgroup and dialed through its namespace. A bad
// Spec is an *apogee.Error with code EINVALID; a Spec.Name already running
// is ECONFLICT. Start is safe for concurrent use.
type Starter interface {
	Start(ctx context.Context, s Spec) (Instance, error)
	// KillOrphans kills every instance left under this Sandbox's cgroup
	// parent by an earlier server (its cgroups carry InstancePrefix),
	// waits until they are gone and removes their cgroups. It returns the
	// IDs it killed. Two servers must not share a cgroup parent
	// (WithCgroupParent).
	KillOrphans(ctx context.Context) ([]string, error)
}

// InstancePrefix starts the cgroup name (and ID) of every instance.
const InstancePrefix = "inst-"

// Instance is a running program started by Start. Every method is safe
// for concurrent use; after the instance has ended, methods that act on it
// return an error wrapping ErrEnded, while ID, Done and Wait keep working.
type Instance interface {
	// ID is the instance's stable name, InstancePrefix+Spec.Name, which is
	// also its cgroup's name.
	ID() string
	// Done is closed when the instance has ended: its main program has
	// exited, every other process of it has been killed, its output has
	// been written to Spec.Stdout and Spec.Stderr, and its cgroup is gone.
	Done() <-chan struct{}
	// Wait waits for Done and reports how the instance ended, as Run does:
	// the exit code, or the signal, or "killed: memory limit …" when the
	// kernel killed it at its cgroup's memory limit.
	Wait() Result
	// DialContext connects to addr inside the instance's own network
	// namespace, e.g. "127.0.0.1:8080" where the program listens on its
	// PORT. network is "tcp", "tcp4" or "tcp6"; addr must be an IP
	// address and a port (no name is resolved). The connection is made from
	// the server's process: nothing of the host is exposed to the
	// instance, and no address or port is allocated.
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
	// Signal sends sig to the main program (SIGTERM for a graceful stop).
	Signal(sig syscall.Signal) error
	// Kill sends SIGKILL to every process of the instance, waits until
	// they are gone and the cgroup is removed (Done is closed when it
	// returns nil). Killing an ended instance is not an error.
	Kill() error
	// Stats reads the instance's resource use from its cgroup.
	Stats() (Stats, error)
	// Freeze stops every process of the instance at once (the cgroup
	// freezer) until Thaw; memory stays allocated and connections open,
	// and a request sent meanwhile is answered after Thaw. Kill works on a
	// frozen instance.
	Freeze() error
	Thaw() error
}

// Stats is an instance's resource use, from its cgroup.
type Stats struct {
	MemoryBytes     int64         // memory in use now, page cache included
	PeakMemoryBytes int64         // highest use; 0 when the kernel does not say
	CPU             time.Duration // CPU time used since the start, all processes
	Pids            int64         // processes and threads now
	Frozen          bool
}

// ErrEnded is wrapped by what an Instance returns when asked to act after
// it has ended.
var ErrEnded = errors.New("sandbox: the instance has ended")

// instance is the Instance of every kind.
type instance struct {
	id     string
	p      *proc
	signal func(syscall.Signal) error

	nsMu  sync.RWMutex // held for reading while netns is in use
	netns *os.File     // nil once ended
	host  *os.File     // the server's own network namespace

	done chan struct{}
	res  Result
}

var _ Instance = (*instance)(nil)

func (in *instance) ID() string            { return in.id }
func (in *instance) Done() <-chan struct{} { return in.done }

func (in *instance) Wait() Result {
	<-in.done
	return in.res
}

// watch is the instance's one goroutine: it waits for the main program
// (or the wall-clock limit), then ends the instance.
func (in *instance) watch(wall time.Duration) {
	var timeout <-chan time.Time
	if wall > 0 {
		t := time.NewTimer(wall)
		defer t.Stop()
		timeout = t.C
	}
	reason := ""
	var waitErr error
	select {
	case waitErr = <-in.p.waitCh:
	case <-timeout:
		reason = timeReason(wall)
		in.p.killAll()
		waitErr = <-in.p.waitCh
	}
	in.nsMu.Lock()
	in.netns = nil // finish closes it, once no dial uses it
	in.nsMu.Unlock()
	res, err := in.p.finish(reason, waitErr)
	if err != nil {
		in.p.r.cfg.logger.Error("sandbox: ending instance", "instance", in.id, "err", err)
		if res.Reason == "" {
			res = Result{ExitCode: -1, Reason: "killed: " + err.Error()}
		}
	}
	in.res = res
	close(in.done)
}

func (in *instance) ended() bool {
	select {
	case <-in.done:
		return true
	default:
		return false
	}
}

func (in *instance) endedErr(what string) error {
	return fmt.Errorf("sandbox: %s %s: %w", what, in.id, ErrEnded)
}

// DialContext dials inside the instance's network namespace: a goroutine
// locked to its OS thread enters the namespace (setns), dials, and goes
// back. Setns costs about a microsecond each way (BenchmarkDial), far
// less than a connection, and dials stay concurrent. Should the way back
// fail, the goroutine ends still locked, and the Go runtime ends the
// thread with it: no other goroutine ever runs in the instance's
// namespace.
func (in *instance) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, apogee.Errorf(apogee.EINVALID, "sandbox: dial %s: only tcp is supported", network)
	}
	if _, err := netip.ParseAddrPort(addr); err != nil {
		return nil, apogee.Errorf(apogee.EINVALID, "sandbox: dial %q: want an IP address and a port, such as 127.0.0.1:8080", addr)
	}
	in.nsMu.RLock()
	defer in.nsMu.RUnlock()
	if in.netns == nil {
		return nil, in.endedErr("dialing")
	}
	return dialIn(ctx, in.netns, in.host, network, addr)
}

// startIn starts cmd in the network namespace ns: the fork happens on a
// thread that is in ns for that moment.
func startIn(ns, host *os.File, cmd *exec.Cmd) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- fmt.Errorf("sandbox: entering the instance's network namespace: %w", err)
			return
		}
		err := cmd.Start()
		if rerr := unix.Setns(int(host.Fd()), unix.CLONE_NEWNET); rerr != nil {
			// Still locked: the thread ends with this goroutine.
			ch <- errors.Join(err, fmt.Errorf("sandbox: leaving the instance's network namespace: %w", rerr))
			return
		}
		runtime.UnlockOSThread()
		ch <- err
	}()
	return <-ch
}

func dialIn(ctx context.Context, ns, host *os.File, network, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, fmt.Errorf("sandbox: entering the instance's network namespace: %w", err)}
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if rerr := unix.Setns(int(host.Fd()), unix.CLONE_NEWNET); rerr != nil {
			// Still locked: the thread ends with this goroutine.
			if c != nil {
				c.Close()
			}
			ch <- result{nil, fmt.Errorf("sandbox: leaving the instance's network namespace: %w", rerr)}
			return
		}
		runtime.UnlockOSThread()
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

func (in *instance) Signal(sig syscall.Signal) error {
	in.nsMu.RLock() // runsc's signal runs in the namespace
	defer in.nsMu.RUnlock()
	if in.netns == nil {
		return in.endedErr("signaling")
	}
	if err := in.signal(sig); err != nil {
		if in.ended() || errors.Is(err, syscall.ESRCH) {
			return in.endedErr("signaling")
		}
		return fmt.Errorf("sandbox: signaling %s: %w", in.id, err)
	}
	return nil
}

func (in *instance) Kill() error {
	if in.ended() {
		return nil
	}
	if in.p.cg != nil {
		if err := in.p.cg.kill(); err != nil {
			return fmt.Errorf("sandbox: killing %s: %w", in.id, err)
		}
	}
	in.p.killAll()
	<-in.done
	return nil
}

func (in *instance) Stats() (Stats, error) {
	if in.ended() {
		return Stats{}, in.endedErr("reading the use of")
	}
	st, err := in.p.cg.stats()
	if err != nil {
		if in.ended() {
			return Stats{}, in.endedErr("reading the use of")
		}
		return Stats{}, fmt.Errorf("sandbox: reading the use of %s: %w", in.id, err)
	}
	return st, nil
}

func (in *instance) Freeze() error { return in.freeze(true) }
func (in *instance) Thaw() error   { return in.freeze(false) }

func (in *instance) freeze(on bool) error {
	what := "freezing"
	if !on {
		what = "thawing"
	}
	if in.ended() {
		return in.endedErr(what)
	}
	if err := in.p.cg.setFrozen(on); err != nil {
		if in.ended() {
			return in.endedErr(what)
		}
		return fmt.Errorf("sandbox: %s %s: %w", what, in.id, err)
	}
	return nil
}

// start is what every kind's Start shares once it has made its launch.
func (r *runner) start(ctx context.Context, s Spec, l launch) (Instance, error) {
	if r.cg == nil {
		return nil, fmt.Errorf("%w: instances need cgroups; the sandbox was made WithoutLimits", ErrCgroups)
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("sandbox: instances need the server to run as root (network namespaces of their own)")
	}
	if err := ctx.Err(); err != nil {
		if l.cleanup != nil {
			l.cleanup()
		}
		return nil, err
	}
	name := s.Name
	if name == "" {
		name = newRunID()
	}
	id := InstancePrefix + name
	l.netns, l.detached = true, true
	p, err := r.spawn(s, l, id)
	if err != nil {
		return nil, err
	}
	in := &instance{id: id, p: p, netns: p.netns, host: r.hostNetns, done: make(chan struct{})}
	if l.ready != nil {
		in.signal, err = l.ready(ctx, p)
	}
	if err != nil {
		p.killAll()
		if _, ferr := p.finish("", <-p.waitCh); ferr != nil {
			r.cfg.logger.Error("sandbox: cleaning up a failed start", "instance", id, "err", ferr)
		}
		return nil, err
	}
	switch {
	case in.signal != nil:
	case l.signal != nil:
		in.signal = func(sig syscall.Signal) error { return l.signal(p, sig) }
	default:
		in.signal = func(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }
	}
	go in.watch(s.Limits.Wall)
	return in, nil
}

// KillOrphans kills the instances an earlier server left. See Starter.
func (r *runner) KillOrphans(ctx context.Context) ([]string, error) {
	if r.cg == nil {
		return nil, nil
	}
	names, err := r.cg.children(InstancePrefix)
	if err != nil {
		return nil, err
	}
	var killed []string
	var errs []error
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return killed, err
		}
		cg := r.cg.open(n)
		if err := cg.destroy(); err != nil {
			errs = append(errs, err)
			continue
		}
		r.cfg.logger.Warn("sandbox: killed an instance left by an earlier server", "instance", n)
		killed = append(killed, n)
	}
	return killed, errors.Join(errs...)
}
