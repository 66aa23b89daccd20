package rules

import "testing"

// The fast paths of matcher (exact, prefix, splat, segments) must agree
// with the regular expression compiled from the same source.
func TestMatcherFastPaths(t *testing.T) {
	paths := []string{"/", "/a", "/a/", "/a/b", "/a/b/", "/a/b/c", "/ab", "/A/b", "/a/b.c", "/blog", "/blog/", "/blog/x",
		"/blog/x/", "/blog/x/y", "/blogx", "/BLOG/x", "/docs", "/docs/a/b", "/docs/a/b/", "/x/docs", "/a%20b", "/a b/c"}
	vercel := []string{"/(.*)", "/blog/(.*)", "/blog(.*)", "/blog/:slug", "/blog/:slug?", "/blog/:slug+", "/blog/:slug*",
		"/:a", "/:a*", "/docs/:path*", "/a/b", "/a b/(.*)"}
	for _, src := range vercel {
		m, err := compileVercelSource(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if m.re == nil {
			continue
		}
		for _, p := range paths {
			if got, want := m.match(p), m.re.MatchString(p); got != want {
				t.Errorf("vercel %q on %q: fast path %v, regexp %v (kind %d)", src, p, got, want, m.kind)
			}
		}
	}
	for _, src := range []string{"/*", "/blog/*", "/docs/*", "/a/:x/*"} {
		m, _, _, err := compileNetlifyFrom(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		for _, p := range paths {
			if got, want := m.match(p), m.re.MatchString(p); got != want {
				t.Errorf("_redirects %q on %q: fast path %v, regexp %v (kind %d)", src, p, got, want, m.kind)
			}
		}
	}
	for _, src := range []string{"/*", "/blog/*", "/a/b", "/", "/blog/:x", "/blog/*.css", "/Blog/*", "/b\u00e9/*"} {
		m, err := compileNetlifyHeaderPath(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		for _, p := range append(paths, "//", "/b\u00e9/x", "/B\u00c9/x", "/blog/x.css") {
			if got, want := m.match(p), m.re.MatchString(p); got != want {
				t.Errorf("_headers %q on %q: fast path %v, regexp %v (kind %d)", src, p, got, want, m.kind)
			}
		}
	}
}
