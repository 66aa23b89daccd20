package edge

import (
	"errors"
	"io"
	"net/http"
	"net/netip"
	"net/textproto"
	"strconv"
	"strings"
	"sync"

	"github.com/apogee-dev/apogee/internal/coalesce"
	"github.com/apogee-dev/apogee/internal/rules"
	"github.com/apogee-dev/apogee/internal/setcookie"
)

var _ http.Handler = (*Server)(nil)

// page is a small prebuilt error response.
type page struct {
	code  int
	ctr   int // index into metrics.requests
	body  []byte
	clen  []string
	ctype []string
}

var ctypeHTML = []string{"text/html; charset=utf-8"}

func newPage(code, ctr int, title, msg string) *page {
	body := "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">" +
		"<meta name=\"viewport\" content=\"width=device-width\"><title>" + title + "</title>" +
		"<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36em;margin:15vh auto;padding:0 1em;color:#222}" +
		"h1{font-size:1.4em}p{color:#555}</style></head>\n<body><h1>" + title + "</h1><p>" + msg + "</p></body></html>\n"
	return &page{code: code, ctr: ctr, body: []byte(body), clen: []string{strconv.Itoa(len(body))}, ctype: ctypeHTML}
}

var (
	pageNoHost   = newPage(404, code404, "No deployment here", "No deployment is at this host. Check the address, or deploy to it with <code>apogee deploy</code>.")
	pageNotFound = newPage(404, code404, "404: not found", "This deployment has no file at this path.")
	pageBadPath  = newPage(400, code400, "400: bad request", "The path of this request is not allowed.")
	pageBadHost  = newPage(400, code400, "400: bad request", "The Host header of this request is not a valid host name.")
	pageMethod   = newPage(405, code405, "405: method not allowed", "Only GET and HEAD are served here.")
	pageInternal = newPage(500, code500, "500: internal error", "This file could not be read. Try again; the server log has the details.")
	pageRange    = newPage(416, code416, "416: range not satisfiable", "The requested range lies outside this file.")
)

// ServeHTTP serves r from the deployment its host points at; a Host that
// ParseHost refuses is 400. A GET of a
// cached file of a deployment without routing rules assigns prebuilt
// header values and writes the cached bytes: no allocation beyond
// net/http's own. A deployment with rules asks its compiled set first.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.access != nil {
		s.serveLogged(w, r)
		return
	}
	s.serve(w, r, nil)
}

// serve answers r; rec, when the access log is on, learns the site.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, rec *recorder) {
	host, ok := ParseHost(r.Host)
	if !ok {
		s.error(w, r, pageBadHost, nil)
		return
	}
	st := s.routes.Load().site(host)
	if st == nil {
		s.error(w, r, pageNoHost, nil)
		return
	}
	if rec != nil {
		rec.site, rec.host = st, host
	}
	if st.app {
		s.serveApp(w, r, st, host)
		return
	}
	// GET and HEAD are served from files; other methods only by a proxy
	// rule of the deployment, known once its manifest is loaded.
	getHead := r.Method == http.MethodGet || r.Method == http.MethodHead
	p := r.URL.Path
	if !validPath(p) {
		s.error(w, r, pageBadPath, st)
		return
	}
	m, err := s.manifest(r.Context(), st)
	if err != nil {
		if errors.Is(err, errNoManifest) {
			s.log.Warn("routed deployment has no manifest", "deployment", st.id)
			s.error(w, r, pageNotFound, st)
			return
		}
		s.log.Error("load manifest failed", "deployment", st.id, "err", err)
		s.error(w, r, pageInternal, st)
		return
	}
	if !getHead && !m.set.Proxies() {
		w.Header()["Allow"] = allowGetHead
		s.error(w, r, pageMethod, st)
		return
	}
	if m.hsts || m.nosniff {
		m.security(w.Header(), r)
	}
	if m.set != nil {
		s.serveRules(w, r, st, m, p, host, getHead)
		return
	}
	f := m.files[p[1:]]
	if f == nil {
		if _, ok := m.dirs[p[1:]]; ok {
			s.redirectDir(w, r, st)
			return
		}
		if m.notFound != nil {
			s.serveFile(w, r, st, m.notFound, http.StatusNotFound, nil)
			return
		}
		s.error(w, r, pageNotFound, st)
		return
	}
	s.serveFile(w, r, st, f, http.StatusOK, nil)
}

// security sets the deployment's security headers: HSTS only on HTTPS,
// where browsers heed it (RFC 6797 forbids it over plain HTTP).
func (m *manifest) security(h http.Header, r *http.Request) {
	if m.hsts && r.TLS != nil {
		h["Strict-Transport-Security"] = hstsValue
	}
	if m.nosniff {
		h["X-Content-Type-Options"] = nosniffValue
	}
}

// serveRules answers r through the deployment's compiled routing. A
// method other than GET and HEAD (getHead false) gets a proxy rule's
// answer, a redirect, or 405.
func (s *Server) serveRules(w http.ResponseWriter, r *http.Request, st *site, m *manifest, p, host string, getHead bool) {
	req := rules.Request{Method: r.Method, Path: p, RawQuery: r.URL.RawQuery, Host: host, Scheme: "http", Header: r.Header, Geo: s.geo}
	if r.TLS != nil {
		req.Scheme = "https"
	}
	if s.geo != nil {
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			req.ClientIP = ap.Addr().Unmap()
		}
	}
	res := m.set.MatchRequest(&req, m.exists)
	if res.Proxy != "" {
		s.serveProxy(w, r, st, res)
		return
	}
	if !getHead && (res.Location == "" || res.Status < 300 || res.Status >= 400) {
		w.Header()["Allow"] = allowGetHead
		s.error(w, r, pageMethod, st)
		return
	}
	switch {
	case res.Location != "" && res.Status >= 300 && res.Status < 400:
		h := w.Header()
		h["X-Apogee-Deployment"] = st.hdrID
		h["Location"] = []string{res.Location}
		h["Cache-Control"] = cacheControl
		w.WriteHeader(res.Status)
		s.m.count(res.Status)
	case res.File != "":
		f := m.files[res.File]
		if f == nil { // Match only names files exists reported
			s.error(w, r, pageNotFound, st)
			return
		}
		s.serveFile(w, r, st, f, res.Status, res.Headers)
	default:
		pg := pageNotFound
		if res.Status != http.StatusNotFound {
			pg = statusPage(res.Status)
		}
		h := w.Header()
		h["Cache-Control"] = noStore
		s.addHeaders(h, res.Headers, r)
		s.errorKeep(w, r, pg, st)
	}
}

// statusPage returns the edge's page for a status a rule asked for with
// no file to serve.
func statusPage(code int) *page {
	if v, ok := statusPages.Load(code); ok {
		return v.(*page)
	}
	text := http.StatusText(code)
	if text == "" || code < 400 || code > 599 {
		code, text = http.StatusNotFound, http.StatusText(http.StatusNotFound)
	}
	title := strconv.Itoa(code) + ": " + strings.ToLower(text)
	pg := newPage(code, -1, title, "This deployment answers this path with status "+strconv.Itoa(code)+".")
	v, _ := statusPages.LoadOrStore(code, pg)
	return v.(*page)
}

var statusPages sync.Map // int → *page

// addHeaders sets the headers of matching header rules. They come after
// the edge's own, so a rule may replace Cache-Control, say; rules cannot
// name the headers that frame the message (package rules refuses them).
// The names are canonical and the values shared and full (rules.Header),
// so this allocates nothing. A Set-Cookie whose Domain reaches beyond the
// request's host is dropped (package setcookie): the sites domain is not
// a public suffix, so a browser would take it.
func (s *Server) addHeaders(h http.Header, hs []rules.Header, r *http.Request) {
	for _, kv := range hs {
		if kv.Name == "Set-Cookie" {
			s.addCookies(h, kv.Value, r)
			continue
		}
		h[kv.Name] = kv.Value
	}
}

// addCookies sets the Set-Cookie values of a header rule that the
// request's host may set (see setcookie.Allowed).
func (s *Server) addCookies(h http.Header, values []string, r *http.Request) {
	host, _ := ParseHost(r.Host) // parsed before: ServeHTTP routed by it
	kept, dropped := setcookie.Filter(host, values)
	if dropped > 0 {
		s.m.cookiesDropped.Add(float64(dropped))
		s.log.Debug("dropped a header rule's Set-Cookie whose Domain is not the site's host", "host", host, "path", r.URL.Path, "dropped", dropped)
	}
	if len(kept) == 0 {
		delete(h, "Set-Cookie")
		return
	}
	h["Set-Cookie"] = kept
}

// serveFile answers with f and status: 200 for the file at the path
// (conditional and range requests apply), or a rule's status (404.html,
// a rewrite with a status) served as is.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, st *site, f *file, status int, extra []rules.Header) {
	h := w.Header()
	h["X-Apogee-Deployment"] = st.hdrID
	h["Cache-Control"] = f.cc
	h["Content-Type"] = f.ctype // before the rules' headers, which may replace it

	ref, clen, etag := &f.blobRef, f.clen, f.etag
	_, ranged := r.Header["Range"]
	if f.br != nil || f.gz != nil {
		h["Vary"] = varyEncoding
		// A range is served from the identity encoding, so that byte
		// offsets mean the same whatever the client accepts.
		if ae, ok := r.Header["Accept-Encoding"]; ok && !(ranged && status == http.StatusOK) {
			if v := pickVariant(f, ae); v != nil {
				ref, clen, etag = &v.blobRef, v.clen, v.etag
				h["Content-Encoding"] = v.enc
			}
		}
	}
	h["Etag"] = etag
	if extra != nil {
		s.addHeaders(h, extra, r)
	}
	if status == http.StatusOK {
		if inm, ok := r.Header["If-None-Match"]; ok && etagMatch(inm, etag[0]) {
			delete(h, "Content-Encoding")
			w.WriteHeader(http.StatusNotModified)
			s.m.requests[code304].Inc()
			return
		}
		h["Accept-Ranges"] = acceptRanges
		if ranged && ref == &f.blobRef {
			if s.serveRange(w, r, st, f) {
				return
			}
		}
	}
	if r.Method == http.MethodHead { // HEAD answers from the manifest alone
		h["Content-Length"] = clen
		if status != http.StatusOK {
			w.WriteHeader(status)
		}
		s.m.count(status)
		return
	}
	if ref.size > s.cache.large {
		rc, err := s.cache.open(r.Context(), ref, 0, ref.size)
		if err != nil {
			s.fileError(w, r, st, f, err)
			return
		}
		defer rc.Close()
		h["Content-Length"] = clen
		if status != http.StatusOK {
			w.WriteHeader(status)
		}
		s.m.count(status)
		s.stream(w, r, st, f, rc, ref.size)
		return
	}
	if rec, ok := w.(*recorder); ok {
		if e := ref.ent.Load(); e != nil {
			rec.cacheHit = e.data.Load() != nil
		}
	}
	body, err := s.cache.bytes(r.Context(), ref)
	if err != nil {
		s.fileError(w, r, st, f, err)
		return
	}
	h["Content-Length"] = clen
	if status != http.StatusOK {
		w.WriteHeader(status)
	}
	s.m.count(status)
	if len(body) > holdAbove && len(body) <= holdUpTo {
		// Headers and body in one segment, not net/http's two.
		coalesce.Hold(r)
	}
	w.Write(body)
	s.m.bytes.Add(float64(len(body)))
}

// stream copies n bytes of a file from rc to w, whose headers are set.
// If rc ends early or fails, the response cannot be mended (its status
// and Content-Length are sent): the connection is aborted, so that the
// client sees a broken response rather than a short file.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, st *site, f *file, rc io.Reader, n int64) {
	written, err := io.Copy(w, io.LimitReader(rc, n))
	s.m.bytes.Add(float64(written))
	if err == nil && written == n {
		return
	}
	if r.Context().Err() == nil { // not the client going away
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		s.log.Error("stream file failed", "deployment", st.id, "path", f.path, "written", written, "size", n, "err", err)
	}
	panic(http.ErrAbortHandler)
}

// Bodies the edge holds until the response is complete (package
// coalesce): below, headers and body fit net/http's 4 KB buffer and leave
// in one write anyway; above, the extra write matters little and the
// memory held would.
const (
	holdAbove = 3 << 10
	holdUpTo  = coalesce.MaxHeld - 4<<10
)

// fileError answers 500 for a file whose bytes could not be read.
func (s *Server) fileError(w http.ResponseWriter, r *http.Request, st *site, f *file, err error) {
	h := w.Header()
	for _, k := range [...]string{"Etag", "Cache-Control", "Vary", "Content-Encoding", "Accept-Ranges"} {
		delete(h, k)
	}
	s.log.Error("read file failed", "deployment", st.id, "path", f.path, "err", err)
	s.error(w, r, pageInternal, st)
}

// serveRange answers a Range request for f's identity bytes: 206 with one
// range, 416 when no range is satisfiable. It returns false, and the
// caller serves the whole file with 200, when the header is to be
// ignored: not bytes, malformed, more than one range (RFC 9110 lets a
// server ignore Range; multipart/byteranges is not worth its weight for
// static sites), an If-Range that does not match, or an empty file.
func (s *Server) serveRange(w http.ResponseWriter, r *http.Request, st *site, f *file) bool {
	if f.size == 0 {
		return false
	}
	if ir, ok := r.Header["If-Range"]; ok {
		// Only a strong ETag can match: the edge sends no Last-Modified.
		if len(ir) != 1 || ir[0] != f.etag[0] {
			return false
		}
	}
	rv := r.Header["Range"]
	if len(rv) != 1 {
		return false
	}
	start, end, ok, satisfiable := parseRange(rv[0], f.size)
	if !ok {
		return false
	}
	h := w.Header()
	if !satisfiable {
		h["Content-Range"] = []string{"bytes */" + strconv.FormatInt(f.size, 10)}
		delete(h, "Etag")
		s.errorKeep(w, r, pageRange, st)
		return true
	}
	n := end - start + 1
	var body []byte
	var rc io.ReadCloser
	switch {
	case r.Method == http.MethodHead:
	case f.size > s.cache.large:
		// Only the range is read from the blob store.
		var err error
		if rc, err = s.cache.open(r.Context(), &f.blobRef, start, n); err != nil {
			s.fileError(w, r, st, f, err)
			return true
		}
		defer rc.Close()
	default:
		b, err := s.cache.bytes(r.Context(), &f.blobRef)
		if err != nil {
			s.fileError(w, r, st, f, err)
			return true
		}
		body = b[start : end+1]
	}
	h["Content-Length"] = []string{strconv.FormatInt(n, 10)}
	h["Content-Range"] = []string{"bytes " + strconv.FormatInt(start, 10) + "-" + strconv.FormatInt(end, 10) + "/" + strconv.FormatInt(f.size, 10)}
	w.WriteHeader(http.StatusPartialContent)
	s.m.requests[code206].Inc()
	switch {
	case rc != nil:
		s.stream(w, r, st, f, rc, n)
	case body != nil:
		w.Write(body)
		s.m.bytes.Add(float64(len(body)))
	}
	return true
}

// parseRange parses a Range header of one byte range against a
// representation of size bytes (size > 0). ok is false when the header
// is to be ignored (another unit, a syntax error, several ranges);
// satisfiable is false when the one range lies outside the bytes (416).
func parseRange(v string, size int64) (start, end int64, ok, satisfiable bool) {
	const unit = "bytes="
	if len(v) < len(unit) || !strings.EqualFold(v[:len(unit)], unit) {
		return 0, 0, false, false
	}
	spec := textproto.TrimString(v[len(unit):])
	if spec == "" || strings.IndexByte(spec, ',') >= 0 {
		return 0, 0, false, false
	}
	first, last, found := strings.Cut(spec, "-")
	if !found {
		return 0, 0, false, false
	}
	first, last = textproto.TrimString(first), textproto.TrimString(last)
	if first == "" { // suffix: the last N bytes
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 || !digits(last) {
			return 0, 0, false, false
		}
		if n == 0 {
			return 0, 0, true, false
		}
		return max(size-n, 0), size - 1, true, true
	}
	a, err := strconv.ParseInt(first, 10, 64)
	if err != nil || !digits(first) {
		return 0, 0, false, false
	}
	b := size - 1
	if last != "" {
		b, err = strconv.ParseInt(last, 10, 64)
		if err != nil || !digits(last) || b < a {
			return 0, 0, false, false
		}
		b = min(b, size-1)
	}
	if a >= size {
		return 0, 0, true, false
	}
	return a, b, true, true
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// pickVariant chooses the precompressed variant of f that the
// Accept-Encoding values allow, brotli before gzip whatever their q
// values (they are the client's to state, but brotli is smaller and the
// cost was paid at deploy time), or nil for the identity encoding. An
// encoding with q=0 is refused; "*" stands for any encoding not named.
// It does not allocate.
func pickVariant(f *file, ae []string) *variant {
	br, gz := acceptEncodings(ae)
	switch {
	case f.br != nil && br:
		return f.br
	case f.gz != nil && gz:
		return f.gz
	}
	return nil
}

// acceptEncodings parses Accept-Encoding values into whether br and gzip
// are acceptable.
func acceptEncodings(values []string) (br, gz bool) {
	brSeen, gzSeen, star := false, false, false
	for _, v := range values {
		for v != "" {
			var item string
			if i := strings.IndexByte(v, ','); i >= 0 {
				item, v = v[:i], v[i+1:]
			} else {
				item, v = v, ""
			}
			name, params, _ := strings.Cut(item, ";")
			name = textproto.TrimString(name)
			ok := !zeroQ(params)
			switch {
			case strings.EqualFold(name, "br"):
				br, brSeen = ok, true
			case strings.EqualFold(name, "gzip"), strings.EqualFold(name, "x-gzip"):
				gz, gzSeen = ok, true
			case name == "*":
				star = ok
			}
		}
	}
	if !brSeen {
		br = star
	}
	if !gzSeen {
		gz = star
	}
	return br, gz
}

// zeroQ reports whether the parameters of an Accept-Encoding item set
// q=0 (q=0, q=0.0, q=0.000).
func zeroQ(params string) bool {
	for params != "" {
		var p string
		if i := strings.IndexByte(params, ';'); i >= 0 {
			p, params = params[:i], params[i+1:]
		} else {
			p, params = params, ""
		}
		p = textproto.TrimString(p)
		if len(p) < 2 || p[0]|0x20 != 'q' || p[1] != '=' {
			continue
		}
		q := p[2:]
		if q == "" || q[0] != '0' {
			return false
		}
		for i := 1; i < len(q); i++ {
			if q[i] != '0' && q[i] != '.' {
				return false
			}
		}
		return true
	}
	return false
}

// error writes a prebuilt error page. st is the deployment the host
// points at, if any.
func (s *Server) error(w http.ResponseWriter, r *http.Request, pg *page, st *site) {
	w.Header()["Cache-Control"] = noStore
	s.errorKeep(w, r, pg, st)
}

// errorKeep writes a prebuilt error page without touching Cache-Control.
func (s *Server) errorKeep(w http.ResponseWriter, r *http.Request, pg *page, st *site) {
	h := w.Header()
	if st != nil {
		h["X-Apogee-Deployment"] = st.hdrID
	}
	h["Content-Type"] = pg.ctype
	h["Content-Length"] = pg.clen
	w.WriteHeader(pg.code)
	if pg.ctr >= 0 {
		s.m.requests[pg.ctr].Inc()
	} else {
		s.m.count(pg.code)
	}
	if r.Method != http.MethodHead {
		w.Write(pg.body)
		s.m.bytes.Add(float64(len(pg.body)))
	}
}

// redirectDir sends "/dir" to "/dir/" when the deployment has
// dir/index.html and no file "dir". Serving the index at "/dir" would
// break its relative links; nginx and http.FileServer redirect too. The
// trailingSlash setting of vercel.json may change this later.
func (s *Server) redirectDir(w http.ResponseWriter, r *http.Request, st *site) {
	loc := r.URL.EscapedPath() + "/"
	if strings.HasPrefix(loc, "//") {
		loc = "/" + strings.TrimLeft(loc, "/")
	}
	if r.URL.RawQuery != "" {
		loc += "?" + r.URL.RawQuery
	}
	h := w.Header()
	h["X-Apogee-Deployment"] = st.hdrID
	h["Location"] = []string{loc}
	h["Cache-Control"] = cacheControl
	w.WriteHeader(http.StatusMovedPermanently)
	s.m.requests[code301].Inc()
}

// validPath reports whether p is an absolute request path without NUL,
// backslash or ".." segment. p is r.URL.Path: already decoded, so "%2e%2e"
// and "%5c" are caught too.
func validPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	seg := 0 // start of the current segment
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case 0, '\\':
			return false
		case '/':
			if i-seg == 2 && p[seg] == '.' && p[seg+1] == '.' {
				return false
			}
			seg = i + 1
		}
	}
	return !(len(p)-seg == 2 && p[seg] == '.' && p[seg+1] == '.')
}

// etagMatch reports whether any If-None-Match value matches etag, by the
// weak comparison RFC 9110 prescribes for If-None-Match: "*", or an entity
// tag equal to etag with or without a W/ prefix. It does not allocate.
func etagMatch(values []string, etag string) bool {
	for _, v := range values {
		for v != "" {
			v = strings.TrimLeft(v, " \t,")
			if v == "" {
				break
			}
			if v[0] == '*' {
				return true
			}
			v = strings.TrimPrefix(v, "W/")
			if v == "" || v[0] != '"' {
				// Not an entity tag: skip to the next comma.
				i := strings.IndexByte(v, ',')
				if i < 0 {
					break
				}
				v = v[i:]
				continue
			}
			end := strings.IndexByte(v[1:], '"')
			if end < 0 {
				break
			}
			if v[:end+2] == etag {
				return true
			}
			v = v[end+2:]
		}
	}
	return false
}

// pageNoApps answers for an app's host on a server that runs no apps.
var pageNoApps = newPage(503, -1, "503: app not running here", "This host is an app, and this server runs no apps.")

// serveApp hands a request for an app's host to Config.Apps, with the
// deployment header the edge sets on everything it serves.
func (s *Server) serveApp(w http.ResponseWriter, r *http.Request, st *site, host string) {
	if s.apps == nil {
		s.error(w, r, pageNoApps, st)
		return
	}
	w.Header()["X-Apogee-Deployment"] = st.hdrID
	s.apps.ServeApp(w, r, st.project, st.id, host == st.own)
}
