package edge

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/access"
)

// entries collects what the edge records.
type entries struct {
	mu sync.Mutex
	es []access.Entry
}

func (c *entries) Record(e access.Entry) {
	c.mu.Lock()
	c.es = append(c.es, e)
	c.mu.Unlock()
}

func TestAccessRecords(t *testing.T) {
	st, bl := newMemStore(), newMemBlobs()
	deploy(st, bl, "web", "w1", map[string]string{"index.html": "hello", "404.html": "gone"})
	st.setRoute("web", "w1")
	log := &entries{}
	s, err := New(Config{Domain: "localhost", Store: st, Blobs: bl, Access: log, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		method, url string
		status      int
		bytes       int64
		cacheHit    bool
	}{
		{"GET", "http://web.localhost/?token=secret", 200, 5, false}, // a miss loads the file
		{"GET", "http://web.localhost/", 200, 5, true},
		{"HEAD", "http://web.localhost/", 200, 0, false},
		{"GET", "http://web.localhost/nope", 404, 4, false},
		{"POST", "http://web.localhost/", 405, int64(len(pageMethod.body)), false},
		{"GET", "http://nothing.localhost/", 0, 0, false}, // no project: no record
	} {
		r := httptest.NewRequest(tt.method, tt.url, nil)
		r.Header.Set("User-Agent", "test-agent")
		r.Header.Set("Referer", "https://news.example/")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if tt.status == 0 {
			continue
		}
		if len(log.es) == 0 {
			t.Fatalf("%s %s: no record", tt.method, tt.url)
		}
		e := log.es[len(log.es)-1]
		log.es = log.es[:0]
		if e.Status != tt.status || e.Status != w.Code || e.Bytes != tt.bytes || e.CacheHit != tt.cacheHit ||
			e.ProjectID != "web" || e.DeploymentID != "w1" || e.Host != "web.localhost" || e.Method != tt.method ||
			strings.Contains(e.Path, "secret") || e.UserAgent != "test-agent" || e.Referer != "https://news.example/" ||
			e.RemoteAddr != r.RemoteAddr || e.Start.IsZero() || e.Duration < 0 {
			t.Errorf("%s %s: record %+v (response %d), want status %d bytes %d cache hit %v", tt.method, tt.url, e, w.Code, tt.status, tt.bytes, tt.cacheHit)
		}
	}
	if len(log.es) != 0 {
		t.Errorf("a host that serves nothing was recorded: %+v", log.es)
	}
}

// discard is a store that keeps no record: the benchmark measures the
// edge and the hand-off, not the database.
type discard struct{}

func (discard) AppendRequests(context.Context, []apogee.Request) error  { return nil }
func (discard) PruneRequests(context.Context, time.Time) (int64, error) { return 0, nil }
func (discard) SaveTraffic(context.Context, []apogee.TrafficRollup, []apogee.TrafficTops) error {
	return nil
}
func (discard) PruneProjectRequests(context.Context, string, time.Time, int64) (int64, error) {
	return 0, nil
}
func (discard) PruneTraffic(context.Context, time.Duration, time.Time) (int64, error) { return 0, nil }

// BenchmarkServeAccess compares a cached GET with the access log off and
// on (a real access.Log, its writer draining the buffer), in one run.
func BenchmarkServeAccess(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			s := benchServer(b)
			if on {
				l, err := access.New(access.Config{Store: discard{}, Log: slog.New(slog.DiscardHandler)})
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(b.Context())
				done := make(chan struct{})
				go func() { l.Run(ctx); close(done) }()
				b.Cleanup(func() { cancel(); <-done })
				s.access = l
			}
			s.ServeHTTP(&nopWriter{h: http.Header{}}, httptest.NewRequest("GET", "http://bench.localhost/", nil))
			b.ReportAllocs()
			b.SetBytes(5120)
			b.RunParallel(func(pb *testing.PB) {
				r := httptest.NewRequest("GET", "http://bench.localhost:8080/", nil)
				r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0.0.0 Safari/537.36")
				w := &nopWriter{h: http.Header{}}
				for pb.Next() {
					s.ServeHTTP(w, r)
				}
			})
		})
	}
}

var _ io.Writer = (*nopWriter)(nil)
