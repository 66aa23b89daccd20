package kuberuntime

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/apps"
	"github.com/apogee-dev/apogee/internal/ociimage"
)

// ImageBuilder is the Images of a server: it makes a release's tree
// (Spec.Dir) into an OCI image on the base image with internal/ociimage
// and pushes it to Repository/<project>:<release>, once per release; the
// image is named by digest, so a pod runs exactly what was pushed.
type ImageBuilder struct {
	// Builder holds the base image and the registry's options
	// (credentials). Its Blobs is not used: the files come from Spec.Dir.
	Builder *ociimage.Builder
	// Repository is where images go (registry.example.com/apogee).
	Repository string

	mu     sync.Mutex
	images map[string]*imageFlight // by release
}

type imageFlight struct {
	done chan struct{}
	ref  string
	err  error
}

// Image builds and pushes s's release, or returns the image pushed
// before. A failed build is tried again by the next call.
func (b *ImageBuilder) Image(ctx context.Context, s apps.Spec) (string, error) {
	b.mu.Lock()
	if b.images == nil {
		b.images = map[string]*imageFlight{}
	}
	f := b.images[s.Release]
	if f == nil {
		f = &imageFlight{done: make(chan struct{})}
		b.images[s.Release] = f
		b.mu.Unlock()
		f.ref, f.err = b.build(ctx, s)
		if f.err != nil {
			b.mu.Lock()
			delete(b.images, s.Release)
			b.mu.Unlock()
		}
		close(f.done)
		return f.ref, f.err
	}
	b.mu.Unlock()
	select {
	case <-f.done:
		return f.ref, f.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (b *ImageBuilder) build(ctx context.Context, s apps.Spec) (string, error) {
	files, blobs, err := treeOf(s.Dir)
	if err != nil {
		return "", err
	}
	repo, err := name.NewRepository(b.Repository + "/" + s.Project)
	if err != nil {
		return "", apogee.Errorf(apogee.EINVALID, "the registry %q does not make an image name: %v", b.Repository, err)
	}
	builder := &ociimage.Builder{Base: b.Builder.Base, Remote: b.Builder.Remote, Blobs: blobs}
	img, err := builder.Build(ctx, ociimage.Release{Project: s.Project, ID: s.Release, Files: files, Command: s.Command, Port: s.Port})
	if err != nil {
		return "", err
	}
	d, err := builder.Push(ctx, img, repo.Tag(s.Release))
	if err != nil {
		return "", err
	}
	return repo.Digest(d.String()).String(), nil
}

// treeOf lists a release tree's files as ociimage takes them, with the
// blobs that give their contents (by hash: the path of a file, the
// target of a link).
func treeOf(dir string) ([]apogee.File, dirBlobs, error) {
	var files []apogee.File
	blobs := dirBlobs{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		f := apogee.File{Path: filepath.ToSlash(rel), Mode: uint32(fi.Mode())}
		h := sha256.New()
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			h.Write([]byte(target))
			f.Size = int64(len(target))
			f.SHA256 = hex.EncodeToString(h.Sum(nil))
			blobs[f.SHA256] = blob{data: []byte(target)}
		case fi.Mode().IsRegular():
			fh, err := os.Open(p)
			if err != nil {
				return err
			}
			f.Size, err = io.Copy(h, fh)
			fh.Close()
			if err != nil {
				return err
			}
			f.SHA256 = hex.EncodeToString(h.Sum(nil))
			blobs[f.SHA256] = blob{path: p}
		default:
			return nil // sockets, devices: not part of a release
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("kuberuntime: read the release tree %s: %w", dir, err)
	}
	return files, blobs, nil
}

type blob struct {
	path string
	data []byte
}

// dirBlobs is ociimage.Blobs over a tree's files.
type dirBlobs map[string]blob

func (d dirBlobs) Open(_ context.Context, hash string, offset, length int64) (io.ReadCloser, error) {
	b, ok := d[hash]
	if !ok {
		return nil, fmt.Errorf("kuberuntime: no file %s in the tree", hash)
	}
	if b.path == "" {
		return io.NopCloser(bytes.NewReader(b.data[offset:])), nil
	}
	f, err := os.Open(b.path)
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	if length < 0 {
		return f, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(f, length), f}, nil
}

func (d dirBlobs) Get(ctx context.Context, hash string) ([]byte, error) {
	rc, err := d.Open(ctx, hash, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}
