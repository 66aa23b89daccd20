package rules

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apogee-dev/apogee"
)

// seeds adds every testdata file of the given name to the corpus.
func seeds(f *testing.F, name string) {
	matches, _ := filepath.Glob(filepath.Join("testdata", "*", name))
	for _, m := range matches {
		if b, err := os.ReadFile(m); err == nil {
			f.Add(b)
		}
	}
}

// checkCompile compiles one file and asserts the contract: either a set
// that matches without panicking, or an EINVALID *apogee.Error that names
// the file.
func checkCompile(t *testing.T, name string, data []byte) {
	set, _, err := Compile(map[string][]byte{name: data}, Settings{SPA: true})
	if err != nil {
		var e *apogee.Error
		if !errors.As(err, &e) || e.Code != apogee.EINVALID {
			t.Fatalf("error %v is not an EINVALID *apogee.Error", err)
		}
		if !strings.HasPrefix(e.Message, name) {
			t.Fatalf("message %q does not name %s", e.Message, name)
		}
		return
	}
	exists := func(p string) bool { return p == "index.html" || p == "a/b.html" }
	for _, p := range []string{"/", "/a", "/a/b", "/a/b/", "/x.js", "/%zz", "/a b/ü"} {
		checkResult(t, p, set.Match("GET", p, "q=1", exists), exists)
	}
}

func checkResult(t *testing.T, p string, r Result, exists func(string) bool) {
	switch {
	case r.Status >= 300 && r.Status < 400:
		if r.Location == "" || hasControl(r.Location) || strings.Contains(r.Location, " ") {
			t.Fatalf("%s: redirect %d to %q", p, r.Status, r.Location)
		}
		if r.File != "" || r.Headers != nil {
			t.Fatalf("%s: redirect with a file or headers: %+v", p, r)
		}
	case r.Proxy != "":
		// An external rewrite: answered from an absolute http(s) URL.
		if !strings.HasPrefix(r.Proxy, "http://") && !strings.HasPrefix(r.Proxy, "https://") || r.File != "" || hasControl(r.Proxy) {
			t.Fatalf("%s: proxy to %q with file %q", p, r.Proxy, r.File)
		}
	case r.Status == 200:
		if r.File == "" || !exists(r.File) {
			t.Fatalf("%s: 200 with file %q", p, r.File)
		}
	case r.Status >= 400 && r.Status <= 599:
		if r.File != "" && !exists(r.File) {
			t.Fatalf("%s: %d with missing file %q", p, r.Status, r.File)
		}
	default:
		t.Fatalf("%s: status %d", p, r.Status)
	}
	for _, h := range r.Headers {
		if len(h.Value) != 1 || strings.ContainsAny(h.Name+h.Value[0], "\r\n\x00") {
			t.Fatalf("%s: header %q", p, h)
		}
	}
}

// hasControl reports whether s has a byte no header value may carry.
func hasControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0
}

func FuzzCompile(f *testing.F) {
	seeds(f, NetlifyRedirects)
	f.Add([]byte("/a/:b/* /c/:b/:splat 302!\n/* /index.html 200\n"))
	f.Fuzz(func(t *testing.T, data []byte) { checkCompile(t, NetlifyRedirects, data) })
}

func FuzzCompileVercel(f *testing.F) {
	seeds(f, VercelJSON)
	f.Fuzz(func(t *testing.T, data []byte) { checkCompile(t, VercelJSON, data) })
}

func FuzzCompileHeaders(f *testing.F) {
	seeds(f, NetlifyHeaders)
	f.Fuzz(func(t *testing.T, data []byte) { checkCompile(t, NetlifyHeaders, data) })
}

// FuzzMatch runs any cleaned path through rule-heavy sets of both formats.
func FuzzMatch(f *testing.F) {
	var sets []*Set
	for _, dir := range []string{"vercel-redirects", "vercel-rewrites-headers", "vercel-trailingslash-true", "netlify-redirects", "netlify-headers-toml"} {
		files := map[string][]byte{}
		for _, name := range []string{VercelJSON, NetlifyRedirects, NetlifyHeaders, NetlifyTOML} {
			if b, err := os.ReadFile(filepath.Join("testdata", dir, name)); err == nil {
				files[name] = b
			}
		}
		set, _, err := Compile(files, Settings{SPA: true, CleanURLs: true})
		if err != nil {
			f.Fatal(err)
		}
		sets = append(sets, set)
	}
	for _, p := range []string{"/", "/old/a b", "/news/x/y", "/docs/", "/app/x", "/caf\u00e9", "/a%2Fb", "/.well-known/x", "/x.html/"} {
		f.Add(p, "a=1&b")
	}
	files := map[string]bool{"index.html": true, "about.html": true, "docs/index.html": true, "404.html": true, "app/index.html": true, "shadowed": true}
	exists := func(p string) bool { return files[p] }
	f.Fuzz(func(t *testing.T, p, q string) {
		// Match's contract: a decoded, cleaned path, as the edge gives it.
		c := path.Clean("/" + p)
		if strings.HasSuffix(p, "/") && c != "/" {
			c += "/"
		}
		// and a query as net/http passes it on: no control characters
		// (url.ParseRequestURI refuses them), no space, no fragment.
		if strings.ContainsAny(c, "\x00\\") || strings.ContainsAny(q, "# ") || hasControl(q) {
			return
		}
		for _, s := range sets {
			checkResult(t, c, s.Match("GET", c, q, exists), exists)
		}
	})
}
