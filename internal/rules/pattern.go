package rules

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// matcher decides whether a request path matches a rule's source. Every
// match starts with prefix (a literal), so most rules are rejected by one
// strings.HasPrefix, and the common shapes — an exact path, "/prefix(.*)",
// a Netlify splat — never run a regular expression; re is still kept for
// the captures of a rule that matched.
type matcher struct {
	prefix  string
	kind    matchKind
	slashOK bool // mExact also matches prefix + "/" (Netlify)
	fold    bool // prefix compares case-insensitively (Netlify headers)
	re      regex
	groups  map[string]int // parameter name → capture group (1-based)
	ngroups int
	// keyed: prefix ends where a segment does (what follows it in a
	// matching path is "/" or nothing), so the index may file the rule
	// under all of prefix's segments.
	keyed bool
}

func (m *matcher) setGroup(name string, g int) {
	if m.groups == nil {
		m.groups = map[string]int{}
	}
	m.groups[name] = g
}

type matchKind uint8

const (
	mExact    matchKind = iota // the path is prefix
	mPrefix                    // the path starts with prefix
	mSplat                     // prefix, then nothing or "/…"
	mSegment                   // prefix, then "/x": one segment (":param")
	mSegments                  // prefix, then "/x/y…" (":param+")
	mRegexp                    // prefix, then re must match
)

// match reports whether p matches. It never allocates.
func (m *matcher) match(p string) bool {
	if m.fold {
		if len(p) < len(m.prefix) || !strings.EqualFold(p[:len(m.prefix)], m.prefix) {
			return false
		}
	} else if !strings.HasPrefix(p, m.prefix) {
		return false
	}
	rest := p[len(m.prefix):]
	switch m.kind {
	case mExact:
		return rest == "" || m.slashOK && rest == "/"
	case mPrefix:
		return true
	case mSplat:
		return rest == "" || rest[0] == '/'
	case mSegment, mSegments:
		if rest == "" {
			return m.slashOK // here: the parameter is optional ("?" or "*")
		}
		if len(rest) < 2 || rest[0] != '/' || rest[len(rest)-1] == '/' {
			return false
		}
		if m.kind == mSegment {
			return strings.IndexByte(rest[1:], '/') < 0
		}
		return !strings.Contains(rest, "//")
	}
	return m.re.MatchString(p)
}

// captures returns the submatch indexes of p (nil for exact matchers).
func (m *matcher) captures(p string) []int {
	if m.re == nil {
		return nil
	}
	return m.re.FindStringSubmatchIndex(p)
}

// group returns capture group g of p, or "" when it did not take part.
func group(p string, idx []int, g int) string {
	if 2*g+1 >= len(idx) || idx[2*g] < 0 {
		return ""
	}
	return p[idx[2*g]:idx[2*g+1]]
}

// ---- Vercel: path-to-regexp 6.1 as @vercel/routing-utils vendors it ----
//
// sourceToRegex calls pathToRegexp(source, keys, {strict: true, sensitive:
// true, delimiter: "/"}): no optional trailing slash, case-sensitive, the
// default parameter pattern is [^/]+?, "/" and "." are prefixes. The lexer
// and parser below follow that code token for token so that the same
// sources are accepted and rejected (e.g. "/conf/*" is an error there too).

type lexKind uint8

const (
	lexOpen lexKind = iota
	lexClose
	lexPattern
	lexName
	lexChar
	lexEscaped
	lexModifier
	lexEnd
)

var lexNames = [...]string{"{", "}", "pattern", "name", "char", "escaped char", "modifier", "end"}

type lexToken struct {
	kind lexKind
	pos  int
	val  string
}

func isNameByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '_'
}

func lex(s string) ([]lexToken, error) {
	var toks []lexToken
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == '*' || c == '+' || c == '?':
			toks = append(toks, lexToken{lexModifier, i, s[i : i+1]})
			i++
		case c == '\\':
			if i+1 >= len(s) {
				return nil, fmt.Errorf("trailing backslash at %d", i)
			}
			_, n := utf8.DecodeRuneInString(s[i+1:])
			toks = append(toks, lexToken{lexEscaped, i, s[i+1 : i+1+n]})
			i += 1 + n
		case c == '{':
			toks = append(toks, lexToken{lexOpen, i, "{"})
			i++
		case c == '}':
			toks = append(toks, lexToken{lexClose, i, "}"})
			i++
		case c == ':':
			j := i + 1
			for j < len(s) && isNameByte(s[j]) {
				j++
			}
			if j == i+1 {
				return nil, fmt.Errorf("missing parameter name after \":\" at %d", i)
			}
			toks = append(toks, lexToken{lexName, i, s[i+1 : j]})
			i = j
		case c == '(':
			count, j := 1, i+1
			if j < len(s) && s[j] == '?' {
				return nil, fmt.Errorf("pattern cannot start with \"?\" at %d", j)
			}
			var pat strings.Builder
			for j < len(s) {
				if s[j] == '\\' {
					if j+1 >= len(s) {
						return nil, fmt.Errorf("trailing backslash at %d", j)
					}
					pat.WriteString(s[j : j+2])
					j += 2
					continue
				}
				if s[j] == ')' {
					count--
					if count == 0 {
						j++
						break
					}
				} else if s[j] == '(' {
					count++
					if j+1 >= len(s) || s[j+1] != '?' {
						return nil, fmt.Errorf("capturing groups are not allowed inside a pattern at %d; use (?:…)", j)
					}
				}
				pat.WriteByte(s[j])
				j++
			}
			if count != 0 {
				return nil, fmt.Errorf("unbalanced pattern at %d", i)
			}
			if pat.Len() == 0 {
				return nil, fmt.Errorf("missing pattern at %d", i)
			}
			toks = append(toks, lexToken{lexPattern, i, pat.String()})
			i = j
		default:
			_, n := utf8.DecodeRuneInString(s[i:])
			toks = append(toks, lexToken{lexChar, i, s[i : i+n]})
			i += n
		}
	}
	return append(toks, lexToken{lexEnd, i, ""}), nil
}

// ptToken is a literal (key false) or a key: a parameter or group.
type ptToken struct {
	lit      string
	key      bool
	name     string // "" for unnamed keys
	prefix   string
	suffix   string
	pattern  string // "" for a group without a capture: {…}
	modifier string // "", "?", "*" or "+"
}

const defaultPattern = `[^/]+?`

func parsePath(s string) ([]ptToken, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	var out []ptToken
	i := 0
	var path strings.Builder
	try := func(k lexKind) (string, bool) {
		if i < len(toks) && toks[i].kind == k {
			i++
			return toks[i-1].val, true
		}
		return "", false
	}
	must := func(k lexKind) error {
		if _, ok := try(k); ok {
			return nil
		}
		return fmt.Errorf("unexpected %s %q at %d, expected %s", lexNames[toks[i].kind], toks[i].val, toks[i].pos, lexNames[k])
	}
	text := func() string {
		var b strings.Builder
		for {
			if v, ok := try(lexChar); ok {
				b.WriteString(v)
			} else if v, ok := try(lexEscaped); ok {
				b.WriteString(v)
			} else {
				return b.String()
			}
		}
	}
	flush := func() {
		if path.Len() > 0 {
			out = append(out, ptToken{lit: path.String()})
			path.Reset()
		}
	}
	for i < len(toks) {
		char, hasChar := try(lexChar)
		name, hasName := try(lexName)
		pattern, hasPattern := try(lexPattern)
		if hasName || hasPattern {
			prefix := char
			if prefix != "/" && prefix != "." {
				path.WriteString(prefix)
				prefix = ""
			}
			flush()
			if !hasPattern {
				pattern = defaultPattern
			}
			mod, _ := try(lexModifier)
			out = append(out, ptToken{key: true, name: name, prefix: prefix, pattern: pattern, modifier: mod})
			continue
		}
		if hasChar {
			path.WriteString(char)
			continue
		}
		if v, ok := try(lexEscaped); ok {
			path.WriteString(v)
			continue
		}
		flush()
		if _, ok := try(lexOpen); ok {
			prefix := text()
			name, _ := try(lexName)
			pattern, _ := try(lexPattern)
			suffix := text()
			if err := must(lexClose); err != nil {
				return nil, err
			}
			if name != "" && pattern == "" {
				pattern = defaultPattern
			}
			mod, _ := try(lexModifier)
			out = append(out, ptToken{key: true, name: name, prefix: prefix, suffix: suffix, pattern: pattern, modifier: mod})
			continue
		}
		if err := must(lexEnd); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// compileVercelSource turns a vercel.json source into a matcher. Literal
// text is percent-decoded first: Match sees decoded paths.
func compileVercelSource(src string) (*matcher, error) {
	if !strings.HasPrefix(src, "/") {
		return nil, fmt.Errorf("must start with \"/\"")
	}
	toks, err := parsePath(src)
	if err != nil {
		return nil, err
	}
	m := &matcher{}
	var re strings.Builder
	re.WriteString("^")
	literalPrefix := true
	for _, t := range toks {
		if !t.key {
			lit := unescapeLoose(t.lit)
			if literalPrefix {
				m.prefix += lit
			}
			re.WriteString(regexp.QuoteMeta(lit))
			continue
		}
		literalPrefix = false
		prefix := regexp.QuoteMeta(unescapeLoose(t.prefix))
		suffix := regexp.QuoteMeta(unescapeLoose(t.suffix))
		if t.pattern == "" {
			re.WriteString("(?:" + prefix + suffix + ")" + t.modifier)
			continue
		}
		m.ngroups++
		if t.name != "" {
			if _, dup := m.groups[t.name]; dup {
				return nil, fmt.Errorf("parameter :%s appears twice", t.name)
			}
			m.setGroup(t.name, m.ngroups)
		}
		switch {
		case (prefix != "" || suffix != "") && (t.modifier == "+" || t.modifier == "*"):
			opt := ""
			if t.modifier == "*" {
				opt = "?"
			}
			re.WriteString("(?:" + prefix + "((?:" + t.pattern + ")(?:" + suffix + prefix + "(?:" + t.pattern + "))*)" + suffix + ")" + opt)
		case prefix != "" || suffix != "":
			re.WriteString("(?:" + prefix + "(" + t.pattern + ")" + suffix + ")" + t.modifier)
		default:
			re.WriteString("(" + t.pattern + ")" + t.modifier)
		}
	}
	if literalPrefix {
		m.kind, m.keyed = mExact, true
		return m, nil
	}
	// The common shapes, a literal and one last key, need no regexp:
	// "/prefix/(.*)", "/blog/:slug", "/docs/:path*" (paths are clean: no
	// empty segments but a trailing slash).
	m.kind = mRegexp
	if last := toks[len(toks)-1]; last.key && last.suffix == "" &&
		!slices.ContainsFunc(toks[:len(toks)-1], func(t ptToken) bool { return t.key }) {
		switch {
		case last.pattern == ".*" && last.modifier == "":
			m.kind = mPrefix
			m.prefix += unescapeLoose(last.prefix)
		case last.pattern == defaultPattern && last.prefix == "/":
			switch last.modifier {
			case "":
				m.kind = mSegment
			case "?":
				m.kind, m.slashOK = mSegment, true
			case "+":
				m.kind = mSegments
			case "*":
				m.kind, m.slashOK = mSegments, true
			}
			m.keyed = true
		}
	}
	re.WriteString("$")
	r, _, err := compileRegex(re.String())
	if err != nil {
		return nil, err
	}
	if r.NumSubexp() != m.ngroups {
		return nil, fmt.Errorf("capturing groups inside a parameter pattern are not supported; use (?:…)")
	}
	m.re = r
	return m, nil
}

// ---- Netlify: "/news/:year/*" ----
//
// A placeholder is a whole segment ":name"; a splat "*" is the whole last
// segment and also matches the path without it ("/news/*" matches "/news").
// Netlify normalizes trailing slashes before matching redirects, so a rule
// matches with or without one.

func compileNetlifyFrom(from string) (*matcher, []string, bool, error) {
	if !strings.HasPrefix(from, "/") {
		return nil, nil, false, fmt.Errorf("must start with \"/\"")
	}
	if len(from) > 1 {
		from = strings.TrimSuffix(from, "/")
	}
	m := &matcher{}
	if from == "/" {
		m.prefix, m.kind, m.keyed = "/", mExact, true
		return m, nil, false, nil
	}
	segs := strings.Split(from[1:], "/")
	var names []string
	splat := false
	var re strings.Builder
	re.WriteString("^")
	literalPrefix := true
	for i, seg := range segs {
		switch {
		case seg == "*":
			if i != len(segs)-1 {
				return nil, nil, false, fmt.Errorf("a splat \"*\" is only allowed as the last segment")
			}
			splat = true
			m.ngroups++
			m.setGroup("splat", m.ngroups)
			re.WriteString("(?:/(.*))?")
			literalPrefix = false
		case strings.Contains(seg, "*"):
			return nil, nil, false, fmt.Errorf("a splat \"*\" must be a whole segment, as in /path/*")
		case len(seg) > 1 && seg[0] == ':' && isName(seg[1:]):
			name := seg[1:]
			if _, dup := m.groups[name]; dup || name == "splat" {
				return nil, nil, false, fmt.Errorf("placeholder :%s appears twice", name)
			}
			m.ngroups++
			m.setGroup(name, m.ngroups)
			names = append(names, name)
			re.WriteString("/([^/]+)")
			literalPrefix = false
		default:
			lit := unescapeLoose(seg)
			if literalPrefix {
				m.prefix += "/" + lit
			}
			re.WriteString("/" + regexp.QuoteMeta(lit))
		}
	}
	m.keyed = true // every literal is a whole segment
	if literalPrefix {
		m.kind, m.slashOK = mExact, true
		return m, names, splat, nil
	}
	m.kind = mRegexp
	if splat && len(names) == 0 {
		m.kind = mSplat // "/news/*": "/news" or "/news/…"
	}
	if !splat {
		re.WriteString("/?")
	}
	re.WriteString("$")
	m.re = newLazyRE(re.String())
	return m, names, splat, nil
}

// compileNetlifyHeaderPath follows @netlify/headers-parser's getForRegExp:
// segments joined by "/", ":name" is one segment, a lone "*" matches
// anything from there on (the slash before it included), a "*" inside a
// segment matches any characters; an optional trailing slash; and, unlike
// redirects, case-insensitive.
func compileNetlifyHeaderPath(p string) (*matcher, error) {
	var parts, lits []string
	for _, seg := range strings.Split(p, "/") {
		seg = strings.TrimRight(seg, " \t")
		if seg == "" {
			continue
		}
		switch {
		case seg[0] == ':':
			parts = append(parts, "([^/]+)")
		case seg == "*":
			parts = append(parts, "?(.*)")
		case strings.Contains(seg, "*"):
			pieces := strings.Split(seg, "*")
			for i := range pieces {
				pieces[i] = regexp.QuoteMeta(unescapeLoose(pieces[i]))
			}
			parts = append(parts, strings.Join(pieces, "(.*)"))
		default:
			lit := unescapeLoose(seg)
			if len(lits) == len(parts) {
				lits = append(lits, lit)
			}
			parts = append(parts, regexp.QuoteMeta(lit))
		}
	}
	r, err := regexp.Compile("(?i)^/" + strings.Join(parts, "/") + "/?$")
	if err != nil {
		return nil, err
	}
	m := &matcher{re: r, kind: mRegexp}
	// Without regexp for the common shapes, when the literal is ASCII
	// (EqualFold on a byte prefix is then exact): "/a/b" is the path with
	// an optional slash, "/a/*" every path starting with "/a".
	prefix := "/" + strings.Join(lits, "/")
	ascii := true
	for i := 0; i < len(prefix); i++ {
		ascii = ascii && prefix[i] < utf8.RuneSelf
	}
	switch {
	case !ascii:
	case len(lits) == len(parts):
		m.prefix, m.fold, m.kind, m.slashOK, m.keyed = prefix, true, mExact, true, true
	case len(lits) == len(parts)-1 && parts[len(parts)-1] == "?(.*)":
		if len(lits) == 0 {
			m.prefix, m.kind = "", mPrefix
		} else {
			m.prefix, m.fold, m.kind = prefix, true, mPrefix
		}
	default:
		// Literal segments before the first pattern, for the index only.
		if len(lits) > 0 {
			m.prefix, m.fold, m.keyed = prefix, true, true
		}
	}
	return m, nil
}

func isName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) {
			return false
		}
	}
	return true
}

// unescapeLoose percent-decodes s, or returns it unchanged when it holds
// an invalid escape (Netlify's docs show "%" used literally too).
func unescapeLoose(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	u, err := url.PathUnescape(s)
	if err != nil {
		return s
	}
	return u
}
