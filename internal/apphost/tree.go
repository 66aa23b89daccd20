package apphost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sync/errgroup"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/safefs"
)

// Trees lays releases' trees out on this host's disk, from the blob
// store: <dir>/trees/<release>/… where every regular file is a hard link
// to <dir>/objects/<hash[:2]>/<hash>[.x] (mode 0444, or 0555 for an
// executable), fetched from the blob store once and checked against its
// hash, and every link of the manifest (Mode with fs.ModeSymlink, the
// blob holding its target) is a symbolic link again. A release that
// shares most files with the previous one (a redeploy that changed one
// file) fetches one file and costs a hard link per file. Folders are
// 0755: instances run as another user and read the tree, read-only.
type Trees struct {
	dir   string
	blobs Blobs
}

// Blobs is what the trees need of the blob store (see apogee.Blobs).
type Blobs interface {
	Open(ctx context.Context, hash string, offset, length int64) (io.ReadCloser, error)
	Get(ctx context.Context, hash string) ([]byte, error)
}

// NewTrees keeps trees and objects under dir.
func NewTrees(dir string, blobs Blobs) (*Trees, error) {
	for _, d := range []string{"trees", "objects"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("apphost: %w", err)
		}
	}
	return &Trees{dir: dir, blobs: blobs}, nil
}

// Path is where release id's tree is (or would be).
func (t *Trees) Path(id string) string { return filepath.Join(t.dir, "trees", id) }

// Make lays the tree of release id out from files, unless it is there
// already, and returns its path. A tree is made in a folder of its own
// and renamed into place, so a tree that is there is complete. Callers
// serialize Make of one id.
func (t *Trees) Make(ctx context.Context, id string, files []apogee.File) (string, error) {
	final := t.Path(id)
	if _, err := os.Stat(final); err == nil {
		return final, nil
	}
	tmp := final + ".new"
	if err := os.RemoveAll(tmp); err != nil {
		return "", fmt.Errorf("apphost: tree of %s: %w", id, err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	// Folders first, in order, so that links and files find theirs.
	dirs := map[string]bool{}
	for _, f := range files {
		if _, err := apogee.CleanPath(f.Path); err != nil {
			return "", fmt.Errorf("apphost: tree of %s: %w", id, err)
		}
		for d := path.Dir(f.Path); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	sorted := make([]string, 0, len(dirs))
	for d := range dirs {
		sorted = append(sorted, d)
	}
	// A parent sorts before its children (a prefix sorts first).
	slices.Sort(sorted)
	for _, d := range append([]string{"."}, sorted...) {
		p := filepath.Join(tmp, filepath.FromSlash(d))
		if err := os.Mkdir(p, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("apphost: tree of %s: %w", id, err)
		}
		// Whatever the umask: instances run as another user.
		if err := os.Chmod(p, 0o755); err != nil {
			return "", fmt.Errorf("apphost: tree of %s: %w", id, err)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, f := range files {
		g.Go(func() error {
			dst := filepath.Join(tmp, filepath.FromSlash(f.Path))
			if fs.FileMode(f.Mode)&fs.ModeSymlink != 0 {
				target, err := t.blobs.Get(gctx, f.SHA256)
				if err != nil {
					return fmt.Errorf("link %s: %w", f.Path, err)
				}
				if !safefs.LinkInside(f.Path, string(target)) {
					return apogee.Errorf(apogee.EINVALID, "the release's link %s points outside its tree", f.Path)
				}
				return os.Symlink(string(target), dst)
			}
			obj, err := t.object(gctx, f)
			if err != nil {
				return err
			}
			return os.Link(obj, dst)
		})
	}
	if err := g.Wait(); err != nil {
		return "", fmt.Errorf("apphost: tree of %s: %w", id, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", fmt.Errorf("apphost: tree of %s: %w", id, err)
	}
	ok = true
	return final, nil
}

// object returns the path of f's object, fetching it first if needed.
func (t *Trees) object(ctx context.Context, f apogee.File) (string, error) {
	if len(f.SHA256) != 64 || strings.Trim(f.SHA256, "0123456789abcdef") != "" {
		return "", apogee.Errorf(apogee.EINVALID, "file %s has no valid hash", f.Path)
	}
	name, mode := f.SHA256, os.FileMode(0o444)
	if f.Mode&0o111 != 0 {
		name, mode = name+".x", 0o555
	}
	p := filepath.Join(t.dir, "objects", f.SHA256[:2], name)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	r, err := t.blobs.Open(ctx, f.SHA256, 0, -1)
	if err != nil {
		return "", fmt.Errorf("file %s: %w", f.Path, err)
	}
	defer r.Close()
	tmp, err := os.CreateTemp(filepath.Dir(p), name+".tmp-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(tmp, h), r)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("file %s: %w", f.Path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
		return "", fmt.Errorf("file %s: the blob store's bytes hash to %s, not %s", f.Path, got, f.SHA256)
	}
	if err := os.Chmod(tmp.Name(), mode); err != nil {
		return "", err
	}
	// Workers fetching one object race to the same name: the first link
	// wins, the others use it. Never rename over it: a link(2) of the
	// name that resolved the replaced file while its last name went
	// fails with ENOENT.
	if err := os.Link(tmp.Name(), p); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", err
	}
	return p, nil
}

// Remove deletes release id's tree.
func (t *Trees) Remove(id string) error {
	return os.RemoveAll(t.Path(id))
}

// Trees returns the ids of the trees on disk.
func (t *Trees) Trees() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(t.dir, "trees"))
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasSuffix(e.Name(), ".new") {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// Collect deletes the objects no tree links to any more (a link count of
// one) and returns how many it deleted and their bytes.
func (t *Trees) Collect() (n int, bytes int64, err error) {
	root := filepath.Join(t.dir, "objects")
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return nil // gone meanwhile
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink == 1 {
			if os.Remove(p) == nil {
				n++
				bytes += fi.Size()
			}
		}
		return nil
	})
	return n, bytes, err
}
