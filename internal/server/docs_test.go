package server

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var (
	hrefRE = regexp.MustCompile(`href="([^"]+)"`)
	idRE   = regexp.MustCompile(`id="([^"]+)"`)
)

// TestDocsLinks crawls the documentation from /docs and the landing page
// on a real server: every page answers 200, every link to this server
// resolves (docs pages, the OpenAPI document, the dashboard's pages), and
// every #fragment names an id on its page.
func TestDocsLinks(t *testing.T) {
	_, _, addr := testServer(t)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	type page struct {
		status int
		body   string
	}
	cache := map[string]page{}
	get := func(path string) page {
		if p, ok := cache[path]; ok {
			return p
		}
		res, err := c.Get(addr + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		p := page{res.StatusCode, string(b)}
		cache[path] = p
		return p
	}
	queue := []string{"/docs", "/"}
	seen := map[string]bool{"/docs": true, "/": true}
	pages := 0
	for len(queue) > 0 {
		from := queue[0]
		queue = queue[1:]
		p := get(from)
		if p.status != http.StatusOK {
			t.Fatalf("%s: status %d", from, p.status)
		}
		pages++
		for _, m := range hrefRE.FindAllStringSubmatch(p.body, -1) {
			href := strings.ReplaceAll(m[1], "&amp;", "&")
			u, err := url.Parse(href)
			if err != nil {
				t.Errorf("%s: bad link %q", from, href)
				continue
			}
			if u.Scheme != "" || u.Host != "" {
				continue // another site (an example URL)
			}
			path := u.Path
			if path == "" {
				path = from
			}
			target := get(path)
			// /login is a page; the static files are served too.
			if target.status != http.StatusOK {
				t.Errorf("%s links to %s: status %d", from, href, target.status)
				continue
			}
			if u.Fragment != "" && !hasID(target.body, u.Fragment) {
				t.Errorf("%s links to %s: no id %q on %s", from, href, u.Fragment, path)
			}
			if strings.HasPrefix(path, "/docs") && !seen[path] {
				seen[path] = true
				queue = append(queue, path)
			}
		}
	}
	if pages < 8 { // the landing page and seven docs pages
		t.Fatalf("crawled %d pages; the docs are not linked from /docs", pages)
	}
	if p := get("/docs/no-such-page"); p.status != http.StatusNotFound || !strings.Contains(p.body, "/docs") {
		t.Fatalf("unknown docs page: %d %.200s", p.status, p.body)
	}
}

func hasID(body, id string) bool {
	for _, m := range idRE.FindAllStringSubmatch(body, -1) {
		if m[1] == id {
			return true
		}
	}
	return false
}
