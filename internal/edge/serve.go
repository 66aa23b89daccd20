package edge

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
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
	pageMethod   = newPage(405, code405, "405: method not allowed", "Only GET and HEAD are served here.")
	pageInternal = newPage(500, code500, "500: internal error", "This file could not be read. Try again; the server log has the details.")
)

// ServeHTTP serves r from the deployment its host points at. A GET of a
// cached file assigns prebuilt header values and writes the cached bytes:
// no allocation beyond net/http's own.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := s.routes.Load().hosts[normalHost(r.Host)]
	if st == nil {
		s.error(w, r, pageNoHost, nil)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header()["Allow"] = allowGetHead
		s.error(w, r, pageMethod, st)
		return
	}
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
	f := m.files[p[1:]]
	if f == nil {
		if _, ok := m.dirs[p[1:]]; ok {
			s.redirectDir(w, r, st)
			return
		}
		s.error(w, r, pageNotFound, st)
		return
	}
	h := w.Header()
	h["X-Apogee-Deployment"] = st.hdrID
	h["Cache-Control"] = cacheControl
	h["Etag"] = f.etag
	if inm, ok := r.Header["If-None-Match"]; ok && etagMatch(inm, f.etag[0]) {
		w.WriteHeader(http.StatusNotModified)
		s.m.requests[code304].Inc()
		return
	}
	body, err := s.cache.bytes(r.Context(), f)
	if err != nil {
		delete(h, "Etag")
		delete(h, "Cache-Control")
		s.log.Error("read file failed", "deployment", st.id, "path", p, "err", err)
		s.error(w, r, pageInternal, st)
		return
	}
	h["Content-Type"] = f.ctype
	h["Content-Length"] = f.clen
	s.m.requests[code200].Inc()
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
	s.m.bytes.Add(float64(len(body)))
}

// error writes a prebuilt error page. st is the deployment the host
// points at, if any.
func (s *Server) error(w http.ResponseWriter, r *http.Request, pg *page, st *site) {
	h := w.Header()
	if st != nil {
		h["X-Apogee-Deployment"] = st.hdrID
	}
	h["Content-Type"] = pg.ctype
	h["Content-Length"] = pg.clen
	h["Cache-Control"] = noStore
	w.WriteHeader(pg.code)
	s.m.requests[pg.ctr].Inc()
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
