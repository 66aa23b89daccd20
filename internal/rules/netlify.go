package rules

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// netlifyRedirect is one Netlify redirect rule as @netlify/redirect-parser
// normalizes it, from _redirects or netlify.toml.
type netlifyRedirect struct {
	file, rule string
	line       int
	from, to   string
	hasTo      bool
	status     int // 0: not given (301)
	force      bool
	query      [][2]string         // key, value as written (":name" captures)
	conditions map[string][]string // Country, Language, Role, Cookie, others as written
	signed     string
	headers    [][2]string // request headers of a proxy
}

// netlifyRedirects parses a _redirects file: one rule a line,
//
//	from [query] to [status[!]] [conditions]
//
// with "#" comments (whole lines, or from a field starting with "#").
// A line "from status" with from ending in "/*" and a 2xx status is a
// forward rule: to is from with "/*" replaced by "/:splat". A line
// Netlify cannot parse is skipped with a warning, as Netlify does.
func (b *builder) netlifyRedirects(data []byte) {
	if n := bytes.Count(data, []byte{'\n'}) + 1; cap(b.routes)-len(b.routes) < n {
		// One route a line at most: no regrowing for a big file.
		b.routes = slices.Grow(b.routes, n)
		b.keys = slices.Grow(b.keys, n)
	}
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		b.markNetlify(NetlifyRedirects)
		r := netlifyRedirect{file: NetlifyRedirects, line: n + 1, rule: line}
		warn := func(format string, args ...any) {
			b.warnf(NetlifyRedirects, n+1, line, format+"; the rule is skipped", args...)
		}
		fields := strings.Fields(line)
		if k := slices.IndexFunc(fields, func(f string) bool { return f[0] == '#' }); k >= 0 {
			fields = fields[:k]
		}
		r.from = fields[0]
		parts := fields[1:]
		if len(parts) == 0 {
			warn("missing destination path or URL after %q", r.from)
			continue
		}
		var rest []string
		if _, ok := jsParseInt(parts[0]); ok {
			rest = parts // a forward rule: to comes from from
		} else {
			k := slices.IndexFunc(parts, func(p string) bool { return p[0] == '/' || isExternal(p) })
			if k < 0 {
				warn("the destination must start with \"/\", \"http:\" or \"https:\"")
				continue
			}
			for _, q := range parts[:k] {
				key, value, ok := strings.Cut(q, "=")
				if !ok {
					b.warnf(NetlifyRedirects, n+1, line, "query parameter %q has no \"=value\": Netlify ignores it", q)
					continue
				}
				r.query = append(r.query, [2]string{key, value})
			}
			r.to, r.hasTo, rest = parts[k], true, parts[k+1:]
		}
		if len(rest) > 0 {
			st := rest[0]
			v, ok := jsParseInt(st)
			if !ok {
				warn("invalid status code %q", st)
				continue
			}
			r.status, r.force = v, strings.HasSuffix(st, "!")
			for _, c := range rest[1:] {
				key, value, ok := strings.Cut(c, "=")
				if !ok {
					b.warnf(NetlifyRedirects, n+1, line, "%q after the status is no condition (key=value): Netlify ignores it", c)
					continue
				}
				if key == "Sign" || key == "signed" {
					r.signed = value
					continue
				}
				if r.conditions == nil {
					r.conditions = map[string][]string{}
				}
				r.conditions[conditionName(key)] = splitList(value)
			}
		}
		b.netlifyRule(r)
	}
}

// jsParseInt reads a status the way JavaScript's Number.parseInt does:
// leading digits ("301!" is 301), false when there are none.
func jsParseInt(s string) (int, bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' && i < 9 {
		i++
	}
	if i == 0 {
		return 0, false
	}
	v, _ := strconv.Atoi(s[:i])
	return v, true
}

// conditionName writes Netlify's conditions with a capital as its parser
// does ("country" is "Country").
func conditionName(k string) string {
	switch k {
	case "role", "Role":
		return "Role"
	case "language", "Language":
		return "Language"
	case "country", "Country":
		return "Country"
	case "cookie", "Cookie":
		return "Cookie"
	}
	return k
}

var listRE = regexp.MustCompile(`\s*,\s*`)

func splitList(v string) []string {
	return listRE.Split(strings.TrimSpace(v), -1)
}

// netlifyRule compiles one redirect rule of _redirects or netlify.toml,
// or skips it with a warning saying why.
func (b *builder) netlifyRule(r netlifyRedirect) {
	label := ""
	if r.file == NetlifyTOML {
		label = r.rule + ": "
	}
	warn := func(format string, args ...any) {
		b.warnf(r.file, r.line, r.rule, label+format+"; the rule is skipped", args...)
	}
	if len(r.from) > MaxSourceLen || len(r.to) > MaxSourceLen {
		warn("from or to is longer than %d characters", MaxSourceLen)
		return
	}
	// Domain-level rules: "https://old.example.com/*".
	var scheme, host string
	path := r.from
	if isExternal(r.from) {
		u, err := url.Parse(r.from)
		if err != nil || u.Host == "" {
			warn("from %q is not a valid URL", r.from)
			return
		}
		if u.Port() != "" || strings.ContainsAny(u.Hostname(), ":*") {
			warn("from %q: a domain-level rule names a host without placeholders or port", r.from)
			return
		}
		scheme, host, path = u.Scheme, strings.ToLower(u.Hostname()), u.EscapedPath()
		if path == "" {
			path = "/"
		}
	}
	if strings.HasPrefix(path, "/.netlify") {
		warn("from must not start with /.netlify (Netlify refuses it)")
		return
	}
	if !strings.HasPrefix(path, "/") {
		warn("from %q must start with \"/\" or be an http(s) URL: it never matches a request", r.from)
		return
	}
	status := r.status
	if status == 0 {
		status = 301
	}
	to := r.to
	if !r.hasTo {
		if !strings.HasSuffix(r.from, "/*") || status < 200 || status > 299 {
			warn("missing destination (only a \"/path/*\" rule with a 2xx status may leave it out)")
			return
		}
		to = strings.TrimSuffix(r.from, "/*") + "/:splat"
	}
	if !strings.HasPrefix(to, "/") && !isExternal(to) {
		to = "/" + to // netlify.toml: a path relative to the site's root
	}
	m, _, _, err := compileNetlifyFrom(path)
	if err != nil {
		warn("from %q: %v", r.from, err)
		return
	}
	rt := route{m: m, status: status, force: r.force, passQuery: true, netlify: true}
	switch {
	case status == 301 || status == 302 || status == 303 || status == 307 || status == 308:
		rt.kind = kindRedirect
	case status == 200 && isExternal(to):
		rt.kind = kindProxy
	case status == 200 || status >= 400 && status <= 599:
		rt.kind = kindRewrite
		if isExternal(to) {
			warn("a rule with status %d cannot answer from a URL (%s); proxies use status 200", status, to)
			return
		}
	default:
		warn("status %d is not supported; use 200, 301, 302, 303, 307, 308 or a 4xx/5xx status", status)
		return
	}
	if r.signed != "" {
		warn("signed proxy rules (signed = %q) need Netlify's signature service, which Apogee does not have", r.signed)
		return
	}
	c := conds{scheme: scheme, host: host} // copied to the heap only if the rule has conditions
	var names map[string]ref               // query captures; most rules have none
	for _, q := range r.query {
		if name, ok := strings.CutPrefix(q[1], ":"); ok && isName(name) {
			c.ncaps++
			c.query = append(c.query, queryCond{key: q[0], cap: c.ncaps})
			if names == nil {
				names = map[string]ref{}
			}
			names[name] = ref{cap: c.ncaps}
			continue
		}
		c.query = append(c.query, queryCond{key: q[0], value: q[1]})
	}
	var keys []string
	for k := range r.conditions {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := r.conditions[k]
		switch k {
		case "Language":
			for _, l := range v {
				c.langs = append(c.langs, strings.ToLower(l))
			}
		case "Country":
			if !b.settings.Countries {
				warn("Country conditions need a country database: the server's admin can give one with --geoip-db")
				return
			}
			for _, l := range v {
				c.countries = append(c.countries, strings.ToUpper(l))
			}
		case "Cookie":
			c.cookies = append(c.cookies, v...)
		case "Role":
			warn("Role conditions need Netlify Identity's JSON Web Tokens, which Apogee does not issue")
			return
		default:
			warn("unknown condition %q (Netlify knows Country, Language, Role and Cookie)", k)
			return
		}
	}
	if c.query != nil {
		// Netlify's docs: "/store id=:id /blog/:id 301" sends
		// /store?id=my-blog-post to /blog/my-blog-post: a rule that
		// matches on the query does not pass it on.
		rt.dropQuery = true
	}
	if c.scheme != "" || c.query != nil || c.langs != nil || c.countries != nil || c.cookies != nil {
		cc := c
		rt.cond = &cc
	}
	if len(r.headers) > 0 {
		if rt.kind != kindProxy {
			b.warnf(r.file, r.line, r.rule, "%sheaders are sent only with proxy rules (status 200 to a URL): ignored", label)
		} else {
			for _, h := range r.headers {
				if err := checkHeader(h[0], h[1]); err != nil {
					warn("%v", err)
					return
				}
				rt.headers = append(rt.headers, newHeader(h[0], h[1]))
			}
		}
	}
	t, err := compileDest(to, destOpts{url: rt.kind != kindRewrite, ngroups: m.ngroups, names: func(name string) (ref, bool) {
		if r, ok := names[name]; ok {
			return r, true
		}
		g, ok := m.groups[name]
		return ref{group: g}, ok
	}})
	if err != nil {
		warn("%v", err)
		return
	}
	rt.dest = t
	// The rule's identity, for dedupe: a plain rule's without fmt, which
	// a 45,000-rule file would feel.
	key := r.from + "\x00" + to + "\x00" + strconv.Itoa(r.status) + "\x00" + strconv.FormatBool(r.force)
	if len(r.query) > 0 || len(keys) > 0 || len(r.headers) > 0 {
		key += fmt.Sprintf("\x00%q\x00%v\x00%q", r.query, keys, r.headers)
		for _, k := range keys {
			key += "\x00" + strings.Join(r.conditions[k], ",")
		}
	}
	b.addRoute(rt, key)
}

// netlifyHeaders parses a _headers file: a path line (starting with "/")
// followed by "Name: value" lines (indented by convention). A name given
// twice for one path is joined with ", ", as Netlify does (Set-Cookie
// lines stay separate cookies); a line that
// is neither is ignored, as Netlify does.
func (b *builder) netlifyHeaders(data []byte) {
	var cur *headerRule
	flush := func() {
		if cur != nil && cur.m != nil && len(cur.values) > 0 {
			b.headers = append(b.headers, *cur)
		}
		cur = nil
	}
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		b.markNetlify(NetlifyHeaders)
		warn := func(format string, args ...any) {
			b.warnf(NetlifyHeaders, n+1, line, format, args...)
		}
		if line[0] == '/' {
			flush()
			m, err := compileNetlifyHeaderPath(line)
			if err != nil {
				warn("path %q: %v; its headers are skipped", line, err)
				cur = &headerRule{} // swallow its header lines
				continue
			}
			cur = &headerRule{m: m}
			continue
		}
		if isExternal(line) {
			warn("%q: _headers paths start with \"/\"; Netlify reads this line as a header named %q, Apogee skips it", line, line[:strings.IndexByte(line, ':')])
			continue
		}
		k := strings.IndexByte(line, ':')
		if k < 0 {
			continue // neither a path nor a header: Netlify ignores it
		}
		name, value := strings.TrimSpace(line[:k]), strings.TrimSpace(line[k+1:])
		switch {
		case name == "":
			warn("missing header name; the line is skipped")
			continue
		case value == "":
			warn("header %q has no value; the line is skipped", name)
			continue
		case cur == nil:
			warn("header %q comes before any path; the line is skipped", name)
			continue
		case cur.m == nil:
			continue // under a path that was skipped
		}
		if err := checkHeader(name, value); err != nil {
			warn("%v; the line is skipped", err)
			continue
		}
		if msg := cookieDomainNote(name, value); msg != "" {
			warn("%s", msg)
		}
		addValue(cur, name, value)
	}
	flush()
}

// addValue adds a header line to h. Set-Cookie lines stay separate
// values (joined here by "\n", which no header value holds, and split by
// Compile): a comma-joined Set-Cookie would be one cookie to a browser.
func addValue(h *headerRule, name, value string) {
	for i := range h.values {
		if strings.EqualFold(h.values[i][0], name) {
			sep := ", "
			if strings.EqualFold(name, "Set-Cookie") {
				sep = "\n"
			}
			h.values[i][1] += sep + value
			return
		}
	}
	h.values = append(h.values, [2]string{name, value})
}

// netlifyTOML reads the [[redirects]] and [[headers]] tables of
// netlify.toml; the rest of the file (build settings, plugins, …) is not
// routing and is ignored here. A file that is not TOML fails, as it
// fails a Netlify build; a rule Netlify would skip is skipped with a
// warning.
func (b *builder) netlifyTOML(data []byte) {
	const file = NetlifyTOML
	var doc map[string]any
	if _, err := toml.Decode(string(data), &doc); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			b.errf("%s line %d: %s", file, pe.Position.Line, pe.Message)
		} else {
			b.errf("%s: %v", file, err)
		}
		return
	}
	lines := tableLines(data)
	for i, r := range b.tomlTables(doc, "redirects") {
		b.tomlRedirect(r, i+1, lines["redirects"])
	}
	for i, h := range b.tomlTables(doc, "headers") {
		b.tomlHeader(h, i+1, lines["headers"])
	}
}

// tableLines finds the line of each [[name]] header of a TOML file, by
// table name, in order: TOML decoders keep no positions.
func tableLines(data []byte) map[string][]int {
	out := map[string][]int{}
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[[") {
			if k := strings.Index(line, "]]"); k > 2 {
				name := strings.TrimSpace(line[2:k])
				out[name] = append(out[name], n+1)
			}
		}
	}
	return out
}

func (b *builder) tomlTables(doc map[string]any, key string) []map[string]any {
	v, ok := doc[key]
	if !ok {
		return nil
	}
	b.markNetlify(NetlifyTOML)
	tables, ok := v.([]map[string]any)
	if !ok {
		b.errf("%s: %q must be an array of tables, written [[%s]]", NetlifyTOML, key, key)
		return nil
	}
	return tables
}

// first returns the value of the first of keys present in t (a key and
// its legacy names).
func first(t map[string]any, keys ...string) (any, bool) {
	for _, k := range keys {
		if v, ok := t[k]; ok {
			return v, true
		}
	}
	return nil, false
}

var tomlRedirectKeys = []string{"from", "origin", "to", "destination", "status", "force", "query", "params", "parameters",
	"conditions", "signed", "signing", "sign", "headers"}

func (b *builder) tomlRedirect(t map[string]any, n int, lines []int) {
	line := 0
	if n <= len(lines) {
		line = lines[n-1]
	}
	rule := fmt.Sprintf("[[redirects]] #%d", n)
	warn := func(format string, args ...any) {
		b.warnf(NetlifyTOML, line, rule, rule+": "+format+"; the rule is skipped", args...)
	}
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch {
		case k == "rate_limit":
			b.warnf(NetlifyTOML, line, rule, "%s: rate_limit is not supported: the rule applies without a rate limit", rule)
		case !slices.Contains(tomlRedirectKeys, k):
			b.warnf(NetlifyTOML, line, rule, rule+": unknown key %q is ignored", k)
		}
	}
	r := netlifyRedirect{file: NetlifyTOML, line: line, rule: rule}
	v, ok := first(t, "from", "origin")
	if r.from, _ = v.(string); !ok || r.from == "" {
		warn("missing \"from\" (a path or URL)")
		return
	}
	if v, ok := first(t, "to", "destination"); ok {
		if r.to, ok = v.(string); !ok || r.to == "" {
			warn("\"to\" must be a non-empty string")
			return
		}
		r.hasTo = true
	}
	if v, ok := t["status"]; ok {
		switch v := v.(type) {
		case int64:
			if v < 0 || v > 999 {
				warn("invalid status code %d", v)
				return
			}
			r.status = int(v)
		case string: // "200": Netlify's parser reads it with parseInt
			s, ok := jsParseInt(strings.TrimSpace(v))
			if !ok {
				warn("invalid status code %q", v)
				return
			}
			r.status = s
		default:
			warn("invalid status code %v", v)
			return
		}
	}
	if v, ok := t["force"]; ok {
		if r.force, ok = v.(bool); !ok {
			warn("\"force\" must be true or false")
			return
		}
	}
	if v, ok := first(t, "query", "params", "parameters"); ok {
		q, ok := v.(map[string]any)
		if !ok {
			warn("\"query\" must be a table of parameter names and values")
			return
		}
		for _, k := range sortedKeys(q) {
			s, ok := q[k].(string)
			if !ok {
				warn("query parameter %q must be a string", k)
				return
			}
			r.query = append(r.query, [2]string{k, s})
		}
	}
	if v, ok := t["conditions"]; ok {
		c, ok := v.(map[string]any)
		if !ok {
			warn("\"conditions\" must be a table")
			return
		}
		for _, k := range sortedKeys(c) {
			var list []string
			switch v := c[k].(type) {
			case string:
				list = splitList(v)
			case []any:
				for _, e := range v {
					s, ok := e.(string)
					if !ok {
						warn("condition %q must be a list of strings", k)
						return
					}
					list = append(list, s)
				}
			default:
				warn("condition %q must be a string or a list of strings", k)
				return
			}
			if r.conditions == nil {
				r.conditions = map[string][]string{}
			}
			r.conditions[conditionName(k)] = list
		}
	}
	if v, ok := first(t, "signed", "signing", "sign"); ok {
		r.signed, _ = v.(string)
		if r.signed == "" {
			r.signed = fmt.Sprint(v)
		}
	}
	if v, ok := t["headers"]; ok {
		h, ok := v.(map[string]any)
		if !ok {
			warn("\"headers\" must be a table of header names and values")
			return
		}
		for _, k := range sortedKeys(h) {
			s, ok := h[k].(string)
			if !ok {
				warn("header %q must be a string", k)
				return
			}
			r.headers = append(r.headers, [2]string{k, s})
		}
	}
	b.netlifyRule(r)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

var commaRE = regexp.MustCompile(`\s*,\s*`)

func (b *builder) tomlHeader(t map[string]any, n int, lines []int) {
	line := 0
	if n <= len(lines) {
		line = lines[n-1]
	}
	rule := fmt.Sprintf("[[headers]] #%d", n)
	warn := func(format string, args ...any) {
		b.warnf(NetlifyTOML, line, rule, rule+": "+format, args...)
	}
	for _, k := range sortedKeys(t) {
		if k != "for" && k != "values" {
			warn("unknown key %q is ignored", k)
		}
	}
	p, ok := t["for"].(string)
	if !ok || strings.TrimSpace(p) == "" {
		warn("\"for\" must be a path; the rule is skipped")
		return
	}
	p = strings.TrimSpace(p)
	m, err := compileNetlifyHeaderPath(p)
	if err != nil {
		warn("for %q: %v; the rule is skipped", p, err)
		return
	}
	raw, has := t["values"]
	if !has {
		return // Netlify ignores a rule without values
	}
	values, ok := raw.(map[string]any)
	if !ok {
		warn("\"values\" must be a table of header names and values; the rule is skipped")
		return
	}
	h := headerRule{m: m}
	for _, name := range sortedKeys(values) { // TOML tables have no order; make it stable
		var value string
		switch v := values[name].(type) {
		case string:
			// Multi-line values: newlines around commas separate values.
			value = commaRE.ReplaceAllString(strings.TrimSpace(v), ", ")
		case []any:
			parts := make([]string, 0, len(v))
			for _, e := range v {
				s, ok := e.(string)
				if !ok {
					warn("values of header %q must be strings; the rule is skipped", name)
					return
				}
				parts = append(parts, strings.TrimSpace(s))
			}
			value = strings.Join(parts, ", ")
		default:
			warn("value of header %q must be a string or an array of strings; the rule is skipped", name)
			return
		}
		name = strings.TrimSpace(name)
		if value == "" {
			warn("header %q has no value; it is skipped", name)
			continue
		}
		if err := checkHeader(name, value); err != nil {
			warn("%v; it is skipped", err)
			continue
		}
		if msg := cookieDomainNote(name, value); msg != "" {
			warn("%s", msg)
		}
		addValue(&h, name, value)
	}
	if len(h.values) > 0 {
		b.headers = append(b.headers, h)
	}
}
