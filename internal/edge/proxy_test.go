package edge

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/apogee-dev/apogee/internal/geoip"
)

// siteServer serves files as project "site" at site.localhost with cfg
// (Domain, Store, Blobs and Log filled in).
func siteServer(t *testing.T, files map[string]string, cfg Config) *Server {
	t.Helper()
	st, bl := newMemStore(), newMemBlobs()
	deploy(st, bl, "site", "p1", files)
	st.setRoute("site", "p1")
	cfg.Domain, cfg.Store, cfg.Blobs, cfg.Log = "localhost", st, bl, slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func do(s *Server, method, target, remote string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "http://site.localhost"+target, strings.NewReader("body"))
	if remote != "" {
		r.RemoteAddr = remote
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

// TestProxyRules: a Netlify 200 rule to a URL answers from that server,
// streaming, any method, with the query string and X-Forwarded-*; the
// upstream's status is kept unless the rule gives another. A private
// upstream is refused (502) unless --proxy-allow-private.
func TestProxyRules(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Upstream", "yes")
		w.Header().Add("Set-Cookie", "own=1; Path=/")
		w.Header().Add("Set-Cookie", "apogee_session=forged; Domain=localhost; Path=/")
		if r.URL.Path == "/missing" {
			w.WriteHeader(http.StatusNotFound)
		}
		io.WriteString(w, r.Method+" "+r.URL.RequestURI()+" host="+r.Host+" xff="+r.Header.Get("X-Forwarded-For")+
			" xfh="+r.Header.Get("X-Forwarded-Host")+" from="+r.Header.Get("X-From")+" body="+string(b))
	}))
	t.Cleanup(upstream.Close)
	files := map[string]string{
		"index.html": "home",
		"_redirects": "/api/*  " + upstream.URL + "/:splat  200\n",
		"netlify.toml": `[[redirects]]
from = "/h/*"
to = "` + upstream.URL + `/h/:splat"
status = 200
headers = {X-From = "Netlify"}
`,
	}
	s := siteServer(t, files, Config{Proxy: ProxyConfig{AllowPrivate: true}})
	uhost := strings.TrimPrefix(upstream.URL, "http://")
	for _, c := range []struct {
		method, target string
		status         int
		body           string
	}{
		{"GET", "/api/users?page=2", 200, "GET /users?page=2 host=" + uhost + " xff=192.0.2.1 xfh=site.localhost from= body="},
		{"POST", "/api/users", 200, "POST /users host=" + uhost + " xff=192.0.2.1 xfh=site.localhost from= body=body"},
		{"GET", "/api/missing", 404, "GET /missing "},
		{"GET", "/h/x", 200, "from=Netlify"},
		{"GET", "/", 200, "home"},
	} {
		w := do(s, c.method, c.target, "192.0.2.1:1234")
		if w.Code != c.status || !strings.Contains(w.Body.String(), c.body) {
			t.Errorf("%s %s = %d %q; want %d with %q", c.method, c.target, w.Code, w.Body.String(), c.status, c.body)
		}
		if c.target != "/" && w.Header().Get("X-Upstream") != "yes" {
			t.Errorf("%s %s: the upstream's headers are not passed on: %v", c.method, c.target, w.Header())
		}
		if c.target != "/" && strings.Join(w.Header().Values("Set-Cookie"), "|") != "own=1; Path=/" {
			t.Errorf("%s %s: Set-Cookie %q; want the upstream's host-only cookie only (one for the platform's domain is dropped)",
				c.method, c.target, w.Header().Values("Set-Cookie"))
		}
	}

	// Without --proxy-allow-private, the loopback upstream is refused.
	s = siteServer(t, files, Config{})
	if w := do(s, "GET", "/api/users", ""); w.Code != http.StatusBadGateway || w.Header().Get("X-Upstream") != "" {
		t.Errorf("private upstream = %d %v; want 502", w.Code, w.Header())
	}

	// An upstream that does not answer in time: 504.
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang }))
	t.Cleanup(func() { close(hang); slow.Close() })
	s = siteServer(t, map[string]string{"_redirects": "/slow " + slow.URL + " 200\n"},
		Config{Proxy: ProxyConfig{AllowPrivate: true, Timeout: 50e6}})
	if w := do(s, "GET", "/slow", ""); w.Code != http.StatusGatewayTimeout {
		t.Errorf("slow upstream = %d; want 504", w.Code)
	}
}

// TestCountryRules: Netlify's Country condition reads the client's
// address in the --geoip-db database.
func TestCountryRules(t *testing.T) {
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-Country", IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, cc := range map[string]string{"198.51.100.0/24": "GB", "203.0.113.0/24": "US"} {
		_, n, _ := net.ParseCIDR(cidr)
		if err := w.Insert(n, mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(cc)}}); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "country.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	db, err := geoip.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })

	// From Netlify's docs (Redirect options, "Redirect by country or
	// language"). Without "!", a file at "/" would shadow the rules.
	s := siteServer(t, map[string]string{
		"uk/index.html": "uk", "us/index.html": "us",
		"_redirects": "/  /uk  302  Country=gb\n/  /us  302  Country=us,ca\n",
	}, Config{GeoIP: db})
	for _, c := range []struct {
		remote, location string
		status           int
	}{
		{"198.51.100.7:5000", "/uk", 302},
		{"[::ffff:203.0.113.9]:5000", "/us", 302},
		{"192.0.2.1:5000", "", 404},
	} {
		w := do(s, "GET", "/", c.remote)
		if w.Code != c.status || w.Header().Get("Location") != c.location {
			t.Errorf("from %s: %d to %q; want %d to %q", c.remote, w.Code, w.Header().Get("Location"), c.status, c.location)
		}
	}
}
