// Package sandbox runs untrusted programs (a build's `npm ci`, later an
// app) in isolation with resource limits.
//
// Three kinds exist, chosen by name with New:
//
//   - "bwrap" (default): bubblewrap. New mount, PID, IPC, UTS and cgroup
//     namespaces; a read-only system; the workspace and a private /tmp the
//     only writable places; an unprivileged uid (65534) when the server runs
//     as root. See Bwrap.
//   - "runsc": gVisor. The program runs on gVisor's user-space kernel; see
//     Runsc.
//   - "none": no isolation at all, for development. It says so loudly at
//     every Run.
//
// Every kind enforces Limits through cgroups and a wall-clock timer. New
// reads /proc/self/mountinfo: the unified v2 tree is used when it has the
// memory, cpu and pids controllers (most hosts), else the v1 hierarchies
// of those three (hosts where v2 is mounted without controllers count as
// v1). Each Run gets its own cgroup below the parent (WithCgroupParent)
// with memory.max / memory.limit_in_bytes (+memsw, or swap.max 0),
// cpu.max / cfs_quota_us and pids.max; an OOM kill is read from
// memory.events or memory.oom_control. The first process of a run is a
// re-exec of our own binary (the gate) that waits until it is in the
// cgroup before it execs anything, so no process of the run ever runs
// outside it. When a run ends, is canceled or hits its time limit, every
// process in its cgroup is killed (cgroup.kill on v2, SIGKILL to each pid
// of cgroup.procs until it is empty on v1) and the cgroup removed.
//
// Start runs a long-lived program (an app instance) the same way and
// returns an Instance: see Starter.
//
// A Sandbox is safe for concurrent use.
package sandbox

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
)

// Spec says what to run and with what.
type Spec struct {
	// Argv is the program and its arguments; Argv[0] is looked up in the
	// PATH of Env when it has no slash.
	Argv []string
	// Dir is the host path of the workspace: the only writable place
	// besides a private /tmp and writable Mounts. Sandboxes mount it at
	// /workspace and run there; "none" runs in Dir itself. Under bwrap run
	// as root, Dir (unless ReadOnly) and writable Mounts are chowned to the
	// sandbox user before the run.
	Dir string
	// ReadOnly mounts Dir read-only (an app's release tree). It must then
	// be readable by the sandbox user (65534): it is not chowned. "none"
	// cannot enforce it.
	ReadOnly bool
	// Env is the only environment the program sees, as KEY=VALUE. The
	// server's own environment never reaches it.
	Env []string
	// Mounts are extra binds, read-only unless Writable (a build cache).
	Mounts []Mount
	// Stdout and Stderr receive the program's output; nil discards it.
	Stdout, Stderr io.Writer
	Limits         Limits
	// Network gives the program the internet (builds need package
	// registries): through a user-space NAT from a network namespace of
	// its own, never to the host's loopback, the machine's addresses, or
	// private, link-local (cloud metadata) and reserved ranges unless
	// allowed (WithAllowNet); see network.go. Under "none", and when the
	// server does not run as root, a Run shares the host's network
	// instead. When false the program gets an empty network namespace
	// (loopback only, not the host's).
	Network bool
	// Name is, for Start only, the instance's name: letters, digits, '.',
	// '_' and '-', at most 64, unique among the running instances of the
	// Sandbox. Empty means a random one. The instance's ID and cgroup are
	// InstancePrefix+Name.
	Name string
}

// Mount binds a host path into the sandbox.
type Mount struct {
	Source   string // host path
	Target   string // absolute path inside the sandbox
	Writable bool
}

// Limits bound what one Run may use. A zero field means no limit.
type Limits struct {
	MemoryBytes int64         // RAM (and swap, where the kernel accounts it)
	CPUs        float64       // CPU time per wall second, e.g. 1.5
	Pids        int64         // processes and threads at once (roughly, under runsc)
	Wall        time.Duration // wall-clock time
}

// Reasons a Run ended. Killed reasons carry the limit, e.g.
// "killed: memory limit 512 MiB", "killed: time limit 10m".
const (
	ReasonExited   = "exited"
	ReasonCanceled = "canceled"
)

// Result is how a Run ended.
type Result struct {
	// ExitCode is the program's exit status, or 128+signal when a signal
	// ended it (the shell's convention).
	ExitCode int
	// Reason is ReasonExited, ReasonCanceled, or "killed: …" with what
	// killed it: "killed: memory limit 512 MiB", "killed: time limit 10m",
	// "killed: signal 9". A run that failed after a fork hit its process
	// limit is "exited: process limit 64 reached".
	Reason     string
	Duration   time.Duration
	PeakMemory int64 // bytes, from the cgroup; 0 when unknown
}

// Killed reports whether the program was killed by a limit or a signal.
func (r Result) Killed() bool { return strings.HasPrefix(r.Reason, "killed:") }

// Sandbox runs programs in isolation.
//
// Run starts s.Argv, waits for it and every process it started, and
// reports how it ended. A non-zero exit, a limit hit or ctx being canceled
// is a Result, not an error: Run returns a non-nil error only when the
// sandbox itself failed (a bad Spec is an *apogee.Error with code
// EINVALID). When Run returns, no process of the run is left: the cgroup
// (or the PID namespace) is killed and removed. Run is safe for concurrent
// use.
type Sandbox interface {
	Name() string
	Runner
	Starter
}

// Runner runs a program to its end: see Sandbox.
type Runner interface {
	Run(ctx context.Context, s Spec) (Result, error)
}

// Option configures New.
type Option func(*config)

type config struct {
	logger       *slog.Logger
	noLimits     bool
	cgroupParent string
	uid, gid     int
	bwrapPath    string
	runscPath    string
	runscPlat    string
	allowNet     []netip.Prefix
	slirpPath    string // slirp4netns, found by New when root
	nftPath      string // nft, found by New when root
	resolvPath   string // the resolv.conf of programs with egress
	isolateNet   bool   // egress goes through slirp4netns (root)
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithoutLimits runs without cgroups: no memory, CPU or process limits
// (the wall-clock limit still holds). Use it only where cgroups cannot be
// written, such as a laptop without root.
func WithoutLimits() Option { return func(c *config) { c.noLimits = true } }

// WithCgroupParent sets the cgroup under which each Run gets its own,
// relative to the root of each cgroup hierarchy (default "apogee", so
// /sys/fs/cgroup/memory/apogee/<run> on v1, /sys/fs/cgroup/apogee/<run>
// on v2). On a systemd host with cgroup v2 and Delegate=yes, point it at a
// child of the service's own cgroup.
func WithCgroupParent(p string) Option { return func(c *config) { c.cgroupParent = p } }

// WithUser sets the uid and gid the program runs as when the server runs
// as root (default 65534, "nobody").
func WithUser(uid, gid int) Option { return func(c *config) { c.uid, c.gid = uid, gid } }

// WithBwrap sets the bwrap binary (default: "bwrap" in PATH).
func WithBwrap(path string) Option { return func(c *config) { c.bwrapPath = path } }

// WithRunsc sets the runsc binary (default: "runsc" in PATH) and gVisor's
// platform (default "systrap" where supported, else "ptrace"; "kvm" needs
// /dev/kvm).
func WithRunsc(path, platform string) Option {
	return func(c *config) { c.runscPath, c.runscPlat = path, platform }
}

// Kinds lists the names New accepts.
var Kinds = []string{"bwrap", "runsc", "none"}

// New returns the sandbox of the given kind ("" means "bwrap"). It checks
// what the kind needs (the binary, writable cgroups) and fails with an
// error saying how to fix it.
func New(kind string, opts ...Option) (Sandbox, error) {
	c := config{logger: slog.Default(), cgroupParent: "apogee", uid: 65534, gid: 65534}
	for _, o := range opts {
		o(&c)
	}
	if p := filepath.Clean("/" + c.cgroupParent); p == "/" || strings.Contains(c.cgroupParent, "..") {
		return nil, apogee.Errorf(apogee.EINVALID, "sandbox: the cgroup parent %q must be a cgroup below the root", c.cgroupParent)
	}
	var cg *cgroups
	if !c.noLimits {
		var err error
		cg, err = detectCgroups("", c.cgroupParent)
		if err != nil {
			return nil, err
		}
	}
	if os.Geteuid() == 0 {
		if err := c.findNetTools(); err != nil {
			return nil, err
		}
	} else if kind != "none" {
		c.logger.Warn("sandbox: not running as root, so sandboxed programs share the host's network (its loopback services included); run apogee as root to isolate them")
	}
	// Instances are dialed from a thread that enters their network
	// namespace and comes back to this one.
	host, err := openNetns()
	if err != nil {
		return nil, fmt.Errorf("sandbox: opening our network namespace: %w", err)
	}
	r := runner{cfg: c, cg: cg, hostNetns: host}
	var sb Sandbox
	switch kind {
	case "", "bwrap":
		sb, err = newBwrap(r)
	case "runsc":
		sb, err = newRunsc(r)
	case "none":
		sb = &None{runner: r}
	default:
		err = apogee.Errorf(apogee.EINVALID, "unknown sandbox %q: choose one of %s", kind, strings.Join(Kinds, ", "))
	}
	if err != nil {
		host.Close()
		return nil, err
	}
	return sb, nil
}

// findNetTools finds slirp4netns and nft, which give sandboxes their
// egress and its limits, and writes their resolv.conf.
func (c *config) findNetTools() error {
	var err error
	if c.slirpPath, err = exec.LookPath("slirp4netns"); err != nil {
		return fmt.Errorf("sandbox: slirp4netns not found (%w): sandboxed programs reach the internet through it; install it: apt-get install slirp4netns", err)
	}
	if c.nftPath, err = exec.LookPath("nft"); err != nil {
		return fmt.Errorf("sandbox: nft not found (%w): it keeps sandboxed programs off the host and private networks; install it: apt-get install nftables", err)
	}
	if c.resolvPath, err = resolvConf(); err != nil {
		return fmt.Errorf("sandbox: writing the sandboxes' resolv.conf: %w", err)
	}
	c.isolateNet = true
	return nil
}

// openNetns opens the network namespace of the calling thread: the
// process's own, since a thread that enters an instance's is locked to
// its goroutine until it has come back (/proc/self would name the main
// thread's, which may be one of those for a moment).
func openNetns() (*os.File, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return os.Open("/proc/thread-self/ns/net")
}

func validate(s *Spec) error {
	if s.Name != "" && !validName(s.Name) {
		return apogee.Errorf(apogee.EINVALID, "sandbox: instance name %q: use at most 64 letters, digits, '.', '_' or '-', starting with a letter or digit", s.Name)
	}
	if len(s.Argv) == 0 || s.Argv[0] == "" {
		return apogee.Errorf(apogee.EINVALID, "sandbox: nothing to run (empty Argv)")
	}
	if !filepath.IsAbs(s.Dir) {
		return apogee.Errorf(apogee.EINVALID, "sandbox: the workspace %q is not an absolute path", s.Dir)
	}
	for _, m := range s.Mounts {
		if !filepath.IsAbs(m.Source) || !filepath.IsAbs(m.Target) {
			return apogee.Errorf(apogee.EINVALID, "sandbox: mount %q on %q: both paths must be absolute", m.Source, m.Target)
		}
		if t := filepath.Clean(m.Target); t == "/" || t == "/proc" || t == "/dev" {
			return apogee.Errorf(apogee.EINVALID, "sandbox: mount on %q is not allowed", m.Target)
		}
	}
	for _, kv := range s.Env {
		if !strings.Contains(kv, "=") || strings.HasPrefix(kv, "=") {
			return apogee.Errorf(apogee.EINVALID, "sandbox: environment entry %q is not KEY=VALUE", strings.SplitN(kv, "=", 2)[0])
		}
	}
	if s.Limits.MemoryBytes < 0 || s.Limits.CPUs < 0 || s.Limits.Pids < 0 || s.Limits.Wall < 0 {
		return apogee.Errorf(apogee.EINVALID, "sandbox: negative limit")
	}
	return nil
}

// memoryReason is the Reason of a run killed at its memory limit.
func memoryReason(n int64) string { return "killed: memory limit " + formatBytes(n) }

// timeReason is the Reason of a run killed at its wall-clock limit.
func timeReason(d time.Duration) string { return "killed: time limit " + formatDuration(d) }

func formatBytes(n int64) string {
	const mib, gib = 1 << 20, 1 << 30
	switch {
	case n > 0 && n%gib == 0:
		return fmt.Sprintf("%d GiB", n/gib)
	case n > 0 && n%mib == 0:
		return fmt.Sprintf("%d MiB", n/mib)
	case n >= mib:
		return fmt.Sprintf("%.1f MiB", float64(n)/mib)
	}
	return fmt.Sprintf("%d bytes", n)
}

// formatDuration prints 10m rather than 10m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func validName(n string) bool {
	if len(n) == 0 || len(n) > 64 {
		return false
	}
	for i, c := range n {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}
