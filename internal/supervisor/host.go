package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/apogee-dev/apogee/internal/apps"
)

// Host launches instances as plain processes on the host, for development
// and for tests of what does not depend on isolation. It isolates nothing
// and enforces no limits: the app sees the host's files and network.
// Because instances share the host's network, each gets a free port of
// its own as PORT (not LaunchSpec.Port), and DialContext sends a dial of
// LaunchSpec.Port there. A process and everything in its process group
// are killed together; a process that leaves its group escapes (the
// sandbox's cgroups are what catch those).
type Host struct{}

var _ Launcher = Host{}

// Launch starts s on the host.
func (Host) Launch(ctx context.Context, s LaunchSpec) (Process, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(s.Argv) == 0 {
		return nil, errors.New("supervisor: nothing to run")
	}
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("supervisor: finding a port: %w", err)
	}
	env := make([]string, 0, len(s.Env)+2)
	for _, kv := range s.Env {
		if !strings.HasPrefix(kv, "PORT=") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	env = append(env, "PORT="+strconv.Itoa(port), "HOME="+s.DataDir)
	if s.Node != "" {
		env = prependPath(env, filepath.Join(s.Node, "bin"))
	}
	cmd := exec.Command(s.Argv[0], s.Argv[1:]...)
	cmd.Dir = s.Dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = s.Stdout, s.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// A child that keeps the output pipes open after the main process
	// ended does not hold up Done for long.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("supervisor: starting %s: %w", s.Argv[0], err)
	}
	p := &hostProcess{cmd: cmd, port: port, want: s.Port, done: make(chan struct{})}
	go p.wait()
	return p, nil
}

type hostProcess struct {
	cmd  *exec.Cmd
	port int // where the app listens
	want int // the port callers dial
	done chan struct{}

	mu   sync.Mutex
	exit apps.Exit
}

func (p *hostProcess) wait() {
	defer close(p.done)
	p.cmd.Wait()
	// Whatever the app left in its group goes with it.
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	ws, _ := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	var e apps.Exit
	if ws.Signaled() {
		e.Signal = int(ws.Signal())
		e.Code = 128 + e.Signal
	} else {
		e.Code = ws.ExitStatus()
	}
	p.mu.Lock()
	p.exit = e
	p.mu.Unlock()
}

func (p *hostProcess) Done() <-chan struct{} { return p.done }

func (p *hostProcess) Exit() apps.Exit {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exit
}

func (p *hostProcess) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if port == strconv.Itoa(p.want) {
		port = strconv.Itoa(p.port)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, net.JoinHostPort(host, port))
}

func (p *hostProcess) Signal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return os.ErrProcessDone
	default:
	}
	return p.cmd.Process.Signal(sig)
}

func (p *hostProcess) Kill() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	return syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
}

// Freeze stops the process group with SIGSTOP (a process that left its
// group keeps running: the sandbox's cgroup freezer is what holds all).
func (p *hostProcess) Freeze() error { return p.groupSignal(syscall.SIGSTOP) }

// Thaw continues the process group (SIGCONT).
func (p *hostProcess) Thaw() error { return p.groupSignal(syscall.SIGCONT) }

func (p *hostProcess) groupSignal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return os.ErrProcessDone
	default:
	}
	return syscall.Kill(-p.cmd.Process.Pid, sig)
}

// Usage reads the main process's resident memory and CPU time from /proc.
func (p *hostProcess) Usage() (apps.Usage, error) {
	pid := p.cmd.Process.Pid
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return apps.Usage{}, fmt.Errorf("supervisor: usage: %w", err)
	}
	// Fields after the command name, which is in parentheses.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 22 {
		return apps.Usage{}, errors.New("supervisor: usage: short /proc stat")
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	threads, _ := strconv.ParseInt(f[17], 10, 64)
	rss, _ := strconv.ParseInt(f[21], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return apps.Usage{
		MemoryBytes: rss * int64(os.Getpagesize()),
		CPU:         time.Duration(utime+stime) * time.Second / ticks,
		Pids:        threads,
	}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
