package edge

import (
	"net/url"
	"strings"
	"testing"
)

func TestParseHost(t *testing.T) {
	long := strings.Repeat("a", 63)
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"site.localhost", "site.localhost", true},
		{"site.localhost:8080", "site.localhost", true},
		{"SITE.LocalHost:8080", "site.localhost", true},
		{"site.localhost.", "site.localhost", true},
		{"site.localhost.:443", "site.localhost", true},
		{"site.localhost:", "site.localhost", true}, // RFC 3986: port = *DIGIT
		{"site--d1.localhost", "site--d1.localhost", true},
		{"localhost", "localhost", true},
		{"127.0.0.1:19000", "127.0.0.1", true},
		{"[::1]:8080", "[::1]", true},
		{"[::1]", "[::1]", true},
		{"[2001:DB8::1]", "[2001:db8::1]", true},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", true},
		{long + "." + long + "." + long + "." + long[:61], long + "." + long + "." + long + "." + long[:61], true}, // 253
		{"a.b:65535", "a.b", true},

		{"", "", false},
		{"bsite.localhost:19000.evil.com", "", false},
		{"bsite.localhost:abc", "", false},
		{"bsite.localhost\t", "", false},
		{"bsite.localhost ", "", false},
		{" bsite.localhost", "", false},
		{"bsite.localhost:80:80", "", false},
		{"bsite.localhost:65536", "", false},
		{"bsite.localhost:123456", "", false},
		{"bsite.localhost:-1", "", false},
		{"bsite.localhost:+80", "", false},
		{"user@bsite.localhost", "", false},
		{"bsite.localhost/x", "", false},
		{"bsite.localhost?x", "", false},
		{"bsite.localhost#x", "", false},
		{"b%73ite.localhost", "", false},
		{"b_site.localhost", "", false},
		{"bsite..localhost", "", false},
		{".bsite.localhost", "", false},
		{"bsite.localhost..", "", false},
		{".", "", false},
		{":80", "", false},
		{"-site.localhost", "", false},
		{"site-.localhost", "", false},
		{long + "a.localhost", "", false},
		{long + "." + long + "." + long + "." + long[:62], "", false}, // 254
		{"bsite.localhost\x00", "", false},
		{"bsite.localhost\r\nX: y", "", false},
		{"bsïte.localhost", "", false},
		{"[::1", "", false},
		{"[::1]x", "", false},
		{"[::1]:abc", "", false},
		{"[127.0.0.1]", "", false},
		{"[::ffff:127.0.0.1]", "[::ffff:127.0.0.1]", true},
		{"[fe80::1%25eth0]", "", false},
		{"[v1.x]", "", false},
		{"::1", "", false},
	} {
		got, ok := ParseHost(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseHost(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseHostAllocs(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { ParseHost("site.localhost:8080") }); n != 0 {
		t.Errorf("ParseHost of a lower-case host: %v allocations; want 0", n)
	}
}

// FuzzParseHost checks what ParseHost accepts against net/url's reading
// of the same authority: whatever routes is a host URL parsing agrees on,
// lower-case, without port or trailing dot, and parses to itself.
func FuzzParseHost(f *testing.F) {
	for _, s := range []string{"site.localhost:8080", "[::1]:80", "a.b.", "bsite.localhost:19000.evil.com", "x:", "A-b.C"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		host, ok := ParseHost(in)
		if !ok {
			if host != "" {
				t.Fatalf("ParseHost(%q) refused it but returned %q", in, host)
			}
			return
		}
		if host == "" || host != strings.ToLower(host) || strings.HasSuffix(host, ".") {
			t.Fatalf("ParseHost(%q) = %q: not a lower-case name without a trailing dot", in, host)
		}
		if again, ok := ParseHost(host); !ok || again != host {
			t.Fatalf("ParseHost(%q) = %q, but that parses to %q, %v", in, host, again, ok)
		}
		u, err := url.Parse("http://" + in + "/")
		if err != nil {
			t.Fatalf("ParseHost(%q) accepted what net/url refuses: %v", in, err)
		}
		name := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
		if strings.HasPrefix(host, "[") {
			name = "[" + name + "]"
		}
		if name != host {
			t.Fatalf("ParseHost(%q) = %q; net/url reads host %q", in, host, name)
		}
	})
}

// FuzzParseRange checks parseRange's contract on any header and size: a
// satisfiable range lies within the representation, and several ranges
// are never taken.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-99", "bytes=-5", "bytes=10-", "bytes=5-1", "bytes=0-1,2-3", "BYTES= 1 - 2 ", "items=0-1", "bytes=99999999999999999999-"} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, v string, size int64) {
		if size <= 0 {
			return // parseRange is called for non-empty files only
		}
		start, end, ok, satisfiable := parseRange(v, size)
		if !ok {
			if satisfiable {
				t.Fatalf("parseRange(%q, %d): ignored yet satisfiable", v, size)
			}
			return
		}
		if strings.Contains(v, ",") {
			t.Fatalf("parseRange(%q, %d) took a header with several ranges", v, size)
		}
		if satisfiable && !(0 <= start && start <= end && end < size) {
			t.Fatalf("parseRange(%q, %d) = %d-%d: outside 0-%d", v, size, start, end, size-1)
		}
	})
}
