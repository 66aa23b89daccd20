package rules

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// netlifyRedirects parses a _redirects file: one rule a line,
//
//	from [query] to [status[!]] [conditions]
//
// with "#" comments (whole lines, or from a field starting with "#").
// A line "from status" with from ending in "/*" and a 2xx status is a
// forward rule: to is from with "/*" replaced by "/:splat".
func (b *builder) netlifyRedirects(data []byte) {
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		where := fmt.Sprintf("%s line %d", NetlifyRedirects, n+1)
		fields := strings.Fields(line)
		if k := slices.IndexFunc(fields, func(f string) bool { return f[0] == '#' }); k >= 0 {
			fields = fields[:k]
		}
		from, parts := fields[0], fields[1:]
		if len(parts) == 0 {
			b.errf("%s: missing destination after %q", where, from)
			continue
		}
		var to string
		var rest []string
		if statusToken(parts[0]) {
			rest = parts // forward rule, to comes from from
		} else {
			k := slices.IndexFunc(parts, func(p string) bool { return p[0] == '/' || isExternal(p) })
			if k < 0 {
				b.errf("%s: destination %q must start with \"/\", \"http://\" or \"https://\"", where, parts[0])
				continue
			}
			if k > 0 {
				b.errf("%s: query parameter matching (%s) is not supported yet", where, strings.Join(parts[:k], " "))
				continue
			}
			to, rest = parts[0], parts[1:]
		}
		status, force := 301, false
		if len(rest) > 0 {
			st := rest[0]
			if strings.Contains(st, "=") {
				b.errf("%s: condition %q is not supported yet (country, language, role, cookie and signed rules)", where, st)
				continue
			}
			force = strings.HasSuffix(st, "!")
			v, err := strconv.Atoi(strings.TrimSuffix(st, "!"))
			if err != nil || v < 0 {
				b.errf("%s: status %q is not a number", where, st)
				continue
			}
			status = v
			bad := false
			for _, c := range rest[1:] {
				if strings.Contains(c, "=") {
					b.errf("%s: condition %q is not supported yet (country, language, role, cookie and signed rules)", where, c)
				} else {
					b.errf("%s: unexpected %q after the status", where, c)
				}
				bad = true
			}
			if bad {
				continue
			}
		}
		b.netlifyRule(where, NetlifyRedirects, from, to, status, force)
	}
}

var statusRE = regexp.MustCompile(`^[0-9]+!?$`)

func statusToken(s string) bool { return statusRE.MatchString(s) }

// netlifyRule compiles one redirect rule of _redirects or netlify.toml.
func (b *builder) netlifyRule(where, file, from, to string, status int, force bool) {
	b.markNetlify(file)
	if isExternal(from) {
		b.errf("%s: domain-level rules (from %q) are not supported yet; use a path", where, from)
		return
	}
	if len(from) > MaxSourceLen || len(to) > MaxSourceLen {
		b.errf("%s: from or to is longer than %d characters", where, MaxSourceLen)
		return
	}
	m, _, _, err := compileNetlifyFrom(from)
	if err != nil {
		b.errf("%s: from %q: %v", where, from, err)
		return
	}
	if to == "" {
		if !strings.HasSuffix(from, "/*") || status < 200 || status > 299 {
			b.errf("%s: missing destination (only a \"/path/*\" rule with a 2xx status may leave it out)", where)
			return
		}
		to = strings.TrimSuffix(from, "/*") + "/:splat"
	}
	rt := route{m: m, status: status, force: force, passQuery: true}
	switch {
	case status == 301 || status == 302 || status == 303 || status == 307 || status == 308:
		rt.kind = kindRedirect
	case status == 200 || status >= 400 && status <= 599:
		rt.kind = kindRewrite
		if isExternal(to) {
			b.errf("%s: rewriting to an external URL (%s, status %d) is a proxy, which is not supported yet; use a redirect status such as 301", where, to, status)
			return
		}
	default:
		b.errf("%s: status %d is not supported; use 200, 301, 302, 303, 307, 308 or a 4xx/5xx status", where, status)
		return
	}
	t, err := compileDest(to, m, false, false, rt.kind == kindRedirect)
	if err != nil {
		b.errf("%s: %v", where, err)
		return
	}
	rt.dest = t
	b.routes = append(b.routes, rt)
}

// netlifyHeaders parses a _headers file: a path line (starting with "/")
// followed by "Name: value" lines (indented by convention). A name given
// twice for one path is joined with ", ", as Netlify does.
func (b *builder) netlifyHeaders(data []byte) {
	var cur *headerRule
	flush := func() {
		if cur != nil && len(cur.values) > 0 {
			b.headers = append(b.headers, *cur)
		}
		cur = nil
	}
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		where := fmt.Sprintf("%s line %d", NetlifyHeaders, n+1)
		b.markNetlify(NetlifyHeaders)
		if line[0] == '/' {
			flush()
			m, err := compileNetlifyHeaderPath(line)
			if err != nil {
				b.errf("%s: path %q: %v", where, line, err)
				cur = &headerRule{m: &matcher{}} // keep parsing its lines
				continue
			}
			cur = &headerRule{m: m}
			continue
		}
		if isExternal(line) {
			b.errf("%s: %q: paths must start with \"/\"; domain-level headers are not supported", where, line)
			flush()
			cur = &headerRule{m: &matcher{}} // swallow its header lines
			continue
		}
		k := strings.IndexByte(line, ':')
		if k < 0 {
			b.errf("%s: %q is neither a path (starting with \"/\") nor a \"Name: value\" header", where, line)
			continue
		}
		name, value := strings.TrimSpace(line[:k]), strings.TrimSpace(line[k+1:])
		if value == "" && name != "" {
			b.errf("%s: header %q has no value", where, name)
			continue
		}
		if err := checkHeader(name, value); err != nil {
			b.errf("%s: %v", where, err)
			continue
		}
		if cur == nil {
			b.errf("%s: header %q comes before any path", where, name)
			continue
		}
		addValue(cur, name, value)
	}
	flush()
}

func addValue(h *headerRule, name, value string) {
	for i := range h.values {
		if strings.EqualFold(h.values[i][0], name) {
			h.values[i][1] += ", " + value
			return
		}
	}
	h.values = append(h.values, [2]string{name, value})
}

// netlifyTOML reads the [[redirects]] and [[headers]] tables of
// netlify.toml; the rest of the file (build settings, plugins, …) is not
// routing and is ignored here.
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
	for i, r := range b.tomlTables(doc, "redirects") {
		b.tomlRedirect(r, fmt.Sprintf("%s [[redirects]] #%d", file, i+1))
	}
	for i, h := range b.tomlTables(doc, "headers") {
		b.tomlHeader(h, fmt.Sprintf("%s [[headers]] #%d", file, i+1))
	}
}

func (b *builder) tomlTables(doc map[string]any, key string) []map[string]any {
	v, ok := doc[key]
	if !ok {
		return nil
	}
	tables, ok := v.([]map[string]any)
	if !ok {
		b.errf("%s: %q must be an array of tables, written [[%s]]", NetlifyTOML, key, key)
		return nil
	}
	return tables
}

func tomlKnown(b *builder, where string, t map[string]any, allowed ...string) bool {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	ok := true
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			b.errf("%s: unknown key %q (allowed: %s)", where, k, strings.Join(allowed, ", "))
			ok = false
		}
	}
	return ok
}

func (b *builder) tomlRedirect(t map[string]any, where string) {
	b.markNetlify(NetlifyTOML)
	if !tomlKnown(b, where, t, "from", "to", "status", "force", "query", "conditions", "headers", "signed") {
		return
	}
	for _, k := range []string{"query", "conditions", "headers", "signed"} {
		if v, ok := t[k]; ok && !emptyTOML(v) {
			b.errf("%s: %q is not supported yet", where, k)
			return
		}
	}
	from, ok := t["from"].(string)
	if !ok || from == "" {
		b.errf("%s: \"from\" must be a non-empty string", where)
		return
	}
	to := ""
	if v, ok := t["to"]; ok {
		if to, ok = v.(string); !ok || to == "" {
			b.errf("%s: \"to\" must be a non-empty string", where)
			return
		}
	}
	status := 301
	if v, ok := t["status"]; ok {
		n, ok := v.(int64)
		if !ok {
			if str, isStr := v.(string); isStr {
				b.errf("%s: status %q is not a number", where, str)
			} else {
				b.errf("%s: status must be a number, not %v", where, v)
			}
			return
		}
		if n < 0 || n > 999 {
			b.errf("%s: status %d is not supported; use 200, 301, 302, 303, 307, 308 or a 4xx/5xx status", where, n)
			return
		}
		status = int(n)
	}
	force := false
	if v, ok := t["force"]; ok {
		if force, ok = v.(bool); !ok {
			b.errf("%s: \"force\" must be true or false", where)
			return
		}
	}
	b.netlifyRule(where, NetlifyTOML, from, to, status, force)
}

func emptyTOML(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		return len(v) == 0
	case []any:
		return len(v) == 0
	case bool:
		return !v
	case string:
		return v == ""
	}
	return false
}

var commaRE = regexp.MustCompile(`\s*,\s*`)

func (b *builder) tomlHeader(t map[string]any, where string) {
	b.markNetlify(NetlifyTOML)
	if !tomlKnown(b, where, t, "for", "values") {
		return
	}
	p, ok := t["for"].(string)
	if !ok || strings.TrimSpace(p) == "" {
		b.errf("%s: \"for\" must be a path string", where)
		return
	}
	p = strings.TrimSpace(p)
	m, err := compileNetlifyHeaderPath(p)
	if err != nil {
		b.errf("%s: for %q: %v", where, p, err)
		return
	}
	values, ok := t["values"].(map[string]any)
	if !ok {
		if _, has := t["values"]; has {
			b.errf("%s: \"values\" must be a table of header names and values", where)
		}
		return // Netlify ignores a rule without values
	}
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	slices.Sort(names) // TOML tables have no order; make it stable
	h := headerRule{m: m}
	bad := false
	for _, name := range names {
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
					b.errf("%s: values of header %q must be strings", where, name)
					bad = true
					break
				}
				parts = append(parts, strings.TrimSpace(s))
			}
			value = strings.Join(parts, ", ")
		default:
			b.errf("%s: value of header %q must be a string or an array of strings", where, name)
			bad = true
			continue
		}
		name = strings.TrimSpace(name)
		if value == "" {
			b.errf("%s: header %q has no value", where, name)
			bad = true
			continue
		}
		if err := checkHeader(name, value); err != nil {
			b.errf("%s: %v", where, err)
			bad = true
			continue
		}
		addValue(&h, name, value)
	}
	if !bad && len(h.values) > 0 {
		b.headers = append(b.headers, h)
	}
}
