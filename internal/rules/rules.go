package rules

import (
	"fmt"
	"net/textproto"
	"sort"
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

// Limits on what one deployment may configure. Netlify's own parser
// tests carry a _redirects of 45,000 rules (1.6 MB); the index keeps the
// cost of a request flat whatever the count (see BenchmarkMatch45k).
const (
	MaxFileSize = 8 << 20 // bytes per config file
	MaxRules    = 100_000 // redirects, rewrites and header rules together
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
	// Countries says the server has a country database (--geoip-db):
	// without one, rules with a Country condition are skipped with a
	// warning instead of never matching unannounced.
	Countries bool
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
	// Proxy, when set, is the absolute http(s) URL to answer the request
	// from (a Netlify 200 rule to a URL, a Vercel rewrite to one), with
	// the request's query string; Status is the rule's (200 unless a
	// rule says otherwise) and replaces the upstream's only when not 200.
	Proxy string
	// ProxyHeaders are request headers to send to Proxy (netlify.toml's
	// headers of a redirect).
	ProxyHeaders []Header
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
	proxies   bool // some route is a proxy

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
	kindProxy              // answer from dest, an external URL
)

// route is one redirect or rewrite. force routes apply even when a file
// exists at the request path; the others are shadowed by it.
type route struct {
	m         *matcher
	cond      *conds // nil: none
	kind      routeKind
	status    int
	force     bool
	dest      *template
	passQuery bool // Netlify: always carry the query; Vercel: only if dest has none
	dropQuery bool // Netlify rules that match on the query never carry it
	netlify   bool // a target resolves as on Netlify: /x serves x.html too
	headers   []Header
}

type headerRule struct {
	m      *matcher
	cond   *conds
	values [][2]string // as written, while compiling
	out    []Header    // values, made once by Compile
	dyn    []dynValue  // values computed from the path (Vercel ":param")
}

// dynValue is a header whose name (k) or value (t) depends on what the
// rule captured.
type dynValue struct {
	i    int
	k, t *template
}

var emptySet Set

// ConfigFiles are the config files Compile reads, by their names in a
// deployment's root.
var ConfigFiles = [...]string{VercelJSON, NetlifyRedirects, NetlifyHeaders, NetlifyTOML}

// Compile parses and compiles the config files of a deployment. files
// maps a config file name (VercelJSON, NetlifyRedirects, NetlifyHeaders,
// NetlifyTOML) to its bytes; absent names are skipped, other names are
// ignored. It returns a nil *Set when there is nothing to apply.
//
// What each upstream refuses, Compile refuses: an invalid vercel.json
// (Vercel refuses to deploy it) or a netlify.toml that is not TOML fails
// the whole compilation with an *apogee.Error of code EINVALID whose
// message names the file, the rule and the fault; Data holds every fault
// found ([]string). A Netlify rule that cannot be processed is skipped,
// as Netlify deploys without it, and so is a valid rule Apogee cannot
// honour: each is a warning, in file order, naming file, line and why.
func Compile(files map[string][]byte, s Settings) (*Set, []apogee.RuleWarning, error) {
	b := &builder{settings: s}
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
		return nil, nil, &apogee.Error{Code: apogee.EINVALID, Message: msg, Data: b.errs}
	}
	b.dedupe()
	warnings := b.warnings
	sort.SliceStable(warnings, func(i, j int) bool {
		return fileOrder(warnings[i].File) < fileOrder(warnings[j].File) ||
			warnings[i].File == warnings[j].File && warnings[i].Line < warnings[j].Line && warnings[i].Line > 0
	})
	if b.skipped > 0 {
		warnings = append(warnings, apogee.RuleWarning{File: warnings[len(warnings)-1].File,
			Message: fmt.Sprintf("and %d more warnings", b.skipped)})
	}

	set := &Set{routes: b.routes, headers: b.headers, spa: s.SPA, cleanURLs: s.CleanURLs}
	set.routeIdx = newIndex(len(set.routes), func(i int) *matcher { return set.routes[i].m })
	set.headerIdx = newIndex(len(set.headers), func(i int) *matcher { return set.headers[i].m })
	for i := range set.headers {
		h := &set.headers[i]
		h.out = make([]Header, len(h.values))
		for j, kv := range h.values {
			h.out[j] = newHeader(kv[0], kv[1])
			if h.out[j].Name == "Set-Cookie" && strings.Contains(kv[1], "\n") {
				h.out[j].Value = strings.Split(kv[1], "\n") // several cookies (see addValue)
			}
		}
		h.values = nil
	}
	for i := range set.routes {
		set.proxies = set.proxies || set.routes[i].kind == kindProxy
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
		return nil, warnings, nil
	}
	return set, warnings, nil
}

func fileOrder(name string) int {
	for i, n := range ConfigFiles {
		if n == name {
			return i
		}
	}
	return len(ConfigFiles)
}

// Proxies reports whether some rule answers from another server: the
// edge then asks Match about every method, not only GET and HEAD.
func (s *Set) Proxies() bool { return s != nil && s.proxies }

// Match decides what to answer to a request for path with method and
// query rawQuery, as MatchRequest does for a request that carries
// nothing else (no host, headers or client address).
func (s *Set) Match(method, path, rawQuery string, exists func(p string) bool) Result {
	return s.MatchRequest(&Request{Method: method, Path: path, RawQuery: rawQuery}, exists)
}

// MatchRequest decides what to answer to r. exists reports whether a
// manifest path (no leading slash) is a file of the deployment; it is
// called a few times at most.
//
// The order, which follows what Vercel and Netlify do:
//  1. cleanUrls and trailingSlash redirects (308)
//  2. redirects, rewrites and proxies in file order, first match wins; a
//     rule that is not forced (Netlify without "!", every vercel.json
//     rewrite) does not apply when the path is a file (shadowing), nor
//     does a redirect to the request path itself
//  3. the file itself, a clean URL (about.html) or a directory index
//  4. the SPA fallback to index.html
//  5. 404.html with status 404
//
// Header rules are matched against the request path and all that match
// apply (a later rule replaces an earlier one's header of the same name)
// to every answer except redirects and Netlify proxies.
//
// MatchRequest does not allocate when the request's own path is a file
// and no rule answers first, whatever the number of rules; looking up
// clean URLs, directory indexes and 404s costs a small string each, and
// redirects, rewrites and rules with conditions allocate their result.
func (s *Set) MatchRequest(r *Request, exists func(p string) bool) Result {
	if s == nil {
		s = &emptySet
	}
	st := reqState{Request: r}
	path := r.Path
	if path == "" || path[0] != '/' {
		return s.notFound(&st, exists)
	}
	if res, ok := s.normalize(path, r.RawQuery); ok {
		return res
	}
	resolved := false
	var file string
	var dir bool
	var c cursor
	s.routeIdx.lookup(path, &c)
	for i := c.next(); i >= 0; i = c.next() {
		rt := &s.routes[i]
		if !rt.m.match(path) {
			continue
		}
		var caps []string
		if rt.cond != nil {
			var ok bool
			if caps, ok = rt.cond.eval(&st); !ok {
				continue
			}
		}
		if !rt.force {
			if !resolved {
				file, dir = s.resolve(path, exists, false, false)
				resolved = true
			}
			if file != "" || dir {
				continue
			}
		}
		if res, ok := s.apply(rt, &st, caps, exists); ok {
			return res
		}
	}
	if !resolved {
		file, dir = s.resolve(path, exists, false, false)
	}
	switch {
	case file != "":
		return Result{Status: 200, File: file, Headers: s.headersFor(&st)}
	case dir:
		return Result{Status: 301, Location: withQuery(escapedPath(path)+"/", r.RawQuery, true, false)}
	}
	if s.spa && (r.Method == "GET" || r.Method == "HEAD" || r.Method == "") && looksLikePage(path) && exists("index.html") {
		return Result{Status: 200, File: "index.html", Headers: s.headersFor(&st)}
	}
	return s.notFound(&st, exists)
}

func (s *Set) notFound(st *reqState, exists func(string) bool) Result {
	r := Result{Status: 404, Headers: s.headersFor(st)}
	if exists("404.html") {
		r.File = "404.html"
	}
	return r
}

// apply answers with route rt, which matched the request with condition
// captures caps. A redirect to the path itself is skipped (ok false):
// Netlify ignores such looping rules, and a browser would only loop.
func (s *Set) apply(rt *route, st *reqState, caps []string, exists func(string) bool) (Result, bool) {
	path := st.Path
	var idx []int
	if !rt.dest.isStatic || rt.dest.autoQuery != nil {
		idx = rt.m.captures(path)
	}
	switch rt.kind {
	case kindRedirect:
		loc := rt.dest.expand(path, idx, caps, modeRedirect)
		if !rt.dest.external && loc == escapedPath(path) {
			return Result{}, false
		}
		q := st.RawQuery
		if rt.dropQuery {
			q = ""
		}
		return Result{Status: rt.status, Location: withQuery(loc, q, rt.passQuery, rt.dest.hasQuery)}, true
	case kindProxy:
		q := st.RawQuery
		if rt.dropQuery {
			q = ""
		}
		target := withQuery(rt.dest.expand(path, idx, caps, modeRedirect), q, true, false)
		res := Result{Status: rt.status, Proxy: target, ProxyHeaders: rt.headers}
		if !rt.netlify { // Netlify: custom headers never apply to proxied content
			res.Headers = s.headersFor(st)
		}
		return res, true
	}
	target := rt.dest.expand(path, idx, caps, modeRewrite)
	file, _ := s.resolve(target, exists, true, rt.netlify)
	if file == "" {
		return s.notFound(st, exists), true
	}
	return Result{Status: rt.status, File: file, Headers: s.headersFor(st)}, true
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
// clean URLs (or, for a Netlify target, always: Netlify's pretty URLs),
// or a directory index. dir reports "/dir" that must redirect to "/dir/"
// (slashDir); for rewrite targets the index is served instead.
func (s *Set) resolve(p string, exists func(string) bool, target, pretty bool) (file string, dir bool) {
	if p == "/" {
		if exists("index.html") {
			return "index.html", false
		}
		return "", false
	}
	html := s.cleanURLs || pretty
	rel := p[1:]
	if rel[len(rel)-1] == '/' {
		if f := rel + "index.html"; exists(f) {
			return f, false
		}
		if html {
			if f := rel[:len(rel)-1] + ".html"; exists(f) {
				return f, false
			}
		}
		return "", false
	}
	if exists(rel) {
		return rel, false
	}
	if html && !strings.HasSuffix(rel, ".html") {
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

// headersFor returns the headers of every header rule matching the
// request's path and conditions.
func (s *Set) headersFor(st *reqState) []Header {
	if len(s.headers) == 0 {
		return nil
	}
	p := st.Path
	var mask uint64
	n, one, dyn := 0, -1, false
	var c cursor
	s.headerIdx.lookup(p, &c)
	var matched [64]int32
	var more []int32
	for i := c.next(); i >= 0; i = c.next() {
		h := &s.headers[i]
		if !h.m.match(p) {
			continue
		}
		if h.cond != nil {
			if _, ok := h.cond.eval(st); !ok {
				continue
			}
			dyn = true
		}
		if n < len(matched) {
			matched[n] = i
		} else {
			more = append(more, i)
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
	for k := 0; k < n; k++ {
		var i int32
		if k < len(matched) {
			i = matched[k]
		} else {
			i = more[k-len(matched)]
		}
		h := &s.headers[i]
		values := h.out
		if h.dyn != nil {
			values = append([]Header(nil), h.out...)
			idx := h.m.captures(p)
			var caps []string
			if h.cond != nil {
				caps, _ = h.cond.eval(st)
			}
			for _, d := range h.dyn {
				if d.k != nil {
					values[d.i].Name = textproto.CanonicalMIMEHeaderKey(d.k.expand(p, idx, caps, modeHeader))
				}
				if d.t != nil {
					values[d.i].Value = []string{d.t.expand(p, idx, caps, modeHeader)}[:1:1]
				}
			}
		}
	next:
		for _, kv := range values {
			if kv.Name == "" || !validHeaderName(kv.Name) {
				continue // a name made from a capture that is no header name
			}
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

func validHeaderName(name string) bool {
	for i := 0; i < len(name); i++ {
		if !tokenByte(name[i]) {
			return false
		}
	}
	return name != ""
}

func lenOf(m *map[uint64][]Header) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// builder collects rules, faults and warnings while files are parsed.
type builder struct {
	settings      Settings
	errs          []string
	warnings      []apogee.RuleWarning
	skipped       int // warnings beyond maxWarnings
	routes        []route
	keys          []string // Netlify: a key per route for dedupe ("" for others)
	headers       []headerRule
	vercelUsed    bool
	netlifyUsed   string // the first Netlify file that defines rules
	cleanURLs     *bool
	trailingSlash *bool
}

const (
	maxErrors   = 20
	maxWarnings = 200
)

func (b *builder) errf(format string, args ...any) {
	if len(b.errs) < maxErrors {
		b.errs = append(b.errs, fmt.Sprintf(format, args...))
	}
}

// warnf records a warning about the rule at line of file (0: unknown;
// rule then says where it is).
func (b *builder) warnf(file string, line int, rule, format string, args ...any) {
	if len(b.warnings) >= maxWarnings {
		b.skipped++
		return
	}
	if len(rule) > 200 {
		rule = rule[:200] + "…"
	}
	b.warnings = append(b.warnings, apogee.RuleWarning{File: file, Line: line, Rule: rule, Message: fmt.Sprintf(format, args...)})
}

func (b *builder) markNetlify(file string) {
	if b.netlifyUsed == "" {
		b.netlifyUsed = file
	}
}

// addRoute appends a rule; key identifies a Netlify rule for dedupe.
func (b *builder) addRoute(rt route, key string) {
	b.routes = append(b.routes, rt)
	b.keys = append(b.keys, key)
}

// dedupe removes Netlify redirect rules written twice, keeping the last
// (Netlify merges _redirects and netlify.toml so).
func (b *builder) dedupe() {
	seen := make(map[string]bool)
	drop := false
	for i := len(b.keys) - 1; i >= 0; i-- {
		k := b.keys[i]
		if k == "" {
			continue
		}
		if seen[k] {
			b.keys[i] = "\x00"
			drop = true
			continue
		}
		seen[k] = true
	}
	if !drop {
		return
	}
	out := b.routes[:0]
	for i, rt := range b.routes {
		if b.keys[i] != "\x00" {
			out = append(out, rt)
		}
	}
	b.routes = out
	b.keys = nil
}
