package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Bwrap runs programs under bubblewrap.
//
// What the program gets:
//   - new mount, PID, IPC, UTS and cgroup namespaces; a new, empty network
//     namespace unless Spec.Network (an instance's is its own, made for
//     its gate); --die-with-parent (not for instances) and --new-session
//     (no TIOCSTI into the server's terminal);
//   - a root of its own: /usr (so /usr/local, where Node.js may live)
//     read-only, /bin, /sbin, /lib* as the host has them (symlinks into
//     /usr or read-only binds), and from /etc only what programs need to
//     resolve names, verify TLS and look up users (etcFiles): no other
//     host configuration, which may hold credentials;
//   - a fresh /proc of its own PID namespace, a minimal /dev, a private
//     /tmp (tmpfs, mode 1777), the workspace at /workspace (its working
//     directory) and the Spec's Mounts. The root itself is read-only.
//     Nothing else of the host: not /root, /home, /var, /srv, /run, /work,
//     nor the data folder wherever it is;
//   - only Spec.Env;
//   - when the server runs as root, uid and gid 65534 on the host as well
//     as inside (no user namespace is needed: bwrap sets up as root and our
//     init drops to the uid before the program runs), with no capabilities
//     and no_new_privs. Dir and writable Mounts are chowned to that uid
//     first. When the server is not root, bwrap makes a user namespace and
//     the program runs as the server's own uid without capabilities.
type Bwrap struct {
	runner
	bwrap string
	self  string // our own binary, bound into the sandbox as the init
	root  bool   // running as root: drop to cfg.uid
}

var _ Sandbox = (*Bwrap)(nil)

// Name returns "bwrap".
func (*Bwrap) Name() string { return "bwrap" }

func newBwrap(r runner) (*Bwrap, error) {
	c := r.cfg
	path := c.bwrapPath
	if path == "" {
		path = "bwrap"
	}
	p, err := exec.LookPath(path)
	if err != nil {
		return nil, fmt.Errorf("sandbox: bubblewrap not found (%w); install it: apt-get install bubblewrap", err)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("sandbox: finding our own binary: %w", err)
	}
	return &Bwrap{runner: r, bwrap: p, self: self, root: os.Geteuid() == 0}, nil
}

// etcFiles are the parts of the host's /etc a sandbox sees (those that
// exist). Not /etc/ssl/private, not /etc/npmrc and the like: registry
// credentials belong in Spec.Env.
var etcFiles = []string{
	"/etc/alternatives", "/etc/ca-certificates", "/etc/ssl/certs", "/etc/ssl/openssl.cnf", "/etc/pki/tls/certs", "/etc/pki/ca-trust",
	"/etc/resolv.conf", "/etc/hosts", "/etc/host.conf", "/etc/nsswitch.conf",
	"/etc/gai.conf", "/etc/services", "/etc/protocols",
	"/etc/passwd", "/etc/group",
	"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
	"/etc/localtime", "/etc/mime.types", "/etc/os-release", "/etc/debian_version",
}

// The system folders outside /usr: bound when they are folders, made the
// same symlink when they are symlinks (merged /usr).
var systemDirs = []string{"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}

// Where the init binary appears inside the sandbox.
const initPath = "/run/apogee/" + initName

// Run runs s under bubblewrap. See Sandbox for the contract.
func (b *Bwrap) Run(ctx context.Context, s Spec) (Result, error) {
	if err := b.prepare(&s); err != nil {
		return Result{}, err
	}
	l := b.launch(s, b.args(s, false))
	l.netns = s.Network && b.cfg.isolateNet
	return b.run(ctx, s, l)
}

// The files an instance's gate passes on, after the payloads (3, 4).
const (
	readyFD = 5 // the init writes a byte there just before its exec
	infoFD  = 6 // bwrap --info-fd: the PID of the namespace's init
)

// Start starts s under bubblewrap as an instance. See Starter for the
// contract. The instance's main program is the one Spec.Argv names (not
// bwrap, which does not pass signals on): Signal finds it as the child of
// the PID namespace's init and holds a pidfd to it.
func (b *Bwrap) Start(ctx context.Context, s Spec) (Instance, error) {
	if err := b.prepare(&s); err != nil {
		return nil, err
	}
	readyR, readyW, err := pipe()
	if err != nil {
		return nil, err
	}
	infoR, infoW, err := pipe()
	if err != nil {
		readyR.Close()
		readyW.Close()
		return nil, err
	}
	l := b.launch(s, b.args(s, true))
	l.init.ReadyFD = readyFD
	l.extra = []*os.File{readyW, infoW}
	l.cleanup = func() {
		readyR.Close()
		infoR.Close()
	}
	l.ready = func(ctx context.Context, p *proc) (func(syscall.Signal) error, error) {
		return bwrapReady(ctx, p, readyR, infoR)
	}
	return b.start(ctx, s, l)
}

// bwrapReady waits for the init's byte, then finds the program: the
// child of the namespace's init (bwrap's, whose host PID --info-fd
// gives).
func bwrapReady(ctx context.Context, p *proc, readyR, infoR *os.File) (func(syscall.Signal) error, error) {
	stop := context.AfterFunc(ctx, func() { infoR.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	if ok, err := waitReady(ctx, readyR); !ok {
		return nil, err // nil: it ended before its exec, Wait says why
	}
	var info struct {
		ChildPid int `json:"child-pid"`
	}
	if err := json.NewDecoder(infoR).Decode(&info); err != nil || info.ChildPid <= 0 {
		return nil, fmt.Errorf("sandbox: reading bwrap's --info-fd: %v", err)
	}
	pids, err := p.cg.procs()
	if err != nil {
		return nil, fmt.Errorf("sandbox: finding the program: %w", err)
	}
	for _, pid := range pids {
		if parentPid(pid) != info.ChildPid {
			continue
		}
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			return nil, fmt.Errorf("sandbox: pidfd of the program: %w", err)
		}
		if parentPid(pid) != info.ChildPid { // gone between the two looks
			unix.Close(fd)
			continue
		}
		pidfd := os.NewFile(uintptr(fd), "pidfd")
		p.closers = append(p.closers, func() { pidfd.Close() })
		return func(sig syscall.Signal) error {
			return unix.PidfdSendSignal(int(pidfd.Fd()), sig, nil, 0)
		}, nil
	}
	return nil, nil // it has already ended: Wait says why
}

// waitReady waits for the byte a gate or an init writes just before its
// exec. It returns false and no error when the process ended first.
func waitReady(ctx context.Context, r *os.File) (bool, error) {
	stop := context.AfterFunc(ctx, func() { r.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	var b [1]byte
	if _, err := r.Read(b[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		return false, fmt.Errorf("sandbox: waiting for the program to start: %w", err)
	}
	return true, nil
}

// gateReady makes l's gate say when it execs: its ReadyFD is the first
// extra file.
func gateReady(l *launch, signal func(syscall.Signal) error) error {
	readyR, readyW, err := pipe()
	if err != nil {
		return err
	}
	l.gate.ReadyFD = 4
	l.extra = append([]*os.File{readyW}, l.extra...)
	prev := l.cleanup
	l.cleanup = func() {
		readyR.Close()
		if prev != nil {
			prev()
		}
	}
	l.ready = func(ctx context.Context, _ *proc) (func(syscall.Signal) error, error) {
		ok, err := waitReady(ctx, readyR)
		if !ok {
			return nil, err
		}
		return signal, nil
	}
	return nil
}

// parentPid reads the parent of pid from /proc, or -1.
func parentPid(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "PPid:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err == nil {
				return n
			}
		}
	}
	return -1
}

// prepare checks s and gives the writable folders to the sandbox user.
func (b *Bwrap) prepare(s *Spec) error {
	if err := validate(s); err != nil {
		return err
	}
	if fi, err := os.Stat(s.Dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("sandbox: workspace %s: not a directory", s.Dir)
	}
	if !b.root {
		return nil
	}
	if !s.ReadOnly {
		if err := chownTree(s.Dir, b.cfg.uid, b.cfg.gid); err != nil {
			return err
		}
	}
	for _, m := range s.Mounts {
		if m.Writable {
			if err := chownTree(m.Source, b.cfg.uid, b.cfg.gid); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *Bwrap) launch(s Spec, args []string) launch {
	init := payload{Argv: s.Argv, Env: s.Env}
	if b.root {
		init.Drop, init.Uid, init.Gid = true, b.cfg.uid, b.cfg.gid
	}
	return launch{
		gate: payload{Argv: append([]string{b.bwrap}, args...)},
		init: &init,
	}
}

// args builds bwrap's command line. Nothing secret goes on it: the
// environment travels to the init through a pipe.
//
// An instance (Start) lives on if the server dies (no --die-with-parent),
// stays in the network namespace its gate was cloned into, and reports
// its namespace's init on --info-fd.
func (b *Bwrap) args(s Spec, instance bool) []string {
	a := []string{
		"--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
		"--new-session",
		"--hostname", "sandbox",
		"--clearenv",
	}
	switch {
	case instance:
		a = append(a, "--info-fd", strconv.Itoa(infoFD))
	case !s.Network:
		a = append(a, "--die-with-parent", "--unshare-net")
	default:
		// The gate's own namespace with NAT (isolateNet), else the
		// host's.
		a = append(a, "--die-with-parent")
	}
	if b.root {
		// The init needs these to empty the bounding set and switch to the
		// sandbox uid; every other capability is gone, and these go too.
		a = append(a, "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP")
	} else {
		a = append(a, "--unshare-user")
	}
	// bwrap makes missing parents of mount points mode 0700 when it runs
	// as root: make the ones the program must traverse world-readable.
	a = append(a, "--perms", "0755", "--dir", "/etc", "--perms", "0755", "--dir", "/etc/ssl", "--perms", "0755", "--dir", "/run", "--perms", "0755", "--dir", "/run/apogee")
	a = append(a, "--ro-bind", "/usr", "/usr")
	for _, d := range systemDirs {
		fi, err := os.Lstat(d)
		switch {
		case err != nil:
		case fi.Mode()&fs.ModeSymlink != 0:
			if t, err := os.Readlink(d); err == nil {
				a = append(a, "--symlink", t, d)
			}
		case fi.IsDir():
			a = append(a, "--ro-bind", d, d)
		}
	}
	for _, f := range etcFiles {
		if f == "/etc/resolv.conf" && s.Network && b.cfg.isolateNet {
			f = b.cfg.resolvPath // slirp's DNS
			a = append(a, "--ro-bind", f, "/etc/resolv.conf")
			continue
		}
		a = append(a, "--ro-bind-try", f, f)
	}
	a = append(a,
		"--proc", "/proc",
		"--dev", "/dev",
		"--perms", "1777", "--tmpfs", "/tmp",
	)
	if s.ReadOnly {
		a = append(a, "--ro-bind", s.Dir, "/workspace")
	} else {
		a = append(a, "--bind", s.Dir, "/workspace")
	}
	for _, m := range s.Mounts {
		op := "--ro-bind"
		if m.Writable {
			op = "--bind"
		}
		a = append(a, op, m.Source, filepath.Clean(m.Target))
	}
	a = append(a,
		"--ro-bind", b.self, initPath,
		"--remount-ro", "/",
		"--chdir", "/workspace",
		"--", initPath,
	)
	return a
}

// chownTree gives dir and everything in it to uid:gid, without following
// symlinks. Run calls it before the sandbox starts, when no process of an
// earlier run can still be changing the tree.
func chownTree(dir string, uid, gid int) error {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, uid, gid); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sandbox: giving %s to uid %s: %w", dir, strconv.Itoa(uid), err)
	}
	return nil
}
