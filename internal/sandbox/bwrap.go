package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// Bwrap runs programs under bubblewrap.
//
// What the program gets:
//   - new mount, PID, IPC, UTS and cgroup namespaces; a new, empty network
//     namespace unless Spec.Network; --die-with-parent and --new-session
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

func newBwrap(c config, cg *cgroups) (*Bwrap, error) {
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
	return &Bwrap{runner: runner{cfg: c, cg: cg}, bwrap: p, self: self, root: os.Geteuid() == 0}, nil
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
	if err := validate(&s); err != nil {
		return Result{}, err
	}
	if fi, err := os.Stat(s.Dir); err != nil || !fi.IsDir() {
		return Result{}, fmt.Errorf("sandbox: workspace %s: not a directory", s.Dir)
	}
	if b.root {
		if err := chownTree(s.Dir, b.cfg.uid, b.cfg.gid); err != nil {
			return Result{}, err
		}
		for _, m := range s.Mounts {
			if m.Writable {
				if err := chownTree(m.Source, b.cfg.uid, b.cfg.gid); err != nil {
					return Result{}, err
				}
			}
		}
	}
	args := b.args(s)
	init := payload{Argv: s.Argv, Env: s.Env}
	if b.root {
		init.Drop, init.Uid, init.Gid = true, b.cfg.uid, b.cfg.gid
	}
	return b.run(ctx, s, launch{
		gate: payload{Argv: append([]string{b.bwrap}, args...)},
		init: &init,
	})
}

// args builds bwrap's command line. Nothing secret goes on it: the
// environment travels to the init through a pipe.
func (b *Bwrap) args(s Spec) []string {
	a := []string{
		"--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
		"--die-with-parent", "--new-session",
		"--hostname", "sandbox",
		"--clearenv",
	}
	if !s.Network {
		a = append(a, "--unshare-net")
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
		a = append(a, "--ro-bind-try", f, f)
	}
	a = append(a,
		"--proc", "/proc",
		"--dev", "/dev",
		"--perms", "1777", "--tmpfs", "/tmp",
		"--bind", s.Dir, "/workspace",
	)
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
