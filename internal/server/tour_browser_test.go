package server

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/client"
	"github.com/apogee-dev/apogee/internal/docs"
	"github.com/apogee-dev/apogee/internal/logs"
)

// tourSkips are the dashboard's GET routes that are not pages: streams
// and files. Every other GET route must be on the tour.
var tourSkips = map[string]string{
	"GET /static/":                         "files",
	"GET /events":                          "a stream",
	"GET /deployments/{id}/log":            "a stream",
	"GET /deployments/{id}/log.txt":        "a file to download",
	"GET /projects/{name}/app/status":      "a stream",
	"GET /projects/{name}/app/logs":        "a stream",
	"GET /projects/{name}/requests/stream": "a stream",
	"GET /auth/github":                     "a redirect to GitHub (not configured here)",
	"GET /auth/github/callback":            "GitHub's redirect back (not configured here)",
}

// tourStop is one page of the tour: its route pattern, the path to open
// and something that shows once it is there.
type tourStop struct {
	route, path, ready string
	signedIn           bool
}

// TestEveryPageAtPhoneAndLaptopWidth opens every page of the dashboard in
// chromium at 1280 and at 390 CSS pixels, saves a screenshot of each
// and fails when one scrolls sideways on the phone or shows a path of
// the server's data folder. A GET route of the dashboard that is not on
// the tour fails it too, so new pages join it.
func TestEveryPageAtPhoneAndLaptopWidth(t *testing.T) {
	data := t.TempDir()
	s, addr := startServer(t, Config{Data: data})
	ctx := context.Background()
	store := s.Store()
	secret := userToken(t, store, "a.rather.long.address.for.a.phone@example.com", "a long password", true)
	c := client.New(addr, secret)

	// Project web: two uploads, a preview building from a long branch.
	if _, err := c.CreateProject(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	var last *client.DeployResult
	for _, v := range []string{"v1", "v2"} {
		d, err := c.Deploy(ctx, site(t, v), client.DeployOptions{Project: "web", Production: true})
		if err != nil {
			t.Fatal(err)
		}
		last = d
	}
	p, err := store.ProjectByName(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	// Traffic of web through the edge, for its Analytics and Requests tabs.
	waitRouted(t, s, "web.localhost")
	visit(t, addr, "web.localhost", "/", uaChromeMac, "https://a-very-long-referring-site-name.example.com/with/a/path")
	visit(t, addr, "web.localhost", "/"+strings.Repeat("a-long-path-segment-", 6), uaSafariIPhone, "")
	waitTraffic(t, c, "web", 2)
	building := apogee.NewID()
	if err := store.QueueBuild(ctx, &apogee.Deployment{ID: building, ProjectID: p.ID, Target: apogee.TargetPreview,
		Host: apogee.DeploymentHost("web", building), CreatedAt: time.Now().UTC(), Source: apogee.SourceGit,
		Branch: "feature/a-very-long-branch-name-that-a-phone-cannot-fit-on-one-line",
		Commit: "4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39"}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.ClaimBuild(ctx, "test/1/1", time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	log := logs.NewWriter(building, store, s.hub, logs.Options{})
	io.WriteString(log.Stream(apogee.StreamStdout), "added 212 packages in 3s: "+strings.Repeat("a-long-unbroken-token-", 12)+"\n")
	// Project shop builds from the platform's own repository, as after a
	// first git push: its page must show the push URL, not a server path.
	if _, err := c.CreateProject(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	shop, err := store.ProjectByName(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	shop.Git = &apogee.GitSource{URL: "file://" + filepath.ToSlash(filepath.Join(data, "git", shop.ID+".git")), Branch: "main"}
	if err := store.UpdateProject(ctx, shop); err != nil {
		t.Fatal(err)
	}
	// A zone of web's owner, for the DNS pages.
	if err := store.CreateZone(ctx, &apogee.Zone{Name: "example.com", OwnerID: p.OwnerID, ProjectID: p.ID, CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	// A team with a project, a member's invitation pending, for the teams pages.
	if _, err := c.CreateTeam(ctx, "crew"); err != nil {
		t.Fatal(err)
	}
	crewInvite, err := c.InviteToTeam(ctx, "crew", apogee.TeamInviteRequest{Email: "a.new.colleague.with.a.long.address@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	// An open link (no email), which the signed-in tour may accept.
	crewOpen, err := c.InviteToTeam(ctx, "crew", apogee.TeamInviteRequest{Role: "viewer"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateProjectWith(ctx, apogee.CreateProjectRequest{Name: "crew-site", Team: "crew"}); err != nil {
		t.Fatal(err)
	}
	plans, err := store.ListPlans(ctx)
	if err != nil || len(plans) == 0 {
		t.Fatalf("plans: %v, %v", plans, err)
	}

	stops := []tourStop{
		{route: "GET /{$}", path: "/", ready: `//h1`},
		{route: "GET /login", path: "/login", ready: byLabel("Email")},
		{route: "GET /signup", path: "/signup", ready: `//h1[normalize-space()="Sign-up is by invitation"]`},
		{route: "/", path: "/no/such/page", ready: `//h1[normalize-space()="Not found"]`},
		{route: "GET /teams/join", path: "/teams/join?token=" + url.QueryEscape(crewInvite.Token), ready: byLabel("Password again")},
		{route: "GET /docs", path: "/docs", ready: `//article//h1`},
	}
	pages, err := docs.Pages()
	if err != nil {
		t.Fatal(err)
	}
	for _, pg := range pages {
		if pg.Slug == "" {
			continue // the index, at /docs
		}
		stops = append(stops, tourStop{route: "GET /docs/{page}", path: "/docs/" + pg.Slug, ready: `//article//h1`})
	}
	in := []tourStop{
		{route: "GET /{$}", path: "/", ready: `//a[@href="/projects/web"]`},
		{route: "GET /projects/new", path: "/projects/new", ready: byLabel("Name")},
		{route: "GET /projects/{name}", path: "/projects/web", ready: `//h1[normalize-space()="web"]`},
		{route: "GET /projects/{name}", path: "/projects/shop", ready: `//h1[normalize-space()="shop"]`},
		{route: "GET /projects/{name}/app", path: "/projects/web/app", ready: `//h1`},
		{route: "GET /projects/{name}/logs", path: "/projects/web/logs", ready: `#log`},
		{route: "GET /projects/{name}/analytics", path: "/projects/web/analytics", ready: `#figures`},
		{route: "GET /projects/{name}/analytics", path: "/projects/shop/analytics", ready: `#no-traffic`},
		{route: "GET /projects/{name}/requests", path: "/projects/web/requests", ready: `#request-table`},
		{route: "GET /projects/{name}/settings", path: "/projects/web/settings", ready: byLabel("Project name")},
		{route: "GET /projects/{name}/settings/build", path: "/projects/web/settings/build", ready: byLabel("Build command")},
		{route: "GET /projects/{name}/settings/serving", path: "/projects/web/settings/serving", ready: byLabel("Trailing slash")},
		{route: "GET /projects/{name}/settings/domains", path: "/projects/web/settings/domains", ready: byLabel("Domain")},
		{route: "GET /projects/{name}/settings/git", path: "/projects/web/settings/git", ready: `//h2[normalize-space()="Git"]`},
		{route: "GET /projects/{name}/settings/git", path: "/projects/shop/settings/git", ready: `//h2[normalize-space()="Git"]`},
		{route: "GET /projects/{name}/settings/environment", path: "/projects/web/settings/environment", ready: byLabel("Value")},
		{route: "GET /projects/{name}/settings/notifications", path: "/projects/web/settings/notifications", ready: byLabel("Receiver URL")},
		{route: "GET /deployments/{id}", path: "/deployments/" + last.Deployment.ID, ready: `#status`},
		{route: "GET /deployments/{id}", path: "/deployments/" + building, ready: `#live`},
		{route: "GET /dns", path: "/dns", ready: `//h1`},
		{route: "GET /dns/zones/{zone}", path: "/dns/zones/example.com", ready: `//h1[normalize-space()="example.com"]`},
		{route: "GET /account", path: "/account", ready: byLabel("Token name")},
		{route: "GET /{$}", path: "/?team=crew", ready: `//a[@href="/projects/crew-site"]`},
		{route: "GET /teams", path: "/teams", ready: `#teams`},
		{route: "GET /teams/{team}", path: "/teams/crew", ready: `#members`},
		{route: "GET /teams/join", path: "/teams/join?token=" + url.QueryEscape(crewOpen.Token), ready: `//button[normalize-space()="Join team"]`},
		{route: "GET /teams/join", path: "/teams/join?token=" + url.QueryEscape(crewInvite.Token), ready: `#invite-other-account`},
		{route: "GET /admin", path: "/admin", ready: `//h1`},
		{route: "GET /admin/users", path: "/admin/users", ready: `//h1`},
		{route: "GET /admin/projects", path: "/admin/projects", ready: `//h1`},
		{route: "GET /admin/deployments", path: "/admin/deployments", ready: `//h1`},
		{route: "GET /admin/audit", path: "/admin/audit", ready: `//tr[@data-action="team.create"]`},
		{route: "GET /admin/plans", path: "/admin/plans", ready: `//h1`},
		{route: "GET /admin/plans/{id}", path: "/admin/plans/" + url.PathEscape(plans[0].ID), ready: `//h1`},
	}
	for i := range in {
		in[i].signedIn = true
	}
	stops = append(stops, in...)

	// Every page route of the dashboard is on the tour.
	toured := map[string]bool{}
	for _, st := range stops {
		toured[st.route] = true
	}
	for _, r := range s.Routes() {
		if !isDashboardPage(r) || toured[r] {
			continue
		}
		if _, ok := tourSkips[r]; !ok {
			t.Errorf("dashboard page %s is not on the tour: add it to TestEveryPageAtPhoneAndLaptopWidth", r)
		}
	}

	b := newBrowser(t)
	shots := artifacts(t)
	run, _, shot := steps(t, b, shots)
	signedIn := false
	for i, st := range stops {
		if st.signedIn && !signedIn {
			run("sign in", desktop(), chromedp.Navigate(addr+"/login"),
				chromedp.SendKeys(byLabel("Email"), "a.rather.long.address.for.a.phone@example.com"),
				chromedp.SendKeys(byLabel("Password"), "a long password"),
				chromedp.Click(button("Sign in")),
				chromedp.WaitVisible(`//a[@href="/account"]`),
			)
			signedIn = true
		}
		name := fmt.Sprintf("tour-%02d-%s", i, shotName(st.path))
		run("open "+st.path, desktop(), chromedp.Navigate(addr+st.path), chromedp.WaitVisible(st.ready))
		html, err := chromedp.Run(b, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(html, data) {
			t.Errorf("%s shows a path of the server's data folder (%s)", st.path, data)
		}
		shot(name + "-1280")
		run("open "+st.path+" on a phone", phone(), chromedp.Navigate(addr+st.path), chromedp.WaitVisible(st.ready))
		wide, err := chromedp.Run(b, chromedp.Evaluate[string](widest))
		if err != nil {
			t.Fatal(err)
		}
		if wide != "" {
			t.Errorf("on a 390px phone %s scrolls sideways: %s", st.path, wide)
		}
		shot(name + "-390")
	}

	// The project name's pattern is one chromium compiles (with the v
	// flag, where a bare "-" in a class is an error and the pattern is
	// then ignored): a bad name fails the browser's own check.
	run("new project form", desktop(), chromedp.Navigate(addr+"/projects/new"), chromedp.WaitVisible(byLabel("Name")))
	for name, valid := range map[string]bool{"my-site-2": true, "My_Site": false, "-web": false} {
		got, err := chromedp.Run(b, chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const i = document.getElementById("name"); i.value = %q; return i.checkValidity(); })()`, name)))
		if err != nil {
			t.Fatal(err)
		}
		if got != valid {
			t.Errorf("the browser finds project name %q valid=%v, want %v", name, got, valid)
		}
	}

	// A new token: a copy button, and the location bar back at /account
	// (a reload must not post the form again).
	run("create a token", chromedp.Navigate(addr+"/account"), chromedp.WaitVisible(byLabel("Token name")),
		chromedp.SendKeys(byLabel("Token name"), "ci"), chromedp.Click(button("Create token")),
		chromedp.WaitVisible(`#new-token`), chromedp.WaitVisible(button("Copy token")))
	if loc, _ := chromedp.Run(b, chromedp.Location()); loc != addr+"/account" {
		t.Errorf("after creating a token the location is %s, want %s/account", loc, addr)
	}
	run("copy the token", chromedp.Click(button("Copy token")),
		chromedp.WaitVisible(`//button[@data-copy and (normalize-space()="Copied" or normalize-space()="Press Ctrl+C to copy")]`))
}

// widest is JavaScript that answers "" when the page fits its viewport,
// or how wide it is and the first element that sticks out.
const widest = `(() => {
  const vw = document.documentElement.clientWidth, sw = document.documentElement.scrollWidth;
  if (sw <= vw) return "";
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    let clipped = false;
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== "visible") { clipped = true; break; }
    }
    if (!clipped && r.right > vw + 1 && getComputedStyle(el).position !== "absolute") {
      const cls = el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\s+/).join(".") : "";
      return sw + "px wide; " + el.tagName.toLowerCase() + cls + " ends at " + Math.round(r.right) + "px";
    }
  }
  return sw + "px wide";
})()`

// isDashboardPage says route is a GET page of the dashboard rather than
// the API's, git's or the apex's own.
func isDashboardPage(route string) bool {
	if route == "/" {
		return true
	}
	path, ok := strings.CutPrefix(route, "GET ")
	if !ok {
		return false
	}
	return !slices.ContainsFunc([]string{"/api/", "/git/", "/metrics", "/healthz", "/readyz"}, func(p string) bool {
		return strings.HasPrefix(path, p)
	})
}

var unsafeName = regexp.MustCompile(`[^a-z0-9]+`)

func shotName(path string) string {
	n := strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(path), "-"), "-")
	if n == "" {
		return "home"
	}
	return n[:min(len(n), 40)]
}
