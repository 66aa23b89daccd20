package rules

import (
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Request is what Match needs to know of a request. Path, RawQuery and
// Method are required; the rest only matters to rules with conditions
// (Vercel's has and missing, Netlify's query parameters, conditions and
// domain-level rules), which do not match when it is missing.
type Request struct {
	Method string
	// Path is the decoded, cleaned request path, starting with "/".
	Path string
	// RawQuery is the query string as sent, without "?".
	RawQuery string
	// Host is the host the request was sent to, lower-case, without port.
	Host string
	// Scheme is "http" or "https".
	Scheme string
	// Header holds the request's headers (Cookie, Accept-Language, …).
	Header http.Header
	// ClientIP is the client's address, for Country conditions.
	ClientIP netip.Addr
	// Geo maps ClientIP to a country; nil when the server has no
	// database, and Country conditions then never match.
	Geo Countries
}

// Countries tells the country of an address: an ISO 3166-1 alpha-2 code
// ("US"), or "" when unknown. Implementations are safe for concurrent
// use; internal/geoip is one.
type Countries interface {
	Country(ip netip.Addr) string
}

// conds are the conditions of one rule besides its path. All must hold.
type conds struct {
	scheme    string      // Netlify domain-level: "http" or "https"
	host      string      // Netlify domain-level: lower-case host
	query     []queryCond // Netlify: each key present with its value
	langs     []string    // Netlify Language: lower-case tags, any
	countries []string    // Netlify Country: upper-case codes, any
	cookies   []string    // Netlify Cookie: names, any present
	has       []hasCond   // Vercel: each must match
	missing   []hasCond   // Vercel: none may match
	ncaps     int         // values captured (ref.cap 1..ncaps)
}

// queryCond is one Netlify query parameter: key must be present; with
// cap > 0 its value is captured, else it must equal value.
type queryCond struct {
	key, value string
	cap        int
}

// hasCond is one Vercel has or missing item.
type hasCond struct {
	typ string // "header", "cookie", "query" or "host"
	key string // header names lower-case
	// re is the value as a regular expression anchored at both ends, as
	// Vercel reads a string value; op an operator object; both nil: the
	// item only asks that a non-empty value be there.
	re regex
	op *valueOp
	// keyCap captures the whole value of an item without a value (under
	// its key's name); groupCaps the named groups of re (by group
	// number); hostCap the whole match of a host item without groups.
	keyCap    int
	groupCaps []int
	hostCap   int
}

// valueOp is a Vercel condition operation object.
type valueOp struct {
	eq, neq, pre, suf *string
	inc, ninc         []string
	re                regex
	gt, gte, lt, lte  *float64
}

// reqState is one request as the rules of a Set see it, with the parts
// only some conditions need parsed once, when first needed.
type reqState struct {
	*Request
	query   url.Values
	qparsed bool
}

func (s *reqState) queryValues() url.Values {
	if !s.qparsed {
		s.query, _ = url.ParseQuery(s.RawQuery)
		s.qparsed = true
	}
	return s.query
}

// eval reports whether c holds for the request and returns the values
// it captured (nil when none).
func (c *conds) eval(s *reqState) ([]string, bool) {
	if c.scheme != "" && c.scheme != s.Scheme {
		return nil, false
	}
	if c.host != "" && c.host != s.Host {
		return nil, false
	}
	var caps []string
	if c.ncaps > 0 {
		caps = make([]string, c.ncaps)
	}
	for _, q := range c.query {
		vs, ok := s.queryValues()[q.key]
		if !ok {
			return nil, false
		}
		if q.cap > 0 {
			caps[q.cap-1] = vs[0]
			continue
		}
		found := false
		for _, v := range vs {
			found = found || v == q.value
		}
		if !found {
			return nil, false
		}
	}
	if c.langs != nil && !acceptsLanguage(s.Header, c.langs) {
		return nil, false
	}
	if c.countries != nil {
		if s.Geo == nil || !s.ClientIP.IsValid() {
			return nil, false
		}
		code := strings.ToUpper(s.Geo.Country(s.ClientIP))
		found := false
		for _, want := range c.countries {
			found = found || code != "" && code == want
		}
		if !found {
			return nil, false
		}
	}
	if c.cookies != nil {
		found := false
		for _, name := range c.cookies {
			_, ok := cookie(s.Header, name)
			found = found || ok
		}
		if !found {
			return nil, false
		}
	}
	for i := range c.has {
		if !c.has[i].match(s, caps) {
			return nil, false
		}
	}
	for i := range c.missing {
		if c.missing[i].match(s, nil) {
			return nil, false
		}
	}
	return caps, true
}

// match reports whether the item holds, storing what it captures in
// caps (nil: capture nothing).
func (h *hasCond) match(s *reqState, caps []string) bool {
	var v string
	switch h.typ {
	case "header":
		if h.key == "x-vercel-ip-country" {
			// Vercel's edge sets it, whatever the client sent: so does
			// Apogee's, from its country database.
			if s.Geo != nil && s.ClientIP.IsValid() {
				v = strings.ToUpper(s.Geo.Country(s.ClientIP))
			}
			break
		}
		vs := s.Header.Values(h.key)
		v = strings.Join(vs, ", ")
	case "cookie":
		v, _ = cookie(s.Header, h.key)
	case "query":
		if vs := s.queryValues()[h.key]; len(vs) > 0 {
			v = vs[len(vs)-1]
		}
	case "host":
		v = s.Host
	}
	// As in Vercel's matcher, an empty value is no value.
	if v == "" {
		return false
	}
	switch {
	case h.re != nil:
		idx := h.re.FindStringSubmatchIndex(v)
		if idx == nil {
			return false
		}
		if caps != nil {
			for g, c := range h.groupCaps {
				if c > 0 {
					caps[c-1] = group(v, idx, g)
				}
			}
			if h.hostCap > 0 {
				caps[h.hostCap-1] = v[idx[0]:idx[1]]
			}
		}
		return true
	case h.op != nil:
		return h.op.match(v)
	}
	if caps != nil && h.keyCap > 0 {
		caps[h.keyCap-1] = v
	}
	return true
}

func (o *valueOp) match(v string) bool {
	switch {
	case o.eq != nil && v != *o.eq,
		o.neq != nil && v == *o.neq,
		o.pre != nil && !strings.HasPrefix(v, *o.pre),
		o.suf != nil && !strings.HasSuffix(v, *o.suf),
		o.re != nil && !o.re.MatchString(v):
		return false
	}
	if o.inc != nil && !contains(o.inc, v) || o.ninc != nil && contains(o.ninc, v) {
		return false
	}
	if o.gt != nil || o.gte != nil || o.lt != nil || o.lte != nil {
		n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return false
		}
		if o.gt != nil && !(n > *o.gt) || o.gte != nil && !(n >= *o.gte) || o.lt != nil && !(n < *o.lt) || o.lte != nil && !(n <= *o.lte) {
			return false
		}
	}
	return true
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// cookie returns the value of the first cookie named name in h's Cookie
// headers.
func cookie(h http.Header, name string) (string, bool) {
	for _, line := range h["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			if k == name {
				if u, err := url.QueryUnescape(v); err == nil {
					v = u
				}
				return strings.Trim(v, `"`), true
			}
		}
	}
	return "", false
}

// acceptsLanguage reports whether Accept-Language names one of langs
// (lower-case) with a q above 0: the tag itself, or its primary subtag
// ("en" is accepted by "en-GB").
func acceptsLanguage(h http.Header, langs []string) bool {
	for _, line := range h["Accept-Language"] {
		for item := range strings.SplitSeq(line, ",") {
			tag, params, _ := strings.Cut(item, ";")
			tag = strings.ToLower(strings.TrimSpace(tag))
			if tag == "" || zeroQ(params) {
				continue
			}
			primary, _, _ := strings.Cut(tag, "-")
			for _, l := range langs {
				if l == tag || l == primary {
					return true
				}
			}
		}
	}
	return false
}

// zeroQ reports whether Accept-* parameters set q=0.
func zeroQ(params string) bool {
	for p := range strings.SplitSeq(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(k, "q") {
			if f, err := strconv.ParseFloat(v, 64); err == nil && f == 0 {
				return true
			}
		}
	}
	return false
}
