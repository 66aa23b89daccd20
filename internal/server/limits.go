package server

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/api"
)

// Limits of a connection, whatever it asks (issue 10, item 9):
//
//   - headers must arrive within headerTimeout and hold at most
//     maxHeaderBytes (431 past it);
//   - a body must keep coming: its first uploadPace bytes within
//     --body-timeout of the headers, and each uploadPace bytes after that
//     within --body-timeout of the last. A body trickled a byte every few
//     seconds ends at the first deadline, while a large upload on a slow
//     but steady link goes on (so the deadline of an upload is lifted,
//     not fixed). The deadline is cleared at the body's end: the server's
//     own ReadTimeout is not used, as it would also end the streams of
//     live logs, whose request has no body, once it passed;
//   - at most --max-uploads uploads (a deployment's file, a ZIP, a git
//     push) are received at once; the next waits up to --body-timeout for
//     one to end, then gets 429.
const (
	headerTimeout  = 10 * time.Second
	maxHeaderBytes = 64 << 10
	uploadPace     = 64 << 10
	idleTimeout    = 120 * time.Second
)

// DefaultBodyTimeout and DefaultMaxUploads are --body-timeout's and
// --max-uploads' defaults.
const (
	DefaultBodyTimeout = 30 * time.Second
	DefaultMaxUploads  = 64
)

// newHTTPServer returns an http.Server of h with the connection limits.
func (s *Server) newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: headerTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// isUpload reports whether r sends a body that may take longer than
// --body-timeout: the routes of the apex that receive files.
func isUpload(r *http.Request) bool {
	p := r.URL.Path
	switch r.Method {
	case http.MethodPut:
		return strings.HasPrefix(p, "/api/v1/uploads/") ||
			strings.HasPrefix(p, "/api/v1/deployments/") && strings.Contains(p, "/files/")
	case http.MethodPost:
		return strings.HasPrefix(p, "/git/") && strings.HasSuffix(p, "/git-receive-pack") ||
			strings.HasPrefix(p, "/projects/") && strings.HasSuffix(p, "/zip")
	}
	return false
}

// paceBody puts r's body, if it has one, under the pace of bodies (see
// the limits above).
func (s *Server) paceBody(w http.ResponseWriter, r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return
	}
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout)); err != nil {
		s.log.Debug("no read deadline for a body", "err", err)
		return
	}
	r.Body = &pacedBody{ReadCloser: r.Body, rc: rc, timeout: s.cfg.BodyTimeout}
}

// takeUpload waits for one of the --max-uploads slots. false: none came
// free in time, and the answer (429) is written.
func (s *Server) takeUpload(w http.ResponseWriter, r *http.Request) bool {
	select {
	case s.uploads <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(s.cfg.BodyTimeout)
	defer t.Stop()
	select {
	case s.uploads <- struct{}{}:
		return true
	case <-t.C:
		// The body's read deadline passed while it waited: give the
		// server a moment to read what the client sent of it after the
		// answer, so that the connection closes cleanly instead of being
		// reset under the client while it reads the 429.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(time.Second))
		err := apogee.TooMany(s.cfg.BodyTimeout, "the server is receiving too many uploads at once; try again in a moment")
		api.SetRetryAfter(w, err)
		http.Error(w, apogee.ErrorMessage(err), http.StatusTooManyRequests)
		return false
	case <-r.Context().Done():
		return false
	}
}

func (s *Server) releaseUpload() { <-s.uploads }

// errSlowBody is what reading a body returns past its deadline.
var errSlowBody = apogee.Errorf(apogee.EINVALID, "the request body came too slowly: send at least 64 KiB every --body-timeout")

// pacedBody moves the connection's read deadline on by timeout every
// uploadPace bytes, and clears it at the body's end.
type pacedBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
	since   int
}

func (b *pacedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.since += n
	switch {
	case err == io.EOF:
		_ = b.rc.SetReadDeadline(time.Time{})
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = errSlowBody
	case b.since >= uploadPace:
		b.since = 0
		_ = b.rc.SetReadDeadline(time.Now().Add(b.timeout))
	}
	return n, err
}
