// Package setcookie keeps a site from setting cookies for hosts other
// than its own.
//
// A browser accepts a Set-Cookie whose Domain attribute names a parent of
// the responding host, unless that parent is a public suffix. vercel.app
// and netlify.app are on the Public Suffix List, so a site there cannot
// set a cookie for its siblings or for the platform; a self-hosted
// platform's sites domain is not, so a site at a.example.net could set a
// cookie for example.net, which every other site (and, when the dashboard
// shares the domain, the dashboard) then receives. The edge therefore does
// what a browser does for a public suffix: it drops such a cookie.
//
// The rule is simple and strict: a Set-Cookie passes if it has no Domain
// attribute (a host-only cookie) or if every Domain attribute names the
// responding host itself (a leading dot and letter case aside). Anything
// else, a parent, a sibling or an unrelated domain, is dropped whole: its
// Domain is never rewritten, since a cookie narrowed silently would
// behave unlike what its author wrote.
//
// The package has no Apogee imports; the edge (header rules), the app
// proxy (apps' responses) and package rules (the deploy-time warning) use
// it.
package setcookie

import "strings"

// Domains returns the values of the Domain attributes of one Set-Cookie
// header value, as a browser reads them (RFC 6265 §5.2): the attributes
// after the first ";", names compared without regard to case, values
// trimmed of white space. A value with no Domain attribute gives nil.
func Domains(value string) []string {
	var out []string
	_, attrs, _ := strings.Cut(value, ";")
	for attrs != "" {
		var av string
		av, attrs, _ = strings.Cut(attrs, ";")
		name, v, _ := strings.Cut(av, "=")
		if strings.EqualFold(strings.TrimSpace(name), "domain") {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

// Allowed reports whether a response from host may carry the Set-Cookie
// header value: it has no Domain attribute, or each names host itself. A
// Domain attribute's leading dot is ignored (RFC 6265 §5.2.3), as is
// letter case; an empty one is ignored by browsers and passes. host is
// the request's host name without a port, as edge.ParseHost returns it.
func Allowed(host, value string) bool {
	// Fast path: no "domain" anywhere, no Domain attribute.
	if !containsFold(value, "domain") {
		return true
	}
	for _, d := range Domains(value) {
		d = strings.TrimPrefix(d, ".")
		if d != "" && !strings.EqualFold(d, host) {
			return false
		}
	}
	return true
}

// Filter returns the Set-Cookie values a response from host may carry and
// how many it dropped (see Allowed). When none is dropped it returns
// values itself, so the common case allocates nothing.
func Filter(host string, values []string) (kept []string, dropped int) {
	for i, v := range values {
		if Allowed(host, v) {
			if kept != nil {
				kept = append(kept, v)
			}
			continue
		}
		dropped++
		if kept == nil {
			kept = make([]string, i, len(values)-1)
			copy(kept, values[:i])
		}
	}
	if dropped == 0 {
		return values, 0
	}
	return kept, dropped
}

// containsFold reports whether s contains the lower-case ASCII word sub
// in any letter case.
func containsFold(s, sub string) bool {
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		if strings.EqualFold(s[i:i+n], sub) {
			return true
		}
	}
	return false
}
