package builder

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"slices"

	"github.com/dustin/go-humanize"
	"golang.org/x/sync/errgroup"

	"github.com/apogee-dev/apogee"
)

// Manifests reads a deployment's manifest (apogee.Store implements it).
type Manifests interface {
	DeploymentFiles(ctx context.Context, id string) ([]apogee.File, error)
}

// fetchFolder writes the source folder of deployment d (its manifest,
// uploaded by `apogee deploy`) into dir, blob by blob, through an
// os.Root so that no path leaves dir. Executable bits are kept. The
// tree is bounded like an uploaded ZIP (s.Zip: files and bytes).
func (s *Sources) fetchFolder(ctx context.Context, d *apogee.Deployment, dir string, log io.Writer) error {
	if s.Manifests == nil {
		return fmt.Errorf("builder: deployment %s is a source folder, and this builder reads no manifests", d.ID)
	}
	files, err := s.Manifests.DeploymentFiles(ctx, d.ID)
	if err != nil {
		return fmt.Errorf("read the source folder's manifest: %w", err)
	}
	lim := s.Zip
	if lim.MaxFiles == 0 && lim.MaxBytes == 0 {
		lim = DefaultZipLimits
	}
	var total int64
	for _, f := range files {
		total += f.Size
	}
	if lim.MaxFiles > 0 && len(files) > lim.MaxFiles {
		return apogee.Errorf(apogee.ETOOLARGE, "the source folder has %d files; the limit is %d", len(files), lim.MaxFiles)
	}
	if lim.MaxBytes > 0 && total > lim.MaxBytes {
		return apogee.Errorf(apogee.ETOOLARGE, "the source folder holds %s; the limit is %s", humanize.IBytes(uint64(total)), humanize.IBytes(uint64(lim.MaxBytes)))
	}
	fmt.Fprintf(log, "Writing the uploaded source folder: %d files (%s)\n", len(files), humanize.IBytes(uint64(total)))
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("open the workspace: %w", err)
	}
	defer root.Close()
	// Folders first, in order, then the files in parallel.
	dirs := map[string]bool{}
	for _, f := range files {
		for p := path.Dir(f.Path); p != "." && !dirs[p]; p = path.Dir(p) {
			dirs[p] = true
		}
	}
	sorted := make([]string, 0, len(dirs))
	for p := range dirs {
		sorted = append(sorted, p)
	}
	slices.Sort(sorted) // a parent sorts before its children
	for _, p := range sorted {
		if err := root.Mkdir(p, 0o755); err != nil && !os.IsExist(err) {
			return apogee.Errorf(apogee.EINVALID, "the source folder cannot be written: folder %s: %v", p, err)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, f := range files {
		g.Go(func() error { return s.writeFile(gctx, root, f) })
	}
	return g.Wait()
}

// writeFile writes one file of a source folder from the blob store.
func (s *Sources) writeFile(ctx context.Context, root *os.Root, f apogee.File) error {
	perm := os.FileMode(0o644)
	if f.Mode&0o111 != 0 {
		perm = 0o755
	}
	r, err := s.Blobs.Open(ctx, f.SHA256, 0, -1)
	if err != nil {
		return fmt.Errorf("read %s of the source folder: %w", f.Path, err)
	}
	defer r.Close()
	w, err := root.OpenFile(f.Path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return apogee.Errorf(apogee.EINVALID, "the source folder cannot be written: %s: %v", f.Path, err)
	}
	n, err := io.Copy(w, r)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s of the source folder: %w", f.Path, err)
	}
	if n != f.Size {
		return fmt.Errorf("write %s of the source folder: %d bytes, the manifest says %d", f.Path, n, f.Size)
	}
	return nil
}
