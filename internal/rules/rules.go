package rules

import (
	"fmt"
	"net/textproto"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/apogee-dev/apogee"
)

// Config file names Compile reads from its files map.
const (
	VercelJSON       = "vercel.json"
	NetlifyRedirects = "_redirects"
	NetlifyHeaders   = "_headers"
	NetlifyTOML      = "netlify.toml"
)

// Limits on what one deployment may configure.
const (
	MaxFileSize = 1 << 20 // bytes per config file
	MaxRules    = 10_000  // redirects, rewrites and header rules together
)

// Settings are a project's own routing switches, for sites without a
// config file. A value in vercel.json (cleanUrls, trailingSlash) wins over
// the setting; Netlify's files have no such switches, so the settings
// apply to them as they are.
type Settings struct {
	// SPA serves /index.html (status 200) for a GET or HEAD of a path that
	// no file and no rule answers, when the path looks like a page: its
	// last segment has no extension, or ends in .html or .htm. A missing
	// /assets/app.js stays a 404.
	SPA bool
	// CleanURLs serves /about from about.html and redirects /about.html to
	// /about (and /docs/index.html to /docs) with 308, like Vercel's
	// cleanUrls.
	CleanURLs bool
	// TrailingSlash, when set, makes every page URL end with a slash (true)
	// or none (false), redirecting the other form with 308, like Vercel's
	// trailingSlash. When nil, "/docs" redirects to "/docs/" with 301 if
	// docs/index.html exists (as nginx and Netlify do), except with a
	// vercel.json, where both forms are served as on Vercel.
	TrailingSlash *bool
}

// Result is what to do with one request.
type Result struct {
	// Status is the HTTP status, never 0: 200 serves File; 301, 302, 303,
	// 307 and 308 redirect to Location; 4xx and 5xx serve File with that
	// status, or the edge's own error page when File is "".
	Status int
	// Location is the redirect target, percent-encoded, with the request's
	// query string carried over as the config format does.
	Location string
	// File is the manifest path to serve (no leading slash), after
	// rewrites, clean URLs, directory indexes, SPA fallback or 404.html.
	File string
	// Headers are extra response headers from header rules, in order, one
	// value per name. The slice is shared between requests: do not modify.
	Headers []Header
}

// Header is one response header from a header rule, ready for an
// http.Header: Name is in canonical form and Value holds one value, with
// no spare capacity, so that an append by a later handler copies it
// instead of writing into the shared array.
type Header struct {
	Name  string
	Value []string
}

func newHeader(name, value string) Header {
	return Header{Name: textproto.CanonicalMIMEHeaderKey(name), Value: []string{value}[:1:1]}
}

// Set is the compiled routing of one deployment. It is immutable and safe
// for concurrent use. A nil *Set is valid and behaves as a deployment
// without config files and with default settings.
type Set struct {
	routes    []route
	headers   []headerRule
	routeIdx  ruleIndex
	headerIdx ruleIndex
	cleanURLs bool
	slash     slashMode
	spa       bool

	// hcache holds merged header lists by the set of rules that matched
	// (one bit per rule, for up to 64 header rules), copy-on-write.
	hcache atomic.Pointer[map[uint64][]Header]
}

type slashMode uint8

const (
	slashDir    slashMode = iota // "/dir" → 301 "/dir/" when dir/index.html exists
	slashServe                   // both "/dir" and "/dir/" serve dir/index.html (vercel.json)
	slashAdd                     // trailingSlash: true
	slashRemove                  // trailingSlash: false
)

type routeKind uint8

const (
	kindRedirect routeKind = iota
	kindRewrite            // serve dest's file with status (200, 404, …)
)

// route is one redirect or rewrite. force routes apply even when a file
// exists at the request path; the others are shadowed by it.
type route struct {
	m         *matcher
	kind      routeKind
	status    int
	force     bool
	dest      *template
	passQuery bool // Netlify: always carry the query; Vercel: only if dest has none
}

type headerRule struct {
	m      *matcher
	values [][2]string // as written, while compiling
	out    []Header    // values, made once by Compile
	dyn    []dynValue  // values computed from the path (Vercel ":param")
}

type dynValue struct {
	i int
	t *template
}

var emptySet Set

// ConfigFiles are the config files Compile reads, by their names in a
// deployment's root.
var ConfigFiles = [...]string{VercelJSON, NetlifyRedirects, NetlifyHeaders, NetlifyTOML}

// Compile parses and compiles the config files of a deployment. files
// maps a config file name (VercelJSON, NetlifyRedirects, NetlifyHeaders,
// NetlifyTOML) to its bytes; absent names are skipped, other names are
// ignored. It returns nil and no error when there is nothing to apply.
//
// Any invalid file fails the whole compilation with an *apogee.Error of
// code EINVALID whose message names the file, the rule and the fault;
// Data holds every fault found ([]string). Nothing is half applied.
func Compile(files map[string][]byte, s Settings) (*Set, error) {
	b := &builder{}
	for _, name := range ConfigFiles {
		if data, ok := files[name]; ok && len(data) > MaxFileSize {
			b.errf("%s: file is %d bytes; the limit is %d", name, len(data), MaxFileSize)
		}
	}
	if len(b.errs) == 0 {
		if data, ok := files[VercelJSON]; ok {
			b.vercel(data)
		}
		if data, ok := files[NetlifyRedirects]; ok {
			b.netlifyRedirects(data)
		}
		// _headers before netlify.toml: for headers of the same name the
		// later rule wins, and Netlify lets netlify.toml override _headers.
		if data, ok := files[NetlifyHeaders]; ok {
			b.netlifyHeaders(data)
		}
		if data, ok := files[NetlifyTOML]; ok {
			b.netlifyTOML(data)
		}
	}
	if len(b.errs) == 0 && b.vercelUsed && b.netlifyUsed != "" {
		b.errf("vercel.json and %s both define routing rules; Apogee applies one format per deployment: keep the rules in one of them and delete the other", b.netlifyUsed)
	}
	if len(b.routes)+len(b.headers) > MaxRules && len(b.errs) == 0 {
		b.errf("%d rules; the limit is %d per deployment: use placeholders and splats to cover many paths with one rule", len(b.routes)+len(b.headers), MaxRules)
	}
	if len(b.errs) > 0 {
		msg := b.errs[0]
		if n := len(b.errs) - 1; n > 0 {
			msg += fmt.Sprintf(" (and %d more)", n)
		}
		return nil, &apogee.Error{Code: apogee.EINVALID, Message: msg, Data: b.errs}
	}

	set := &Set{routes: b.routes, headers: b.headers, spa: s.SPA, cleanURLs: s.CleanURLs}
	set.routeIdx = newIndex(len(set.routes), func(i int) *matcher { return set.routes[i].m })
	set.headerIdx = newIndex(len(set.headers), func(i int) *matcher { return set.headers[i].m })
	for i := range set.headers {
		h := &set.headers[i]
		h.out = make([]Header, len(h.values))
		for j, kv := range h.values {
			h.out[j] = newHeader(kv[0], kv[1])
		}
	}
	if b.cleanURLs != nil {
		set.cleanURLs = *b.cleanURLs
	}
	ts := s.TrailingSlash
	if b.trailingSlash != nil {
		ts = b.trailingSlash
	}
	switch {
	case ts != nil && *ts:
		set.slash = slashAdd
	case ts != nil:
		set.slash = slashRemove
	case b.vercelUsed:
		set.slash = slashServe
	}
	if len(set.routes) == 0 && len(set.headers) == 0 && !set.spa && !set.cleanURLs && set.slash == slashDir {
		return nil, nil
	}
	return set, nil
}

// Match decides what to answer to a request. path is the decoded, cleaned
// request path (r.URL.Path, starting with "/"); rawQuery is the request's
// query string as sent. exists reports whether a manifest path (no leading
// slash) is a file of the deployment; it is called a few times at most.
//
// The order, which follows what Vercel and Netlify do:
//  1. cleanUrls and trailingSlash redirects (308)
//  2. redirects and rewrites in file order, first match wins; a rule that
//     is not forced (Netlify without "!", every vercel.json rewrite) does
//     not apply when the path is a file (shadowing), nor does a redirect
//     to the request path itself
//  3. the file itself, a clean URL (about.html) or a directory index
//  4. the SPA fallback to index.html
//  5. 404.html with status 404
//
// Header rules are matched against the request path and all that match
// apply (a later rule replaces an earlier one's header of the same name)
// to every answer except redirects.
//
// Match does not allocate when the request's own path is a file and no
// rule answers first, whatever the number of rules; looking up clean URLs,
// directory indexes and 404s costs a small string each, and redirects and
// rewrites allocate their result.
func (s *Set) Match(method, path, rawQuery string, exists func(p string) bool) Result {
	if s == nil {
		s = &emptySet
	}
	if path == "" || path[0] != '/' {
		return s.notFound(path, exists)
	}
	if r, ok := s.normalize(path, rawQuery); ok {
		return r
	}
	resolved := false
	var file string
	var dir bool
	for _, i := range s.routeIdx.lookup(path) {
		rt := &s.routes[i]
		if !rt.m.match(path) {
			continue
		}
		if !rt.force {
			if !resolved {
				file, dir = s.resolve(path, exists, false)
				resolved = true
			}
			if file != "" || dir {
				continue
			}
		}
		if r, ok := s.apply(rt, path, rawQuery, exists); ok {
			return r
		}
	}
	if !resolved {
		file, dir = s.resolve(path, exists, false)
	}
	switch {
	case file != "":
		return Result{Status: 200, File: file, Headers: s.headersFor(path)}
	case dir:
		return Result{Status: 301, Location: withQuery(escapedPath(path)+"/", rawQuery, true, false)}
	}
	if s.spa && (method == "GET" || method == "HEAD" || method == "") && looksLikePage(path) && exists("index.html") {
		return Result{Status: 200, File: "index.html", Headers: s.headersFor(path)}
	}
	return s.notFound(path, exists)
}

func (s *Set) notFound(path string, exists func(string) bool) Result {
	r := Result{Status: 404, Headers: s.headersFor(path)}
	if exists("404.html") {
		r.File = "404.html"
	}
	return r
}

// apply answers with route rt, which matched path. A redirect to the
// path itself is skipped (ok false): Netlify ignores such looping rules,
// and a browser would only loop.
func (s *Set) apply(rt *route, path, rawQuery string, exists func(string) bool) (Result, bool) {
	var idx []int
	if !rt.dest.isStatic {
		idx = rt.m.captures(path)
	}
	if rt.kind == kindRedirect {
		loc := rt.dest.expand(path, idx, modeRedirect)
		if !rt.dest.external && loc == escapedPath(path) {
			return Result{}, false
		}
		return Result{Status: rt.status, Location: withQuery(loc, rawQuery, rt.passQuery, rt.dest.hasQuery)}, true
	}
	target := rt.dest.expand(path, idx, modeRewrite)
	file, _ := s.resolve(target, exists, true)
	if file == "" {
		return s.notFound(path, exists), true
	}
	return Result{Status: rt.status, File: file, Headers: s.headersFor(path)}, true
}

// withQuery appends the request's query to a redirect target: always when
// pass is set (Netlify), otherwise only when the destination has no query
// of its own (Vercel). It goes before a fragment.
func withQuery(loc, rawQuery string, pass, destHasQuery bool) string {
	if rawQuery == "" || !pass && destHasQuery {
		return loc
	}
	frag := ""
	if k := strings.IndexByte(loc, '#'); k >= 0 {
		loc, frag = loc[:k], loc[k:]
	}
	sep := "?"
	if strings.IndexByte(loc, '?') >= 0 {
		sep = "&"
	}
	return loc + sep + rawQuery + frag
}

// normalize applies cleanUrls and trailingSlash, which come before any
// rule as on Vercel.
func (s *Set) normalize(p, q string) (Result, bool) {
	if s.cleanURLs {
		t := p
		if len(t) > 1 && t[len(t)-1] == '/' {
			t = t[:len(t)-1]
		}
		dest, index, ok := "", false, true
		switch {
		case t == "/index" || t == "/index.html":
			dest = "/"
		case strings.HasSuffix(t, "/index"):
			dest, index = t[:len(t)-len("/index")], true
		case strings.HasSuffix(t, "/index.html"):
			dest, index = t[:len(t)-len("/index.html")], true
		case strings.HasSuffix(t, ".html"):
			dest = t[:len(t)-len(".html")]
		default:
			ok = false
		}
		if ok {
			if dest != "/" && (s.slash == slashAdd || index && s.slash == slashDir) {
				dest += "/"
			}
			return Result{Status: 308, Location: withQuery(escapedPath(dest), q, true, false)}, true
		}
	}
	switch s.slash {
	case slashAdd:
		if p == "/.well-known" || strings.HasPrefix(p, "/.well-known/") || p == "/" {
			return Result{}, false
		}
		if p[len(p)-1] == '/' {
			seg := p[strings.LastIndexByte(p[:len(p)-1], '/')+1 : len(p)-1]
			if hasExt(seg) {
				return Result{Status: 308, Location: withQuery(escapedPath(p[:len(p)-1]), q, true, false)}, true
			}
			return Result{}, false
		}
		if seg := p[strings.LastIndexByte(p, '/')+1:]; strings.IndexByte(seg, '.') < 0 {
			return Result{Status: 308, Location: withQuery(escapedPath(p)+"/", q, true, false)}, true
		}
	case slashRemove:
		if len(p) > 1 && p[len(p)-1] == '/' {
			return Result{Status: 308, Location: withQuery(escapedPath(strings.TrimRight(p, "/")), q, true, false)}, true
		}
	}
	return Result{}, false
}

// hasExt reports whether a path segment ends in an extension the way
// Vercel's trailingSlash rule sees it: [^/]+\.\w+
func hasExt(seg string) bool {
	k := strings.LastIndexByte(seg, '.')
	if k < 1 || k == len(seg)-1 {
		return false
	}
	for i := k + 1; i < len(seg); i++ {
		if !isNameByte(seg[i]) {
			return false
		}
	}
	return true
}

// looksLikePage reports whether the last segment of p has no extension or
// an HTML one: the SPA fallback only answers those.
func looksLikePage(p string) bool {
	seg := p[strings.LastIndexByte(p, '/')+1:]
	k := strings.LastIndexByte(seg, '.')
	if k < 0 {
		return true
	}
	ext := seg[k:]
	return ext == ".html" || ext == ".htm"
}

// resolve finds the file that serves path p: the file itself, p.html with
// clean URLs, or a directory index. dir reports "/dir" that must redirect
// to "/dir/" (slashDir); for rewrite targets the index is served instead.
func (s *Set) resolve(p string, exists func(string) bool, target bool) (file string, dir bool) {
	if p == "/" {
		if exists("index.html") {
			return "index.html", false
		}
		return "", false
	}
	rel := p[1:]
	if rel[len(rel)-1] == '/' {
		if f := rel + "index.html"; exists(f) {
			return f, false
		}
		if s.cleanURLs {
			if f := rel[:len(rel)-1] + ".html"; exists(f) {
				return f, false
			}
		}
		return "", false
	}
	if exists(rel) {
		return rel, false
	}
	if s.cleanURLs && !strings.HasSuffix(rel, ".html") {
		if f := rel + ".html"; exists(f) {
			return f, false
		}
	}
	if f := rel + "/index.html"; exists(f) {
		if s.slash == slashDir && !target {
			return "", true
		}
		return f, false
	}
	return "", false
}

// headersFor returns the headers of every header rule matching p.
func (s *Set) headersFor(p string) []Header {
	if len(s.headers) == 0 {
		return nil
	}
	var mask uint64
	n, one, dyn := 0, -1, false
	candidates := s.headerIdx.lookup(p)
	for _, i := range candidates {
		h := &s.headers[i]
		if !h.m.match(p) {
			continue
		}
		n++
		one = int(i)
		if h.dyn != nil {
			dyn = true
		}
		if i < 64 {
			mask |= 1 << i
		}
	}
	switch {
	case n == 0:
		return nil
	case n == 1 && !dyn:
		return s.headers[one].out
	}
	cacheable := !dyn && len(s.headers) <= 64
	if cacheable {
		if m := s.hcache.Load(); m != nil {
			if v, ok := (*m)[mask]; ok {
				return v
			}
		}
	}
	var out []Header
	for _, i := range candidates {
		h := &s.headers[i]
		if !h.m.match(p) {
			continue
		}
		values := h.out
		if h.dyn != nil {
			values = append([]Header(nil), h.out...)
			idx := h.m.captures(p)
			for _, d := range h.dyn {
				values[d.i].Value = []string{d.t.expand(p, idx, modeHeader)}[:1:1]
			}
		}
	next:
		for _, kv := range values {
			for j := range out {
				if out[j].Name == kv.Name {
					out[j] = kv
					continue next
				}
			}
			out = append(out, kv)
		}
	}
	if cacheable {
		old := s.hcache.Load()
		if old == nil || len(*old) < 256 {
			m := make(map[uint64][]Header, 1+lenOf(old))
			if old != nil {
				for k, v := range *old {
					m[k] = v
				}
			}
			m[mask] = out
			s.hcache.Store(&m) // a lost race only loses a cache entry
		}
	}
	return out
}

func lenOf(m *map[uint64][]Header) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// ruleIndex narrows the rules a path can match by the byte after its
// leading "/", keeping file order: a request for /assets/… only looks at
// rules whose literal prefix starts with "/a" and rules without one.
// It costs 256 bytes plus the lists.
type ruleIndex struct {
	slot  [256]uint8 // byte → 1 + index into lists; 0: generic
	lists [][]int32
	gen   []int32 // rules any path may match
}

func newIndex(n int, m func(i int) *matcher) ruleIndex {
	var x ruleIndex
	keys := func(i int) []byte {
		mi := m(i)
		if len(mi.prefix) < 2 {
			return nil
		}
		c := mi.prefix[1]
		if mi.fold && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return []byte{c | 0x20, c &^ 0x20}
		}
		return []byte{c}
	}
	var used []byte
	for i := 0; i < n; i++ {
		ks := keys(i)
		if ks == nil {
			x.gen = append(x.gen, int32(i))
		}
		for _, c := range ks {
			if x.slot[c] == 0 && len(used) < 255 {
				used = append(used, c)
				x.slot[c] = uint8(len(used))
			}
		}
	}
	x.lists = make([][]int32, len(used))
	for i := 0; i < n; i++ {
		ks := keys(i)
		for j, c := range used {
			if ks == nil || slices.Contains(ks, c) {
				x.lists[j] = append(x.lists[j], int32(i))
			}
		}
	}
	if len(used) == 255 { // more first bytes than slots: bytes left out use all rules
		x.gen = x.gen[:0]
		for i := 0; i < n; i++ {
			x.gen = append(x.gen, int32(i))
		}
	}
	return x
}

func (x *ruleIndex) lookup(p string) []int32 {
	if len(p) > 1 {
		if k := x.slot[p[1]]; k != 0 {
			return x.lists[k-1]
		}
	}
	return x.gen
}

// builder collects rules and faults while files are parsed.
type builder struct {
	errs          []string
	routes        []route
	headers       []headerRule
	vercelUsed    bool
	netlifyUsed   string // the first Netlify file that defines rules
	cleanURLs     *bool
	trailingSlash *bool
}

const maxErrors = 20

func (b *builder) errf(format string, args ...any) {
	if len(b.errs) < maxErrors {
		b.errs = append(b.errs, fmt.Sprintf(format, args...))
	}
}

func (b *builder) markNetlify(file string) {
	if b.netlifyUsed == "" {
		b.netlifyUsed = file
	}
}
