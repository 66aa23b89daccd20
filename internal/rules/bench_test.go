package rules

import (
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
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

// redirects45k is a _redirects the size of the one in Netlify's own
// parser tests: 45,000 rules, 1.6 MB. Most are literal moves of old
// pages; some have placeholders and splats, as migrated sites do.
func redirects45k() []byte {
	var b strings.Builder
	b.Grow(1700 << 10)
	for i := range 45_000 {
		switch i % 10 {
		case 7:
			fmt.Fprintf(&b, "/c%d/:slug /n%d/:slug 301\n", i, i)
		case 8:
			fmt.Fprintf(&b, "/d/%d/* /e/%d/:splat 302\n", i, i)
		default:
			fmt.Fprintf(&b, "/old/page-%d /new/page-%d 301\n", i, i)
		}
	}
	return []byte(b.String())
}

// BenchmarkMatch45k is the cost of a request against Netlify's 45,000
// rules, for the last rule and for a path no rule matches, next to the
// same requests against a 1-rule deployment: the rules index makes a
// request pay for the rules that could match it, not for all of them
// (target: within 2 µs of the 1-rule deployment).
func BenchmarkMatch45k(b *testing.B) {
	big := redirects45k()
	if len(big) < 1500<<10 {
		b.Fatalf("the file is %d bytes; want about 1.6 MB", len(big))
	}
	files := map[string]bool{"index.html": true, "404.html": true}
	exists := func(p string) bool { return files[p] }
	for _, s := range []struct {
		name string
		file []byte
		last string // the request of the last rule, and its answer
		want string
	}{
		{"1rule", []byte("/old/page-44999 /new/page-44999 301\n"), "/old/page-44999", "301 /new/page-44999"},
		{"45k", big, "/old/page-44999", "301 /new/page-44999"},
	} {
		set, warnings, err := Compile(map[string][]byte{NetlifyRedirects: s.file}, Settings{})
		if err != nil || len(warnings) > 0 {
			b.Fatalf("%s: %v %v", s.name, err, warnings)
		}
		for _, c := range []struct{ name, path, want string }{
			{"last-rule", s.last, s.want},
			{"no-match", "/nothing/here", "404 404.html"},
		} {
			if got := format(set.Match("GET", c.path, "", exists)); got != c.want {
				b.Fatalf("%s %s: got %s, want %s", s.name, c.path, got, c.want)
			}
			b.Run(s.name+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					set.Match("GET", c.path, "", exists)
				}
			})
		}
	}
}

// BenchmarkCompile45k is the deploy-time cost of the 45,000-rule
// _redirects: time per compile, bytes allocated while compiling
// (alloc-MB/op) and bytes the compiled set keeps (retained-MB; targets
// 200 ms and 20 MB).
func BenchmarkCompile45k(b *testing.B) {
	big := redirects45k()
	files := map[string][]byte{NetlifyRedirects: big}
	var set *Set
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	base := before.HeapAlloc
	cpu0 := cpuTime()
	for b.Loop() {
		var err error
		if set, _, err = Compile(files, Settings{}); err != nil {
			b.Fatal(err)
		}
	}
	// CPU time of the process (GC included) per compile: on a shared
	// machine, wall time also counts other programs' turns.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/(1<<20), "alloc-MB/op")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(base))/(1<<20), "retained-MB")
	runtime.KeepAlive(set)
}

// cpuTime is the user and system time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
