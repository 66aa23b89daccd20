package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// MaxSourceLen is the longest source or destination accepted, as on Vercel.
const MaxSourceLen = 4096

// vercel parses vercel.json: redirects, rewrites, headers, cleanUrls and
// trailingSlash. Other keys (buildCommand, functions, …) are not routing
// and are ignored here.
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
	if _, ok := doc["routes"]; ok {
		b.errf("%s: \"routes\" (the legacy routing format) is not supported; use \"redirects\", \"rewrites\" and \"headers\"", file)
	}
	for _, k := range []string{"redirects", "rewrites", "headers", "cleanUrls", "trailingSlash"} {
		if _, ok := doc[k]; ok {
			b.vercelUsed = true
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
	for _, o := range b.vercelArray(doc, "redirects") {
		b.vercelRedirect(o)
	}
	for _, o := range b.vercelArray(doc, "rewrites") {
		b.vercelRewrite(o)
	}
	for _, o := range b.vercelArray(doc, "headers") {
		b.vercelHeader(o)
	}
}

// jsonObj is one rule object of vercel.json, with typed getters that
// report faults with the rule's name.
type jsonObj struct {
	b     *builder
	where string
	m     map[string]json.RawMessage
	bad   bool
}

func (b *builder) vercelArray(doc map[string]json.RawMessage, key string) []*jsonObj {
	raw, ok := doc[key]
	if !ok {
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil || items == nil {
		b.errf("%s: %q must be an array, not %s", VercelJSON, key, clip(raw))
		return nil
	}
	out := make([]*jsonObj, 0, len(items))
	for i, it := range items {
		o := &jsonObj{b: b, where: fmt.Sprintf("%s %s[%d]", VercelJSON, key, i)}
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

// known reports any key outside allowed; has and missing conditions are
// reported as not supported.
func (o *jsonObj) known(allowed ...string) {
	keys := make([]string, 0, len(o.m))
	for k := range o.m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch {
		case k == "has" || k == "missing":
			o.fail("%q conditions are not supported yet; remove the condition or handle it in your application", k)
		case !slices.Contains(allowed, k):
			o.fail("unknown property %q (allowed: %s)", k, strings.Join(allowed, ", "))
		}
	}
}

func (o *jsonObj) str(key string) (string, bool) {
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
	if s == "" {
		o.fail("%q is empty", key)
		return "", false
	}
	if len(s) > MaxSourceLen {
		o.fail("%q is longer than %d characters", key, MaxSourceLen)
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
	return &v
}

func (o *jsonObj) source() *matcher {
	src, ok := o.str("source")
	if !ok {
		return nil
	}
	m, err := compileVercelSource(src)
	if err != nil {
		o.fail("source %q: %v", src, err)
		return nil
	}
	return m
}

func (b *builder) vercelRedirect(o *jsonObj) {
	if o.bad {
		return
	}
	o.known("source", "destination", "permanent", "statusCode")
	m := o.source()
	dest, _ := o.str("destination")
	permanent := o.boolean("permanent")
	code := o.integer("statusCode")
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
			o.fail("statusCode %d is not a redirect status; use 301, 302, 303, 307 or 308", *code)
			return
		}
	}
	t, err := compileDest(dest, m, true, true, true)
	if err != nil {
		o.fail("%v", err)
		return
	}
	b.routes = append(b.routes, route{m: m, kind: kindRedirect, status: status, force: true, dest: t})
}

func (b *builder) vercelRewrite(o *jsonObj) {
	if o.bad {
		return
	}
	o.known("source", "destination", "statusCode")
	m := o.source()
	dest, _ := o.str("destination")
	code := o.integer("statusCode")
	if o.bad {
		return
	}
	status := 200
	if code != nil {
		if *code < 200 || *code > 599 || *code >= 300 && *code < 400 {
			o.fail("statusCode %d cannot answer a rewrite; use 200 or a 4xx/5xx status (or a redirect)", *code)
			return
		}
		status = *code
	}
	if isExternal(dest) {
		o.fail("rewriting to an external URL (%s) is a proxy, which is not supported yet; use a redirect", dest)
		return
	}
	t, err := compileDest(dest, m, true, true, false)
	if err != nil {
		o.fail("%v", err)
		return
	}
	// Rewrites come after the filesystem on Vercel: a file at the path wins.
	b.routes = append(b.routes, route{m: m, kind: kindRewrite, status: status, dest: t})
}

func (b *builder) vercelHeader(o *jsonObj) {
	if o.bad {
		return
	}
	o.known("source", "headers")
	m := o.source()
	raw, ok := o.m["headers"]
	if !ok {
		o.fail("missing %q", "headers")
		return
	}
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil || len(list) == 0 {
		o.fail("\"headers\" must be a non-empty array of {\"key\", \"value\"} objects")
		return
	}
	if o.bad {
		return
	}
	h := headerRule{m: m}
	for i, kv := range list {
		ho := &jsonObj{b: b, where: fmt.Sprintf("%s.headers[%d]", o.where, i), m: kv}
		if kv == nil {
			ho.fail("must be an object")
			continue
		}
		ho.known("key", "value")
		key, _ := ho.str("key")
		value, _ := ho.str("value")
		if ho.bad {
			o.bad = true
			continue
		}
		if err := checkHeader(key, value); err != nil {
			ho.fail("%v", err)
			o.bad = true
			continue
		}
		// A later value of the same name replaces an earlier one.
		j := slices.IndexFunc(h.values, func(p [2]string) bool { return strings.EqualFold(p[0], key) })
		if j < 0 {
			j = len(h.values)
			h.values = append(h.values, [2]string{key, value})
		} else {
			h.values[j] = [2]string{key, value}
		}
		h.dyn = slices.DeleteFunc(h.dyn, func(d dynValue) bool { return d.i == j })
		if t := compileHeaderValue(value, m); t != nil {
			h.dyn = append(h.dyn, dynValue{i: j, t: t})
		}
	}
	if o.bad {
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
