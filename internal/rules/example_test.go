package rules_test

import (
	"fmt"

	"github.com/apogee-dev/apogee/internal/rules"
)

// The edge compiles a deployment's config files once, when it loads the
// manifest, and asks the Set about each request.
func Example() {
	set, _, err := rules.Compile(map[string][]byte{
		rules.NetlifyRedirects: []byte("/blog/*  /posts/:splat  301\n/*  /index.html  200\n"),
		rules.NetlifyHeaders:   []byte("/assets/*\n  Cache-Control: public, max-age=31536000, immutable\n"),
	}, rules.Settings{})
	if err != nil {
		fmt.Println(err) // e.g. "invalid: _redirects line 3: status \"abc\" is not a number"
		return
	}
	manifest := map[string]bool{"index.html": true, "assets/app.js": true}
	exists := func(p string) bool { return manifest[p] }

	for _, req := range []struct{ path, query string }{
		{"/blog/hello", "ref=rss"},
		{"/assets/app.js", ""},
		{"/settings/profile", ""},
	} {
		r := set.Match("GET", req.path, req.query, exists)
		fmt.Println(r.Status, r.Location, r.File, r.Headers)
	}
	// Output:
	// 301 /posts/hello?ref=rss  []
	// 200  assets/app.js [{Cache-Control [public, max-age=31536000, immutable]}]
	// 200  index.html []
}
