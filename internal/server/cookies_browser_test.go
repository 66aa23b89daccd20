package server

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/apogee-dev/apogee/internal/client"
)

// TestSiteCannotSetTheDashboardsCookie is issue 10's attack, in
// chromium: a site's _headers sets the dashboard's session cookie for
// the platform's whole domain (Domain=apogee.test; chromium maps the
// names to 127.0.0.1, and refuses Domain=localhost on its own, so the
// test uses a domain a browser would accept), a signed-in user visits
// the site, and the dashboard must still know them as themselves. The
// site's host-only cookie, for its own host, still reaches the browser,
// so the test sees the site's header rules at work.
func TestSiteCannotSetTheDashboardsCookie(t *testing.T) {
	s, addr := startServer(t, Config{Data: t.TempDir(), Domain: "apogee.test"})
	c := client.New(addr, userToken(t, s.Store(), "admin@example.com", "password", true))
	ctx := context.Background()
	u, err := url.Parse(addr)
	if err != nil {
		t.Fatal(err)
	}
	port := u.Port()
	dashboard := "http://apogee.test:" + port
	site := "http://evil.apogee.test:" + port

	if _, err := c.CreateProject(ctx, "evil"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("<h1>nothing to see</h1>"), 0o644)
	os.WriteFile(filepath.Join(dir, "own.html"), []byte("<h1>own</h1>"), 0o644)
	os.WriteFile(filepath.Join(dir, "_headers"), []byte("/\n"+
		"  Set-Cookie: apogee_session=forged; Domain=apogee.test; Path=/\n"+
		"/own.html\n"+
		"  Set-Cookie: visited=yes; Path=/\n"), 0o644)
	if _, err := c.Deploy(ctx, dir, client.DeployOptions{Project: "evil", Production: true}); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, chromedp.Flag("host-resolver-rules", "MAP apogee.test 127.0.0.1, MAP *.apogee.test 127.0.0.1"))
	run, text, _ := steps(t, b, artifacts(t))
	run("sign in to the dashboard",
		chromedp.Navigate(dashboard+"/login"),
		chromedp.WaitVisible(byLabel("Email")),
		chromedp.SendKeys(byLabel("Email"), "admin@example.com"),
		chromedp.SendKeys(byLabel("Password"), "password"),
		chromedp.Click(button("Sign in")),
		chromedp.WaitVisible(`//a[normalize-space()="Sign out"] | //button[normalize-space()="Sign out"]`),
	)
	run("visit the site", chromedp.Navigate(site+"/"), chromedp.WaitVisible(`h1`),
		chromedp.Navigate(site+"/own.html"), chromedp.WaitVisible(`h1`))

	got, err := chromedp.Call(b, network.GetCookies, network.GetCookiesParams{URLs: []string{dashboard + "/", site + "/"}})
	if err != nil {
		t.Fatalf("read the browser's cookies: %v", err)
	}
	cookies := got.Cookies
	var sessions, visited int
	for _, ck := range cookies {
		switch ck.Name {
		case "apogee_session":
			sessions++
			if ck.Value == "forged" || ck.Domain != "apogee.test" {
				t.Errorf("the browser holds the site's session cookie: %s=%s for domain %q", ck.Name, ck.Value, ck.Domain)
			}
		case "visited":
			visited++
		}
	}
	if visited != 1 {
		t.Errorf("the site's own host-only cookie did not arrive (cookies: %d), so its header rules were not applied", len(cookies))
	}
	if sessions != 1 {
		t.Errorf("%d apogee_session cookies, want the dashboard's one", sessions)
	}
	run("back to the dashboard", chromedp.Navigate(dashboard+"/account"), chromedp.WaitVisible(`body`))
	if got := text(`body`); !strings.Contains(got, "admin@example.com") {
		t.Errorf("after visiting the site the dashboard does not know its user: %.300s", got)
	}
}
