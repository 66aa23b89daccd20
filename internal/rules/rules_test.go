package rules

import (
	"bufio"
	"errors"
	"fmt"
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
// must answer:
//
//	files: index.html about.html docs/index.html
//	settings: spa cleanurls trailingslash=true
//	[METHOD] /request/path?query => STATUS TARGET [; Header: value]...
//
// TARGET is the Location of a redirect, else the file served ("-" for
// none). Request paths are written encoded, as on the wire; the test
// decodes them as net/http does before calling Match.
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
				_, err := Compile(files, Settings{})
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

func runCases(t *testing.T, dir string, files map[string][]byte) int {
	f, err := os.Open(filepath.Join(dir, "cases.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	manifest := map[string]bool{}
	var settings Settings
	var set *Set
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
		case strings.HasPrefix(text, "settings:"):
			for _, s := range strings.Fields(strings.TrimPrefix(text, "settings:")) {
				switch s {
				case "spa":
					settings.SPA = true
				case "cleanurls":
					settings.CleanURLs = true
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
			set, err = Compile(files, settings)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			compiled = true
		}
		req, want, ok := strings.Cut(text, "=>")
		if !ok {
			t.Fatalf("cases.txt:%d: no \"=>\" in %q", line, text)
		}
		method, target := "GET", strings.TrimSpace(req)
		if m, rest, ok := strings.Cut(target, " "); ok {
			method, target = m, strings.TrimSpace(rest)
		}
		u, err := url.ParseRequestURI(target)
		if err != nil {
			t.Fatalf("cases.txt:%d: request %q: %v", line, target, err)
		}
		exists := func(p string) bool {
			if strings.HasPrefix(p, "/") {
				t.Errorf("cases.txt:%d: exists(%q) called with a leading slash", line, p)
			}
			return manifest[p]
		}
		got := set.Match(method, u.Path, u.RawQuery, exists)
		if g, w := format(got), normalizeWant(want); g != w {
			t.Errorf("cases.txt:%d: %s %s\n got: %s\nwant: %s", line, method, target, g, w)
		}
		n++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no cases")
	}
	return n
}

func format(r Result) string {
	target := r.File
	if r.Status >= 300 && r.Status < 400 {
		target = r.Location
	}
	if target == "" {
		target = "-"
	}
	s := strconv.Itoa(r.Status) + " " + target
	for _, h := range r.Headers {
		s += " ; " + strings.ToLower(h.Name) + ": " + h.Value[0]
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
	set, err := Compile(nil, Settings{})
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
	set, err := Compile(map[string][]byte{
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
	_, err := Compile(map[string][]byte{NetlifyRedirects: []byte("/a /b abc\n/c\n/d /e 999\n")}, Settings{})
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
	set, err := Compile(map[string][]byte{NetlifyHeaders: []byte("/*\n  A: 1\n/x/*\n  B: 2\n/x/y\n  A: 3\n")}, Settings{})
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
