package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/apogee-dev/apogee/internal/setcookie"
)

// MaxSourceLen is the longest source or destination accepted, as on Vercel.
const MaxSourceLen = 4096

// maxVercelItems is Vercel's limit on each of redirects, rewrites and
// headers.
const maxVercelItems = 2048

// vercel parses vercel.json: redirects, rewrites, headers, cleanUrls and
// trailingSlash. Other keys (buildCommand, functions, …) are not routing
// and are ignored here. What Vercel's schema refuses fails the
// deployment, as Vercel refuses it; a valid rule Apogee cannot honour is
// skipped with a warning.
func (b *builder) vercel(data []byte) {
	const file = VercelJSON
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		b.errf("%s: %s", file, jsonError(data, err))
		return
	}
	if doc == nil {
		b.errf("%s: must be a JSON object", file)
		return
	}
	lines := jsonLines(data)
	for _, k := range []string{"redirects", "rewrites", "headers", "cleanUrls", "trailingSlash"} {
		if _, ok := doc[k]; ok {
			b.vercelUsed = true
		}
	}
	if _, ok := doc["routes"]; ok {
		if b.vercelUsed {
			b.errf("%s: \"routes\" cannot be used together with \"redirects\", \"rewrites\", \"headers\", \"cleanUrls\" or \"trailingSlash\" (Vercel refuses it too)", file)
		} else {
			b.vercelUsed = true
			b.warnf(file, lines.key["routes"], "routes", "routes: \"routes\" (Vercel's legacy routing) is not supported: its rules are skipped; write them as \"redirects\", \"rewrites\" and \"headers\"")
		}
	}
	for _, k := range []string{"cleanUrls", "trailingSlash"} {
		raw, ok := doc[k]
		if !ok {
			continue
		}
		var v bool
		if err := json.Unmarshal(raw, &v); err != nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			b.errf("%s: %q must be true or false, not %s", file, k, clip(raw))
			continue
		}
		if k == "cleanUrls" {
			b.cleanURLs = &v
		} else {
			b.trailingSlash = &v
		}
	}
	for _, o := range b.vercelArray(doc, "redirects", lines) {
		b.vercelRedirect(o)
	}
	for _, o := range b.vercelArray(doc, "rewrites", lines) {
		b.vercelRewrite(o)
	}
	for _, o := range b.vercelArray(doc, "headers", lines) {
		b.vercelHeader(o)
	}
}

// jsonPos holds the lines of vercel.json's top-level keys and of the
// items of its rule arrays, for messages.
type jsonPos struct {
	key   map[string]int
	items map[string][]int
}

// jsonLines finds where the top-level keys and the items of the top-level
// arrays of a JSON object start. It stops at anything irregular: lines
// only make messages clearer.
func jsonLines(data []byte) jsonPos {
	pos := jsonPos{key: map[string]int{}, items: map[string][]int{}}
	lineAt := func(off int64) int {
		i := int(off)
		for i < len(data) && strings.IndexByte(" \t\r\n,:", data[i]) >= 0 {
			i++
		}
		return 1 + bytes.Count(data[:min(i, len(data))], []byte("\n"))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return pos
	}
	for dec.More() {
		off := dec.InputOffset()
		t, err := dec.Token()
		key, ok := t.(string)
		if err != nil || !ok {
			return pos
		}
		pos.key[key] = lineAt(off)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return pos
		}
		if len(raw) == 0 || raw[0] != '[' {
			continue
		}
		base := dec.InputOffset() - int64(len(raw))
		ad := json.NewDecoder(bytes.NewReader(raw))
		if _, err := ad.Token(); err != nil {
			continue
		}
		for ad.More() {
			var item json.RawMessage
			start := ad.InputOffset()
			if err := ad.Decode(&item); err != nil {
				break
			}
			pos.items[key] = append(pos.items[key], lineAt(base+start))
		}
	}
	return pos
}

// jsonObj is one rule object of vercel.json, with typed getters that
// report faults with the rule's name.
type jsonObj struct {
	b     *builder
	where string // "vercel.json redirects[3]"
	rule  string // "redirects[3]"
	line  int
	m     map[string]json.RawMessage
	bad   bool
}

func (b *builder) vercelArray(doc map[string]json.RawMessage, key string, lines jsonPos) []*jsonObj {
	raw, ok := doc[key]
	if !ok {
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil || items == nil {
		b.errf("%s: %q must be an array, not %s", VercelJSON, key, clip(raw))
		return nil
	}
	if len(items) > maxVercelItems {
		b.errf("%s: %q has %d rules; Vercel allows at most %d", VercelJSON, key, len(items), maxVercelItems)
		return nil
	}
	out := make([]*jsonObj, 0, len(items))
	for i, it := range items {
		rule := fmt.Sprintf("%s[%d]", key, i)
		o := &jsonObj{b: b, where: VercelJSON + " " + rule, rule: rule}
		if l := lines.items[key]; i < len(l) {
			o.line = l[i]
		}
		if err := json.Unmarshal(it, &o.m); err != nil || o.m == nil {
			b.errf("%s: must be an object, not %s", o.where, clip(it))
			o.bad = true
		}
		out = append(out, o)
	}
	return out
}

func (o *jsonObj) fail(format string, args ...any) {
	o.bad = true
	o.b.errf("%s: %s", o.where, fmt.Sprintf(format, args...))
}

// warn records that the rule is skipped, and why.
func (o *jsonObj) warn(format string, args ...any) {
	o.b.warnf(VercelJSON, o.line, o.rule, o.rule+": "+format, args...)
}

// known fails on any key outside allowed, as Vercel's schema does.
func (o *jsonObj) known(allowed ...string) {
	keys := make([]string, 0, len(o.m))
	for k := range o.m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			o.fail("unknown property %q (allowed: %s)", k, strings.Join(allowed, ", "))
		}
	}
}

func (o *jsonObj) str(key string, maxLen int, empty bool) (string, bool) {
	raw, ok := o.m[key]
	if !ok {
		o.fail("missing %q", key)
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		o.fail("%q must be a string, not %s", key, clip(raw))
		return "", false
	}
	if s == "" && !empty {
		o.fail("%q is empty", key)
		return "", false
	}
	if len(s) > maxLen {
		o.fail("%q is longer than %d characters", key, maxLen)
		return "", false
	}
	return s, true
}

func (o *jsonObj) boolean(key string) *bool {
	raw, ok := o.m[key]
	if !ok {
		return nil
	}
	var v bool
	if err := json.Unmarshal(raw, &v); err != nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		o.fail("%q must be true or false, not %s", key, clip(raw))
		return nil
	}
	return &v
}

func (o *jsonObj) integer(key string) *int {
	raw, ok := o.m[key]
	if !ok {
		return nil
	}
	var v int
	if err := json.Unmarshal(raw, &v); err != nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		o.fail("%q must be an integer, not %s", key, clip(raw))
		return nil
	}
	if v < 100 || v > 999 {
		o.fail("%q must be between 100 and 999, not %d", key, v)
		return nil
	}
	return &v
}

// source compiles the rule's source. A source Vercel accepts but that
// can never match a path (it does not start with "/") is kept with a
// warning; never is then set.
func (o *jsonObj) source() (m *matcher, never bool) {
	src, ok := o.str("source", MaxSourceLen, false)
	if !ok {
		return nil, false
	}
	if !strings.HasPrefix(src, "/") {
		if isExternal(src) {
			o.warn("a source with a domain (%s) is not supported: the rule is skipped; use \"has\": [{\"type\": \"host\", \"value\": …}]", src)
			return nil, true
		}
		o.warn("source %q does not start with \"/\", so it never matches a request path (Vercel compares it with paths too)", src)
		return nil, true
	}
	m, err := compileVercelSource(src)
	if err != nil {
		o.fail("source %q: %v", src, err)
		return nil, false
	}
	return m, false
}

// conds compiles the rule's has and missing items and returns how the
// destination's names resolve: has captures first, then the source's
// parameters ("has" matches override "source" matches on Vercel).
func (o *jsonObj) conds(m *matcher) (*conds, func(string) (ref, bool)) {
	c := &conds{}
	names := map[string]ref{}
	for _, key := range []string{"has", "missing"} {
		raw, ok := o.m[key]
		if !ok {
			continue
		}
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil || items == nil {
			o.fail("%q must be an array, not %s", key, clip(raw))
			continue
		}
		if len(items) > 16 {
			o.fail("%q has %d items; Vercel allows at most 16", key, len(items))
			continue
		}
		for i, it := range items {
			h, ok := o.hasItem(fmt.Sprintf("%s[%d]", key, i), it, c, names, key == "has")
			if !ok {
				continue
			}
			if key == "has" {
				c.has = append(c.has, h)
			} else {
				c.missing = append(c.missing, h)
			}
		}
	}
	lookup := func(name string) (ref, bool) {
		if r, ok := names[name]; ok {
			return r, true
		}
		if m == nil {
			return ref{}, false
		}
		g, ok := m.groups[name]
		return ref{group: g}, ok
	}
	if c.has == nil && c.missing == nil {
		return nil, lookup
	}
	return c, lookup
}

// hasItem compiles one has or missing item; capture (has only) gives it
// captures, registered in names.
func (o *jsonObj) hasItem(where string, raw json.RawMessage, c *conds, names map[string]ref, capture bool) (hasCond, bool) {
	var it map[string]json.RawMessage
	if err := json.Unmarshal(raw, &it); err != nil || it == nil {
		o.fail("%s must be an object, not %s", where, clip(raw))
		return hasCond{}, false
	}
	io := &jsonObj{b: o.b, where: o.where + "." + where, m: it}
	var h hasCond
	typ, ok := io.str("type", 32, false)
	if !ok {
		o.bad = true
		return h, false
	}
	h.typ = typ
	switch typ {
	case "host":
		io.known("type", "value")
		if _, ok := it["value"]; !ok {
			io.fail("a host item needs a \"value\"")
		}
	case "header", "cookie", "query":
		io.known("type", "key", "value")
		h.key, _ = io.str("key", MaxSourceLen, false)
		if typ == "header" {
			h.key = strings.ToLower(h.key)
		}
	default:
		io.fail("type %q must be header, cookie, query or host", typ)
	}
	if io.bad {
		o.bad = true
		return h, false
	}
	newCap := func(name string) int {
		c.ncaps++
		names[name] = ref{cap: c.ncaps}
		if safe := letters(name); safe != name && safe != "" {
			names[safe] = ref{cap: c.ncaps}
		}
		return c.ncaps
	}
	rawValue, hasValue := it["value"]
	switch {
	case !hasValue:
		if capture {
			h.keyCap = newCap(h.key)
		}
	case len(bytes.TrimSpace(rawValue)) > 0 && bytes.TrimSpace(rawValue)[0] == '{':
		op, err := parseValueOp(rawValue)
		if err != nil {
			io.fail("value: %v", err)
			o.bad = true
			return h, false
		}
		h.op = op
	default:
		v, ok := io.str("value", MaxSourceLen, true)
		if !ok {
			o.bad = true
			return h, false
		}
		re, _, err := compileRegex("^" + v + "$")
		if err != nil {
			io.fail("value %q: %v", v, err)
			o.bad = true
			return h, false
		}
		h.re = re
		if capture {
			named := false
			for g, name := range re.SubexpNames() {
				if name == "" {
					continue
				}
				if h.groupCaps == nil {
					h.groupCaps = make([]int, re.NumSubexp()+1)
				}
				h.groupCaps[g] = newCap(name)
				named = true
			}
			if typ == "host" && !named {
				h.hostCap = newCap("host")
			}
		}
	}
	if typ == "header" && h.key == "x-vercel-ip-country" && !o.b.settings.Countries {
		o.warn("%s asks for the header x-vercel-ip-country, which Apogee sets only with a country database (--geoip-db, set by the server's admin): without one it is never there", where)
	}
	return h, true
}

// parseValueOp reads a condition operation object.
func parseValueOp(raw json.RawMessage) (*valueOp, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || len(m) == 0 {
		return nil, errors.New("must be a string or a non-empty object of operations")
	}
	op := &valueOp{}
	str := func(k string, raw json.RawMessage) (*string, error) {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			var n float64
			if k == "eq" && json.Unmarshal(raw, &n) == nil {
				s = strconv.FormatFloat(n, 'f', -1, 64)
				return &s, nil
			}
			return nil, fmt.Errorf("%q must be a string", k)
		}
		return &s, nil
	}
	num := func(k string, raw json.RawMessage) (*float64, error) {
		var n float64
		if err := json.Unmarshal(raw, &n); err != nil {
			return nil, fmt.Errorf("%q must be a number", k)
		}
		return &n, nil
	}
	list := func(k string, raw json.RawMessage) ([]string, error) {
		var l []string
		if err := json.Unmarshal(raw, &l); err != nil || l == nil {
			return nil, fmt.Errorf("%q must be an array of strings", k)
		}
		return l, nil
	}
	var err error
	for _, k := range sortedKeysRaw(m) {
		raw := m[k]
		switch k {
		case "eq":
			op.eq, err = str(k, raw)
		case "neq":
			op.neq, err = str(k, raw)
		case "pre":
			op.pre, err = str(k, raw)
		case "suf":
			op.suf, err = str(k, raw)
		case "re":
			var s *string
			if s, err = str(k, raw); err == nil {
				op.re, _, err = compileRegex(*s)
			}
		case "inc":
			op.inc, err = list(k, raw)
		case "ninc":
			op.ninc, err = list(k, raw)
		case "gt":
			op.gt, err = num(k, raw)
		case "gte":
			op.gte, err = num(k, raw)
		case "lt":
			op.lt, err = num(k, raw)
		case "lte":
			op.lte, err = num(k, raw)
		default:
			err = fmt.Errorf("unknown operation %q (eq, neq, inc, ninc, pre, suf, re, gt, gte, lt, lte)", k)
		}
		if err != nil {
			return nil, err
		}
	}
	return op, nil
}

func sortedKeysRaw(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// letters keeps the ASCII letters of s: Vercel's safe name of a has key.
func letters(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// destination reads the rule's destination: a string, or an object
// (a Vercel service), which is skipped with a warning (skip true).
func (o *jsonObj) destination() (dest string, skip bool) {
	if raw, ok := o.m["destination"]; ok && len(bytes.TrimSpace(raw)) > 0 && bytes.TrimSpace(raw)[0] == '{' {
		o.warn("a service destination (%s) is not supported: the rule is skipped", clip(raw))
		return "", true
	}
	d, _ := o.str("destination", MaxSourceLen, false)
	return d, false
}

func (b *builder) vercelRedirect(o *jsonObj) {
	if o.bad {
		return
	}
	o.known("source", "destination", "permanent", "statusCode", "has", "missing", "env")
	m, never := o.source()
	dest, skipDest := o.destination()
	permanent := o.boolean("permanent")
	code := o.integer("statusCode")
	c, names := o.conds(m)
	if o.bad {
		return
	}
	status := 308
	switch {
	case permanent != nil && code != nil:
		o.fail("cannot define both \"permanent\" and \"statusCode\"")
		return
	case permanent != nil && !*permanent:
		status = 307
	case code != nil:
		switch *code {
		case 301, 302, 303, 307, 308:
			status = *code
		default:
			o.warn("statusCode %d is not a redirect status (301, 302, 303, 307 or 308): the rule is skipped", *code)
			return
		}
	}
	if never || skipDest || o.env() {
		return
	}
	t, err := compileDest(dest, destOpts{vercel: true, url: true, names: names, ngroups: m.ngroups, relative: true})
	if err != nil {
		o.fail("%v", err)
		return
	}
	b.addRoute(route{m: m, cond: c, kind: kindRedirect, status: status, force: true, dest: t}, "")
}

// env skips a rule that names environment variables to replace in it,
// which Apogee does not do.
func (o *jsonObj) env() bool {
	if _, ok := o.m["env"]; ok {
		o.warn("\"env\" (environment variables replaced at request time) is not supported: the rule is skipped")
		return true
	}
	return false
}

func (b *builder) vercelRewrite(o *jsonObj) {
	if o.bad {
		return
	}
	o.known("source", "destination", "statusCode", "has", "missing", "env", "respectOriginCacheControl")
	m, never := o.source()
	dest, skipDest := o.destination()
	code := o.integer("statusCode")
	o.boolean("respectOriginCacheControl")
	c, names := o.conds(m)
	if o.bad {
		return
	}
	status := 200
	if code != nil {
		if *code < 200 || *code >= 300 && *code < 400 {
			o.warn("statusCode %d cannot answer a rewrite here (use 200 or a 4xx/5xx status): the rule is skipped", *code)
			return
		}
		status = *code
	}
	if never || skipDest || o.env() {
		return
	}
	kind := kindRewrite
	if isExternal(dest) {
		kind = kindProxy
	} else if !strings.HasPrefix(dest, "/") {
		dest = "/" + dest // "index.html": a path from the deployment's root
	}
	t, err := compileDest(dest, destOpts{vercel: true, url: kind == kindProxy, names: names, ngroups: m.ngroups})
	if err != nil {
		o.fail("%v", err)
		return
	}
	if kind == kindProxy && !t.usesPath() {
		// As Vercel does: the parameters go to the query of a
		// destination that uses none of them in its path.
		for name, g := range m.groups {
			t.autoQuery = append(t.autoQuery, autoParam{key: name, ref: ref{group: g}})
		}
		slices.SortFunc(t.autoQuery, func(a, b autoParam) int { return a.ref.group - b.ref.group })
		t.autoQuery = slices.DeleteFunc(t.autoQuery, func(a autoParam) bool { return t.queryHasKey(a.key) })
		if len(t.autoQuery) == 0 {
			t.autoQuery = nil
		}
	}
	// Rewrites come after the filesystem on Vercel: a file at the path wins.
	b.addRoute(route{m: m, cond: c, kind: kind, status: status, dest: t}, "")
}

func (b *builder) vercelHeader(o *jsonObj) {
	if o.bad {
		return
	}
	o.known("source", "headers", "has", "missing")
	m, never := o.source()
	raw, ok := o.m["headers"]
	if !ok {
		o.fail("missing %q", "headers")
		return
	}
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil || list == nil {
		o.fail("\"headers\" must be an array of {\"key\", \"value\"} objects")
		return
	}
	c, names := o.conds(m)
	if o.bad {
		return
	}
	h := headerRule{m: m, cond: c}
	for i, kv := range list {
		ho := &jsonObj{b: b, where: fmt.Sprintf("%s.headers[%d]", o.where, i), rule: o.rule, line: o.line, m: kv}
		if kv == nil {
			ho.fail("must be an object")
			continue
		}
		ho.known("key", "value")
		key, _ := ho.str("key", MaxSourceLen, false)
		value, _ := ho.str("value", 32768, true)
		if ho.bad {
			o.bad = true
			continue
		}
		kt, vt := compileHeaderValue(key, names), compileHeaderValue(value, names)
		name := key
		if kt != nil {
			name = "X-Placeholder" // checked when the request gives it a value
		}
		if err := checkHeader(name, value); err != nil {
			o.warn("headers[%d]: %v: the header is skipped", i, err)
			continue
		}
		if msg := cookieDomainNote(key, value); msg != "" {
			o.warn("headers[%d]: %s", i, msg)
		}
		// A later value of the same name replaces an earlier one.
		j := slices.IndexFunc(h.values, func(p [2]string) bool { return kt == nil && strings.EqualFold(p[0], key) })
		if j < 0 {
			j = len(h.values)
			h.values = append(h.values, [2]string{key, value})
		} else {
			h.values[j] = [2]string{key, value}
		}
		h.dyn = slices.DeleteFunc(h.dyn, func(d dynValue) bool { return d.i == j })
		if kt != nil || vt != nil {
			h.dyn = append(h.dyn, dynValue{i: j, k: kt, t: vt})
		}
	}
	if o.bad {
		return
	}
	if len(h.values) == 0 {
		if len(list) == 0 {
			o.warn("\"headers\" is empty: the rule does nothing")
		}
		return
	}
	if never {
		return
	}
	if len(h.dyn) == 0 {
		h.dyn = nil
	}
	b.headers = append(b.headers, h)
}

// jsonError describes a JSON decoding error with its line.
func jsonError(data []byte, err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at line %d: %v", 1+bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n")), se)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("must be a JSON object, not %s", te.Value)
	}
	return "invalid JSON: " + err.Error()
}

// clip shows a JSON value in a message, cut to a readable length.
func clip(raw []byte) string {
	s := string(bytes.TrimSpace(raw))
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}

// checkHeader validates a header name and value from a config file.
// cookieDomainNote is the deploy-time warning for a response header that
// sets a cookie with a Domain attribute: the edge passes such a cookie only
// in answers from the host it names and drops it from every other host of
// the site (package setcookie says why), which its author should know.
func cookieDomainNote(name, value string) string {
	if !strings.EqualFold(name, "Set-Cookie") {
		return ""
	}
	for _, d := range setcookie.Domains(value) {
		if d = strings.TrimPrefix(d, "."); d != "" {
			return fmt.Sprintf("Set-Cookie with Domain=%s: the edge sends this cookie only in answers from %s itself and drops it from the site's other hosts (a cookie for a wider domain would reach other sites); leave Domain out for a cookie of the answering host", d, d)
		}
	}
	return ""
}

func checkHeader(name, value string) error {
	if name == "" {
		return fmt.Errorf("missing header name")
	}
	for i := 0; i < len(name); i++ {
		if !tokenByte(name[i]) {
			return fmt.Errorf("header name %q is not valid: use letters, digits and - only", name)
		}
	}
	if slices.ContainsFunc(reservedHeaders, func(h string) bool { return strings.EqualFold(h, name) }) {
		return fmt.Errorf("header %q is set by the server and cannot be configured", name)
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < ' ' && c != '\t' || c == 0x7f {
			return fmt.Errorf("value of header %q contains a control character or line break", name)
		}
	}
	return nil
}

var reservedHeaders = []string{"Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Upgrade", "Trailer", "TE", "Proxy-Connection"}

func tokenByte(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
