package edge

import (
	"net/http"
	"sync"
	"time"

	"github.com/apogee-dev/apogee/internal/access"
)

// AccessLog receives a record of every request the edge answered, after
// the response (package access). Record must not block. Safe for
// concurrent use.
type AccessLog interface {
	Record(e access.Entry)
}

var _ AccessLog = (*access.Log)(nil)

// recorder notes what the response was: status, body bytes, the site and
// whether the body came from the cache. Pooled, so that logging a request
// allocates nothing. Flush and Hijack reach the connection through Unwrap
// (http.ResponseController), as httputil.ReverseProxy asks for them.
type recorder struct {
	http.ResponseWriter
	status   int
	bytes    int64
	site     *site
	host     string
	cacheHit bool
}

var recorders = sync.Pool{New: func() any { return new(recorder) }}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush is asked for by type assertion by some handlers (http.Flusher).
func (w *recorder) Flush() {
	http.NewResponseController(w.ResponseWriter).Flush()
}

// serveLogged serves r and hands its record to the access log.
func (s *Server) serveLogged(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := recorders.Get().(*recorder)
	rw.ResponseWriter = w
	defer func() { // also when a handler aborts (http.ErrAbortHandler)
		if rw.status == 0 {
			rw.status = http.StatusOK
		}
		e := access.Entry{
			Start: start, Duration: time.Since(start), Host: rw.host, Method: r.Method, Path: r.URL.Path,
			Status: rw.status, Bytes: rw.bytes, CacheHit: rw.cacheHit, RemoteAddr: r.RemoteAddr,
		}
		if st := rw.site; st != nil {
			e.ProjectID, e.DeploymentID = st.project, st.id
		}
		if v := r.Header["User-Agent"]; len(v) > 0 {
			e.UserAgent = v[0]
		}
		if v := r.Header["Referer"]; len(v) > 0 {
			e.Referer = v[0]
		}
		*rw = recorder{}
		recorders.Put(rw)
		if e.ProjectID != "" { // a host that serves nothing is no project's traffic
			s.access.Record(e)
		}
	}()
	s.serve(rw, r, rw)
}
