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
)

// collect stores the files of the output folder out (slash-separated,
// relative to the workspace ws) in the blob store, only those it lacks,
// and returns the manifest. Nothing is followed: links, FIFOs, sockets
// and devices are skipped with a line in the log, and a link on the way
// to the output folder fails the build (safefs).
func collect(ctx context.Context, blobs apogee.Blobs, ws *safefs.Dir, out string, w *logs.Writer) ([]apogee.File, error) {
	out = path.Clean(out)
	st, err := ws.Lstat(out)
	switch {
	case errors.Is(err, safefs.ErrLink) || err == nil && st.Mode().Type() == fs.ModeSymlink:
		return nil, apogee.Errorf(apogee.EINVALID, "the output folder %q is, or passes through, a symbolic link; links are not followed: set the folder itself with `apogee projects update --output-dir DIR`", out)
	case err != nil || !st.IsDir():
		return nil, apogee.Errorf(apogee.EINVALID, "the output folder %q does not exist after the build; set the right one with `apogee projects update --output-dir DIR`", out)
	}
	fsys := ws.FS(maxOutputFile)
	type entry struct {
		rel  string
		size int64
		mode fs.FileMode
	}
	var entries []entry
	err = fs.WalkDir(fsys, out, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		if de.IsDir() {
			if de.Name() == ".git" || (de.Name() == "node_modules" && p != out) {
				return fs.SkipDir
			}
			return nil
		}
		rel := p
		if out != "." {
			rel = strings.TrimPrefix(p, out+"/")
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
		if info.Size() > maxOutputFile {
			return apogee.Errorf(apogee.ETOOLARGE, "output file %s is %d bytes; the limit is %d", rel, info.Size(), maxOutputFile)
		}
		entries = append(entries, entry{rel, info.Size(), info.Mode()})
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
			p := path.Join(out, e.rel)
			sum, err := hashFile(gctx, ws, p)
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
			if _, err := blobs.Put(gctx, sum, safefs.Limit(gctx, f, p, maxOutputFile), maxOutputFile); err != nil {
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
func hashFile(ctx context.Context, ws *safefs.Dir, p string) (string, error) {
	f, err := ws.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, safefs.Limit(ctx, f, p, maxOutputFile)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
