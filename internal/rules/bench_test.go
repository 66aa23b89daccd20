package rules

import (
	"fmt"
	"strings"
	"testing"
)

// benchSet compiles a rule-heavy vercel.json: 100 rules of every kind —
// literal, parameter and regular-expression redirects, rewrites and
// header rules — as a large site migrated to Vercel would have.
func benchSet(b *testing.B) (*Set, func(string) bool) {
	var rules []string
	for i := 0; i < 60; i++ {
		rules = append(rules, fmt.Sprintf(`{"source": "/old-page-%d", "destination": "/new-page-%d"}`, i, i))
	}
	for i := 0; i < 20; i++ {
		rules = append(rules, fmt.Sprintf(`{"source": "/blog-%d/:slug", "destination": "/posts-%d/:slug", "statusCode": 301}`, i, i))
	}
	for i := 0; i < 10; i++ {
		rules = append(rules, fmt.Sprintf(`{"source": "/archive-%d/(.*)", "destination": "/a/%d/$1"}`, i, i))
	}
	var rewrites, headers []string
	for i := 0; i < 5; i++ {
		rewrites = append(rewrites, fmt.Sprintf(`{"source": "/app-%d/:path*", "destination": "/app-%d/index.html"}`, i, i))
		headers = append(headers, fmt.Sprintf(`{"source": "/static-%d/(.*)", "headers": [{"key": "Cache-Control", "value": "public, max-age=%d"}]}`, i, i))
	}
	cfg := `{"cleanUrls": true, "redirects": [` + strings.Join(rules, ",") + `], "rewrites": [` + strings.Join(rewrites, ",") +
		`], "headers": [` + strings.Join(headers, ",") + `]}`
	set, _, err := Compile(map[string][]byte{VercelJSON: []byte(cfg)}, Settings{})
	if err != nil {
		b.Fatal(err)
	}
	if n := len(set.routes) + len(set.headers); n != 100 {
		b.Fatalf("%d rules, want 100", n)
	}
	files := map[string]bool{"index.html": true, "assets/app-3f9a1c2b.js": true, "app-4/index.html": true, "about.html": true, "404.html": true}
	return set, func(p string) bool { return files[p] }
}

// BenchmarkMatch100Rules measures one request against 100 rules: a file
// no rule matches (the common case: every redirect is checked first), a
// clean URL, rules that match late, and a 404.
func BenchmarkMatch100Rules(b *testing.B) {
	set, exists := benchSet(b)
	for _, c := range []struct{ name, path, want string }{
		{"file-no-match", "/assets/app-3f9a1c2b.js", "200 assets/app-3f9a1c2b.js"},
		{"clean-url", "/about", "200 about.html"},
		{"late-literal", "/old-page-59", "308 /new-page-59"},
		{"late-regexp", "/archive-9/2020/post", "308 /a/9/2020/post"},
		{"late-rewrite", "/app-4/dashboard/x", "200 app-4/index.html"},
		{"not-found", "/nothing/here", "404 404.html"},
	} {
		if got := format(set.Match("GET", c.path, "", exists)); got != c.want {
			b.Fatalf("%s: got %s, want %s", c.path, got, c.want)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				set.Match("GET", c.path, "", exists)
			}
		})
	}
}

// BenchmarkMatchNil is a deployment without rules: a nil *Set.
func BenchmarkMatchNil(b *testing.B) {
	var set *Set
	files := map[string]bool{"index.html": true}
	exists := func(p string) bool { return files[p] }
	b.ReportAllocs()
	for b.Loop() {
		set.Match("GET", "/index.html", "", exists)
	}
}

// BenchmarkMatchHeaders is a Netlify site with overlapping header rules:
// the merged list is cached per set of matching rules.
func BenchmarkMatchHeaders(b *testing.B) {
	set, _, err := Compile(map[string][]byte{NetlifyHeaders: []byte("/*\n  X-Frame-Options: DENY\n  X-Content-Type-Options: nosniff\n/assets/*\n  Cache-Control: public, max-age=31536000, immutable\n")}, Settings{})
	if err != nil {
		b.Fatal(err)
	}
	files := map[string]bool{"assets/app.js": true}
	exists := func(p string) bool { return files[p] }
	b.ReportAllocs()
	for b.Loop() {
		set.Match("GET", "/assets/app.js", "", exists)
	}
}
