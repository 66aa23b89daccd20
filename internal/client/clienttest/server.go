// Package clienttest runs Apogee's real REST API (internal/api on
// internal/platform) on SQLite and a file blob store in a temporary
// folder, on loopback, for the tests of the client and the CLI. It adds only what a test needs to look
// inside: users with a token, the manifest and blobs stored, a count of
// accepted file uploads, and a way to lose uploads on the wire.
package clienttest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/api/apitest"
	"github.com/apogee-dev/apogee/internal/auth"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/platform"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// Server is the real API serving on 127.0.0.1. Use New.
type Server struct {
	*httptest.Server
	Store apogee.Store
	Blobs apogee.Blobs

	t    testing.TB
	mu   sync.Mutex
	puts int
	drop int
}

// filePut is the route of one file upload of the deploy protocol.
var filePut = regexp.MustCompile(`^/api/v1/deployments/[^/]+/files/[^/]+$`)

// New starts the API on 127.0.0.1; it is closed when t ends.
func New(t testing.TB) *Server {
	st, bl, _ := testbed.Backends(t)
	s := &Server{Store: st, Blobs: bl, t: t}
	var port string
	a := apitest.New(t, platform.Config{
		Store: st, Blobs: bl, Bus: events.NewLocal(testbed.Quiet), Log: testbed.Quiet,
		SiteURL: func(label string) string { return "http://" + label + ".localhost:" + port + "/" },
	})
	s.Server = httptest.NewServer(s.count(a))
	u, _ := url.Parse(s.URL)
	port = u.Port()
	t.Cleanup(s.Close)
	return s
}

// count passes every request to the API, counting the file uploads it
// accepts, and answers dropped uploads itself (see DropUploads).
func (s *Server) count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut || !filePut.MatchString(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		s.mu.Lock()
		drop := s.drop > 0
		if drop {
			s.drop--
		}
		s.mu.Unlock()
		if drop {
			// Lost between the client and the blob store: acknowledged,
			// never stored.
			_, _ = io.Copy(io.Discard, r.Body)
			s.mu.Lock()
			s.puts++
			s.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
			return
		}
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == http.StatusNoContent {
			s.mu.Lock()
			s.puts++
			s.mu.Unlock()
		}
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// AddUser makes a user with password and returns an API token for it.
func (s *Server) AddUser(email, password string) string {
	s.t.Helper()
	ctx := context.Background()
	hash, err := auth.HashPassword(password)
	if err != nil {
		s.t.Fatal(err)
	}
	u := &apogee.User{ID: apogee.NewID(), Email: email, Password: hash, CreatedAt: time.Now().UTC()}
	if err := s.Store.CreateUser(ctx, u); err != nil {
		s.t.Fatal(err)
	}
	secret, th := auth.NewToken()
	if err := s.Store.CreateToken(ctx, &apogee.Token{ID: apogee.NewID(), UserID: u.ID, Name: "test", Hash: th, CreatedAt: time.Now().UTC()}); err != nil {
		s.t.Fatal(err)
	}
	return secret
}

// Puts returns how many file uploads the server accepted.
func (s *Server) Puts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.puts
}

// ResetPuts sets the upload count to zero.
func (s *Server) ResetPuts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.puts = 0
}

// DropUploads makes the next n file uploads get acknowledged without
// reaching the API, as if they were lost on the way to the blob store, so
// that finalizing answers which files are missing.
func (s *Server) DropUploads(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop = n
}

// Blob returns the stored bytes of a hash.
func (s *Server) Blob(hash string) ([]byte, bool) {
	b, err := s.Blobs.Get(context.Background(), hash)
	if err != nil {
		if !errors.Is(err, apogee.ErrNotFound) {
			s.t.Errorf("blob %s: %v", hash, err)
		}
		return nil, false
	}
	return b, true
}

// Manifest returns the files of deployment id.
func (s *Server) Manifest(id string) []apogee.File {
	files, err := s.Store.DeploymentFiles(context.Background(), id)
	if err != nil {
		s.t.Errorf("manifest of %s: %v", id, err)
	}
	return files
}
