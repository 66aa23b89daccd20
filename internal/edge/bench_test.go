package edge

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// benchServer serves a 5 KB index.html at bench.localhost, plus hosts
// more projects so that the host map is not trivially small.
func benchServer(b *testing.B) *Server {
	b.Helper()
	st, bl := newMemStore(), newMemBlobs()
	deploy(st, bl, "bench", "b1", map[string]string{"index.html": strings.Repeat("x", 5120)})
	st.setRoute("bench", "b1")
	for i := range 1000 {
		st.setRoute(fmt.Sprintf("p%d", i), "b1")
	}
	s, err := New(Config{Domain: "localhost", Store: st, Blobs: bl, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Load(context.Background()); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkServeCached measures the handler alone on a cached GET.
func BenchmarkServeCached(b *testing.B) {
	s := benchServer(b)
	r := httptest.NewRequest("GET", "http://bench.localhost:8080/", nil)
	w := &nopWriter{h: http.Header{}}
	s.ServeHTTP(w, r)
	b.ReportAllocs()
	b.SetBytes(5120)
	reportCPU(b, func() {
		for b.Loop() {
			s.ServeHTTP(w, r)
		}
	})
}

func BenchmarkServeCachedParallel(b *testing.B) {
	s := benchServer(b)
	s.ServeHTTP(&nopWriter{h: http.Header{}}, httptest.NewRequest("GET", "http://bench.localhost/", nil))
	b.ReportAllocs()
	b.SetBytes(5120)
	reportCPU(b, func() {
		b.RunParallel(func(pb *testing.PB) {
			r := httptest.NewRequest("GET", "http://bench.localhost:8080/", nil)
			w := &nopWriter{h: http.Header{}}
			for pb.Next() {
				s.ServeHTTP(w, r)
			}
		})
	})
}

// BenchmarkServeCachedHTTP goes through net/http over loopback: what a
// client sees, net/http's own cost included.
func BenchmarkServeCachedHTTP(b *testing.B) {
	s := benchServer(b)
	ts := httptest.NewServer(s)
	defer ts.Close()
	req, _ := http.NewRequest("GET", ts.URL+"/", nil)
	req.Host = "bench.localhost"
	b.ReportAllocs()
	b.SetBytes(5120)
	for b.Loop() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

func BenchmarkLookup(b *testing.B) {
	s := benchServer(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := s.Lookup("bench.localhost:8080"); !ok {
			b.Fatal("not found")
		}
	}
}

func BenchmarkLookupParallel(b *testing.B) {
	s := benchServer(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok := s.Lookup("p500.localhost"); !ok {
				b.Fatal("not found")
			}
		}
	})
}
