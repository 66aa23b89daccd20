package edge

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/events"
)

var siteFiles = map[string]string{
	"index.html":      "<h1>home</h1>",
	"docs/index.html": "<h1>docs</h1>",
	"app.js":          "console.log(1)",
	"mod.mjs":         "export {}",
	"style.css":       "body{}",
	"data.json":       "{}",
	"logo.svg":        "<svg/>",
	"main.wasm":       "\x00asm",
	"LICENSE":         "MIT",
	"img/a.PNG":       "png",
	"a b/ü.txt":       "unicode",
}

// newSite returns a fixture serving siteFiles as project "site",
// deployment "d1", at site.localhost and site--d1.localhost.
func newSiteFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t, Config{})
	deploy(f.store, f.blobs, "site", "d1", siteFiles)
	f.store.setRoute("site", "d1")
	f.load(t)
	return f
}

func TestHostRouting(t *testing.T) {
	f := newSiteFixture(t)
	tests := []struct {
		host string
		code int
		body string
	}{
		{"site.localhost", 200, "<h1>home</h1>"},
		{"site.localhost:8080", 200, "<h1>home</h1>"},
		{"SITE.LocalHost:8080", 200, "<h1>home</h1>"},
		{"site.localhost.", 200, "<h1>home</h1>"},
		{"site--d1.localhost", 200, "<h1>home</h1>"},
		{"other.localhost", 404, "No deployment is at this host"},
		{"site.example.com", 404, "No deployment is at this host"},
		{"localhost", 404, "No deployment is at this host"},
		{"[::1]:8080", 404, "No deployment is at this host"},
		{"site.localhost:19000.evil.com", 400, "not a valid host name"},
		{"site.localhost:abc", 400, "not a valid host name"},
		{"site_.localhost", 400, "not a valid host name"},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			resp, body := f.do(t, "GET", tt.host, "/", nil)
			if resp.StatusCode != tt.code || !strings.Contains(body, tt.body) {
				t.Fatalf("GET %s/ = %d %q; want %d with %q", tt.host, resp.StatusCode, body, tt.code, tt.body)
			}
			if tt.code >= 400 && resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
				t.Errorf("404 Content-Type = %q", resp.Header.Get("Content-Type"))
			}
		})
	}
}

func TestLookup(t *testing.T) {
	f := newSiteFixture(t)
	for _, h := range []string{"site.localhost", "Site.Localhost:1", "site--d1.localhost", "site.localhost."} {
		if id, ok := f.edge.Lookup(h); !ok || id != "d1" {
			t.Errorf("Lookup(%q) = %q, %v; want d1", h, id, ok)
		}
	}
	if _, ok := f.edge.Lookup("nope.localhost"); ok {
		t.Error("Lookup(nope.localhost) found a deployment")
	}
}

func TestFiles(t *testing.T) {
	f := newSiteFixture(t)
	tests := []struct {
		path  string
		code  int
		ctype string
		body  string
	}{
		{"/", 200, "text/html; charset=utf-8", "<h1>home</h1>"},
		{"/index.html", 200, "text/html; charset=utf-8", "<h1>home</h1>"},
		{"/docs/", 200, "text/html; charset=utf-8", "<h1>docs</h1>"},
		{"/docs/index.html", 200, "text/html; charset=utf-8", "<h1>docs</h1>"},
		{"/app.js", 200, "application/javascript; charset=utf-8", "console.log(1)"},
		{"/mod.mjs", 200, "application/javascript; charset=utf-8", "export {}"},
		{"/style.css", 200, "text/css; charset=utf-8", "body{}"},
		{"/data.json", 200, "application/json", "{}"},
		{"/logo.svg", 200, "image/svg+xml", "<svg/>"},
		{"/main.wasm", 200, "application/wasm", "\x00asm"},
		{"/LICENSE", 200, "application/octet-stream", "MIT"},
		{"/img/a.PNG", 200, "image/png", "png"},
		{"/a%20b/%C3%BC.txt", 200, "text/plain; charset=utf-8", "unicode"},
		{"/missing", 404, "text/html; charset=utf-8", "no file at this path"},
		{"/docs/missing.html", 404, "text/html; charset=utf-8", "no file at this path"},
		{"/img/", 404, "text/html; charset=utf-8", "no file at this path"},
		{"/index.html/", 404, "text/html; charset=utf-8", "no file at this path"},
		{"//index.html", 404, "text/html; charset=utf-8", "no file at this path"},
		{"/a/../index.html", 400, "text/html; charset=utf-8", "not allowed"},
		{"/..", 400, "text/html; charset=utf-8", "not allowed"},
		{"/%2e%2e/index.html", 400, "text/html; charset=utf-8", "not allowed"},
		{"/docs/..", 400, "text/html; charset=utf-8", "not allowed"},
		{"/index.html%00", 400, "text/html; charset=utf-8", "not allowed"},
		{"/docs%5Cindex.html", 400, "text/html; charset=utf-8", "not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			gets := f.blobs.gets.Load()
			resp, body := f.do(t, "GET", "site.localhost", tt.path, nil)
			if resp.StatusCode != tt.code {
				t.Fatalf("GET %s = %d %q; want %d", tt.path, resp.StatusCode, body, tt.code)
			}
			if got := resp.Header.Get("Content-Type"); got != tt.ctype {
				t.Errorf("Content-Type = %q; want %q", got, tt.ctype)
			}
			if !strings.Contains(body, tt.body) {
				t.Errorf("body = %q; want %q in it", body, tt.body)
			}
			if got := resp.Header.Get("X-Apogee-Deployment"); got != "d1" {
				t.Errorf("X-Apogee-Deployment = %q", got)
			}
			if tt.code != 200 && f.blobs.gets.Load() != gets {
				t.Errorf("a %d response read the blob store", tt.code)
			}
		})
	}
}

func TestDirRedirect(t *testing.T) {
	f := newSiteFixture(t)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for path, loc := range map[string]string{"/docs": "/docs/", "/docs?x=1": "/docs/?x=1"} {
		req, _ := http.NewRequest("GET", f.url+path, nil)
		req.Host = "site.localhost"
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 301 || resp.Header.Get("Location") != loc {
			t.Errorf("GET %s = %d Location %q; want 301 %q", path, resp.StatusCode, resp.Header.Get("Location"), loc)
		}
	}
}

func TestHeaders(t *testing.T) {
	f := newSiteFixture(t)
	resp, body := f.do(t, "GET", "site.localhost", "/", nil)
	hash := f.blobs.put([]byte("<h1>home</h1>"))
	want := map[string]string{
		"Content-Type":        "text/html; charset=utf-8",
		"Content-Length":      fmt.Sprint(len(body)),
		"Etag":                `"` + hash[:32] + `"`,
		"Cache-Control":       "public, max-age=0, must-revalidate",
		"X-Apogee-Deployment": "d1",
	}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s = %q; want %q", k, got, v)
		}
	}
	if resp.Header.Get("Date") == "" {
		t.Error("no Date header")
	}
}

func TestConditional(t *testing.T) {
	f := newSiteFixture(t)
	resp, _ := f.do(t, "GET", "site.localhost", "/app.js", nil)
	etag := resp.Header.Get("Etag")
	tests := []struct {
		inm  string
		code int
	}{
		{etag, 304},
		{"W/" + etag, 304},
		{`"nope", ` + etag, 304},
		{`"nope",W/` + etag + `, "x"`, 304},
		{"*", 304},
		{`"nope"`, 200},
		{`W/"nope", "other"`, 200},
		{strings.Trim(etag, `"`), 200},
		{`garbage, ` + etag, 304},
		{``, 200},
	}
	for _, tt := range tests {
		t.Run(tt.inm, func(t *testing.T) {
			resp, body := f.do(t, "GET", "site.localhost", "/app.js", map[string]string{"If-None-Match": tt.inm})
			if resp.StatusCode != tt.code {
				t.Fatalf("If-None-Match %s: %d; want %d", tt.inm, resp.StatusCode, tt.code)
			}
			if tt.code == 304 {
				if body != "" || resp.Header.Get("Etag") != etag || resp.Header.Get("Cache-Control") == "" {
					t.Errorf("304: body %q, Etag %q, Cache-Control %q", body, resp.Header.Get("Etag"), resp.Header.Get("Cache-Control"))
				}
			}
		})
	}
}

func TestMethods(t *testing.T) {
	f := newSiteFixture(t)
	resp, body := f.do(t, "HEAD", "site.localhost", "/style.css", nil)
	if resp.StatusCode != 200 || body != "" || resp.ContentLength != int64(len("body{}")) {
		t.Errorf("HEAD = %d, body %q, Content-Length %d", resp.StatusCode, body, resp.ContentLength)
	}
	for _, m := range []string{"POST", "PUT", "DELETE", "OPTIONS", "PATCH"} {
		resp, _ := f.do(t, m, "site.localhost", "/", nil)
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s = %d, Allow %q; want 405 GET, HEAD", m, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
}

func TestBrokenBlobs(t *testing.T) {
	f := newFixture(t, Config{})
	f.store.files["d1"] = []apogee.File{
		{Path: "gone.txt", SHA256: strings.Repeat("a", 64), Size: 3},
		{Path: "short.txt", SHA256: f.blobs.put([]byte("abc")), Size: 4},
	}
	f.store.setRoute("site", "d1")
	f.store.setRoute("orphan", "d2") // routed, but no manifest
	f.load(t)
	for _, p := range []string{"/gone.txt", "/short.txt"} {
		if resp, _ := f.do(t, "GET", "site.localhost", p, nil); resp.StatusCode != 500 || resp.Header.Get("Etag") != "" {
			t.Errorf("GET %s = %d Etag %q; want 500 without Etag", p, resp.StatusCode, resp.Header.Get("Etag"))
		}
	}
	if resp, _ := f.do(t, "GET", "orphan.localhost", "/", nil); resp.StatusCode != 404 {
		t.Errorf("GET of a deployment without manifest = %d; want 404", resp.StatusCode)
	}
}

func TestApplyAliasChange(t *testing.T) {
	f := newSiteFixture(t)
	deploy(f.store, f.blobs, "site", "d2", map[string]string{"index.html": "v2"})
	f.edge.Apply(apogee.Event{Type: apogee.EventDeploymentReady, ProjectID: "site", Host: apogee.DeploymentHost("site", "d2"), DeploymentID: "d2"})
	if _, body := f.do(t, "GET", "site--d2.localhost", "/", nil); body != "v2" {
		t.Fatalf("deployment host after ready = %q", body)
	}
	if _, body := f.do(t, "GET", "site.localhost", "/", nil); body != "<h1>home</h1>" {
		t.Fatalf("production before promote = %q", body)
	}
	f.store.setRoute("site", "d2")
	f.edge.Apply(apogee.Event{Type: apogee.EventAliasChanged, ProjectID: "site", Project: "site", DeploymentID: "d2"})
	if resp, body := f.do(t, "GET", "site.localhost", "/", nil); body != "v2" || resp.Header.Get("X-Apogee-Deployment") != "d2" {
		t.Fatalf("production after promote = %q (%s)", body, resp.Header.Get("X-Apogee-Deployment"))
	}
	f.store.setRoute("site", "d1")
	f.edge.Apply(apogee.Event{Type: apogee.EventAliasChanged, ProjectID: "site", Project: "site", DeploymentID: "d1"})
	if _, body := f.do(t, "GET", "site.localhost", "/", nil); body != "<h1>home</h1>" {
		t.Fatalf("production after rollback = %q", body)
	}
	// Both deployments are still served at their own hosts.
	if _, body := f.do(t, "GET", "site--d2.localhost", "/", nil); body != "v2" {
		t.Fatalf("deployment host d2 = %q", body)
	}
}

func TestApplyProjectDeleted(t *testing.T) {
	f := newSiteFixture(t)
	deploy(f.store, f.blobs, "keep", "k1", map[string]string{"index.html": "kept"})
	f.store.setRoute("keep", "k1")
	f.load(t)
	f.store.deleteRoute("site")
	f.store.deleteRoute(apogee.DeploymentHost("site", "d1"))
	f.edge.Apply(apogee.Event{Type: apogee.EventProjectDeleted, ProjectID: "site", Project: "site"})
	for _, h := range []string{"site.localhost", "site--d1.localhost"} {
		if resp, _ := f.do(t, "GET", h, "/", nil); resp.StatusCode != 404 {
			t.Errorf("GET %s after delete = %d; want 404", h, resp.StatusCode)
		}
	}
	if _, body := f.do(t, "GET", "keep.localhost", "/", nil); body != "kept" {
		t.Errorf("other project after delete = %q", body)
	}
	f.edge.mmu.Lock()
	defer f.edge.mmu.Unlock()
	for _, st := range f.edge.loaded {
		if st.id == "d1" {
			t.Error("manifest of deleted deployment still kept")
		}
	}
}

// dropBus is a Local bus whose subscriptions the test can end, as a bus
// that lost its connection would.
type dropBus struct {
	*events.Local
	mu      sync.Mutex
	cancels []context.CancelFunc
	subs    atomic.Int64
}

func (b *dropBus) Subscribe(ctx context.Context) (<-chan apogee.Event, error) {
	ctx, cancel := context.WithCancel(ctx)
	b.mu.Lock()
	b.cancels = append(b.cancels, cancel)
	b.mu.Unlock()
	b.subs.Add(1)
	return b.Local.Subscribe(ctx)
}

func (b *dropBus) drop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.cancels {
		c()
	}
	b.cancels = nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRun(t *testing.T) {
	f := newFixture(t, Config{})
	deploy(f.store, f.blobs, "site", "d1", map[string]string{"index.html": "v1"})
	f.store.setRoute("site", "d1")
	bus := &dropBus{Local: events.NewLocal(nil)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.edge.Run(ctx, bus) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	waitFor(t, "initial load", func() bool { id, _ := f.edge.Lookup("site.localhost"); return id == "d1" })

	deploy(f.store, f.blobs, "site", "d2", map[string]string{"index.html": "v2"})
	f.store.setRoute("site", "d2")
	bus.Publish(ctx, apogee.Event{Type: apogee.EventDeploymentReady, ProjectID: "site", Host: "site--d2", DeploymentID: "d2"})
	bus.Publish(ctx, apogee.Event{Type: apogee.EventAliasChanged, ProjectID: "site", Project: "site", DeploymentID: "d2"})
	waitFor(t, "alias event", func() bool { id, _ := f.edge.Lookup("site.localhost"); return id == "d2" })

	// The subscription ends; a change made meanwhile (no event reaches
	// the edge) is picked up by the reload after resubscribing.
	bus.drop()
	f.store.setRoute("site", "d1")
	waitFor(t, "resubscribe and reload", func() bool { id, _ := f.edge.Lookup("site.localhost"); return id == "d1" && bus.subs.Load() == 2 })
	f.store.setRoute("site", "d2")
	bus.Publish(ctx, apogee.Event{Type: apogee.EventAliasChanged, ProjectID: "site", Project: "site", DeploymentID: "d2"})
	waitFor(t, "event after resubscribe", func() bool { id, _ := f.edge.Lookup("site.localhost"); return id == "d2" })
	if _, body := f.do(t, "GET", "site.localhost", "/", nil); body != "v2" {
		t.Errorf("GET after events = %q", body)
	}
}

func TestRunRetriesFailedLoad(t *testing.T) {
	f := newFixture(t, Config{CheckEvery: 10 * time.Millisecond})
	deploy(f.store, f.blobs, "site", "d1", map[string]string{"index.html": "v1"})
	f.store.err = fmt.Errorf("database is down")
	bus := events.NewLocal(nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.edge.Run(ctx, bus) }()
	t.Cleanup(func() { cancel(); <-done })
	// Run tried to load (and failed) at start, and tries again at a check.
	waitFor(t, "a failed load and its retry", func() bool { return f.store.loads.Load() >= 2 })
	if _, ok := f.edge.Lookup("site--d1.localhost"); ok {
		t.Fatal("routes loaded while the store failed")
	}
	f.store.mu.Lock()
	f.store.err = nil
	f.store.mu.Unlock()
	waitFor(t, "retried load", func() bool { _, ok := f.edge.Lookup("site--d1.localhost"); return ok })
}

func TestManifestSingleflight(t *testing.T) {
	f := newSiteFixture(t)
	gate := make(chan struct{})
	f.store.mu.Lock()
	f.store.gate = gate
	f.store.mu.Unlock()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if resp, _ := f.do(t, "GET", "site.localhost", "/", nil); resp.StatusCode != 200 {
				t.Errorf("GET = %d", resp.StatusCode)
			}
		})
	}
	// Every request has missed the manifest while the first load waits
	// at the gate; then they share that load.
	waitFor(t, "20 requests waiting for the manifest", func() bool {
		return testutil.ToFloat64(f.edge.m.manifestMisses) == 20 && f.store.calls.Load() > 0
	})
	close(gate)
	wg.Wait()
	if n := f.store.calls.Load(); n != 1 {
		t.Errorf("DeploymentFiles called %d times; want 1", n)
	}
	if n := f.blobs.gets.Load(); n != 1 {
		t.Errorf("Blobs.Get called %d times; want 1", n)
	}

	// The counters do count a second load: the deployment stops being
	// served (its manifest is dropped), then is served again.
	deploy(f.store, f.blobs, "site", "d2", map[string]string{"index.html": "other"})
	f.store.setRoute("site", "d2")
	f.store.deleteRoute("site--d1")
	f.load(t)
	f.store.setRoute("site", "d1")
	f.load(t)
	if resp, _ := f.do(t, "GET", "site.localhost", "/", nil); resp.StatusCode != 200 {
		t.Fatalf("GET after reload = %d", resp.StatusCode)
	}
	if n := f.store.calls.Load(); n != 2 {
		t.Errorf("after the manifest was dropped, DeploymentFiles called %d times in all; want 2", n)
	}
}

func TestManifestBound(t *testing.T) {
	f := newFixture(t, Config{MaxManifests: 3})
	for i := range 10 {
		id := fmt.Sprintf("d%d", i)
		deploy(f.store, f.blobs, "p", id, map[string]string{"index.html": id})
	}
	f.load(t)
	for round := range 2 {
		for i := range 10 {
			id := fmt.Sprintf("d%d", i)
			if _, body := f.do(t, "GET", "p--"+id+".localhost", "/", nil); body != id {
				t.Fatalf("round %d: GET p--%s = %q", round, id, body)
			}
			f.edge.mmu.Lock()
			n := len(f.edge.loaded)
			f.edge.mmu.Unlock()
			if n > 3 {
				t.Fatalf("%d manifests kept; bound is 3", n)
			}
		}
	}
	if n := f.store.calls.Load(); n <= 10 {
		t.Errorf("DeploymentFiles called %d times for 2 rounds over 10 deployments with room for 3", n)
	}
	before := f.store.calls.Load()
	f.do(t, "GET", "p--d9.localhost", "/", nil)
	f.do(t, "GET", "p--d9.localhost", "/", nil)
	if n := f.store.calls.Load() - before; n > 1 {
		t.Errorf("a deployment requested twice in a row loaded its manifest %d times", n)
	}
}

func TestCacheBound(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFixture(t, Config{CacheBytes: 1000, Registerer: reg})
	files := map[string]string{"big.bin": strings.Repeat("B", 200)} // > 1000/8: never cached
	for i := range 30 {
		files[fmt.Sprintf("f%02d.txt", i)] = fmt.Sprintf("%-100d", i)
	}
	deploy(f.store, f.blobs, "site", "d1", files)
	f.store.setRoute("site", "d1")
	f.load(t)
	for round := range 3 {
		for p, c := range files {
			if _, body := f.do(t, "GET", "site.localhost", "/"+p, nil); body != c {
				t.Fatalf("round %d: GET %s = %q", round, p, body)
			}
			if n := f.edge.cache.bytesCached(); n > 1000 {
				t.Fatalf("cache holds %d bytes; bound is 1000", n)
			}
		}
	}
	if got := gauge(t, reg, "apogee_edge_cache_bytes"); got != float64(f.edge.cache.bytesCached()) || got == 0 {
		t.Errorf("cache bytes gauge = %v; cache holds %d", got, f.edge.cache.bytesCached())
	}
	// A hot file stays cached while others cycle through.
	for i := range 30 {
		f.do(t, "GET", "site.localhost", "/f00.txt", nil)
		f.do(t, "GET", "site.localhost", fmt.Sprintf("/f%02d.txt", i), nil)
	}
	before := f.blobs.gets.Load()
	f.do(t, "GET", "site.localhost", "/f00.txt", nil)
	if f.blobs.gets.Load() != before {
		t.Error("hot file was evicted")
	}
	// The large file is streamed from the blob store each time.
	before, opens := f.blobs.gets.Load(), f.blobs.opens.Load()
	f.do(t, "GET", "site.localhost", "/big.bin", nil)
	f.do(t, "GET", "site.localhost", "/big.bin", nil)
	if n := f.blobs.opens.Load() - opens; n != 2 || f.blobs.gets.Load() != before {
		t.Errorf("large file: %d blob opens and %d whole reads for 2 requests; want 2 and 0", n, f.blobs.gets.Load()-before)
	}
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if m.Gauge != nil {
				return m.Gauge.GetValue()
			}
			return m.Counter.GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFixture(t, Config{Registerer: reg})
	deploy(f.store, f.blobs, "site", "d1", map[string]string{"index.html": "12345"})
	f.store.setRoute("site", "d1")
	f.load(t)
	f.do(t, "GET", "site.localhost", "/", nil)
	f.do(t, "GET", "site.localhost", "/", nil)
	f.do(t, "GET", "nope.localhost", "/", nil)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "{" + l.GetValue() + "}"
			}
			if m.Counter != nil {
				got[name] = m.Counter.GetValue()
			}
		}
	}
	want := map[string]float64{
		"apogee_edge_requests_total{200}":  2,
		"apogee_edge_requests_total{404}":  1,
		"apogee_edge_requests_total{304}":  0,
		"apogee_edge_cache_hits_total":     1,
		"apogee_edge_cache_misses_total":   1,
		"apogee_edge_response_bytes_total": 10 + float64(len(pageNoHost.body)),
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present: %v); want %v", k, g, ok, v)
		}
	}
	if _, err := New(Config{Domain: "localhost", Store: f.store, Blobs: f.blobs, Registerer: reg}); err == nil {
		t.Error("a second Server on one Registerer did not fail")
	}
}

// TestAliasSwitchRace serves one host while its alias flips: every
// response must be whole and from the deployment its header names.
func TestAliasSwitchRace(t *testing.T) {
	f := newFixture(t, Config{})
	bodies := map[string]string{"d1": strings.Repeat("1", 3000), "d2": strings.Repeat("2", 5000)}
	for id, b := range bodies {
		deploy(f.store, f.blobs, "site", id, map[string]string{"index.html": b, "x.css": id})
	}
	f.store.setRoute("site", "d1")
	f.load(t)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			f.store.setRoute("site", []string{"d1", "d2"}[i%2])
			f.edge.Apply(apogee.Event{Type: apogee.EventAliasChanged, ProjectID: "site", Project: "site"})
			if i%50 == 0 {
				f.edge.Apply(apogee.Event{Type: apogee.EventProjectDeleted, ProjectID: "other", Project: "other"})
			}
		}
	})
	var served atomic.Int64
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				resp, body := f.do(t, "GET", "site.localhost", "/", nil)
				id := resp.Header.Get("X-Apogee-Deployment")
				if resp.StatusCode != 200 || body != bodies[id] {
					t.Errorf("GET during switch: %d from %q, %d bytes", resp.StatusCode, id, len(body))
					return
				}
				served.Add(1)
			}
		})
	}
	wg.Wait()
	if served.Load() == 0 {
		t.Fatal("no request served")
	}
}

func TestServeCachedAllocs(t *testing.T) {
	f := newFixture(t, Config{})
	deploy(f.store, f.blobs, "bench", "b1", map[string]string{"index.html": strings.Repeat("x", 5120)})
	f.store.setRoute("bench", "b1")
	f.load(t)
	r := httptest.NewRequest("GET", "http://bench.localhost:8080/", nil)
	w := &nopWriter{h: http.Header{}}
	f.edge.ServeHTTP(w, r) // load manifest and cache
	allocs := testing.AllocsPerRun(1000, func() {
		f.edge.ServeHTTP(w, r)
	})
	if w.code != 0 || w.n == 0 {
		t.Fatalf("cached GET: code %d, %d bytes", w.code, w.n)
	}
	r304 := httptest.NewRequest("GET", "http://bench.localhost/", nil)
	r304.Header.Set("If-None-Match", `"x", `+w.h.Get("Etag"))
	allocs304 := testing.AllocsPerRun(1000, func() {
		f.edge.ServeHTTP(w, r304)
	})
	if w.code != 304 {
		t.Fatalf("conditional GET: code %d", w.code)
	}
	if allocs != 0 || allocs304 != 0 {
		t.Errorf("cached GET: %v allocations, 304: %v; want 0", allocs, allocs304)
	}
	// A mixed-case host costs one lower-casing: rare, and logged to keep
	// the figure honest.
	rMixed := httptest.NewRequest("GET", "http://Bench.localhost/", nil)
	t.Logf("cached GET with a mixed-case host: %v allocs", testing.AllocsPerRun(100, func() { f.edge.ServeHTTP(w, rMixed) }))
}

func TestValidPath(t *testing.T) {
	for p, want := range map[string]bool{
		"/": true, "/a": true, "/a/b.html": true, "/.well-known/x": true, "/a..b": true, "/..a": true, "/a/..b/": true,
		"": false, "a": false, "/..": false, "/../a": false, "/a/..": false, "/a/../b": false,
		"/a\\b": false, "/a\x00": false,
	} {
		if got := validPath(p); got != want {
			t.Errorf("validPath(%q) = %v; want %v", p, got, want)
		}
	}
}

func TestContentType(t *testing.T) {
	for p, want := range map[string]string{
		"a.html": "text/html; charset=utf-8", "A.HTML": "text/html; charset=utf-8",
		"x.js": "application/javascript; charset=utf-8", "x.woff2": "font/woff2",
		"noext": "application/octet-stream", "x.unknownext": "application/octet-stream",
		"dir.d/file": "application/octet-stream",
	} {
		if got := contentType(p); got != want {
			t.Errorf("contentType(%q) = %q; want %q", p, got, want)
		}
	}
}

func TestNewValidates(t *testing.T) {
	st, bl := newMemStore(), newMemBlobs()
	for _, cfg := range []Config{
		{Store: st, Blobs: bl},
		{Domain: "localhost", Blobs: bl},
		{Domain: "localhost", Store: st},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) did not fail", cfg)
		}
	}
}

// TestWildcardLookup: a host is served by its exact route first, then
// by a branch host under a wildcard domain, then by the wildcard's
// production; one label deep only, and never the wildcard's own name.
func TestWildcardLookup(t *testing.T) {
	f := newFixture(t, Config{})
	for id, body := range map[string]string{"prod": "production", "feature": "feature-x", "www": "exact www"} {
		deploy(f.store, f.blobs, "site", id, map[string]string{"index.html": body})
	}
	f.store.setRoute("*.example.com", "prod")
	f.store.wild["feature-x.example.com"] = true
	f.store.setRoute("feature-x.example.com", "feature")
	f.store.setRoute("www.example.com", "www")
	f.load(t)
	tests := []struct {
		host string
		want string // deployment; "" for none
	}{
		{"feature-x.example.com", "feature"},
		{"Feature-X.Example.com:443", "feature"},
		{"www.example.com", "www"},
		{"anything.example.com", "prod"},
		{"example.com", ""},
		{"a.b.example.com", ""},
		{"example.org", ""},
		{"*.example.com", ""},
	}
	for _, tt := range tests {
		id, ok := f.edge.Lookup(tt.host)
		if id != tt.want || ok != (tt.want != "") {
			t.Errorf("Lookup(%q) = %q, %v; want %q", tt.host, id, ok, tt.want)
		}
	}
	resp, body := f.do(t, "GET", "feature-x.example.com", "/", nil)
	if resp.StatusCode != 200 || body != "feature-x" {
		t.Errorf("GET feature-x.example.com = %d %q; want the branch", resp.StatusCode, body)
	}
	resp, body = f.do(t, "GET", "other.example.com", "/", nil)
	if resp.StatusCode != 200 || body != "production" {
		t.Errorf("GET other.example.com = %d %q; want production", resp.StatusCode, body)
	}
}

func TestWildcardOnly(t *testing.T) {
	f := newFixture(t, Config{})
	deploy(f.store, f.blobs, "site", "prod", map[string]string{"index.html": "p"})
	f.store.setRoute("*.example.com", "prod")
	f.store.wild["feature-x.example.com"] = true
	f.store.setRoute("feature-x.example.com", "prod")
	f.store.setRoute("www.example.com", "prod")
	f.load(t)
	for host, want := range map[string]bool{"anything.example.com": true, "feature-x.example.com": false, "www.example.com": false, "example.org": false} {
		if got := f.edge.WildcardOnly(host); got != want {
			t.Errorf("WildcardOnly(%q) = %v; want %v", host, got, want)
		}
	}
}
