// Package safefs reads folders that someone else wrote: a build's
// workspace, a repository's checkout. Nothing it opens follows a symbolic
// link, not even one that stays inside the folder; a file is opened only
// if it is a regular file (never a FIFO, a socket or a device, so an open
// never blocks), and reads stop at a size cap.
//
// On Linux 5.6 and later every open is one openat2(2) with
// RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS relative to
// the folder's descriptor; where openat2 is missing (older kernels,
// gVisor) the path is walked one name at a time with O_NOFOLLOW. Files
// are opened O_NONBLOCK (which regular files ignore): a FIFO is seen by
// fstat and closed, never waited on.
//
// A Dir is safe for concurrent use. It holds the folder's descriptor, so
// renaming or replacing the folder's path after OpenDir does not change
// what it reads.
package safefs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Errors, wrapped in an *fs.PathError naming the file.
var (
	// ErrLink: a name on the path is a symbolic link.
	ErrLink = errors.New("is a symbolic link (links are not followed)")
	// ErrNotRegular: the file is a FIFO, socket or device, or a folder
	// where a file was wanted.
	ErrNotRegular = errors.New("is not a regular file")
	// ErrNotDir: a folder was wanted.
	ErrNotDir = errors.New("is not a folder")
	// ErrTooLarge: the file is larger than the cap.
	ErrTooLarge = errors.New("is larger than the limit")
)

// noOpenat2 is set once openat2 answered ENOSYS (or by tests).
var noOpenat2 atomic.Bool

// Dir is an open folder whose contents are untrusted.
type Dir struct {
	f    *os.File
	name string // for messages
}

// OpenDir opens the folder at dir, a path the caller trusts (its last
// name must not be a link either).
func OpenDir(dir string) (*Dir, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: mapErr(err)}
	}
	return &Dir{f: os.NewFile(uintptr(fd), dir), name: dir}, nil
}

// Close closes the folder.
func (d *Dir) Close() error { return d.f.Close() }

// Fd is the folder's descriptor, valid until Close.
func (d *Dir) Fd() int { return int(d.f.Fd()) }

// Name is the path OpenDir was given, joined with the names of OpenDir
// calls since.
func (d *Dir) Name() string { return d.name }

// open opens name (slash-separated, relative, no "..") under d with
// flags, following no link.
func (d *Dir) open(name string, flags int) (int, error) {
	if !fs.ValidPath(name) {
		return -1, fs.ErrInvalid
	}
	flags |= unix.O_CLOEXEC | unix.O_NOFOLLOW
	if flags&unix.O_PATH == 0 {
		flags |= unix.O_NOCTTY // openat2 takes no other flag beside O_PATH
	}
	if !noOpenat2.Load() {
		for {
			fd, err := unix.Openat2(d.Fd(), name, &unix.OpenHow{
				Flags:   uint64(flags),
				Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
			})
			switch err {
			case unix.EINTR, unix.EAGAIN:
				// EAGAIN: a rename raced the lookup; the kernel asks to retry.
				continue
			case unix.ENOSYS:
				noOpenat2.Store(true)
			default:
				return fd, mapErr(err)
			}
			break
		}
	}
	return d.walk(name, flags)
}

// walk is open without openat2: one openat per name, each O_NOFOLLOW.
func (d *Dir) walk(name string, flags int) (int, error) {
	if name == "." {
		return openat(d.Fd(), ".", flags)
	}
	names := strings.Split(name, "/")
	cur := d.Fd()
	for i, n := range names {
		last := i == len(names)-1
		f := unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
		if last {
			f = flags
		}
		fd, err := openat(cur, n, f)
		if err == unix.ENOTDIR && isLink(cur, n) {
			// O_DIRECTORY|O_NOFOLLOW on a link: say why it failed.
			err = unix.ELOOP
		}
		if cur != d.Fd() {
			unix.Close(cur)
		}
		if err != nil {
			return -1, mapErr(err)
		}
		cur = fd
	}
	return cur, nil
}

// isLink reports whether name under dir is a symbolic link.
func isLink(dir int, name string) bool {
	var st unix.Stat_t
	return unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK
}

func openat(dir int, name string, flags int) (int, error) {
	for {
		fd, err := unix.Openat(dir, name, flags, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// mapErr turns the errno of a refused open into the package's errors.
func mapErr(err error) error {
	switch err {
	case nil:
		return nil
	case unix.ELOOP, unix.EXDEV:
		// ELOOP: a link on the path (RESOLVE_NO_SYMLINKS, O_NOFOLLOW).
		// EXDEV: the path left the folder (RESOLVE_BENEATH), which
		// only a link or a mount can do.
		return ErrLink
	case unix.ENXIO:
		return ErrNotRegular // a socket
	}
	return err
}

// Open opens the regular file name for reading.
func (d *Dir) Open(name string) (*os.File, error) {
	fd, err := d.open(name, unix.O_RDONLY|unix.O_NONBLOCK)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "open", Path: name, Err: ErrNotRegular}
	}
	return os.NewFile(uintptr(fd), path.Join(d.name, name)), nil
}

// OpenDir opens the folder name under d.
func (d *Dir) OpenDir(name string) (*Dir, error) {
	fd, err := d.open(name, unix.O_RDONLY|unix.O_DIRECTORY)
	if err == unix.ENOTDIR {
		err = ErrNotDir
		if fi, lerr := d.Lstat(name); lerr == nil && fi.Mode().Type() == fs.ModeSymlink {
			err = ErrLink
		}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	p := path.Join(d.name, name)
	return &Dir{f: os.NewFile(uintptr(fd), p), name: p}, nil
}

// Lstat describes name without following it: a link is reported as a
// link.
func (d *Dir) Lstat(name string) (fs.FileInfo, error) {
	fd, err := d.open(name, unix.O_PATH)
	if err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: err}
	}
	f := os.NewFile(uintptr(fd), path.Join(d.name, name))
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: err}
	}
	return fileInfo{fi, path.Base(name)}, nil
}

// Readlink returns the target of the link name (not following it, nor
// any link on the way to it).
func (d *Dir) Readlink(name string) (string, error) {
	if !fs.ValidPath(name) || name == "." {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	parent := d
	if dir := path.Dir(name); dir != "." {
		var err error
		if parent, err = d.OpenDir(dir); err != nil {
			return "", err
		}
		defer parent.Close()
	}
	buf := make([]byte, 4096)
	n, err := unix.Readlinkat(parent.Fd(), path.Base(name), buf)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	if n == len(buf) {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: tooLarge(int64(len(buf) - 1))}
	}
	return string(buf[:n]), nil
}

// fileInfo renames a FileInfo (an O_PATH descriptor of a link has the
// link's name as "/proc/self/fd/N" otherwise).
type fileInfo struct {
	fs.FileInfo
	name string
}

func (fi fileInfo) Name() string { return fi.name }

// ReadFile reads the regular file name whole if it holds at most limit
// bytes; a larger one is ErrTooLarge. Reading stops when ctx ends.
func (d *Dir) ReadFile(ctx context.Context, name string, limit int64) ([]byte, error) {
	f, err := d.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > limit {
		return nil, &fs.PathError{Op: "read", Path: name, Err: tooLarge(limit)}
	}
	b, err := io.ReadAll(Limit(ctx, f, name, limit))
	if err != nil {
		return nil, err
	}
	return b, nil
}

func tooLarge(limit int64) error {
	return fmt.Errorf("%w of %d bytes", ErrTooLarge, limit)
}

// Limit reads r until it ends, returning an *fs.PathError wrapping
// ErrTooLarge past limit bytes (limit < 0: no cap), or ctx's error once
// ctx ends (checked before every read, so a cancel stops a long read
// within one buffer's worth).
func Limit(ctx context.Context, r io.Reader, name string, limit int64) io.Reader {
	return &limited{ctx: ctx, r: r, name: name, left: limit, limit: limit}
}

type limited struct {
	ctx         context.Context
	r           io.Reader
	name        string
	left, limit int64
}

func (l *limited) Read(p []byte) (int, error) {
	if err := l.ctx.Err(); err != nil {
		return 0, err
	}
	if l.limit >= 0 {
		if l.left < 0 {
			return 0, &fs.PathError{Op: "read", Path: l.name, Err: tooLarge(l.limit)}
		}
		if int64(len(p)) > l.left+1 {
			p = p[:l.left+1]
		}
	}
	n, err := l.r.Read(p)
	if l.limit >= 0 {
		l.left -= int64(n)
		if l.left < 0 {
			return 0, &fs.PathError{Op: "read", Path: l.name, Err: tooLarge(l.limit)}
		}
	}
	return n, err
}

// FS returns d as an fs.FS (also fs.StatFS, fs.ReadDirFS,
// fs.ReadFileFS) whose files are regular files of at most limit bytes
// (a read past it fails with ErrTooLarge), and whose folders list their
// entries as they are: Stat, like Lstat, reports a link as a link, and
// opening one fails with ErrLink.
func (d *Dir) FS(limit int64) fs.FS { return dirFS{d: d, limit: limit} }

type dirFS struct {
	d     *Dir
	limit int64
}

var (
	_ fs.StatFS     = dirFS{}
	_ fs.ReadDirFS  = dirFS{}
	_ fs.ReadFileFS = dirFS{}
)

func (s dirFS) Open(name string) (fs.File, error) {
	fd, err := s.d.open(name, unix.O_RDONLY|unix.O_NONBLOCK)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	f := os.NewFile(uintptr(fd), path.Join(s.d.name, name))
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	switch {
	case fi.IsDir():
		return f, nil
	case fi.Mode().IsRegular():
		return &limitedFile{File: f, r: Limit(context.Background(), f, name, s.limit)}, nil
	}
	f.Close()
	return nil, &fs.PathError{Op: "open", Path: name, Err: ErrNotRegular}
}

func (s dirFS) Stat(name string) (fs.FileInfo, error) { return s.d.Lstat(name) }

func (s dirFS) ReadDir(name string) ([]fs.DirEntry, error) {
	sub := s.d
	if name != "." {
		var err error
		if sub, err = s.d.OpenDir(name); err != nil {
			return nil, err
		}
		defer sub.Close()
	}
	// A fresh descriptor: reading a directory moves its offset, and d
	// may be read concurrently.
	fd, err := unix.Openat(sub.Fd(), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	f := os.NewFile(uintptr(fd), path.Join(s.d.name, name))
	defer f.Close()
	entries, err := f.ReadDir(-1)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, nil
}

func (s dirFS) ReadFile(name string) ([]byte, error) {
	return s.d.ReadFile(context.Background(), name, s.limit)
}

// limitedFile is a regular file whose reads stop at the FS's cap.
type limitedFile struct {
	*os.File
	r io.Reader
}

func (f *limitedFile) Read(p []byte) (int, error) { return f.r.Read(p) }

// IsUnsafe reports whether err is one of the refusals of this package (a
// link, a special file, a file too large), as opposed to a file that is
// missing or unreadable.
func IsUnsafe(err error) bool {
	return errors.Is(err, ErrLink) || errors.Is(err, ErrNotRegular) || errors.Is(err, ErrTooLarge) || errors.Is(err, ErrNotDir)
}

// Reason is a short phrase for err's refusal ("is a symbolic link (links
// are not followed)"), or err's own text.
func Reason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// LinkInside reports whether a symbolic link at rel (slash-separated,
// relative to a tree's root) pointing at target resolves inside the tree
// without leaving it on the way: a relative target that never climbs
// above the root. Builds keep such links in their output, and release
// trees recreate them; any other link is refused.
func LinkInside(rel, target string) bool {
	if target == "" || strings.HasPrefix(target, "/") || strings.ContainsRune(target, 0) {
		return false
	}
	depth := strings.Count(rel, "/") // folders above the link, inside the tree
	for _, part := range strings.Split(target, "/") {
		switch part {
		case "", ".":
		case "..":
			if depth--; depth < 0 {
				return false
			}
		default:
			depth++
		}
	}
	return true
}
