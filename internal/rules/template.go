package rules

import (
	"fmt"
	"path"
	"strings"
)

// template is a compiled destination: literal text and references to
// capture groups of the source.
type template struct {
	parts    []tpart
	external bool // http:// or https://: an external redirect
	hasQuery bool // the destination has its own query string
	static   string
	isStatic bool // no references: static is the whole result
}

type tpart struct {
	lit   string
	group int  // > 0: capture group to insert
	slash bool // a "/" before an optional parameter, dropped when it is empty
	query bool // the reference is in the query or fragment: query-escape it
}

// isExternal reports whether dest is an absolute http(s) URL.
func isExternal(dest string) bool {
	return strings.HasPrefix(dest, "https://") || strings.HasPrefix(dest, "http://")
}

// compileDest compiles a destination. names maps parameter names to
// capture groups; dollar enables Vercel's "$1" references; strict makes an
// unknown ":name" an error (Vercel), otherwise it stays literal (Netlify).
// For internal rewrites (redirect false) only the path is kept, decoded.
func compileDest(dest string, m *matcher, dollar, strict, redirect bool) (*template, error) {
	t := &template{external: isExternal(dest)}
	rest := dest
	if t.external {
		// The scheme and authority are literal: no placeholders in host or port.
		i := strings.Index(dest, "://") + 3
		j := strings.IndexAny(dest[i:], "/?#")
		if j < 0 {
			j = len(dest) - i
		}
		if i+j == i {
			return nil, fmt.Errorf("destination %q has no host", dest)
		}
		t.parts = append(t.parts, tpart{lit: dest[:i+j]})
		rest = dest[i+j:]
	} else if !strings.HasPrefix(dest, "/") {
		return nil, fmt.Errorf("destination %q must start with \"/\", \"http://\" or \"https://\"", dest)
	}
	if !redirect {
		if k := strings.IndexAny(rest, "?#"); k >= 0 {
			rest = rest[:k]
		}
	}
	inQuery := false
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			s := lit.String()
			if redirect {
				s = escapeLiteral(s)
			} else {
				s = unescapeLoose(s)
			}
			t.parts = append(t.parts, tpart{lit: s})
			lit.Reset()
		}
	}
	for i := 0; i < len(rest); {
		c := rest[i]
		switch {
		case c == '?' || c == '#':
			if c == '?' && !inQuery {
				t.hasQuery = true
			}
			inQuery = true
			lit.WriteByte(c)
			i++
		case c == '$' && dollar && i+1 < len(rest) && rest[i+1] >= '0' && rest[i+1] <= '9':
			j := i + 1
			for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
				j++
			}
			n := 0
			for _, d := range rest[i+1 : j] {
				n = n*10 + int(d-'0')
				if n > 1000 {
					break
				}
			}
			if n == 0 || n > m.ngroups {
				return nil, fmt.Errorf("destination refers to $%s but the source has %d group(s)", rest[i+1:j], m.ngroups)
			}
			flush()
			t.parts = append(t.parts, tpart{group: n, query: inQuery})
			i = j
		case c == ':' && i+1 < len(rest) && isNameByte(rest[i+1]):
			j := i + 1
			for j < len(rest) && isNameByte(rest[j]) {
				j++
			}
			name := rest[i+1 : j]
			g, ok := m.groups[name]
			if !ok {
				if strict {
					return nil, fmt.Errorf("destination has segment \":%s\" that is not in the source", name)
				}
				lit.WriteString(rest[i:j])
				i = j
				continue
			}
			if j < len(rest) && (rest[j] == '*' || rest[j] == '+' || rest[j] == '?') && strict {
				j++ // a modifier only matters to path-to-regexp's compile
			}
			slash := false
			if strict && lit.Len() > 0 && strings.HasSuffix(lit.String(), "/") && !inQuery {
				// path-to-regexp takes "/" as the parameter's prefix and
				// leaves both out when the value is empty.
				s := lit.String()
				lit.Reset()
				lit.WriteString(s[:len(s)-1])
				slash = true
			}
			flush()
			t.parts = append(t.parts, tpart{group: g, slash: slash, query: inQuery})
			i = j
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	if len(t.parts) == 1 && t.parts[0].group == 0 {
		t.static, t.isStatic = t.parts[0].lit, true
	} else if len(t.parts) == 0 {
		t.static, t.isStatic = "/", true
	}
	if !redirect && t.isStatic {
		t.static = cleanKeepSlash(t.static)
	}
	return t, nil
}

type expandMode uint8

const (
	modeRedirect expandMode = iota // values percent-encoded
	modeRewrite                    // values as they are (p is decoded), result cleaned
	modeHeader                     // values without control characters
)

// expand builds the destination for path p with submatch indexes idx.
func (t *template) expand(p string, idx []int, mode expandMode) string {
	if t.isStatic {
		return t.static
	}
	var b strings.Builder
	b.Grow(len(p) + 32)
	for _, part := range t.parts {
		if part.group == 0 {
			b.WriteString(part.lit)
			continue
		}
		v := group(p, idx, part.group)
		if v == "" {
			continue
		}
		if part.slash {
			b.WriteByte('/')
		}
		switch {
		case mode == modeRewrite:
			b.WriteString(v)
		case mode == modeHeader:
			for i := 0; i < len(v); i++ {
				if v[i] >= ' ' && v[i] != 0x7f {
					b.WriteByte(v[i])
				}
			}
		case part.query:
			escapeQuery(&b, v)
		default:
			escapePath(&b, v)
		}
	}
	s := b.String()
	switch {
	case mode == modeRewrite:
		s = cleanKeepSlash(s)
	case mode == modeRedirect && s == "":
		s = "/" // "/:path*" with nothing to fill in
	}
	return s
}

// compileHeaderValue compiles a vercel.json header value: ":name" of a
// source parameter is replaced by its value; anything else is literal.
// It returns nil when the value has no parameter.
func compileHeaderValue(v string, m *matcher) *template {
	t := &template{}
	last, dynamic := 0, false
	for i := 0; i < len(v); i++ {
		if v[i] != ':' {
			continue
		}
		j := i + 1
		for j < len(v) && isNameByte(v[j]) {
			j++
		}
		g, ok := m.groups[v[i+1:j]]
		if !ok {
			continue
		}
		if j < len(v) && (v[j] == '*' || v[j] == '+' || v[j] == '?') {
			j++
		}
		if i > last {
			t.parts = append(t.parts, tpart{lit: v[last:i]})
		}
		t.parts = append(t.parts, tpart{group: g})
		dynamic = true
		last = j
		i = j - 1
	}
	if !dynamic {
		return nil
	}
	if last < len(v) {
		t.parts = append(t.parts, tpart{lit: v[last:]})
	}
	return t
}

// cleanKeepSlash cleans an absolute path, keeping a trailing slash.
func cleanKeepSlash(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] == '/' && !strings.Contains(p, "//") && !strings.Contains(p, "/.") {
		return p
	}
	c := path.Clean("/" + p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

const hexDigits = "0123456789ABCDEF"

// escapePath writes s percent-encoded for a URL path: everything but
// unreserved characters, sub-delimiters, ":", "@" and "/" is escaped.
func escapePath(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if pathSafe(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
}

// escapeQuery writes s percent-encoded for a query value.
func escapeQuery(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || c == '/' || c == ':' || c == '@' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
}

func unreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

func pathSafe(c byte) bool {
	if unreserved(c) {
		return true
	}
	switch c {
	case '/', ':', '@', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=':
		return true
	}
	return false
}

// needsEscape reports whether s has a byte escapePath would change.
func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if !pathSafe(s[i]) {
			return true
		}
	}
	return false
}

// escapedPath returns p escaped for a Location header.
func escapedPath(p string) string {
	if !needsEscape(p) {
		return p
	}
	var b strings.Builder
	b.Grow(len(p) + 16)
	escapePath(&b, p)
	return b.String()
}

// escapeLiteral escapes what may not appear in a Location header as
// written in a config file (spaces, non-ASCII, controls) and leaves the
// rest, "%" escapes included, as the user wrote it.
func escapeLiteral(s string) string {
	bad := false
	for i := 0; i < len(s); i++ {
		if literalUnsafe(s[i]) {
			bad = true
			break
		}
	}
	if !bad {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if literalUnsafe(c) {
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func literalUnsafe(c byte) bool {
	return c <= ' ' || c >= 0x7f || strings.IndexByte("\"<>\\^`{|}", c) >= 0
}
