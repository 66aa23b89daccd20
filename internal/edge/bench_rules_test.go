package edge

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// ruleHeavyVercelJSON is a vercel.json of 100 rules of every kind, as a
// large site migrated to Vercel would have: literal, parameter and
// regular-expression redirects, rewrites and header rules, plus
// cleanUrls.
func ruleHeavyVercelJSON() string {
	var redirects, rewrites, headers []string
	for i := 0; i < 60; i++ {
		redirects = append(redirects, fmt.Sprintf(`{"source": "/old-page-%d", "destination": "/new-page-%d"}`, i, i))
	}
	for i := 0; i < 15; i++ {
		redirects = append(redirects, fmt.Sprintf(`{"source": "/blog-%d/:slug", "destination": "/posts-%d/:slug", "statusCode": 301}`, i, i))
	}
	for i := 0; i < 10; i++ {
		redirects = append(redirects, fmt.Sprintf(`{"source": "/archive-%d/(.*)", "destination": "/a/%d/$1"}`, i, i))
	}
	for i := 0; i < 5; i++ {
		rewrites = append(rewrites, fmt.Sprintf(`{"source": "/app-%d/:path*", "destination": "/app-%d/index.html"}`, i, i))
	}
	for i := 0; i < 9; i++ {
		headers = append(headers, fmt.Sprintf(`{"source": "/static-%d/(.*)", "headers": [{"key": "Cache-Control", "value": "public, max-age=%d"}]}`, i, i))
	}
	headers = append(headers, `{"source": "/(.*)", "headers": [{"key": "X-Frame-Options", "value": "DENY"}]}`)
	return `{"cleanUrls": true, "redirects": [` + strings.Join(redirects, ",") + `], "rewrites": [` + strings.Join(rewrites, ",") +
		`], "headers": [` + strings.Join(headers, ",") + `]}`
}

// rulesServer serves at bench.localhost the same 5 KB index.html as
// benchServer, with the rule-heavy vercel.json, and at plain.localhost the
// same files without it.
func rulesServer(b testing.TB) *Server {
	b.Helper()
	st, bl := newMemStore(), newMemBlobs()
	files := map[string]string{
		"index.html":             strings.Repeat("x", 5120),
		"about.html":             "<h1>about</h1>",
		"assets/app-3f9a1c2b.js": strings.Repeat("y", 5120),
		"app-4/index.html":       "<h1>app</h1>",
		"404.html":               "<h1>404</h1>",
	}
	deploy(st, bl, "plain", "p1", files)
	st.setRoute("plain", "p1")
	files["vercel.json"] = ruleHeavyVercelJSON()
	deploy(st, bl, "bench", "r1", files)
	st.setRoute("bench", "r1")
	s, err := New(Config{Domain: "localhost", Store: st, Blobs: bl, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Load(context.Background()); err != nil {
		b.Fatal(err)
	}
	m, err := s.manifest(context.Background(), s.routes.Load().hosts["bench.localhost"])
	if err != nil || m.set == nil {
		b.Fatalf("rules not loaded: %v", err)
	}
	return s
}

// BenchmarkServeRules measures whole requests through the handler of a
// deployment with 100 rules: the extra cost of rules is the difference
// to the same request on the plain deployment ("plain-file"). The target
// is under 2 µs of rules cost per request.
func BenchmarkServeRules(b *testing.B) {
	s := rulesServer(b)
	for _, c := range []struct {
		name, host, path string
		code             int
	}{
		{"plain-file", "plain.localhost", "/", 200},
		{"rules-file", "bench.localhost", "/", 200},
		{"rules-hashed-asset", "bench.localhost", "/assets/app-3f9a1c2b.js", 200},
		{"rules-clean-url", "bench.localhost", "/about", 200},
		{"rules-late-redirect", "bench.localhost", "/old-page-59", 308},
		{"rules-late-regexp", "bench.localhost", "/archive-9/2020/post", 308},
		{"rules-rewrite", "bench.localhost", "/app-4/dashboard/x", 200},
		{"rules-404", "bench.localhost", "/nothing/here", 404},
	} {
		r := httptest.NewRequest("GET", "http://"+c.host+c.path, nil)
		w := &nopWriter{h: http.Header{}}
		s.ServeHTTP(w, r)
		if w.code == 0 {
			w.code = 200
		}
		if w.code != c.code {
			b.Fatalf("%s%s: %d, want %d", c.host, c.path, w.code, c.code)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				s.ServeHTTP(w, r)
			}
		})
	}
}

// manyProjects returns a Server with n small projects, every manifest
// loaded and every index.html cached, and a GET / request per host.
func manyProjects(b *testing.B, n int) (*Server, []*http.Request) {
	b.Helper()
	st, bl := newMemStore(), newMemBlobs()
	for i := range n {
		id := fmt.Sprintf("d%05d", i)
		name := fmt.Sprintf("p%05d", i)
		deploy(st, bl, name, id, map[string]string{
			"index.html": fmt.Sprintf("<!doctype html><title>%s</title>", name) + strings.Repeat("<p>hello</p>", 80),
			"app.js":     fmt.Sprintf("console.log(%q)", name),
			"style.css":  fmt.Sprintf("/* %s */ body{margin:0}", name),
		})
		st.setRoute(name, id)
	}
	s, err := New(Config{Domain: "localhost", Store: st, Blobs: bl, MaxManifests: 2 * n,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Load(context.Background()); err != nil {
		b.Fatal(err)
	}
	reqs := make([]*http.Request, n)
	w := &nopWriter{h: http.Header{}}
	for i := range reqs {
		reqs[i] = httptest.NewRequest("GET", fmt.Sprintf("http://p%05d.localhost/", i), nil)
		s.ServeHTTP(w, reqs[i]) // load the manifest, cache the file
		if w.code != 0 {
			b.Fatalf("warm-up of %s: %d", reqs[i].Host, w.code)
		}
	}
	if loaded := len(s.loaded); loaded != n {
		b.Fatalf("%d manifests loaded, want %d", loaded, n)
	}
	// The store and blobs stand in for the database and the blob store,
	// which live elsewhere: drop them before measuring memory.
	st.mu.Lock()
	st.files = nil
	st.mu.Unlock()
	bl.mu.Lock()
	bl.blobs = nil
	bl.mu.Unlock()
	return s, reqs
}

// BenchmarkManyProjectsHTTP is BenchmarkManyProjects through net/http
// over loopback with 8 keep-alive clients: the throughput a site's
// visitors see, which is what "within 10% of one project" is about.
func BenchmarkManyProjectsHTTP(b *testing.B) {
	for _, n := range []int{1, 10_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			s, reqs := manyProjects(b, n)
			ts := httptest.NewServer(s)
			defer ts.Close()
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			var next atomic.Int64
			b.SetParallelism(4) // 4 × GOMAXPROCS clients
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := int(next.Add(1)) % n
					req, _ := http.NewRequest("GET", ts.URL+"/", nil)
					req.Host = reqs[i].Host
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("%s: %d", req.Host, resp.StatusCode)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}

// BenchmarkManyProjectsInterleaved answers "throughput within 10% of one
// project" on a machine that also runs other work: a server with one
// project and a server with 10,000 (every request to another host, so
// every request misses the CPU caches a small site keeps warm) take turns
// request by request, over net/http on loopback with parallel keep-alive
// clients, so that whatever else the machine does falls on both alike.
// It reports each one's time per request and many/one, the throughput of
// the 10,000-project server relative to the one-project server.
func BenchmarkManyProjectsInterleaved(b *testing.B) {
	one, oneReqs := manyProjects(b, 1)
	many, manyReqs := manyProjects(b, 10_000)
	ts1, tsN := httptest.NewServer(one), httptest.NewServer(many)
	defer ts1.Close()
	defer tsN.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	get := func(base, host string) error {
		req, _ := http.NewRequest("GET", base+"/", nil)
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != 200 {
			err = fmt.Errorf("%s: %d", host, resp.StatusCode)
		}
		return err
	}
	var next, tOne, tMany atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var d1, dN time.Duration
		for pb.Next() {
			i := int(next.Add(1))
			t0 := time.Now()
			err := get(ts1.URL, oneReqs[0].Host)
			t1 := time.Now()
			if err == nil {
				err = get(tsN.URL, manyReqs[i%len(manyReqs)].Host)
			}
			if err != nil {
				b.Error(err)
				return
			}
			d1 += t1.Sub(t0)
			dN += time.Since(t1)
		}
		tOne.Add(int64(d1))
		tMany.Add(int64(dN))
	})
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(tOne.Load())/n/1e3, "one-us/req")
	b.ReportMetric(float64(tMany.Load())/n/1e3, "many-us/req")
	b.ReportMetric(float64(tOne.Load())/float64(tMany.Load()), "many/one")
}

// BenchmarkManyProjects serves small sites from 1 and from 10,000
// projects, every manifest loaded and every file cached, cycling through
// the hosts: throughput should stay within 10% and memory under 200 MB.
// It reports the Go heap in use after a GC (heap-MB) and the process's
// resident set (rss-MB, which includes the test binary and the benchmark's
// own requests).
func BenchmarkManyProjects(b *testing.B) {
	for _, n := range []int{1, 10_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			s, reqs := manyProjects(b, n)
			w := &nopWriter{h: http.Header{}}
			runtime.GC()
			debug.FreeOSMemory()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				s.ServeHTTP(w, reqs[i])
				if i++; i == n {
					i = 0
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MB")
			b.ReportMetric(rssMB(), "rss-MB")
		})
	}
}

// rssMB returns the process's resident set size in MB, or 0 where
// /proc is not available.
func rssMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// A cached file with header rules (one matching, and two merged) costs no
// allocation: rule headers are canonical and shared.
func TestRuleHeadersAllocateNothing(t *testing.T) {
	s := rulesServer(t)
	for _, c := range []struct{ path, header, want string }{
		{"/", "X-Frame-Options", "DENY"},
		{"/assets/app-3f9a1c2b.js", "X-Frame-Options", "DENY"},
	} {
		r := httptest.NewRequest("GET", "http://bench.localhost"+c.path, nil)
		w := &nopWriter{h: http.Header{}}
		s.ServeHTTP(w, r)
		if got := w.h.Get(c.header); got != c.want {
			t.Fatalf("%s: %s = %q, want %q", c.path, c.header, got, c.want)
		}
		if n := testing.AllocsPerRun(200, func() { clear(w.h); s.ServeHTTP(w, r) }); n != 0 {
			t.Errorf("GET %s with header rules: %v allocations per request, want 0", c.path, n)
		}
	}
}
