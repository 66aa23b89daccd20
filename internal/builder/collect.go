package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/logs"
	"github.com/apogee-dev/apogee/internal/safefs"
)

// Output limits.
const (
	maxOutputFiles = apogee.MaxManifestFiles
	maxOutputFile  = 100 << 20
	// maxAppFile bounds one file of an app's tree: native modules of
	// some dependencies (Next.js's SWC binary) pass 100 MiB.
	maxAppFile = 512 << 20
)

// collectOptions say what a tree keeps besides a static site's files.
type collectOptions struct {
	// app keeps node_modules and records symbolic links that stay inside
	// the tree as links (Mode has fs.ModeSymlink; the blob is the link's
	// target), as node_modules/.bin needs them.
	app bool
}

// collect stores the files of the output folder out (slash-separated,
// relative to the workspace ws) in the blob store, only those it lacks,
// and returns the manifest. Nothing is followed (safefs): links, FIFOs,
// sockets and devices are skipped with a line in the log, and a link on
// the way to the output folder fails the build; for an app, links that
// stay inside out are kept as links (recorded, still not followed).
func collect(ctx context.Context, blobs apogee.Blobs, ws *safefs.Dir, out string, w *logs.Writer, opts collectOptions) ([]apogee.File, error) {
	out = path.Clean(out)
	st, err := ws.Lstat(out)
	switch {
	case errors.Is(err, safefs.ErrLink) || err == nil && st.Mode().Type() == fs.ModeSymlink:
		return nil, apogee.Errorf(apogee.EINVALID, "the output folder %q is, or passes through, a symbolic link; links are not followed: set the folder itself with `apogee projects update --output-dir DIR`", out)
	case err != nil || !st.IsDir():
		return nil, apogee.Errorf(apogee.EINVALID, "the output folder %q does not exist after the build; set the right one with `apogee projects update --output-dir DIR`", out)
	}
	type entry struct {
		rel    string
		size   int64
		mode   fs.FileMode
		target string // a link's
	}
	limit := int64(maxOutputFile)
	if opts.app {
		limit = maxAppFile
	}
	fsys := ws.FS(limit)
	var entries []entry
	err = fs.WalkDir(fsys, out, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		if de.IsDir() {
			if de.Name() == ".git" || (de.Name() == "node_modules" && p != out && !opts.app) {
				return fs.SkipDir
			}
			return nil
		}
		rel := p
		if out != "." {
			rel = strings.TrimPrefix(p, out+"/")
		}
		if opts.app && de.Type()&fs.ModeSymlink != 0 {
			target, err := ws.Readlink(p)
			if err != nil {
				return fmt.Errorf("read link %s: %w", rel, err)
			}
			if !safefs.LinkInside(rel, target) {
				w.Systemf("Skipping %s: a link to %s, outside the app", rel, target)
				return nil
			}
			entries = append(entries, entry{rel: rel, size: int64(len(target)), mode: fs.ModeSymlink | 0o777, target: target})
			return nil
		}
		switch de.Type() {
		case 0:
		case fs.ModeSymlink:
			w.Systemf("Skipping %s: a symbolic link (links are not followed; copy the file into the output instead)", rel)
			return nil
		default:
			w.Systemf("Skipping %s: not a regular file", rel)
			return nil
		}
		info, err := de.Info()
		if err != nil {
			w.Systemf("Skipping %s: %v", rel, errors.Unwrap(err))
			return nil
		}
		if _, err := apogee.CleanPath(rel); err != nil {
			w.Systemf("Skipping %s: %s", rel, apogee.ErrorMessage(err))
			return nil
		}
		if info.Size() > limit {
			return apogee.Errorf(apogee.ETOOLARGE, "output file %s is %d bytes; the limit is %d", rel, info.Size(), limit)
		}
		entries = append(entries, entry{rel: rel, size: info.Size(), mode: info.Mode()})
		if len(entries) > maxOutputFiles {
			return apogee.Errorf(apogee.ETOOLARGE, "the output has more than %d files", maxOutputFiles)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, apogee.Errorf(apogee.EINVALID, "the output folder %q is empty", out)
	}

	files := make([]apogee.File, len(entries))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	var sent atomic.Int64
	for i, e := range entries {
		g.Go(func() error {
			if e.mode&fs.ModeSymlink != 0 {
				sum := sha256.Sum256([]byte(e.target))
				files[i] = apogee.File{Path: e.rel, SHA256: hex.EncodeToString(sum[:]), Size: e.size, Mode: uint32(e.mode)}
				missing, err := blobs.Missing(gctx, []string{files[i].SHA256})
				if err != nil || len(missing) == 0 {
					return err
				}
				if _, err := blobs.Put(gctx, files[i].SHA256, strings.NewReader(e.target), e.size); err != nil {
					return fmt.Errorf("store link %s: %w", e.rel, err)
				}
				sent.Add(1)
				return nil
			}
			p := path.Join(out, e.rel)
			sum, err := hashFile(gctx, ws, p, limit)
			if err != nil {
				if safefs.IsUnsafe(err) {
					// Replaced since the walk: the build's processes
					// are gone, so only by something else.
					return apogee.Errorf(apogee.EINVALID, "output file %s %s", e.rel, safefs.Reason(err))
				}
				return fmt.Errorf("hash %s: %w", e.rel, err)
			}
			files[i] = apogee.File{Path: e.rel, SHA256: sum, Size: e.size, Mode: uint32(e.mode.Perm())}
			missing, err := blobs.Missing(gctx, []string{sum})
			if err != nil {
				return fmt.Errorf("check blob: %w", err)
			}
			if len(missing) == 0 {
				return nil
			}
			f, err := ws.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := blobs.Put(gctx, sum, safefs.Limit(gctx, f, p, limit), limit); err != nil {
				return fmt.Errorf("store %s: %w", e.rel, err)
			}
			sent.Add(1)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	w.Systemf("Output: %d files, %d new", len(files), sent.Load())
	return files, nil
}

// hashFile hashes the regular file p of ws, stopping when ctx ends.
func hashFile(ctx context.Context, ws *safefs.Dir, p string, limit int64) (string, error) {
	f, err := ws.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, safefs.Limit(ctx, f, p, limit)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
