package server

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/auth"
	"github.com/apogee-dev/apogee/internal/client"
	"github.com/apogee-dev/apogee/internal/logs"
)

// testServer runs a whole server in process on 127.0.0.1:0 and returns it
// with an API client of an admin user.
func testServer(tb testing.TB) (*Server, *client.Client, string) {
	tb.Helper()
	s, addr := startServer(tb, Config{Data: tb.TempDir()})
	return s, client.New(addr, userToken(tb, s.Store(), "admin@example.com", "password", true)), addr
}

// userToken makes a user with password and returns an API token of theirs.
func userToken(tb testing.TB, store apogee.Store, email, password string, admin bool) string {
	tb.Helper()
	ctx := context.Background()
	hash, err := auth.HashPassword(password)
	if err != nil {
		tb.Fatal(err)
	}
	u := &apogee.User{ID: apogee.NewID(), Email: email, Password: hash, Admin: admin, CreatedAt: time.Now()}
	if err := store.CreateUser(ctx, u); err != nil {
		tb.Fatal(err)
	}
	secret, th := auth.NewToken()
	if err := store.CreateToken(ctx, &apogee.Token{ID: apogee.NewID(), UserID: u.ID, Name: "t", Hash: th, CreatedAt: time.Now()}); err != nil {
		tb.Fatal(err)
	}
	return secret
}

func get(tb testing.TB, addr, host, path string) (int, string) {
	tb.Helper()
	req, _ := http.NewRequest("GET", addr+path, nil)
	req.Host = host
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func site(tb testing.TB, index string) string {
	dir := tb.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(index), 0o644); err != nil {
		tb.Fatal(err)
	}
	return dir
}

func TestHostDispatch(t *testing.T) {
	s, c, addr := testServer(t)
	ctx := context.Background()
	if _, err := c.CreateProject(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	d, err := c.Deploy(ctx, site(t, "hello"), client.DeployOptions{Project: "web", Production: true})
	if err != nil {
		t.Fatal(err)
	}
	port := addr[strings.LastIndexByte(addr, ':'):]
	if d.URL != "http://"+d.Deployment.Host+".localhost"+port+"/" {
		t.Fatalf("deployment URL %q does not carry the listener's port", d.URL)
	}
	waitFor(t, addr, "web.localhost", "hello")

	tests := []struct {
		host, path string
		code       int
		contains   string
	}{
		{"localhost", "/healthz", 200, "ok"},
		{"LOCALHOST" + port, "/healthz", 200, "ok"},
		{"127.0.0.1" + port, "/healthz", 200, "ok"},
		{"localhost", "/", 200, "Apogee"},
		{"localhost", "/api/v1/openapi.json", 200, "openapi"},
		{"localhost", "/metrics", 404, ""}, // on --metrics-listen only
		{"127.0.0.1" + port, "/metrics", 404, ""},
		{"web.localhost", "/", 200, "hello"},
		{"Web.LocalHost" + port, "/", 200, "hello"},
		{d.Deployment.Host + ".localhost", "/", 200, "hello"},
		{"web.localhost", "/healthz", 404, ""},
		{"other.localhost", "/", 404, ""},
		{"example.com", "/", 404, ""},
		// Host parsed strictly (edge.ParseHost), for sites and the apex.
		{"web.localhost:19000.evil.com", "/", 400, "not a valid host name"},
		{"web.localhost:abc", "/", 400, "not a valid host name"},
		{"localhost:abc", "/healthz", 400, "not a valid host name"},
		{"localhost:19000.evil.com", "/healthz", 400, "not a valid host name"},
		{"web.localhost:99999", "/", 400, "not a valid host name"},
		{"we_b.localhost", "/", 400, "not a valid host name"},
	}
	for _, tt := range tests {
		code, body := get(t, addr, tt.host, tt.path)
		if code != tt.code || !strings.Contains(body, tt.contains) {
			t.Errorf("%s%s = %d %.60q, want %d containing %q", tt.host, tt.path, code, body, tt.code, tt.contains)
		}
	}
	if code, body := get(t, "http://"+s.MetricsAddr(), "localhost", "/metrics"); code != 200 || !strings.Contains(body, "apogee_api_requests_total") {
		t.Errorf("--metrics-listen /metrics = %d %.60q", code, body)
	}
	if code, _ := get(t, "http://"+s.MetricsAddr(), "localhost", "/api/v1/user"); code != 404 {
		t.Errorf("the metrics listener serves the API: %d", code)
	}
	if !strings.Contains(s.Hint(ctx), "apogee login --server http://localhost"+port) {
		t.Errorf("hint %q does not say how to log in", s.Hint(ctx))
	}
}

// TestSitesDomain: with --sites-domain the sites live under a registrable
// domain apart from the dashboard's, as vercel.app beside vercel.com:
// projects and deployments answer there and nowhere under the dashboard's
// domain, URLs name it, and custom domains under it are refused.
func TestSitesDomain(t *testing.T) {
	s, addr := startServer(t, Config{Data: t.TempDir(), Domain: "apogee.test", SitesDomain: "Apogee-Sites.test."})
	c := client.New(addr, userToken(t, s.Store(), "dev@example.com", "a long password", false))
	ctx := t.Context()
	if _, err := c.CreateProject(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	d, err := c.Deploy(ctx, site(t, "hello"), client.DeployOptions{Project: "web", Production: true})
	if err != nil {
		t.Fatal(err)
	}
	port := addr[strings.LastIndexByte(addr, ':'):]
	if d.URL != "http://"+d.Deployment.Host+".apogee-sites.test"+port+"/" {
		t.Fatalf("deployment URL %q is not under the sites domain", d.URL)
	}
	waitFor(t, addr, "web.apogee-sites.test", "hello")
	for _, tt := range []struct {
		host, path string
		code       int
		contains   string
	}{
		{"web.apogee-sites.test", "/", 200, "hello"},
		{d.Deployment.Host + ".apogee-sites.test", "/", 200, "hello"},
		{"web.apogee.test", "/", 404, ""}, // not under the dashboard's domain
		{d.Deployment.Host + ".apogee.test", "/", 404, ""},
		{"apogee.test", "/healthz", 200, "ok"},
		{"apogee.test", "/api/v1/openapi.json", 200, "openapi"},
		{"apogee-sites.test", "/api/v1/openapi.json", 404, ""}, // the sites domain is no dashboard
	} {
		if code, body := get(t, addr, tt.host, tt.path); code != tt.code || !strings.Contains(body, tt.contains) {
			t.Errorf("%s%s = %d %.60q, want %d containing %q", tt.host, tt.path, code, body, tt.code, tt.contains)
		}
	}
	for _, name := range []string{"shop.apogee-sites.test", "apogee-sites.test", "shop.apogee.test"} {
		if _, err := c.AddDomain(ctx, "web", name); apogee.ErrorCode(err) != apogee.EINVALID {
			t.Errorf("AddDomain %s = %v, want refused", name, err)
		}
	}
	dv, err := c.AddDomain(ctx, "web", "shop.example.org")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fmt.Sprint(dv), "web.apogee-sites.test") {
		t.Errorf("the custom domain's CNAME target does not name the sites domain: %+v", dv)
	}
	if hint := s.Hint(ctx); !strings.Contains(hint, "<project>.apogee-sites.test") {
		t.Errorf("hint %q does not name the sites domain", hint)
	}
}

func waitFor(tb testing.TB, addr, host, body string) {
	tb.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		if code, got := get(tb, addr, host, "/"); code == 200 && got == body {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s never served %q", host, body)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestConfigFromEnv(t *testing.T) {
	var c Config
	fs := pflag.NewFlagSet("server", pflag.ContinueOnError)
	c.Flags(fs)
	fs.Bool("json", false, "")
	t.Setenv("APOGEE_LISTEN", "127.0.0.1:9999")
	t.Setenv("APOGEE_DOMAIN", "Apogee.Example.")
	t.Setenv("APOGEE_CACHE_MB", "64")
	t.Setenv("APOGEE_JSON", "true")
	if err := fs.Parse([]string{"--domain", "flag.example"}); err != nil {
		t.Fatal(err)
	}
	if err := FromEnv(fs, "json"); err != nil {
		t.Fatal(err)
	}
	if err := c.Normalize(); err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9999" || c.Domain != "flag.example" || c.CacheMB != 64 {
		t.Fatalf("config %+v: env or flag precedence wrong", c)
	}
	if j, _ := fs.GetBool("json"); j {
		t.Fatal("a skipped flag was read from the environment")
	}
	if !strings.HasPrefix(c.Database, "sqlite://") || !strings.HasPrefix(c.Blobs, "file://") || !filepath.IsAbs(c.Data) {
		t.Fatalf("derived defaults wrong: %+v", c)
	}

	t.Setenv("APOGEE_CACHE_MB", "lots")
	fs2 := pflag.NewFlagSet("server", pflag.ContinueOnError)
	var c2 Config
	c2.Flags(fs2)
	if err := FromEnv(fs2); err == nil || !strings.Contains(err.Error(), "APOGEE_CACHE_MB") {
		t.Fatalf("bad variable error %v does not name it", err)
	}
}

func TestNormalizeRejects(t *testing.T) {
	base := Config{Data: "d", Listen: ":8080", Domain: "localhost", CacheMB: 1, MaxFileMB: 1, UploadTTL: time.Hour, LogLevel: "info", LogFormat: "text"}
	for name, mut := range map[string]func(*Config){
		"empty data":                         func(c *Config) { c.Data = "" },
		"bad listen":                         func(c *Config) { c.Listen = "8080" },
		"empty domain":                       func(c *Config) { c.Domain = "." },
		"cache":                              func(c *Config) { c.CacheMB = 0 },
		"max file":                           func(c *Config) { c.MaxFileMB = 0 },
		"ttl":                                func(c *Config) { c.UploadTTL = time.Second },
		"log format":                         func(c *Config) { c.LogFormat = "xml" },
		"log level":                          func(c *Config) { c.LogLevel = "loud" },
		"sites domain under the dashboard's": func(c *Config) { c.Domain, c.SitesDomain = "example.com", "sites.example.com" },
		"dashboard under the sites domain":   func(c *Config) { c.Domain, c.SitesDomain = "app.example.com", "example.com" },
		"sites domain malformed":             func(c *Config) { c.Domain, c.SitesDomain = "example.com", "exa mple.net" },
	} {
		c := base
		mut(&c)
		if err := c.Normalize(); apogee.ErrorCode(err) != apogee.EINVALID {
			t.Errorf("%s: Normalize() = %v, want an invalid error", name, err)
		}
	}
}

func TestRedacted(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://app:s3cret@db:5432/apogee": "postgres://app:xxxxx@db:5432/apogee",
		"postgres://app@db/apogee":             "postgres://app@db/apogee",
		"sqlite:///var/lib/apogee/apogee.db":   "sqlite:///var/lib/apogee/apogee.db",
		"s3://bucket?endpoint=http://x":        "s3://bucket?endpoint=http://x",
	} {
		if got := Redacted(in); got != want {
			t.Errorf("Redacted(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExpireUploads(t *testing.T) {
	s, c, _ := testServer(t)
	ctx := context.Background()
	if _, err := c.CreateProject(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	d, err := c.CreateDeployment(ctx, "web", apogee.CreateDeploymentRequest{Files: []apogee.File{{Path: "a", SHA256: strings.Repeat("0", 64), Size: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	s.expireUploads(ctx, time.Now().Add(time.Second)) // everything uploading is stale now
	got, err := s.Store().DeploymentByID(ctx, d.ID)
	if err != nil || got.Status != apogee.StatusExpired {
		t.Fatalf("stale upload: %+v %v, want expired", got, err)
	}
	if _, err := c.Finalize(ctx, d.ID); apogee.ErrorCode(err) != apogee.ECONFLICT {
		t.Fatalf("finalize of an expired upload: %v, want conflict", err)
	}
}

// BenchmarkRollbackVisible measures the time from the rollback API call's
// answer until the edge serves the other deployment. The target is
// 50 ms; the p99 is reported as a metric.
func BenchmarkRollbackVisible(b *testing.B) {
	_, c, addr := testServer(b)
	ctx := context.Background()
	if _, err := c.CreateProject(ctx, "web"); err != nil {
		b.Fatal(err)
	}
	for _, v := range []string{"one", "two"} {
		if _, err := c.Deploy(ctx, site(b, v), client.DeployOptions{Project: "web", Production: true}); err != nil {
			b.Fatal(err)
		}
	}
	waitFor(b, addr, "web.localhost", "two")
	ds, err := c.ListDeployments(ctx, "web", 2)
	if err != nil {
		b.Fatal(err)
	}
	ids := map[string]string{"two": ds[0].ID, "one": ds[1].ID}
	lat := make([]time.Duration, 0, b.N)
	want := "two"
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		want = map[string]string{"one": "two", "two": "one"}[want]
		if _, err := c.Rollback(ctx, "web", ids[want]); err != nil {
			b.Fatal(err)
		}
		answered := time.Now()
		for {
			if _, body := get(b, addr, "web.localhost", "/"); body == want {
				break
			}
			if time.Since(answered) > 5*time.Second {
				b.Fatalf("rollback to %q not visible after 5s", want)
			}
		}
		lat = append(lat, time.Since(answered))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}

func TestCollectGarbage(t *testing.T) {
	s, c, addr := testServer(t)
	ctx := context.Background()
	if _, err := c.CreateProject(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Deploy(ctx, site(t, "kept"), client.DeployOptions{Project: "web", Production: true}); err != nil {
		t.Fatal(err)
	}
	// An upload that sends its file and never finalizes.
	orphan := "orphan bytes"
	sum := sha256.Sum256([]byte(orphan))
	h := hex.EncodeToString(sum[:])
	d, err := c.CreateDeployment(ctx, "web", apogee.CreateDeploymentRequest{Files: []apogee.File{{Path: "x", SHA256: h, Size: int64(len(orphan))}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.UploadFile(ctx, d.ID, h, strings.NewReader(orphan), int64(len(orphan))); err != nil {
		t.Fatal(err)
	}

	// While its manifest exists the blob stays, however old.
	future := time.Now().Add(time.Hour)
	if n, _, err := s.collectGarbage(ctx, future); err != nil || n != 0 {
		t.Fatalf("collected %d blobs (%v) while every blob is in a manifest", n, err)
	}
	s.expireUploads(ctx, future)
	// Young blobs stay too.
	if n, _, err := s.collectGarbage(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("collected %d young blobs (%v)", n, err)
	}
	n, freed, err := s.collectGarbage(ctx, future)
	if err != nil || n != 1 || freed != int64(len(orphan)) {
		t.Fatalf("collected %d blobs, %d bytes (%v); want the orphan only", n, freed, err)
	}
	if m, _ := s.blobs.Missing(ctx, []string{h}); len(m) != 1 {
		t.Fatal("the orphan blob is still stored")
	}
	waitFor(t, addr, "web.localhost", "kept")

	// Deleting the project frees its blobs.
	if err := c.DeleteProject(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if n, _, err := s.collectGarbage(ctx, future); err != nil || n != 1 {
		t.Fatalf("after deleting the project collected %d blobs (%v), want 1", n, err)
	}
}

// BenchmarkSSELatency measures, over HTTP, the time from a build's log
// writer taking a line to a follower of GET /deployments/{id}/logs?follow=1
// reading it. The target is 50 ms at p99.
func BenchmarkSSELatency(b *testing.B) {
	s, c, addr := testServer(b)
	ctx := context.Background()
	p, err := c.CreateProject(ctx, "web")
	if err != nil {
		b.Fatal(err)
	}
	d := &apogee.Deployment{ID: apogee.NewID(), ProjectID: p.ID, Target: apogee.TargetPreview, CreatedAt: time.Now(), Source: apogee.SourceGit}
	if err := s.Store().QueueBuild(ctx, d); err != nil {
		b.Fatal(err)
	}
	w := logs.NewWriter(d.ID, s.Store(), s.hub, logs.Options{})
	defer w.Close(ctx)

	req, _ := http.NewRequest("GET", addr+"/api/v1/deployments/"+d.ID+"/logs?follow=1", nil)
	req.Host = "localhost"
	req.Header.Set("Authorization", "Bearer "+c.Token())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); res.StatusCode != 200 || ct != "text/event-stream" {
		b.Fatalf("follow answered %d %s", res.StatusCode, ct)
	}
	lines := bufio.NewScanner(res.Body)
	next := func(want string) {
		for lines.Scan() {
			if strings.HasPrefix(lines.Text(), "data: ") && strings.Contains(lines.Text(), want) {
				return
			}
		}
		b.Fatalf("stream ended before %q: %v", want, lines.Err())
	}
	w.Systemf("warm up")
	next("warm up")

	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		text := fmt.Sprintf("line %d of the build", i)
		start := time.Now()
		w.Systemf("%s", text)
		next(text)
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}

// TestHostWhitespace sends Host lines with tabs over a raw connection.
// Whitespace around a field value is optional whitespace (RFC 9110 §5.5),
// not part of it: net/http drops it, so "web.localhost<TAB>" is the host
// web.localhost, as it is for any proxy in front. Whitespace inside the
// value is refused.
func TestHostWhitespace(t *testing.T) {
	_, c, addr := testServer(t)
	ctx := context.Background()
	if _, err := c.CreateProject(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Deploy(ctx, site(t, "hello"), client.DeployOptions{Project: "web", Production: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, addr, "web.localhost", "hello")
	for _, tt := range []struct {
		line string
		code int
	}{
		{"Host: web.localhost\t", 200},
		{"Host: \tweb.localhost", 200},
		{"Host: web.localhost\t.evil.com", 400},
		{"Host: web.localhost\t:80", 400},
		{"Host: web.localhost :80", 400},
	} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(addr, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET / HTTP/1.1\r\n%s\r\nConnection: close\r\n\r\n", tt.line)
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%q: %v", tt.line, err)
		}
		res.Body.Close()
		conn.Close()
		if res.StatusCode != tt.code {
			t.Errorf("%q: %d; want %d", tt.line, res.StatusCode, tt.code)
		}
	}
}
