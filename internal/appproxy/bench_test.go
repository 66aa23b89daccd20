package appproxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// nodeBackend is the test app (apps/runtimetest/testdata/app) run by
// node on a loopback port: the same instance for direct calls and for
// the proxy.
type nodeBackend struct{ addr string }

func (n nodeBackend) ID() string  { return "node" }
func (n nodeBackend) Ready() bool { return true }
func (n nodeBackend) Dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", n.addr)
}

func startNode(b *testing.B) string {
	b.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		b.Fatal("the benchmark needs Node.js: apt-get install nodejs")
	}
	_, file, _, _ := runtime.Caller(0)
	app := filepath.Join(filepath.Dir(file), "..", "apps", "runtimetest", "testdata", "app", "app.js")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command("node", app)
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port), "NODE_ENV=production")
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "listening on ") {
		b.Fatalf("node: %q, %v", line, err)
	}
	go io.Copy(io.Discard, out)
	return "127.0.0.1:" + strconv.Itoa(port)
}

// BenchmarkProxyLatency measures what the proxy adds to one request: it
// alternates a GET straight to a Node instance with one through the
// proxy (both over kept-alive connections, one at a time) and reports
// the p50 and p99 of each and the p50 and p99 added. Target: p50 added
// ≤ 0.3 ms.
func BenchmarkProxyLatency(b *testing.B) {
	addr := startNode(b)
	p := New(Options{Log: quiet()})
	front := httptest.NewServer(p.NewPool("bench", p.NewTarget(nodeBackend{addr})))
	defer front.Close()
	direct := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	proxied := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	get := func(c *http.Client, url string) time.Duration {
		start := time.Now()
		res, err := c.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatalf("status %d", res.StatusCode)
		}
		return time.Since(start)
	}
	for range 500 { // warm both paths: connections, JIT, buffers
		get(direct, "http://"+addr+"/")
		get(proxied, front.URL+"/")
	}
	var d, pr []time.Duration
	b.ResetTimer()
	for b.Loop() {
		d = append(d, get(direct, "http://"+addr+"/"))
		pr = append(pr, get(proxied, front.URL+"/"))
	}
	b.StopTimer()
	slices.Sort(d)
	slices.Sort(pr)
	q := func(s []time.Duration, f float64) float64 {
		return float64(s[min(len(s)-1, int(f*float64(len(s))))].Microseconds())
	}
	b.ReportMetric(q(d, 0.5), "direct-p50-µs")
	b.ReportMetric(q(d, 0.99), "direct-p99-µs")
	b.ReportMetric(q(pr, 0.5), "proxy-p50-µs")
	b.ReportMetric(q(pr, 0.99), "proxy-p99-µs")
	b.ReportMetric(q(pr, 0.5)-q(d, 0.5), "added-p50-µs")
	b.ReportMetric(q(pr, 0.99)-q(d, 0.99), "added-p99-µs")
}

// BenchmarkProxyParallel measures the proxy's throughput to one Node
// instance with many requests at once (bench/apps.sh compares it with
// nginx under wrk).
func BenchmarkProxyParallel(b *testing.B) {
	addr := startNode(b)
	p := New(Options{Log: quiet()})
	front := httptest.NewServer(p.NewPool("bench", p.NewTarget(nodeBackend{addr})))
	defer front.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := client.Get(front.URL + "/")
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	})
}

// nopWriter is a ResponseWriter that keeps nothing.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

// BenchmarkPoolServeHTTP measures the proxy's own work per request (its
// handler and transport to a Node instance, no client socket) and its
// allocations.
func BenchmarkPoolServeHTTP(b *testing.B) {
	addr := startNode(b)
	p := New(Options{Log: quiet()})
	pool := p.NewPool("bench", p.NewTarget(nodeBackend{addr}))
	r := httptest.NewRequest("GET", "http://web.localhost/", nil)
	r.RemoteAddr = "127.0.0.1:40000"
	w := &nopWriter{h: http.Header{}}
	pool.ServeHTTP(w, r)
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		pool.ServeHTTP(w, r)
	}
}
