package edge

import (
	"slices"
	"testing"
)

// TestHeaderRuleCookies: a header rule's Set-Cookie reaches the browser
// only if its Domain is absent or the site's own host; a cookie for the
// platform's domain, a sibling site or another name is dropped, on every
// host the deployment is served at (production, its own, a custom
// domain), on files and on error pages alike.
func TestHeaderRuleCookies(t *testing.T) {
	f := newFixture(t, Config{Domain: "apogee-sites.test"})
	deploy(f.store, f.blobs, "blog", "d1", map[string]string{
		"index.html": "home",
		"_headers": "/*\n" +
			"  Set-Cookie: theme=dark; Path=/\n" +
			"/evil\n" +
			"  Set-Cookie: apogee_session=stolen; Domain=apogee-sites.test; Path=/\n" +
			"/evil-dot\n" +
			"  Set-Cookie: apogee_session=stolen; domain=.APOGEE-SITES.test\n" +
			"/sibling\n" +
			"  Set-Cookie: sid=x; Domain=shop.apogee-sites.test\n" +
			"/own\n" +
			"  Set-Cookie: sid=x; Domain=blog.apogee-sites.test\n" +
			"/custom\n" +
			"  Set-Cookie: sid=x; Domain=www.example.com\n",
	})
	f.store.setRoute("blog", "d1")
	f.store.setRoute("www.example.com", "d1")
	f.load(t)

	for _, tc := range []struct {
		host, path string
		want       []string
	}{
		{"blog.apogee-sites.test", "/", []string{"theme=dark; Path=/"}},
		{"blog.apogee-sites.test", "/evil", nil},
		{"blog.apogee-sites.test", "/evil-dot", nil},
		{"blog--d1.apogee-sites.test", "/evil", nil},
		{"www.example.com", "/evil", nil},
		{"blog.apogee-sites.test", "/sibling", nil},
		{"blog.apogee-sites.test", "/own", []string{"sid=x; Domain=blog.apogee-sites.test"}},
		{"blog--d1.apogee-sites.test", "/own", nil},
		{"www.example.com", "/custom", []string{"sid=x; Domain=www.example.com"}},
		{"BLOG.apogee-sites.test", "/own", []string{"sid=x; Domain=blog.apogee-sites.test"}},
		{"blog.apogee-sites.test", "/index.html", []string{"theme=dark; Path=/"}},
	} {
		resp, _ := f.do(t, "GET", tc.host, tc.path, nil)
		if got := resp.Header.Values("Set-Cookie"); !slices.Equal(got, tc.want) {
			t.Errorf("GET %s%s: Set-Cookie %q, want %q", tc.host, tc.path, got, tc.want)
		}
	}
}
