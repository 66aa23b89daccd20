package edge

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"path"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/apogee-dev/apogee"
)

// manifest is a deployment's files as the edge serves them, built once.
type manifest struct {
	// files maps a request path without its leading slash to a file. Each
	// "dir/index.html" is also under "dir/" (and index.html under ""), so
	// that resolving an index costs no string concatenation.
	files map[string]*file
	// dirs holds each "dir" that has a "dir/index.html" but is not a file:
	// a request for "/dir" is redirected to "/dir/".
	dirs map[string]struct{}
}

// file is one manifest entry with every response header value prebuilt,
// so that the handler assigns them to the header map without allocating.
type file struct {
	hash  string
	size  int64
	ctype []string // Content-Type
	clen  []string // Content-Length
	etag  []string // ETag: strong, quoted, from the content hash
	// ent is the cache entry that last held the file's bytes; its data is
	// nil once the cache evicted it.
	ent atomic.Pointer[entry]
}

// etagLen is how many hex digits of the SHA-256 an ETag carries: 128 bits
// are plenty to tell two versions of one URL apart.
const etagLen = 32

// Shared header values.
var (
	cacheControl = []string{"public, max-age=0, must-revalidate"}
	noStore      = []string{"no-store"}
	allowGetHead = []string{"GET, HEAD"}
)

// contentTypes overrides mime.TypeByExtension for the types a site serves
// most, so they do not depend on the host's /etc/mime.types.
var contentTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".htm":         "text/html; charset=utf-8",
	".js":          "application/javascript; charset=utf-8",
	".mjs":         "application/javascript; charset=utf-8",
	".cjs":         "application/javascript; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".json":        "application/json",
	".map":         "application/json",
	".webmanifest": "application/manifest+json",
	".svg":         "image/svg+xml",
	".wasm":        "application/wasm",
	".txt":         "text/plain; charset=utf-8",
	".md":          "text/markdown; charset=utf-8",
	".xml":         "application/xml",
	".png":         "image/png",
	".jpg":         "image/jpeg",
	".jpeg":        "image/jpeg",
	".gif":         "image/gif",
	".webp":        "image/webp",
	".avif":        "image/avif",
	".ico":         "image/x-icon",
	".woff":        "font/woff",
	".woff2":       "font/woff2",
	".ttf":         "font/ttf",
	".otf":         "font/otf",
	".pdf":         "application/pdf",
	".mp4":         "video/mp4",
	".webm":        "video/webm",
	".mp3":         "audio/mpeg",
}

// contentType returns the Content-Type of a file by its extension.
func contentType(p string) string {
	ext := strings.ToLower(path.Ext(p))
	if ext == "" {
		return "application/octet-stream"
	}
	if t, ok := contentTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		if strings.HasPrefix(t, "text/") && !strings.Contains(t, "charset") {
			t += "; charset=utf-8"
		}
		return t
	}
	return "application/octet-stream"
}

// buildManifest prebuilds everything a response needs for each file.
func buildManifest(files []apogee.File) *manifest {
	m := &manifest{files: make(map[string]*file, len(files)+len(files)/8), dirs: map[string]struct{}{}}
	ctypes := map[string][]string{} // one slice per distinct type
	for _, af := range files {
		if len(af.SHA256) < etagLen || af.Size < 0 {
			continue // not a valid manifest entry; the store validated it
		}
		ct := contentType(af.Path)
		cts, ok := ctypes[ct]
		if !ok {
			cts = []string{ct}
			ctypes[ct] = cts
		}
		m.files[af.Path] = &file{
			hash:  af.SHA256,
			size:  af.Size,
			ctype: cts,
			clen:  []string{strconv.FormatInt(af.Size, 10)},
			etag:  []string{`"` + af.SHA256[:etagLen] + `"`},
		}
	}
	for p, f := range m.files {
		var dir string
		switch {
		case p == "index.html":
			dir = ""
		case strings.HasSuffix(p, "/index.html"):
			dir = strings.TrimSuffix(p, "index.html")
		default:
			continue
		}
		if _, ok := m.files[dir]; !ok {
			m.files[dir] = f
		}
		if dir != "" {
			if d := strings.TrimSuffix(dir, "/"); m.files[d] == nil {
				m.dirs[d] = struct{}{}
			}
		}
	}
	return m
}

// errNoManifest means a routed deployment has no manifest (deleted since).
var errNoManifest = errors.New("edge: deployment has no manifest")

// manifest returns st's manifest, loading it on first use.
func (s *Server) manifest(ctx context.Context, st *site) (*manifest, error) {
	if m := st.man.Load(); m != nil {
		if !st.ref.Load() {
			st.ref.Store(true)
		}
		return m, nil
	}
	v, err, _ := s.manifests.Do(st.id, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
		defer cancel()
		files, err := s.store.DeploymentFiles(ctx, st.id)
		if errors.Is(err, apogee.ErrNotFound) {
			return nil, errNoManifest
		}
		if err != nil {
			return nil, fmt.Errorf("edge: load manifest of %s: %w", st.id, err)
		}
		return buildManifest(files), nil
	})
	if err != nil {
		return nil, err
	}
	m := v.(*manifest)
	s.keep(st, m)
	return m, nil
}

// keep stores m as st's manifest if st is still served, evicting another
// deployment's manifest (CLOCK) past MaxManifests.
func (s *Server) keep(st *site, m *manifest) {
	s.mmu.Lock()
	defer s.mmu.Unlock()
	if st.man.Load() != nil || s.routes.Load().byID[st.id] != st {
		return // kept by a concurrent caller, or no longer served
	}
	for len(s.loaded) >= s.maxManifests {
		if s.hand >= len(s.loaded) {
			s.hand = 0
		}
		victim := s.loaded[s.hand]
		if victim.ref.Load() {
			victim.ref.Store(false)
			s.hand++
			continue
		}
		victim.man.Store(nil)
		last := len(s.loaded) - 1
		s.loaded[s.hand] = s.loaded[last]
		s.loaded[last] = nil
		s.loaded = s.loaded[:last]
	}
	st.ref.Store(false)
	st.man.Store(m)
	s.loaded = append(s.loaded, st)
}
