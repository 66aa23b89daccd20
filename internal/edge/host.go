package edge

import (
	"net/netip"
	"strings"
)

// ParseHost parses a request's Host (RFC 9110 §7.2: uri-host [":" port],
// with uri-host as RFC 3986 §3.2.2 defines it) into the lower-case name
// requests are routed by: without the port and a trailing dot. ok is
// false, and the request is to be answered 400, for anything else.
//
// What it takes:
//   - a DNS host name: dot-separated labels of 1 to 63 letters, digits and
//     hyphens, neither starting nor ending with a hyphen, at most 253
//     characters, then an optional trailing dot (an IPv4 address is one
//     too);
//   - an IPv6 address in brackets, without a zone ("[::1]");
//   - either followed by ":" and a port of at most 5 digits up to 65535,
//     or by a bare ":" (RFC 3986 allows an empty port).
//
// Nothing else routes: "site.localhost:19000.evil.com", "site.localhost:abc",
// a host with whitespace, "_", "%", userinfo or a second colon, and an
// empty Host. RFC 3986 would allow more in a reg-name (percent-encoding,
// sub-delims), but no such name can be a site of the platform or resolve
// in DNS, so it is refused rather than looked up.
//
// It allocates only if the host has an upper-case letter.
func ParseHost(h string) (host string, ok bool) {
	if h == "" {
		return "", false
	}
	if h[0] == '[' {
		end := strings.IndexByte(h, ']')
		if end < 0 || !validPort(h[end+1:]) {
			return "", false
		}
		host = h[:end+1]
		a, err := netip.ParseAddr(host[1:end])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", false
		}
		return lower(host), true
	}
	host = h
	if i := strings.IndexByte(h, ':'); i >= 0 {
		if !validPort(h[i:]) {
			return "", false
		}
		host = h[:i]
	}
	if n := len(host); n > 0 && host[n-1] == '.' {
		host = host[:n-1]
	}
	if !validHostName(host) {
		return "", false
	}
	return lower(host), true
}

// validPort reports whether s is "", ":" or ":" and at most 5 digits
// naming a port up to 65535.
func validPort(s string) bool {
	if s == "" {
		return true
	}
	if s[0] != ':' || len(s) > 6 {
		return false
	}
	n := 0
	for i := 1; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 65535
}

// validHostName reports whether s is a DNS host name without a trailing
// dot: labels of letters, digits and inner hyphens, 1 to 63 each, 253 in
// all.
func validHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	start := 0 // of the current label
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			c := s[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
			continue
		}
		n := i - start
		if n == 0 || n > 63 || s[start] == '-' || s[i-1] == '-' {
			return false
		}
		start = i + 1
	}
	return true
}

// lower lower-cases s, allocating only if it has an upper-case letter.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}
