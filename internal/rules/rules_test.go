package rules

import (
	"bufio"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apogee-dev/apogee"
)

// TestGolden runs every folder of testdata: its config files (vercel.json,
// _redirects, _headers, netlify.toml) are compiled; then either error.txt
// holds the exact message Compile must fail with, or cases.txt holds the
// deployment's files, the project settings and requests with what they
// must answer, and warnings.txt (if Compile warns, else it must not) the
// warnings, one a line as RuleWarning.String writes them:
//
//	files: index.html about.html docs/index.html
//	settings: spa cleanurls trailingslash=true countries
//	geo: 203.0.113.9=DE 198.51.100.7=US
//	[METHOD] [https://host]/request/path?query [{Header: value | …}] [from IP] => STATUS TARGET [; Header: value]...
//
// TARGET is the Location of a redirect, the URL of a proxy ("proxy URL")
// or else the file served ("-" for none). Request paths are written
// encoded, as on the wire; the test decodes them as net/http does before
// calling MatchRequest. Cases are written from the upstream platforms'
// documentation, each with the page or fixture it comes from.
func TestGolden(t *testing.T) {
	dirs, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, d := range dirs {
		if !d.IsDir() || d.Name() == "fuzz" { // testdata/fuzz: the fuzz targets' corpora
			continue
		}
		dir := filepath.Join("testdata", d.Name())
		t.Run(d.Name(), func(t *testing.T) {
			files := map[string][]byte{}
			for _, name := range []string{VercelJSON, NetlifyRedirects, NetlifyHeaders, NetlifyTOML} {
				if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
					files[name] = b
				}
			}
			if want, err := os.ReadFile(filepath.Join(dir, "error.txt")); err == nil {
				_, _, err := Compile(files, Settings{})
				var e *apogee.Error
				if !errors.As(err, &e) || e.Code != apogee.EINVALID {
					t.Fatalf("Compile error = %v, want an EINVALID *apogee.Error", err)
				}
				if got, want := e.Message, strings.TrimSpace(string(want)); got != want {
					t.Errorf("Compile error message\n got: %s\nwant: %s", got, want)
				}
				ran++
				return
			}
			ran += runCases(t, dir, files)
		})
	}
	t.Logf("%d golden checks in %d folders", ran, len(dirs))
}

// geoMap is a Countries for tests.
type geoMap map[netip.Addr]string

func (g geoMap) Country(ip netip.Addr) string { return g[ip] }

func runCases(t *testing.T, dir string, files map[string][]byte) int {
	f, err := os.Open(filepath.Join(dir, "cases.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	manifest := map[string]bool{}
	var settings Settings
	var set *Set
	geo := geoMap{}
	compiled := false
	n := 0
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		switch {
		case text == "" || strings.HasPrefix(text, "#"):
			continue
		case strings.HasPrefix(text, "files:"):
			for _, p := range strings.Fields(strings.TrimPrefix(text, "files:")) {
				manifest[p] = true
			}
			continue
		case strings.HasPrefix(text, "geo:"):
			for _, kv := range strings.Fields(strings.TrimPrefix(text, "geo:")) {
				ip, cc, _ := strings.Cut(kv, "=")
				geo[netip.MustParseAddr(ip)] = cc
			}
			continue
		case strings.HasPrefix(text, "settings:"):
			for _, s := range strings.Fields(strings.TrimPrefix(text, "settings:")) {
				switch s {
				case "spa":
					settings.SPA = true
				case "cleanurls":
					settings.CleanURLs = true
				case "countries":
					settings.Countries = true
				case "trailingslash=true", "trailingslash=false":
					v := s == "trailingslash=true"
					settings.TrailingSlash = &v
				default:
					t.Fatalf("cases.txt:%d: unknown setting %q", line, s)
				}
			}
			continue
		}
		if !compiled {
			var warnings []apogee.RuleWarning
			set, warnings, err = Compile(files, settings)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			checkWarnings(t, dir, warnings)
			compiled = true
		}
		reqText, want, ok := strings.Cut(text, "=>")
		if !ok {
			t.Fatalf("cases.txt:%d: no \"=>\" in %q", line, text)
		}
		req, err := parseCaseRequest(strings.TrimSpace(reqText))
		if err != nil {
			t.Fatalf("cases.txt:%d: %v", line, err)
		}
		if len(geo) > 0 {
			req.Geo = geo
		}
		exists := func(p string) bool {
			if strings.HasPrefix(p, "/") {
				t.Errorf("cases.txt:%d: exists(%q) called with a leading slash", line, p)
			}
			return manifest[p]
		}
		got := set.MatchRequest(req, exists)
		if g, w := format(got), normalizeWant(want); g != w {
			t.Errorf("cases.txt:%d: %s\n got: %s\nwant: %s", line, strings.TrimSpace(reqText), g, w)
		}
		n++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !compiled {
		_, warnings, err := Compile(files, settings)
		if err != nil {
			t.Fatalf("Compile: %v", err)
		}
		checkWarnings(t, dir, warnings)
	}
	return n
}

// checkWarnings compares Compile's warnings with warnings.txt (none when
// the file is absent).
func checkWarnings(t *testing.T, dir string, warnings []apogee.RuleWarning) {
	t.Helper()
	var want []string
	if b, err := os.ReadFile(filepath.Join(dir, "warnings.txt")); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				want = append(want, l)
			}
		}
	}
	var got []string
	for _, w := range warnings {
		got = append(got, w.String())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// parseCaseRequest reads "[METHOD] [scheme://host]/path?q [{H: v | …}] [from IP]".
func parseCaseRequest(s string) (*Request, error) {
	r := &Request{Method: "GET", Header: http.Header{}, Scheme: "https", Host: "site.example"}
	if m, rest, ok := strings.Cut(s, " "); ok && m == strings.ToUpper(m) && !strings.HasPrefix(m, "/") && !strings.Contains(m, ":") {
		r.Method, s = m, strings.TrimSpace(rest)
	}
	if k := strings.Index(s, " from "); k >= 0 {
		r.ClientIP = netip.MustParseAddr(strings.TrimSpace(s[k+len(" from "):]))
		s = s[:k]
	}
	if k := strings.IndexByte(s, '{'); k >= 0 {
		block := strings.TrimSuffix(strings.TrimSpace(s[k+1:]), "}")
		for _, h := range strings.Split(block, " | ") {
			name, value, _ := strings.Cut(h, ":")
			r.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
		}
		s = strings.TrimSpace(s[:k])
	}
	target := s
	if isExternal(s) {
		u, err := url.Parse(s)
		if err != nil {
			return nil, err
		}
		r.Scheme, r.Host = u.Scheme, strings.ToLower(u.Hostname())
		target = u.RequestURI()
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, fmt.Errorf("request %q: %v", target, err)
	}
	r.Path, r.RawQuery = u.Path, u.RawQuery
	return r, nil
}

func format(r Result) string {
	target := r.File
	switch {
	case r.Proxy != "":
		target = "proxy " + r.Proxy
	case r.Status >= 300 && r.Status < 400:
		target = r.Location
	}
	if target == "" {
		target = "-"
	}
	s := strconv.Itoa(r.Status) + " " + target
	for _, h := range r.Headers {
		s += " ; " + strings.ToLower(h.Name) + ": " + h.Value[0]
	}
	for _, h := range r.ProxyHeaders {
		s += " ; > " + strings.ToLower(h.Name) + ": " + h.Value[0]
	}
	return s
}

func normalizeWant(w string) string {
	parts := strings.Split(w, " ; ")
	for i := range parts {
		parts[i] = strings.Join(strings.Fields(parts[i]), " ")
		// Header names compare case-insensitively (the edge sends them
		// in canonical form).
		if name, value, ok := strings.Cut(parts[i], ": "); ok && i > 0 {
			parts[i] = strings.ToLower(name) + ": " + value
		}
	}
	return strings.Join(parts, " ; ")
}

// A nil *Set answers like a static server: the file, a directory
// redirect, 404.html.
func TestNilSet(t *testing.T) {
	set, _, err := Compile(nil, Settings{})
	if err != nil || set != nil {
		t.Fatalf("Compile(nil) = %v, %v; want nil, nil", set, err)
	}
	files := map[string]bool{"index.html": true, "a.css": true, "docs/index.html": true, "404.html": true}
	exists := func(p string) bool { return files[p] }
	for _, c := range []struct{ path, query, want string }{
		{"/", "", "200 index.html"},
		{"/a.css", "", "200 a.css"},
		{"/docs", "x=1", "301 /docs/?x=1"},
		{"/docs/", "", "200 docs/index.html"},
		{"/nope", "", "404 404.html"},
		{"", "", "404 404.html"},
	} {
		if got := format(set.Match("GET", c.path, c.query, exists)); got != c.want {
			t.Errorf("Match(%q) = %s, want %s", c.path, got, c.want)
		}
	}
}

// Config files without routing (build settings only) compile to nil.
func TestNoRoutingKeys(t *testing.T) {
	set, _, err := Compile(map[string][]byte{
		VercelJSON:  []byte(`{"buildCommand": "npm run build", "outputDirectory": "dist"}`),
		NetlifyTOML: []byte("[build]\ncommand = \"make\"\npublish = \"out\"\n"),
		"other.txt": []byte("ignored"),
	}, Settings{})
	if err != nil || set != nil {
		t.Fatalf("Compile = %v, %v; want nil, nil", set, err)
	}
}

// Every fault is in Data, the first in Message with a count of the rest.
func TestErrorData(t *testing.T) {
	_, _, err := Compile(map[string][]byte{VercelJSON: []byte(`{"redirects": [{"source": "/a"}, {"source": 1, "destination": "/b"}, {"source": "/c", "destination": "/d", "permanent": 1}]}`)}, Settings{})
	var e *apogee.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v", err)
	}
	list, _ := e.Data.([]string)
	if len(list) != 3 || !strings.HasSuffix(e.Message, "(and 2 more)") {
		t.Fatalf("Message %q, Data %q", e.Message, list)
	}
}

// Headers of a matched set are cached and shared; results are equal to a
// fresh computation and safe for concurrent use (run with -race).
func TestHeadersConcurrent(t *testing.T) {
	set, _, err := Compile(map[string][]byte{NetlifyHeaders: []byte("/*\n  A: 1\n/x/*\n  B: 2\n/x/y\n  A: 3\n")}, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	exists := func(string) bool { return false }
	done := make(chan string)
	for i := 0; i < 8; i++ {
		go func() {
			var s string
			for j := 0; j < 200; j++ {
				s = format(set.Match("GET", fmt.Sprintf("/x/%s", []string{"y", "z"}[j%2]), "", exists))
			}
			done <- s
		}()
	}
	for i := 0; i < 8; i++ {
		<-done
	}
	if got := format(set.Match("GET", "/x/y", "", exists)); got != "404 - ; a: 3 ; b: 2" {
		t.Fatalf("got %s", got)
	}
	if got := format(set.Match("GET", "/x/z", "", exists)); got != "404 - ; a: 1 ; b: 2" {
		t.Fatalf("got %s", got)
	}
}

// TestNetlify45k: Netlify's parser tests carry a 45,000-rule _redirects
// of 1.6 MB; it deploys, and the index finds each kind of rule in it.
func TestNetlify45k(t *testing.T) {
	data := redirects45k()
	set, warnings, err := Compile(map[string][]byte{NetlifyRedirects: data}, Settings{})
	if err != nil || len(warnings) > 0 {
		t.Fatalf("Compile: %v %v", err, warnings)
	}
	if len(set.routes) != 45_000 {
		t.Fatalf("%d rules, want 45000", len(set.routes))
	}
	exists := func(p string) bool { return p == "index.html" }
	for _, c := range []struct{ path, want string }{
		{"/old/page-0", "301 /new/page-0"},
		{"/old/page-44999/", "301 /new/page-44999"},
		{"/c44997/hello", "301 /n44997/hello"},
		{"/d/44998/a/b", "302 /e/44998/a/b"},
		{"/old/page-45000", "404 -"},
		{"/", "200 index.html"},
	} {
		if got := format(set.Match("GET", c.path, "", exists)); got != c.want {
			t.Errorf("%s: got %s, want %s", c.path, got, c.want)
		}
	}
}

// TestHeadersSetCookieLinesStaySeparate: two Set-Cookie lines under one
// _headers path are two cookies, not one comma-joined header (which a
// browser reads as a single cookie); other repeated names are joined.
func TestHeadersSetCookieLinesStaySeparate(t *testing.T) {
	set, _, err := Compile(map[string][]byte{"_headers": []byte("/*\n  Set-Cookie: a=1; Path=/\n  Set-Cookie: b=2\n  X-Tag: x\n  X-Tag: y\n")}, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, h := range set.Match("GET", "/", "", func(string) bool { return true }).Headers {
		got[h.Name] = h.Value
	}
	if c := got["Set-Cookie"]; len(c) != 2 || c[0] != "a=1; Path=/" || c[1] != "b=2" {
		t.Errorf("Set-Cookie %q, want two values", c)
	}
	if x := got["X-Tag"]; len(x) != 1 || x[0] != "x, y" {
		t.Errorf("X-Tag %q, want one joined value", x)
	}
}

// TestSetCookieWithDomainWarns: a header rule that sets a cookie with a
// Domain attribute deploys, with a warning that the edge sends it only
// from the host it names; a host-only cookie and other headers do not warn.
func TestSetCookieWithDomainWarns(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string][]byte
		warn  string // the warning's file, "" for none
	}{
		{"_headers", map[string][]byte{"_headers": []byte("/*\n  Set-Cookie: s=1; Domain=.example.net; Path=/\n")}, "_headers"},
		{"_headers host-only", map[string][]byte{"_headers": []byte("/*\n  Set-Cookie: s=1; Path=/\n  X-Domain: Domain=example.net\n")}, ""},
		{"netlify.toml", map[string][]byte{"netlify.toml": []byte("[[headers]]\nfor = \"/*\"\n[headers.values]\nSet-Cookie = \"s=1; domain=example.net\"\n")}, "netlify.toml"},
		{"vercel.json", map[string][]byte{"vercel.json": []byte(`{"headers":[{"source":"/(.*)","headers":[{"key":"set-cookie","value":"s=1; Domain=example.net"}]}]}`)}, "vercel.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, warnings, err := Compile(tc.files, Settings{})
			if err != nil {
				t.Fatal(err)
			}
			var cookie []apogee.RuleWarning
			for _, w := range warnings {
				if strings.Contains(w.Message, "Domain=example.net") {
					cookie = append(cookie, w)
				}
			}
			if tc.warn == "" {
				if len(warnings) != 0 {
					t.Fatalf("warnings %v, want none", warnings)
				}
				return
			}
			if len(cookie) != 1 || cookie[0].File != tc.warn || !strings.Contains(cookie[0].Message, "drops it from the site's other hosts") {
				t.Fatalf("warnings %v, want one about the cookie's Domain in %s", warnings, tc.warn)
			}
			// The rule still applies: the edge filters per answering host.
			var got []string
			for _, h := range set.Match("GET", "/", "", func(string) bool { return true }).Headers {
				if strings.EqualFold(h.Name, "Set-Cookie") {
					got = append(got, h.Value...)
				}
			}
			if len(got) != 1 {
				t.Errorf("Set-Cookie %q, want the rule's cookie", got)
			}
		})
	}
}
