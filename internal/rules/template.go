package rules

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"strings"

	"golang.org/x/net/idna"
)

// template is a compiled destination: literal text and references to
// what the rule captured: groups of the source's path and values its
// conditions captured (query parameters, has items).
type template struct {
	parts    []tpart
	external bool // http:// or https://: an external redirect or a proxy
	hasQuery bool // the destination has its own query string
	static   string
	isStatic bool // no references: static is the whole result
	// autoQuery are parameters a Vercel proxy adds to the destination's
	// query when the destination uses none of them in its path.
	autoQuery []autoParam
}

type autoParam struct {
	key string
	ref ref
}

type tpart struct {
	lit   string
	ref   ref  // a reference when ref.group > 0 or ref.cap > 0
	query bool // the reference is in the query or fragment: query-escape it
}

// ref names one captured value: a group of the source's path (group,
// 1-based) or a value a condition captured (cap, 1-based).
type ref struct {
	group, cap int
}

func (r ref) ok() bool { return r.group > 0 || r.cap > 0 }

// value returns what r refers to for path p with submatch indexes idx
// and condition captures caps.
func (r ref) value(p string, idx []int, caps []string) string {
	if r.cap > 0 {
		if r.cap <= len(caps) {
			return caps[r.cap-1]
		}
		return ""
	}
	return group(p, idx, r.group)
}

// isExternal reports whether dest is an absolute http(s) URL.
func isExternal(dest string) bool {
	return strings.HasPrefix(dest, "https://") || strings.HasPrefix(dest, "http://")
}

// externalAuthority checks the host[:port] of an absolute destination,
// as a browser's URL parser would, and returns it in ASCII: an
// internationalised name becomes its punycode, and a host that is not a
// name or address (control characters, spaces, percent escapes, a user
// and password) is an error, so that it never reaches a Location header
// or a proxied request.
func externalAuthority(auth string) (string, error) {
	if strings.ContainsAny(auth, "@%\\") || strings.IndexFunc(auth, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return "", fmt.Errorf("host %q is not a valid host name", auth)
	}
	u, err := url.Parse("http://" + auth)
	if err != nil || u.Host != auth || u.Hostname() == "" {
		return "", fmt.Errorf("host %q is not a valid host name", auth)
	}
	host := u.Hostname()
	if !strings.HasPrefix(auth, "[") {
		if host, err = idna.Lookup.ToASCII(host); err != nil {
			return "", fmt.Errorf("host %q is not a valid host name: %w", auth, err)
		}
	}
	if port := u.Port(); port != "" {
		return net.JoinHostPort(host, port), nil
	}
	if strings.HasPrefix(auth, "[") {
		return "[" + host + "]", nil
	}
	return host, nil
}

// destOpts say how a destination is read.
type destOpts struct {
	// vercel: "$1" references; an unknown ":name" is an error; "{", "}"
	// and "\" escapes are path-to-regexp's compile syntax.
	vercel bool
	// url: the result is a URL (a redirect's Location or a proxy's
	// target), percent-encoded, with its query and fragment; otherwise
	// it is a path of the deployment, decoded, without them.
	url bool
	// names resolves a parameter name to what it refers to.
	names func(name string) (ref, bool)
	// ngroups is how many groups the source has ("$n" references).
	ngroups int
	// relative allows a destination that is a relative reference
	// ("b.html"), which a browser resolves against the request's URL.
	relative bool
}

// compileDest compiles a destination.
func compileDest(dest string, o destOpts) (*template, error) {
	t := &template{external: isExternal(dest)}
	rest := dest
	if t.external {
		// The scheme and authority are literal: no placeholders in host or port.
		i := strings.Index(dest, "://") + 3
		j := strings.IndexAny(dest[i:], "/?#")
		if j < 0 {
			j = len(dest) - i
		}
		if j == 0 {
			return nil, fmt.Errorf("destination %q has no host", dest)
		}
		auth, err := externalAuthority(dest[i : i+j])
		if err != nil {
			return nil, fmt.Errorf("destination %q: %w", dest, err)
		}
		t.parts = append(t.parts, tpart{lit: dest[:i] + auth})
		rest = dest[i+j:]
	} else if !strings.HasPrefix(dest, "/") && !(o.relative && o.url) {
		return nil, fmt.Errorf("destination %q must start with \"/\", \"http://\" or \"https://\"", dest)
	}
	if !o.url {
		if k := strings.IndexAny(rest, "?#"); k >= 0 {
			rest = rest[:k]
		}
	}
	inQuery := false
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			s := lit.String()
			if o.url {
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
		case c == '?' && !inQuery && (i+1 == len(rest) || rest[i+1] == '#'):
			i++ // an empty query is none (url.format drops it)
		case c == '?' || c == '#':
			if c == '?' && !inQuery {
				t.hasQuery = true
			}
			inQuery = true
			lit.WriteByte(c)
			i++
		case o.vercel && c == '\\' && i+1 < len(rest):
			lit.WriteByte(rest[i+1]) // an escaped character is literal
			i += 2
		case o.vercel && (c == '{' || c == '}'):
			i++ // a group's braces: its parameter always has a value
		case c == '$' && o.vercel && i+1 < len(rest) && rest[i+1] >= '0' && rest[i+1] <= '9':
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
			if n == 0 || n > o.ngroups {
				return nil, fmt.Errorf("destination refers to $%s but the source has %d group(s)", rest[i+1:j], o.ngroups)
			}
			flush()
			t.parts = append(t.parts, tpart{ref: ref{group: n}, query: inQuery})
			i = j
		case c == ':' && i+1 < len(rest) && isNameByte(rest[i+1]):
			j := i + 1
			for j < len(rest) && isNameByte(rest[j]) {
				j++
			}
			name := rest[i+1 : j]
			r, ok := ref{}, false
			if o.names != nil {
				r, ok = o.names(name)
			}
			if !ok {
				if o.vercel {
					return nil, fmt.Errorf("destination has segment \":%s\" that is not in the source or a \"has\" condition", name)
				}
				lit.WriteString(rest[i:j])
				i = j
				continue
			}
			if o.vercel && j < len(rest) && (rest[j] == '*' || rest[j] == '+') {
				j++ // a modifier only matters to path-to-regexp's compile
			}
			flush()
			t.parts = append(t.parts, tpart{ref: r, query: inQuery})
			i = j
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	if len(t.parts) == 1 && !t.parts[0].ref.ok() {
		t.static, t.isStatic = t.parts[0].lit, true
	} else if len(t.parts) == 0 {
		t.static, t.isStatic = "/", true
	}
	if !o.url && t.isStatic {
		t.static = cleanKeepSlash(t.static)
	}
	if t.isStatic {
		t.parts = nil // static says it all (and 45,000 rules keep less)
	}
	return t, nil
}

// queryHasKey reports whether the destination's own query string has
// key.
func (t *template) queryHasKey(key string) bool {
	var b strings.Builder
	if t.isStatic {
		b.WriteString(t.static)
	}
	for _, p := range t.parts {
		if p.ref.ok() {
			b.WriteString("x")
		} else {
			b.WriteString(p.lit)
		}
	}
	s := b.String()
	k := strings.IndexByte(s, '?')
	if k < 0 {
		return false
	}
	q := s[k+1:]
	if f := strings.IndexByte(q, '#'); f >= 0 {
		q = q[:f]
	}
	v, _ := url.ParseQuery(q)
	_, ok := v[key]
	return ok
}

// usesPath reports whether the destination refers to a parameter outside
// its query string.
func (t *template) usesPath() bool {
	for _, p := range t.parts {
		if p.ref.ok() && !p.query {
			return true
		}
	}
	return false
}

type expandMode uint8

const (
	modeRedirect expandMode = iota // values percent-encoded
	modeRewrite                    // values as they are (p is decoded), result cleaned
	modeHeader                     // values without control characters
)

// expand builds the destination for path p with submatch indexes idx
// and condition captures caps.
func (t *template) expand(p string, idx []int, caps []string, mode expandMode) string {
	if t.isStatic && t.autoQuery == nil {
		return t.static
	}
	var b strings.Builder
	b.Grow(len(p) + 32)
	if t.isStatic { // with autoQuery
		b.WriteString(t.static)
	}
	for _, part := range t.parts {
		if !part.ref.ok() {
			b.WriteString(part.lit)
			continue
		}
		v := part.ref.value(p, idx, caps)
		if v == "" {
			continue
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
	if len(t.autoQuery) > 0 {
		frag := ""
		if k := strings.IndexByte(s, '#'); k >= 0 {
			s, frag = s[:k], s[k:]
		}
		var q strings.Builder
		q.WriteString(s)
		sep := byte('?')
		if strings.IndexByte(s, '?') >= 0 {
			sep = '&'
		}
		for _, a := range t.autoQuery {
			q.WriteByte(sep)
			sep = '&'
			escapeQuery(&q, a.key)
			q.WriteByte('=')
			escapeQuery(&q, a.ref.value(p, idx, caps))
		}
		s = q.String() + frag
	}
	switch {
	case mode == modeRewrite:
		s = cleanKeepSlash(s)
	case mode == modeRedirect && s == "":
		s = "/" // "/:path*" with nothing to fill in
	}
	return s
}

// compileHeaderValue compiles a vercel.json header key or value: ":name"
// of a source parameter or a "has" capture is replaced by its value;
// anything else is literal. It returns nil when v refers to nothing.
func compileHeaderValue(v string, names func(string) (ref, bool)) *template {
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
		r, ok := names(v[i+1 : j])
		if !ok {
			continue
		}
		if j < len(v) && (v[j] == '*' || v[j] == '+' || v[j] == '?') {
			j++
		}
		if i > last {
			t.parts = append(t.parts, tpart{lit: v[last:i]})
		}
		t.parts = append(t.parts, tpart{ref: r})
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
