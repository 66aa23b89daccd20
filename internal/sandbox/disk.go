package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/dustin/go-humanize"
	"golang.org/x/sys/unix"
)

// Disk is a folder bounded in size: an ext4 file system in a sparse image
// file beside it, mounted on the folder through a loop device. A program
// that writes past the bound gets ENOSPC, as on a full disk, and the
// machine's own disk is untouched. Measured here (docs/security.md): a
// 1–16 GiB image is made and mounted in 0.2–0.7 s and takes 1–5 MiB of
// the host's disk until written; ext4 project quotas need the host's file
// system mounted with prjquota (this one is not), and a size-limited tmpfs
// would count a build's files against its memory limit.
//
// MountDisk needs root (mount) and mkfs.ext4 (Debian's e2fsprogs).
type Disk struct {
	dir, image string
	size       int64
}

// MountDisk makes dir (which must not exist or be empty) a Disk of size
// bytes. Unmount undoes it.
func MountDisk(ctx context.Context, dir string, size int64) (_ *Disk, err error) {
	if size < 1<<20 {
		return nil, fmt.Errorf("sandbox: disk of %d bytes: at least 1 MiB", size)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("sandbox: disk: %w", err)
	}
	d := &Disk{dir: dir, image: dir + ".disk", size: size}
	f, err := os.OpenFile(d.image, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sandbox: disk image: %w", err)
	}
	err = f.Truncate(size)
	f.Close()
	defer func() {
		if err != nil {
			os.Remove(d.image)
		}
	}()
	if err != nil {
		return nil, fmt.Errorf("sandbox: disk image: %w", err)
	}
	// No journal (the image is thrown away), lazy inode tables (fast to
	// make), no blocks reserved for root.
	if err := command(ctx, "mkfs.ext4", "-q", "-F", "-O", "^has_journal", "-E", "lazy_itable_init=1,nodiscard", "-m", "0", d.image); err != nil {
		return nil, err
	}
	if err := command(ctx, "mount", "-o", "loop,nosuid,nodev", d.image, dir); err != nil {
		return nil, err
	}
	os.Remove(dir + "/lost+found")
	return d, nil
}

func command(ctx context.Context, name string, args ...string) error {
	c := exec.CommandContext(ctx, name, args...)
	c.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("sandbox: disk: %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Size is the bound, in bytes.
func (d *Disk) Size() int64 { return d.size }

// Full reports whether the disk has no room left (less than 1 MiB or no
// inode free): the likely cause of a step that failed.
func (d *Disk) Full() bool {
	var st unix.Statfs_t
	if err := unix.Statfs(d.dir, &st); err != nil {
		return false
	}
	return int64(st.Bavail)*int64(st.Bsize) < 1<<20 || st.Ffree == 0
}

// Reason says a step failed on the full disk: "disk limit 4.0 GiB reached".
func (d *Disk) Reason() string { return "disk limit " + humanize.IBytes(uint64(d.size)) + " reached" }

// Unmount unmounts the disk and removes its image; what was on it is
// gone. Every program that used it must have ended.
func (d *Disk) Unmount() error {
	if err := unix.Unmount(d.dir, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		// Busy: detach now, free when the last user is gone.
		if err2 := unix.Unmount(d.dir, unix.MNT_DETACH); err2 != nil {
			return fmt.Errorf("sandbox: unmounting disk %s: %w", d.dir, err)
		}
	}
	if err := os.Remove(d.image); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("sandbox: removing disk image: %w", err)
	}
	return nil
}

// UnmountStale unmounts the disks left below root by a process that
// died (a server killed -9), so their folders can be removed.
func UnmountStale(root string) error {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	prefix := strings.TrimSuffix(root, "/") + "/"
	var errs []error
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		if mnt := unescapeMount(f[4]); strings.HasPrefix(mnt, prefix) {
			if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
				errs = append(errs, fmt.Errorf("unmounting %s: %w", mnt, err))
			}
			os.Remove(mnt + ".disk")
		}
	}
	return errors.Join(errs...)
}
