package edge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/apogee-dev/apogee"
)

// memStore is an in-memory Store. gate, when set, blocks DeploymentFiles
// until it is closed. A route's project is projectOf its host; every
// change of a route is a route change of that project, as the real store
// records it.
type memStore struct {
	mu      sync.Mutex
	routes  map[string]string // host label → deployment id
	apps    map[string]bool   // deployment ids of apps' releases
	wild    map[string]bool   // hosts of routes marked Wildcard (branches under a wildcard domain)
	changes []apogee.RouteChange
	keep    int // changes kept (0: all); older ones are dropped
	files   map[string][]apogee.File
	// serve and variants are what deployments were finalized with.
	serve    map[string]apogee.ServeSettings
	variants map[string][]apogee.BlobVariant
	gate     chan struct{}
	calls    atomic.Int64 // DeploymentFiles calls
	err      error        // returned by Routes when set
	loads    atomic.Int64 // RouteVersion calls: the start of every load
	// failed receives a value (if it has room) each time Routes returns
	// err.
	failed chan struct{}
}

var _ Store = (*memStore)(nil)

func newMemStore() *memStore {
	return &memStore{routes: map[string]string{}, apps: map[string]bool{}, wild: map[string]bool{}, files: map[string][]apogee.File{},
		serve: map[string]apogee.ServeSettings{}, variants: map[string][]apogee.BlobVariant{},
		failed: make(chan struct{}, 1)}
}

// projectOf is the project (its id is its name here) of a route's host:
// the label before "--" of a deployment host, the label itself of a
// production host, and "site" for a custom domain.
func projectOf(host string) string {
	if strings.Contains(host, ".") {
		return "site"
	}
	p, _, _ := strings.Cut(host, "--")
	return p
}

func (s *memStore) Routes(ctx context.Context) ([]apogee.Route, error) {
	return s.ProjectRoutes(ctx, "")
}

// ProjectRoutes returns the routes of project, or all with "".
func (s *memStore) ProjectRoutes(ctx context.Context, project string) ([]apogee.Route, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		select {
		case s.failed <- struct{}{}:
		default:
		}
		return nil, s.err
	}
	var rs []apogee.Route
	for h, id := range s.routes {
		if p := projectOf(h); project == "" || p == project {
			rs = append(rs, apogee.Route{Host: h, DeploymentID: id, ProjectID: p, App: s.apps[id], Wildcard: s.wild[h]})
		}
	}
	return rs, nil
}

func (s *memStore) RouteVersion(ctx context.Context) (int64, error) {
	s.loads.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return 0, s.err
	}
	return s.version(), nil
}

func (s *memStore) version() int64 {
	if n := len(s.changes); n > 0 {
		return s.changes[n-1].Version
	}
	return 0
}

func (s *memStore) RouteChanges(ctx context.Context, since int64, limit int) ([]apogee.RouteChange, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	var out []apogee.RouteChange
	for _, c := range s.changes {
		if c.Version > since && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, nil
}

// changed records a change of host's routes; callers hold mu.
func (s *memStore) changed(host string) {
	s.changes = append(s.changes, apogee.RouteChange{Version: s.version() + 1, ProjectID: projectOf(host)})
	if s.keep > 0 && len(s.changes) > s.keep {
		s.changes = slices.Clone(s.changes[len(s.changes)-s.keep:])
	}
}

func (s *memStore) DeploymentFiles(ctx context.Context, id string) ([]apogee.File, error) {
	s.calls.Add(1)
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fs, ok := s.files[id]
	if !ok {
		return nil, apogee.ErrNotFound
	}
	return fs, nil
}

func (s *memStore) DeploymentServe(ctx context.Context, id string) (apogee.ServeSettings, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.files[id]; !ok {
		return apogee.ServeSettings{}, apogee.ErrNotFound
	}
	return s.serve[id], nil
}

func (s *memStore) DeploymentVariants(ctx context.Context, id string) ([]apogee.BlobVariant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.variants[id], nil
}

func (s *memStore) setRoute(label, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routes[label] = id
	s.changed(label)
}

func (s *memStore) deleteRoute(label string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.routes, label)
	s.changed(label)
}

// memBlobs is an in-memory Blobs that counts Get and Open calls and
// keeps the ranges opened.
type memBlobs struct {
	mu     sync.Mutex
	blobs  map[string][]byte
	gets   atomic.Int64
	opens  atomic.Int64
	ranges [][2]int64 // offset, length of each Open; guarded by mu
}

var _ Blobs = (*memBlobs)(nil)

func newMemBlobs() *memBlobs { return &memBlobs{blobs: map[string][]byte{}} }

func (b *memBlobs) Get(ctx context.Context, hash string) ([]byte, error) {
	b.gets.Add(1)
	b.mu.Lock()
	defer b.mu.Unlock()
	d, ok := b.blobs[hash]
	if !ok {
		return nil, apogee.ErrNotFound
	}
	return d, nil
}

func (b *memBlobs) Open(ctx context.Context, hash string, offset, length int64) (io.ReadCloser, error) {
	b.opens.Add(1)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ranges = append(b.ranges, [2]int64{offset, length})
	d, ok := b.blobs[hash]
	if !ok {
		return nil, apogee.ErrNotFound
	}
	if offset < 0 || offset >= int64(len(d)) && len(d) > 0 {
		return nil, fmt.Errorf("memBlobs: offset %d outside %d bytes", offset, len(d))
	}
	d = d[offset:]
	if length >= 0 && length < int64(len(d)) {
		d = d[:length]
	}
	return io.NopCloser(bytes.NewReader(d)), nil
}

func (b *memBlobs) put(data []byte) string {
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:])
	b.mu.Lock()
	defer b.mu.Unlock()
	b.blobs[h] = data
	return h
}

// deploy stores a deployment's files (path → content) and its own host
// route "<project>--<id>".
func deploy(st *memStore, bl *memBlobs, project, id string, files map[string]string) {
	var fs []apogee.File
	for p, c := range files {
		h := bl.put([]byte(c))
		fs = append(fs, apogee.File{Path: p, SHA256: h, Size: int64(len(c))})
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].Path < fs[j].Path })
	st.mu.Lock()
	st.files[id] = fs
	st.mu.Unlock()
	st.setRoute(apogee.DeploymentHost(project, id), id)
}

type fixture struct {
	store *memStore
	blobs *memBlobs
	edge  *Server
	url   string
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	f := &fixture{store: newMemStore(), blobs: newMemBlobs()}
	if cfg.Domain == "" {
		cfg.Domain = "localhost"
	}
	cfg.Store, cfg.Blobs = f.store, f.blobs
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.edge = s
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	f.url = ts.URL
	return f
}

func (f *fixture) load(t *testing.T) {
	t.Helper()
	if err := f.edge.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// get sends method path to the test server with Host host.
func (f *fixture) do(t *testing.T, method, host, path string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// nopWriter is a ResponseWriter that keeps nothing: it measures the
// handler alone, without net/http's own work.
type nopWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) WriteHeader(code int)        { w.code = code }
func (w *nopWriter) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }
