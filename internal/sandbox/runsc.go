package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
)

// Runsc runs programs under gVisor: `runsc run` with an OCI bundle made
// for each run. The program talks to gVisor's user-space kernel (the
// Sentry), not to the host's; the host sees only runsc's own processes.
//
// The file system is the one Bwrap builds (read-only /usr and system
// folders, the curated /etc, a private /tmp, the workspace at /workspace),
// the program runs as uid and gid 65534 with no capabilities and
// no_new_privs, and it sees only Spec.Env. Network: the host's (runsc
// --network=host) when Spec.Network, else none. gVisor's own cgroup
// handling is off (--ignore-cgroups): the gate puts runsc itself, with the
// Sentry and the Gofer it starts, in the run's cgroup, so the limits hold
// for everything gVisor spends on the program. The platform is runsc's
// default unless WithRunsc sets one; KVM is not needed.
type Runsc struct {
	runner
	runsc string
}

var _ Sandbox = (*Runsc)(nil)

// Name returns "runsc".
func (*Runsc) Name() string { return "runsc" }

func newRunsc(r runner) (*Runsc, error) {
	c := r.cfg
	path := c.runscPath
	if path == "" {
		path = "runsc"
	}
	p, err := exec.LookPath(path)
	if err != nil {
		return nil, fmt.Errorf("sandbox: gVisor's runsc not found (%w); install it: apt-get install runsc", err)
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("sandbox: runsc needs the server to run as root (this version of apogee does not drive rootless gVisor)")
	}
	return &Runsc{runner: r, runsc: p}, nil
}

// Run runs s under gVisor. See Sandbox for the contract.
func (r *Runsc) Run(ctx context.Context, s Spec) (Result, error) {
	l, _, err := r.prepare(s, false)
	if err != nil {
		return Result{}, err
	}
	return r.run(ctx, s, l)
}

// Start starts s under gVisor as an instance. See Starter for the
// contract. gVisor uses the network namespace of the instance's gate as
// its host network; Signal is `runsc kill`.
func (r *Runsc) Start(ctx context.Context, s Spec) (Instance, error) {
	l, kill, err := r.prepare(s, true)
	if err != nil {
		return nil, err
	}
	l.signal = kill
	if err := gateReady(&l, nil); err != nil {
		l.cleanup()
		return nil, err
	}
	return r.start(ctx, s, l)
}

// prepare makes the OCI bundle of s and the launch that runs it, and a
// function that signals the container.
func (r *Runsc) prepare(s Spec, instance bool) (launch, func(*proc, syscall.Signal) error, error) {
	if err := validate(&s); err != nil {
		return launch{}, nil, err
	}
	if fi, err := os.Stat(s.Dir); err != nil || !fi.IsDir() {
		return launch{}, nil, fmt.Errorf("sandbox: workspace %s: not a directory", s.Dir)
	}
	if !s.ReadOnly {
		if err := chownTree(s.Dir, r.cfg.uid, r.cfg.gid); err != nil {
			return launch{}, nil, err
		}
	}
	for _, m := range s.Mounts {
		if m.Writable {
			if err := chownTree(m.Source, r.cfg.uid, r.cfg.gid); err != nil {
				return launch{}, nil, err
			}
		}
	}
	bundle, err := os.MkdirTemp("", "apogee-runsc-bundle-")
	if err != nil {
		return launch{}, nil, fmt.Errorf("sandbox: %w", err)
	}
	// runsc's state (--root) lives in the bundle too, so a run killed by
	// its cgroup leaves nothing behind once the bundle is removed.
	id := "apogee-" + newRunID()
	state := filepath.Join(bundle, "state")
	runsc := func(args ...string) error {
		c := exec.Command(r.runsc, append([]string{"--root", state}, args...)...)
		c.Env = []string{}
		if out, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("runsc %s: %w: %s", args[0], err, out)
		}
		return nil
	}
	cleanup := func() {
		// The run's cgroup is already killed; this drops runsc's record.
		runsc("delete", "--force", id)
		os.RemoveAll(bundle)
	}
	if err := os.Mkdir(state, 0o700); err != nil {
		cleanup()
		return launch{}, nil, fmt.Errorf("sandbox: %w", err)
	}
	spec, err := r.bundle(bundle, s)
	if err != nil {
		cleanup()
		return launch{}, nil, err
	}
	b, _ := json.Marshal(spec)
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o600); err != nil {
		cleanup()
		return launch{}, nil, fmt.Errorf("sandbox: %w", err)
	}
	// gVisor's tasks are not host processes: the host's pids.max counts
	// gVisor's threads (about 120 at rest, some 9 per task on the ptrace
	// platform), so it bounds the program only roughly; memory and time
	// bound a fork bomb too. At the limit the Sentry cannot make a thread
	// and the whole run ends (exit 2): contained, if bluntly.
	var hostPids int64
	if s.Limits.Pids > 0 {
		hostPids = runscPidsBase + runscPidsPerTask*s.Limits.Pids
	}
	args := []string{r.runsc, "--root", state, "--ignore-cgroups"}
	if s.Network || instance {
		// The "host" network is the gate's own namespace (isolateNet,
		// and every instance), else the host's.
		args = append(args, "--network=host")
	} else {
		args = append(args, "--network=none")
	}
	if r.cfg.runscPlat != "" {
		args = append(args, "--platform="+r.cfg.runscPlat)
	}
	args = append(args, "run", "--bundle", bundle, id)
	// runsc kill talks to the sandbox over a socket of the instance's
	// network namespace: run it there.
	kill := func(p *proc, sig syscall.Signal) error {
		c := exec.Command(r.runsc, "--root", state, "kill", id, strconv.Itoa(int(sig)))
		c.Env = []string{}
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, &out
		if err := startIn(p.netns, r.hostNetns, c); err != nil {
			return err
		}
		if err := c.Wait(); err != nil {
			return fmt.Errorf("runsc kill: %w: %s", err, out.Bytes())
		}
		return nil
	}
	l := launch{gate: payload{Argv: args}, cleanup: cleanup, hostPids: hostPids, netns: s.Network && r.cfg.isolateNet}
	return l, kill, nil
}

// How Limits.Pids becomes pids.max for runsc.
const runscPidsBase, runscPidsPerTask = 256, 12

// The parts of an OCI runtime spec we write.
type (
	ociSpec struct {
		Version  string     `json:"ociVersion"`
		Process  ociProcess `json:"process"`
		Root     ociRoot    `json:"root"`
		Hostname string     `json:"hostname"`
		Mounts   []ociMount `json:"mounts"`
		Linux    ociLinux   `json:"linux"`
	}
	ociProcess struct {
		User            ociUser  `json:"user"`
		Args            []string `json:"args"`
		Env             []string `json:"env"`
		Cwd             string   `json:"cwd"`
		NoNewPrivileges bool     `json:"noNewPrivileges"`
		Capabilities    struct {
			Bounding    []string `json:"bounding"`
			Effective   []string `json:"effective"`
			Inheritable []string `json:"inheritable"`
			Permitted   []string `json:"permitted"`
			Ambient     []string `json:"ambient"`
		} `json:"capabilities"`
	}
	ociUser struct {
		UID uint32 `json:"uid"`
		GID uint32 `json:"gid"`
	}
	ociRoot struct {
		Path     string `json:"path"`
		Readonly bool   `json:"readonly"`
	}
	ociMount struct {
		Destination string   `json:"destination"`
		Type        string   `json:"type"`
		Source      string   `json:"source"`
		Options     []string `json:"options,omitempty"`
	}
	ociLinux struct {
		Namespaces []ociNamespace `json:"namespaces"`
	}
	ociNamespace struct {
		Type string `json:"type"`
	}
)

// bundle makes the root folder (empty but for mount points and the
// system symlinks) and returns the spec.
func (r *Runsc) bundle(dir string, s Spec) (*ociSpec, error) {
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	var mounts []ociMount
	// mountPoint makes target exist in rootfs, as a folder or a file like
	// source.
	mountPoint := func(source, target string) error {
		p := filepath.Join(rootfs, target)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if fi, err := os.Stat(source); err == nil && !fi.IsDir() {
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			return f.Close()
		}
		return os.MkdirAll(p, 0o755)
	}
	bind := func(source, target string, rw bool) error {
		if err := mountPoint(source, target); err != nil {
			return fmt.Errorf("sandbox: mount point %s: %w", target, err)
		}
		opt := "ro"
		if rw {
			opt = "rw"
		}
		mounts = append(mounts, ociMount{Destination: target, Type: "bind", Source: source, Options: []string{"rbind", opt}})
		return nil
	}
	for _, d := range []string{"/proc", "/dev", "/tmp"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
	}
	mounts = append(mounts,
		ociMount{Destination: "/proc", Type: "proc", Source: "proc"},
		ociMount{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "mode=755"}},
		ociMount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777"}},
	)
	if err := bind("/usr", "/usr", false); err != nil {
		return nil, err
	}
	for _, d := range systemDirs {
		fi, err := os.Lstat(d)
		switch {
		case err != nil:
		case fi.Mode()&fs.ModeSymlink != 0:
			t, err := os.Readlink(d)
			if err == nil {
				err = os.Symlink(t, filepath.Join(rootfs, d))
			}
			if err != nil {
				return nil, fmt.Errorf("sandbox: %w", err)
			}
		case fi.IsDir():
			if err := bind(d, d, false); err != nil {
				return nil, err
			}
		}
	}
	for _, f := range etcFiles {
		if f == "/etc/resolv.conf" && s.Network && r.cfg.isolateNet {
			if err := bind(r.cfg.resolvPath, f, false); err != nil { // slirp's DNS
				return nil, err
			}
			continue
		}
		src, err := filepath.EvalSymlinks(f)
		if err != nil {
			continue // absent here
		}
		if err := bind(src, f, false); err != nil {
			return nil, err
		}
	}
	if err := bind(s.Dir, "/workspace", !s.ReadOnly); err != nil {
		return nil, err
	}
	for _, m := range s.Mounts {
		if err := bind(m.Source, filepath.Clean(m.Target), m.Writable); err != nil {
			return nil, err
		}
	}
	spec := &ociSpec{
		Version:  "1.0.2",
		Root:     ociRoot{Path: rootfs, Readonly: true},
		Hostname: "sandbox",
		Mounts:   mounts,
		Linux: ociLinux{Namespaces: []ociNamespace{
			{Type: "pid"}, {Type: "ipc"}, {Type: "uts"}, {Type: "mount"},
		}},
	}
	spec.Process = ociProcess{
		User:            ociUser{UID: uint32(r.cfg.uid), GID: uint32(r.cfg.gid)},
		Args:            s.Argv,
		Env:             s.Env,
		Cwd:             "/workspace",
		NoNewPrivileges: true,
	}
	if spec.Process.Env == nil {
		spec.Process.Env = []string{}
	}
	p := &spec.Process.Capabilities
	p.Bounding, p.Effective, p.Inheritable, p.Permitted, p.Ambient = []string{}, []string{}, []string{}, []string{}, []string{}
	return spec, nil
}
