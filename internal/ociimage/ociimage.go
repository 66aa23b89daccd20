// Package ociimage makes an app release into an OCI image and pushes it
// to a registry, without a Docker daemon: the base image (node:22-slim,
// say) pulled from the configured registry, plus the release's tree in
// two layers, its production dependencies (node_modules) and the rest,
// with the start command as entrypoint. It is what a Kubernetes runtime
// runs; the local runtime needs none of it.
//
// Images are reproducible: the same release files and settings give the
// same layers and the same image digest, whenever and wherever they are
// built (files in path order, fixed times, owner root, modes from the
// release). A registry already holding a layer is not sent it again
// (go-containerregistry's remote.Write asks first), so a release whose
// dependencies did not change pushes one small layer, its config and its
// manifest.
//
// What an image holds, and what it does not:
//
//   - the release tree at /app, owned by root and not writable by the
//     app's user (a Kubernetes runtime also mounts the root read-only,
//     with an emptyDir at /tmp);
//   - User 10001:10001 (numeric, so runAsNonRoot can check it), WorkingDir
//     /app, Entrypoint /bin/sh -c COMMAND, Env PORT and NODE_ENV=production
//     after the base image's own (its PATH finds node);
//   - labels naming the project and release;
//   - no environment variables of the project: they may be secrets, and
//     an image is readable by whoever can pull it. The runtime passes them
//     to the pod (from a Kubernetes Secret) instead.
package ociimage

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/safefs"
)

// Where and as whom the release runs in its image.
const (
	AppDir = "/app"
	// User is the app's user and group: not root, and no user the base
	// image defines (node's images have node as 1000).
	User = "10001:10001"
	// DefaultPort is the PORT an instance listens on.
	DefaultPort = 8080
)

// epoch is every file's and the image's time: images of the same release
// are the same bytes. (The zero Unix time; tar writes it as 0.)
var epoch = time.Unix(0, 0).UTC()

// Blobs gives the contents of a release's files (apogee.Blobs does).
type Blobs interface {
	Open(ctx context.Context, hash string, offset, length int64) (io.ReadCloser, error)
	Get(ctx context.Context, hash string) ([]byte, error)
}

// Release is what goes into an image.
type Release struct {
	Project string // for the labels
	ID      string // the release's ID, for the labels
	Files   []apogee.File
	// Command is the start command, run by /bin/sh -c in AppDir.
	Command string
	// Port is the instance's PORT (0: DefaultPort).
	Port int
}

// Validate reports what makes r unfit for an image.
func (r Release) Validate() error {
	if strings.TrimSpace(r.Command) == "" {
		return apogee.Errorf(apogee.EINVALID, "the release has no start command")
	}
	if strings.ContainsRune(r.Command, 0) {
		return apogee.Errorf(apogee.EINVALID, "the start command holds a NUL byte")
	}
	if r.Port < 0 || r.Port > 65535 {
		return apogee.Errorf(apogee.EINVALID, "port %d is not between 1 and 65535", r.Port)
	}
	if len(r.Files) == 0 {
		return apogee.Errorf(apogee.EINVALID, "the release has no files")
	}
	seen := make(map[string]bool, len(r.Files))
	for _, f := range r.Files {
		if _, err := apogee.CleanPath(f.Path); err != nil {
			return err
		}
		if seen[f.Path] {
			return apogee.Errorf(apogee.EINVALID, "the release lists %s twice", f.Path)
		}
		seen[f.Path] = true
	}
	return nil
}

// Builder makes images of releases on one base image.
type Builder struct {
	// Base is the base image, pulled with Remote.
	Base name.Reference
	// Remote are the options of every registry call: credentials
	// (remote.WithAuthFromKeychain(authn.DefaultKeychain) reads the
	// Docker config file), transport, context.
	Remote []remote.Option
	// Blobs has the release files' contents.
	Blobs Blobs

	base   v1.Image
	mu     sync.Mutex
	layers *lru.Cache[string, v1.Layer] // by the files they hold, see layerKey
}

// cachedLayers is how many layers a Builder remembers: a layer whose
// files did not change (the dependencies, mostly) is not written, hashed
// and compressed again to learn its digest.
const cachedLayers = 64

// Build returns the image of r. It pulls the base image's manifest and
// config on the first call; its layers are fetched only if a push needs
// them (a registry that has them, the usual case, is not sent them).
func (b *Builder) Build(ctx context.Context, r Release) (v1.Image, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	base, err := b.baseImage(ctx)
	if err != nil {
		return nil, err
	}
	deps, app := split(r.Files)
	var layers []v1.Layer
	for _, files := range [][]apogee.File{deps, app} {
		if len(files) == 0 {
			continue
		}
		l, err := b.layer(ctx, files)
		if err != nil {
			return nil, err
		}
		layers = append(layers, l)
	}
	img, err := mutate.AppendLayers(base, layers...)
	if err != nil {
		return nil, fmt.Errorf("ociimage: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("ociimage: the base image's config: %w", err)
	}
	cf = cf.DeepCopy()
	port := r.Port
	if port == 0 {
		port = DefaultPort
	}
	cfg := cf.Config
	cfg.User = User
	cfg.WorkingDir = AppDir
	cfg.Entrypoint = []string{"/bin/sh", "-c", r.Command}
	cfg.Cmd = nil
	cfg.Env = setEnv(cfg.Env, "PORT", strconv.Itoa(port))
	cfg.Env = setEnv(cfg.Env, "NODE_ENV", "production")
	cfg.ExposedPorts = map[string]struct{}{strconv.Itoa(port) + "/tcp": {}}
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	cfg.Labels["dev.apogee.project"] = r.Project
	cfg.Labels["dev.apogee.release"] = r.ID
	cf.Config = cfg
	cf.Created = v1.Time{Time: epoch}
	// The base's history says what made its layers; ours are the release.
	for range layers {
		cf.History = append(cf.History, v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "apogee release " + r.ID})
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("ociimage: %w", err)
	}
	return img, nil
}

// baseImage pulls the base image's manifest and config, once.
func (b *Builder) baseImage(ctx context.Context) (v1.Image, error) {
	if b.base != nil {
		return b.base, nil
	}
	opts := append(slices.Clone(b.Remote), remote.WithContext(ctx))
	img, err := remote.Image(b.Base, opts...)
	if err != nil {
		return nil, fmt.Errorf("ociimage: pull the base image %s: %w", b.Base, err)
	}
	if _, err := img.ConfigFile(); err != nil {
		return nil, fmt.Errorf("ociimage: the base image %s: %w", b.Base, err)
	}
	b.base = img
	return img, nil
}

// Push writes img to ref and returns its digest. Layers the registry has
// are not sent.
func (b *Builder) Push(ctx context.Context, img v1.Image, ref name.Reference) (v1.Hash, error) {
	opts := append(slices.Clone(b.Remote), remote.WithContext(ctx))
	if err := remote.Write(ref, img, opts...); err != nil {
		return v1.Hash{}, fmt.Errorf("ociimage: push %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("ociimage: %w", err)
	}
	return d, nil
}

// split puts the top-level node_modules (the production dependencies,
// which change rarely) apart from the rest of the tree.
func split(files []apogee.File) (deps, app []apogee.File) {
	for _, f := range files {
		if f.Path == "node_modules" || strings.HasPrefix(f.Path, "node_modules/") {
			deps = append(deps, f)
		} else {
			app = append(app, f)
		}
	}
	return deps, app
}

// layer returns a layer of files under AppDir. The tar stream is written
// again each time go-containerregistry opens the layer (to hash it, then
// to send it), from the blob store.
func (b *Builder) layer(ctx context.Context, files []apogee.File) (v1.Layer, error) {
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b apogee.File) int { return strings.Compare(a.Path, b.Path) })
	key := layerKey(files)
	b.mu.Lock()
	if b.layers == nil {
		b.layers, _ = lru.New[string, v1.Layer](cachedLayers)
	}
	cache := b.layers
	b.mu.Unlock()
	if l, ok := cache.Get(key); ok {
		return l, nil
	}
	// Links are checked once, here, before anything is written.
	for _, f := range files {
		if fs.FileMode(f.Mode)&fs.ModeSymlink == 0 {
			continue
		}
		target, err := b.Blobs.Get(ctx, f.SHA256)
		if err != nil {
			return nil, fmt.Errorf("ociimage: link %s: %w", f.Path, err)
		}
		if !safefs.LinkInside(f.Path, string(target)) {
			return nil, apogee.Errorf(apogee.EINVALID, "the release's link %s points outside its tree", f.Path)
		}
	}
	// The layer outlives this call in the cache: its later reads (a push
	// to a registry that lacks it) must not fail with this ctx. A push
	// that stops closes the pipe, which stops the writer.
	octx := context.WithoutCancel(ctx)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(b.writeTar(octx, pw, files)) }()
		return pr, nil
	})
	if err != nil {
		return nil, fmt.Errorf("ociimage: %w", err)
	}
	cache.Add(key, l)
	return l, nil
}

// layerKey names the layer of files (sorted by path): their paths,
// contents and modes, which is all a layer is made of.
func layerKey(files []apogee.File) string {
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%s\x00%d\x00%o\n", f.Path, f.SHA256, f.Size, f.Mode)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// writeTar writes files, sorted by path, as a tar stream under AppDir,
// with their folders before them.
func (b *Builder) writeTar(ctx context.Context, w io.Writer, files []apogee.File) error {
	tw := tar.NewWriter(w)
	dirs := map[string]bool{}
	dir := func(p string) error {
		var missing []string
		for d := p; d != "." && d != "/" && !dirs[d]; d = path.Dir(d) {
			missing = append(missing, d)
		}
		for _, d := range slices.Backward(missing) {
			dirs[d] = true
			hdr := &tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
		}
		return nil
	}
	for _, f := range files {
		full := path.Join(AppDir, f.Path)
		if err := dir(path.Dir(full)); err != nil {
			return err
		}
		mode := fs.FileMode(f.Mode)
		hdr := &tar.Header{Name: strings.TrimPrefix(full, "/"), ModTime: epoch, Format: tar.FormatPAX}
		switch {
		case mode&fs.ModeSymlink != 0:
			target, err := b.Blobs.Get(ctx, f.SHA256)
			if err != nil {
				return fmt.Errorf("link %s: %w", f.Path, err)
			}
			hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, string(target), 0o777
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			continue
		case mode&0o111 != 0:
			hdr.Mode = 0o755
		default:
			hdr.Mode = 0o644
		}
		hdr.Typeflag, hdr.Size = tar.TypeReg, f.Size
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		rc, err := b.Blobs.Open(ctx, f.SHA256, 0, -1)
		if err != nil {
			return fmt.Errorf("file %s: %w", f.Path, err)
		}
		n, err := io.Copy(tw, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("file %s: %w", f.Path, err)
		}
		if n != f.Size {
			return fmt.Errorf("file %s: %d bytes in the blob store, the release says %d", f.Path, n, f.Size)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return ctx.Err()
}

// setEnv sets key=value in env, replacing an earlier value.
func setEnv(env []string, key, value string) []string {
	env = slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, key+"=") })
	return append(env, key+"="+value)
}
