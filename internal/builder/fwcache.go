package builder

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/logs"
	"github.com/apogee-dev/apogee/internal/safefs"
)

// Bounds of a project's framework caches.
const (
	// DefaultFrameworkCacheBytes bounds one branch's framework caches: a
	// build whose caches are larger keeps none.
	DefaultFrameworkCacheBytes = 1 << 30
	// frameworkCacheBranches is how many branches of a project keep
	// framework caches (the most recently built; the production branch's
	// is kept besides).
	frameworkCacheBranches = 5
)

// fwCache keeps the folders a framework names as its caches
// (framework.Plan.CacheDirs: ".next/cache", "node_modules/.vite", …) per
// project and branch, under <Dir>/cache/<project>/fw/<branch key>/, each
// folder by its escaped path. They count against the owner's storage
// with the rest of the project's cache (recordCache).
//
// A build takes its branch's caches, or a copy of the production
// branch's when its branch has none, and puts them back when it succeeds.
// Folders move between the cache and the workspace through descriptors
// of folders opened without following links, as node_modules does.
type fwCache struct {
	root     string // <Dir>/cache/<project>/fw
	key      string // this build's branch
	fallback string // the production branch's; "" without one
	max      int64
}

// branchKey names a branch's caches: a hash, so any branch name is a
// safe folder name.
func branchKey(branch string) string {
	if branch == "" {
		return "none"
	}
	sum := sha256.Sum256([]byte(branch))
	return hex.EncodeToString(sum[:8])
}

func (b *Builder) frameworkCache(p *apogee.Project, d *apogee.Deployment) *fwCache {
	c := &fwCache{root: filepath.Join(b.cfg.Dir, "cache", cacheOf(p, d), "fw"), key: branchKey(d.Branch), max: b.cfg.FrameworkCacheBytes}
	if p.Git != nil && p.Git.Branch != "" && p.Git.Branch != d.Branch {
		c.fallback = branchKey(p.Git.Branch)
	}
	if c.max <= 0 {
		c.max = DefaultFrameworkCacheBytes
	}
	return c
}

func (c *fwCache) dir(key string) string { return filepath.Join(c.root, key) }

// restore puts the cached folders dirs (relative to the project's folder
// rootDir of the workspace) in place, where the workspace has none, and
// says which in the log.
func (c *fwCache) restore(ws *safefs.Dir, rootDir string, dirs []string, w *logs.Writer) {
	if len(dirs) == 0 {
		return
	}
	src, copied := c.dir(c.key), false
	if _, err := os.Stat(src); err != nil {
		if c.fallback == "" {
			w.Systemf("No framework cache for this branch yet (%s)", strings.Join(dirs, ", "))
			return
		}
		src, copied = c.dir(c.fallback), true
		if _, err := os.Stat(src); err != nil {
			w.Systemf("No framework cache for this branch yet (%s)", strings.Join(dirs, ", "))
			return
		}
	}
	var restored []string
	for _, dir := range dirs {
		stored := filepath.Join(src, url.PathEscape(dir))
		if _, err := os.Lstat(stored); err != nil {
			continue
		}
		parent, err := mkdirAllAt(ws, path.Join(rootDir, path.Dir(dir)))
		if err != nil {
			w.Systemf("Not restoring %s from the framework cache: %s", dir, safefs.Reason(err))
			continue
		}
		name := path.Base(dir)
		if _, err := parent.Lstat(name); !errors.Is(err, fs.ErrNotExist) {
			parent.Close()
			continue // the repository ships its own
		}
		if copied {
			err = copyTree(stored, "/proc/self/fd/3/"+name, parent)
		} else {
			err = moveInAs(stored, parent, name)
		}
		parent.Close()
		if err != nil {
			w.Systemf("Not restoring %s from the framework cache: %v", dir, err)
			continue
		}
		restored = append(restored, dir)
	}
	switch {
	case len(restored) == 0:
		w.Systemf("No framework cache for this branch yet (%s)", strings.Join(dirs, ", "))
	case copied:
		w.Systemf("Restored the framework cache (%s) from the production branch", strings.Join(restored, ", "))
	default:
		w.Systemf("Restored the framework cache (%s)", strings.Join(restored, ", "))
	}
}

// save keeps the folders dirs of the project's folder for the next
// build of the branch, in place of the branch's older ones, unless
// together they are larger than the bound; then it drops the caches of
// branches beyond the most recent few. The build has ended: folders
// are opened without following links, and one that became a link or a
// file is not kept.
func (c *fwCache) save(ws *safefs.Dir, rootDir string, dirs []string, w *logs.Writer) error {
	if len(dirs) == 0 {
		return nil
	}
	type found struct {
		dir    string
		parent *safefs.Dir
	}
	var keep []found
	defer func() {
		for _, f := range keep {
			f.parent.Close()
		}
	}()
	var total int64
	for _, dir := range dirs {
		parent, err := ws.OpenDir(path.Join(rootDir, path.Dir(dir)))
		if err != nil {
			continue
		}
		fi, err := parent.Lstat(path.Base(dir))
		if err != nil || !fi.IsDir() {
			parent.Close()
			continue
		}
		n, err := dirBytes(fdPath(parent, path.Base(dir)))
		if err != nil {
			parent.Close()
			return err
		}
		total += n
		keep = append(keep, found{dir, parent})
	}
	if len(keep) == 0 {
		return nil
	}
	if total > c.max {
		w.Systemf("Framework cache not kept: %s is over the bound of %s", apogee.FormatBytes(total), apogee.FormatBytes(c.max))
		return nil
	}
	if err := os.MkdirAll(c.root, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(c.root, ".new-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var saved []string
	for _, f := range keep {
		if err := moveOutAs(f.parent, path.Base(f.dir), filepath.Join(tmp, url.PathEscape(f.dir))); err != nil {
			return err
		}
		saved = append(saved, f.dir)
	}
	dst := c.dir(c.key)
	old := dst + ".old-" + filepath.Base(tmp)
	if err := os.Rename(dst, old); err == nil {
		defer os.RemoveAll(old)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	now := time.Now()
	_ = os.Chtimes(dst, now, now)
	w.Systemf("Kept the framework cache (%s, %s) for the next build of this branch", strings.Join(saved, ", "), apogee.FormatBytes(total))
	c.prune()
	return nil
}

// prune drops the caches of all but the most recently built branches
// (and the production branch's).
func (c *fwCache) prune() {
	entries, err := os.ReadDir(c.root)
	if err != nil {
		return
	}
	type branch struct {
		key string
		at  time.Time
	}
	var bs []branch
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") || strings.Contains(e.Name(), ".old-") || e.Name() == c.fallback {
			continue
		}
		if fi, err := e.Info(); err == nil {
			bs = append(bs, branch{e.Name(), fi.ModTime()})
		}
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].at.After(bs[j].at) })
	for _, b := range bs[min(len(bs), frameworkCacheBranches):] {
		os.RemoveAll(c.dir(b.key))
	}
}

// mkdirAllAt opens the folder rel of d, making what is missing of it,
// following no link.
func mkdirAllAt(d *safefs.Dir, rel string) (*safefs.Dir, error) {
	rel = path.Clean(rel)
	cur, err := d.OpenDir(".")
	if err != nil {
		return nil, err
	}
	if rel == "." {
		return cur, nil
	}
	for _, part := range strings.Split(rel, "/") {
		if err := unix.Mkdirat(cur.Fd(), part, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			cur.Close()
			return nil, fmt.Errorf("make %s: %w", rel, err)
		}
		next, err := cur.OpenDir(part)
		cur.Close()
		if err != nil {
			return nil, err
		}
		cur = next
	}
	return cur, nil
}
