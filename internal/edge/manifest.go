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
	prep "github.com/apogee-dev/apogee/internal/deploy" // the test helper deploy takes the name
	"github.com/apogee-dev/apogee/internal/rules"
)

// manifest is a deployment's files as the edge serves them, built once.
type manifest struct {
	// files maps a request path without its leading slash to a file. Each
	// "dir/index.html" is also under "dir/" (and index.html under ""), so
	// that resolving an index costs no string concatenation. The routing
	// config files (rules.ConfigFiles) are not served.
	files map[string]*file
	// dirs holds each "dir" that has a "dir/index.html" but is not a file:
	// a request for "/dir" is redirected to "/dir/".
	dirs map[string]struct{}
	// notFound is 404.html, served with status 404 for a missing path.
	notFound *file
	// set is the deployment's compiled routing (rules and the settings
	// SPA, CleanURLs, TrailingSlash); nil when there is none, and then
	// requests take the plain path, which never consults it.
	set *rules.Set
	// exists reports whether a manifest path is a file: set.Match asks.
	exists func(p string) bool
	// hsts and nosniff are the deployment's security headers.
	hsts, nosniff bool
}

// blobRef is a blob a response may carry: a file's bytes or one of its
// precompressed variants.
type blobRef struct {
	hash string
	size int64
	// ent is the cache entry that last held the blob's bytes; its data is
	// nil once the cache evicted it.
	ent atomic.Pointer[entry]
}

// file is one manifest entry with every response header value prebuilt,
// so that the handler assigns them to the header map without allocating.
type file struct {
	blobRef
	path  string   // manifest path
	ctype []string // Content-Type
	clen  []string // Content-Length
	etag  []string // ETag: strong, quoted, from the content hash
	cc    []string // Cache-Control: revalidate, or immutable for hashed names
	// br and gz are the precompressed variants, nil when there is none.
	br, gz *variant
}

// variant is a precompressed form of a file with its own header values.
type variant struct {
	blobRef
	enc  []string // Content-Encoding
	clen []string
	etag []string // the file's ETag with "-br" or "-gz" before the closing quote
}

// etagLen is how many hex digits of the SHA-256 an ETag carries: 128 bits
// are plenty to tell two versions of one URL apart.
const etagLen = 32

// Shared header values.
var (
	cacheControl   = []string{"public, max-age=0, must-revalidate"}
	cacheImmutable = []string{"public, max-age=31536000, immutable"}
	noStore        = []string{"no-store"}
	allowGetHead   = []string{"GET, HEAD"}
	acceptRanges   = []string{"bytes"}
	varyEncoding   = []string{"Accept-Encoding"}
	encBrotli      = []string{apogee.EncodingBrotli}
	encGzip        = []string{apogee.EncodingGzip}
	hstsValue      = []string{"max-age=63072000; includeSubDomains"}
	nosniffValue   = []string{"nosniff"}
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
// variants are the precompressed variants of the files' blobs; set is the
// compiled routing (nil: none).
func buildManifest(files []apogee.File, variants []apogee.BlobVariant, serve apogee.ServeSettings, set *rules.Set) *manifest {
	m := &manifest{
		files:   make(map[string]*file, len(files)+len(files)/8),
		dirs:    map[string]struct{}{},
		set:     set,
		hsts:    serve.HSTS,
		nosniff: serve.NoSniff,
	}
	type pair struct{ br, gz *apogee.BlobVariant }
	var byHash map[string]*pair
	if len(variants) > 0 {
		byHash = make(map[string]*pair, len(variants))
		for i := range variants {
			v := &variants[i]
			if len(v.VariantSHA256) < etagLen || v.Size <= 0 {
				continue
			}
			pr := byHash[v.SHA256]
			if pr == nil {
				pr = &pair{}
				byHash[v.SHA256] = pr
			}
			switch v.Encoding {
			case apogee.EncodingBrotli:
				pr.br = v
			case apogee.EncodingGzip:
				pr.gz = v
			}
		}
	}
	ctypes := map[string][]string{} // one slice per distinct type
	for _, af := range files {
		if len(af.SHA256) < etagLen || af.Size < 0 {
			continue // not a valid manifest entry; the store validated it
		}
		if prep.IsConfigFile(af.Path) {
			continue
		}
		ct := contentType(af.Path)
		cts, ok := ctypes[ct]
		if !ok {
			cts = []string{ct}
			ctypes[ct] = cts
		}
		tag := af.SHA256[:etagLen]
		f := &file{
			blobRef: blobRef{hash: af.SHA256, size: af.Size},
			path:    af.Path,
			ctype:   cts,
			clen:    []string{strconv.FormatInt(af.Size, 10)},
			etag:    []string{`"` + tag + `"`},
			cc:      cacheControlFor(af.Path, ct),
		}
		if pr := byHash[af.SHA256]; pr != nil {
			if pr.br != nil {
				f.br = newVariant(pr.br, encBrotli, `"`+tag+`-br"`)
			}
			if pr.gz != nil {
				f.gz = newVariant(pr.gz, encGzip, `"`+tag+`-gz"`)
			}
		}
		m.files[af.Path] = f
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
	m.notFound = m.files["404.html"]
	files2 := m.files
	m.exists = func(p string) bool {
		f := files2[p]
		return f != nil && f.path == p
	}
	return m
}

func newVariant(v *apogee.BlobVariant, enc []string, etag string) *variant {
	return &variant{
		blobRef: blobRef{hash: v.VariantSHA256, size: v.Size},
		enc:     enc,
		clen:    []string{strconv.FormatInt(v.Size, 10)},
		etag:    []string{etag},
	}
}

// cacheControlFor returns the Cache-Control of a file: HTML always
// revalidates (it is what links to everything else); a file whose name
// carries a content hash is immutable; anything else revalidates, which
// costs a 304 when nothing changed. Header rules may override it.
func cacheControlFor(p, ctype string) []string {
	if !strings.HasPrefix(ctype, "text/html") && hashedName(p) {
		return cacheImmutable
	}
	return cacheControl
}

// hashedName reports whether the last segment of p carries a content
// hash the way bundlers write one: before the extension, after a "-" or
// ".", a part of at least 8 characters of [A-Za-z0-9_] with at least one
// digit and one letter ("app-3f9a1c2b.js", "main.3f9a1c2b.chunk.js"), or
// Vite's 8 characters of [A-Za-z0-9_-] after the last "-" but one
// ("index-B_x-9aQ1.js"). A hash of digits only is not recognised (the
// file then revalidates: slower, never stale); a name such as
// "photo-1920x1080.jpg" is taken for hashed, which a header rule can
// correct.
func hashedName(p string) bool {
	base := p[strings.LastIndexByte(p, '/')+1:]
	k := strings.LastIndexByte(base, '.')
	if k <= 0 {
		return false
	}
	stem := base[:k]
	if n := len(stem); n >= 10 && stem[n-9] == '-' && hashLike(stem[n-8:], true) {
		return true
	}
	start := -1 // start of the current part; -1 while in the first one
	for i := 0; i <= len(stem); i++ {
		if i < len(stem) && stem[i] != '.' && stem[i] != '-' {
			continue
		}
		if start >= 0 && i-start >= 8 && hashLike(stem[start:i], false) {
			return true
		}
		start = i + 1
	}
	return false
}

// hashLike reports whether s is all [A-Za-z0-9_] (and "-" if dash) with
// at least one digit and one letter.
func hashLike(s string, dash bool) bool {
	digit, letter := false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9':
			digit = true
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
			letter = true
		case c == '_' || dash && c == '-':
		default:
			return false
		}
	}
	return digit && letter
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
	s.m.manifestMisses.Inc()
	v, err, _ := s.manifests.Do(st.id, func() (any, error) {
		// A flight that ended between the look-up above and this one
		// has kept the manifest already: it keeps it before it ends.
		if m := st.man.Load(); m != nil {
			return m, nil
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
		defer cancel()
		files, err := s.store.DeploymentFiles(ctx, st.id)
		if errors.Is(err, apogee.ErrNotFound) {
			return nil, errNoManifest
		}
		if err != nil {
			return nil, fmt.Errorf("edge: load manifest of %s: %w", st.id, err)
		}
		serve, err := s.store.DeploymentServe(ctx, st.id)
		if err != nil && !errors.Is(err, apogee.ErrNotFound) {
			return nil, fmt.Errorf("edge: load serve settings of %s: %w", st.id, err)
		}
		variants, err := s.store.DeploymentVariants(ctx, st.id)
		if err != nil {
			return nil, fmt.Errorf("edge: load variants of %s: %w", st.id, err)
		}
		// Compiled once per deployment, from the same files finalize
		// checked. A deployment made before rules were checked may fail:
		// it is served without them, as it was before.
		set, _, err := prep.Rules(ctx, s.cache.blobs, files, serve, prep.Options{Countries: s.geo != nil})
		if apogee.ErrorCode(err) == apogee.EINVALID {
			s.log.Warn("routing rules of a ready deployment are invalid; serving without them", "deployment", st.id, "err", err)
			set, err = nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("edge: load routing rules of %s: %w", st.id, err)
		}
		m := buildManifest(files, variants, serve, set)
		s.keep(st, m)
		return m, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*manifest), nil
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
