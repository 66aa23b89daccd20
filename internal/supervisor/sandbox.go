package supervisor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/apps"
	"github.com/apogee-dev/apogee/internal/sandbox"
)

// Sandboxed launches instances through a sandbox's Start (bwrap by
// default, runsc for gVisor). Each process gets, from the sandbox: a
// cgroup with the instance's limits, its own PID, mount and network
// namespaces (every instance listens on the same PORT, reached only
// through DialContext; outbound internet through user-space NAT when
// Network is set, never the host's loopback or private networks), the
// release tree read-only at /workspace as its working directory, the
// instance's data folder writable at /data (its HOME), a private /tmp,
// and an unprivileged uid.
type Sandboxed struct {
	Sandbox sandbox.Starter
	// Network gives instances outbound internet (apps call APIs and
	// databases); without it they have only their own loopback.
	Network bool
}

var (
	_ Launcher     = Sandboxed{}
	_ OrphanKiller = Sandboxed{}
)

// OrphanKiller is a launcher whose processes can outlive the server
// (sandboxed instances are supervised through their cgroups, not as
// children). New calls KillOrphans before the first instance starts, so
// a server killed with -9 leaves nothing behind once it is back.
type OrphanKiller interface {
	KillOrphans(ctx context.Context) ([]string, error)
}

// dataMount is where the instance's data folder appears.
const dataMount = "/data"

// NodeMount is where an instance's Node.js (LaunchSpec.Node) appears,
// read-only: the place builds mount theirs, so that paths a build wrote
// into the tree (a shebang, a native module's) hold when it runs.
const NodeMount = "/run/apogee/node"

// NodeIn returns the bin folder of Node.js node ("" the machine's) as a
// program in sb sees it, and the mount that shows it there: read-only at
// NodeMount, or the folder itself where the sandbox mounts nothing
// ("none").
func NodeIn(sb any, node string) (string, []sandbox.Mount) {
	if node == "" {
		return "", nil
	}
	if n, ok := sb.(interface{ Name() string }); ok && n.Name() == "none" {
		return filepath.Join(node, "bin"), nil
	}
	return NodeMount + "/bin", []sandbox.Mount{{Source: node, Target: NodeMount}}
}

// prependPath returns env with dir first on its PATH (made from the
// usual system folders when env has none).
func prependPath(env []string, dir string) []string {
	out := make([]string, 0, len(env)+1)
	found := false
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			found = true
			kv = "PATH=" + dir + ":" + v
		}
		out = append(out, kv)
	}
	if !found {
		out = append(out, "PATH="+dir+":/usr/local/bin:/usr/bin:/bin")
	}
	return out
}

// Launch starts s in the sandbox.
func (sb Sandboxed) Launch(ctx context.Context, s LaunchSpec) (Process, error) {
	env := make([]string, 0, len(s.Env)+1)
	for _, kv := range s.Env {
		if !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	env = append(env, "HOME="+dataMount)
	mounts := []sandbox.Mount{{Source: s.DataDir, Target: dataMount, Writable: true}}
	bin, nm := NodeIn(sb.Sandbox, s.Node)
	if bin != "" {
		mounts = append(mounts, nm...)
		env = prependPath(env, bin)
	}
	in, err := sb.Sandbox.Start(ctx, sandbox.Spec{
		Argv:     s.Argv,
		Dir:      s.Dir,
		ReadOnly: true,
		Env:      env,
		Mounts:   mounts,
		Stdout:   s.Stdout,
		Stderr:   s.Stderr,
		Limits:   sandbox.Limits{MemoryBytes: s.Limits.MemoryBytes, CPUs: s.Limits.CPUs, Pids: s.Limits.Pids},
		Network:  sb.Network,
		Name:     s.Name,
	})
	if err != nil {
		return nil, err
	}
	return &sandboxProcess{in: in}, nil
}

// KillOrphans kills the instances an earlier server left.
func (sb Sandboxed) KillOrphans(ctx context.Context) ([]string, error) {
	return sb.Sandbox.KillOrphans(ctx)
}

// Kinds launches each instance in the sandbox its LaunchSpec names, one
// launcher per kind ("bwrap", "runsc"), "" being Default's. A kind it
// has no launcher for is refused with the kinds it has.
type Kinds struct {
	Default   string
	Launchers map[string]Launcher
}

var (
	_ Launcher     = Kinds{}
	_ OrphanKiller = Kinds{}
)

// Launch starts s with the launcher of its kind.
func (k Kinds) Launch(ctx context.Context, s LaunchSpec) (Process, error) {
	kind := s.Sandbox
	if kind == "" {
		kind = k.Default
	}
	l, ok := k.Launchers[kind]
	if !ok {
		return nil, apogee.Errorf(apogee.EINVALID, "this server runs no apps in the %q sandbox; it runs them in %s (--app-sandboxes)",
			kind, strings.Join(slices.Sorted(maps.Keys(k.Launchers)), ", "))
	}
	return l.Launch(ctx, s)
}

// KillOrphans kills what earlier servers left, through every launcher
// that can (launchers sharing a cgroup parent find nothing the second
// time).
func (k Kinds) KillOrphans(ctx context.Context) ([]string, error) {
	var killed []string
	var errs []error
	for _, kind := range slices.Sorted(maps.Keys(k.Launchers)) {
		if ok, can := k.Launchers[kind].(OrphanKiller); can {
			n, err := ok.KillOrphans(ctx)
			killed = append(killed, n...)
			errs = append(errs, err)
		}
	}
	return killed, errors.Join(errs...)
}

type sandboxProcess struct{ in sandbox.Instance }

func (p *sandboxProcess) Done() <-chan struct{} { return p.in.Done() }

func (p *sandboxProcess) Exit() apps.Exit { return exitOf(p.in.Wait()) }

func (p *sandboxProcess) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return p.in.DialContext(ctx, network, addr)
}

func (p *sandboxProcess) Signal(sig syscall.Signal) error { return p.in.Signal(sig) }

func (p *sandboxProcess) Kill() error { return p.in.Kill() }

func (p *sandboxProcess) Freeze() error { return p.in.Freeze() }

func (p *sandboxProcess) Thaw() error { return p.in.Thaw() }

func (p *sandboxProcess) Usage() (apps.Usage, error) {
	st, err := p.in.Stats()
	if errors.Is(err, sandbox.ErrEnded) {
		return apps.Usage{}, nil
	}
	if err != nil {
		return apps.Usage{}, err
	}
	return apps.Usage{MemoryBytes: st.MemoryBytes, CPU: st.CPU, Pids: st.Pids}, nil
}

var (
	signalReasonRE = regexp.MustCompile(`^killed: signal (\d+)$`)
	pidsReasonRE   = regexp.MustCompile(`^exited: process limit (\d+) reached$`)
)

// exitOf turns the sandbox's Result into an apps.Exit. The reasons the
// sandbox documents are its contract (see sandbox.Result.Reason); the
// supervisor words them for people.
func exitOf(r sandbox.Result) apps.Exit {
	e := apps.Exit{Code: r.ExitCode}
	switch {
	case strings.HasPrefix(r.Reason, "killed: memory limit"):
		e.OOM = true
	case signalReasonRE.MatchString(r.Reason):
		e.Signal, _ = strconv.Atoi(signalReasonRE.FindStringSubmatch(r.Reason)[1])
	case pidsReasonRE.MatchString(r.Reason):
		e.Reason = fmt.Sprintf("exited with code %d after reaching its limit of %s processes", r.ExitCode, pidsReasonRE.FindStringSubmatch(r.Reason)[1])
	case r.Killed():
		e.Reason = r.Reason
	case r.ExitCode > 128 && r.ExitCode <= 128+64:
		// bwrap exits with 128+signal when the program was killed by a
		// signal (the shell's convention, which Result follows).
		e.Signal = r.ExitCode - 128
	}
	return e
}
