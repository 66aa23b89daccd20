package server

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/apogee-dev/apogee"
)

// adminSteps is TestDashboardInBrowser's admin part: the server's admin
// (testServer's admin@example.com) signs in, opens /admin and sees the
// figures of what the test did, then the other admin pages, on a laptop
// and on a phone.
func adminSteps(t *testing.T, b context.Context, addr string, store apogee.Store,
	run func(string, ...chromedp.Action[chromedp.Void]), text func(string) string, shot func(string)) {
	t.Helper()
	ctx := context.Background()
	// What the test made, counted the plain way: every project's deployments.
	projects, err := store.ListProjects(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	made := 0
	for _, p := range projects {
		ds, err := store.ListDeployments(ctx, p.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		made += len(ds)
	}
	if made < 3 {
		t.Fatalf("the test made %d deployments before the admin step; want at least v1, v2 and the build", made)
	}

	run("admin signs in",
		chromedp.Navigate(addr+"/admin"),
		chromedp.WaitVisible(byLabel("Email")),
		chromedp.SendKeys(byLabel("Email"), "admin@example.com"),
		chromedp.SendKeys(byLabel("Password"), "password"),
		chromedp.Click(button("Sign in")),
		chromedp.WaitVisible(`//h1[normalize-space()="Overview"]`),
	)
	card := func(label string) string {
		t.Helper()
		return strings.TrimSpace(text(`//li[contains(@class,"figure")][span[@class="label" and normalize-space()="` + label + `"]]/span[@class="value"]`))
	}
	if got := card("Deployments, 30 days"); got != strconv.Itoa(made) {
		t.Errorf("the overview shows %s deployments in 30 days; the test made %d", got, made)
	}
	if got := card("Projects"); got != strconv.Itoa(len(projects)) {
		t.Errorf("the overview shows %s projects, want %d", got, len(projects))
	}
	// The edge served the test's site at least twice (v2, then v1 after
	// the rollback), and this process's counters say so.
	if got, err := strconv.Atoi(strings.ReplaceAll(card("Requests served"), ",", "")); err != nil || got < 2 {
		t.Errorf("the overview shows %q edge requests, want at least the test's 2", card("Requests served"))
	}
	bars, err := chromedp.Run(b, chromedp.Evaluate[int](`document.querySelectorAll("figure.chart rect.bar:not(.zero)").length`))
	if err != nil || bars < 1 {
		t.Errorf("the chart draws %d non-empty bars (%v), want today's at least", bars, err)
	}
	// The stylesheet applies: cards in a grid, bars in the accent colour
	// (a lost brace in app.css once left them a bulleted list of black bars).
	style, err := chromedp.Run(b, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("ul.figures")).display + " " +
		getComputedStyle(document.querySelector("figure.chart rect.bar:not(.zero)")).fill`))
	if err != nil || !strings.HasPrefix(style, "grid ") || strings.HasSuffix(style, "rgb(0, 0, 0)") {
		t.Errorf("the overview's figures and bars are styled %q (%v), want a grid and coloured bars", style, err)
	}
	shot("admin")

	run("admin projects", chromedp.Navigate(addr+"/admin/projects"), chromedp.WaitVisible(`//tr[@data-project="web"]`))
	if got := text(`//tr[@data-project="web"]`); !strings.Contains(got, "dev@example.com") || !strings.Contains(got, "http://web.localhost") {
		t.Errorf("the web row reads %q, want its owner and production URL", got)
	}
	shot("admin-projects")
	run("admin deployments", chromedp.Navigate(addr+"/admin/deployments"), chromedp.WaitVisible(`table.admin-deployments`))
	rows, _ := chromedp.Run(b, chromedp.Evaluate[int](`document.querySelectorAll("table.admin-deployments tbody tr").length`))
	if rows != made {
		t.Errorf("the deployments page lists %d, want the test's %d", rows, made)
	}
	shot("admin-deployments")

	// Disable the developer: the row says so, and the store has it.
	run("admin users", chromedp.Navigate(addr+"/admin/users"), chromedp.WaitVisible(`//tr[@data-user="dev@example.com"]`))
	shot("admin-users")
	run("disable a user",
		void(chromedp.Evaluate[bool](`window.confirm = () => true; true`)),
		chromedp.Click(`//button[@aria-label="Disable dev@example.com"]`),
		chromedp.WaitVisible(`//div[contains(@class,"flash") and contains(., "dev@example.com is disabled")]`),
	)
	if got := text(`//tr[@data-user="dev@example.com"]`); !strings.Contains(got, "Disabled") {
		t.Errorf("after disabling, dev's row reads %q", got)
	}
	if u, err := store.UserByEmail(ctx, "dev@example.com"); err != nil || !u.Disabled() {
		t.Errorf("dev@example.com is not disabled in the store: %+v %v", u, err)
	}
	shot("admin-users-disabled")
	run("admin plans", chromedp.Navigate(addr+"/admin/plans"), chromedp.WaitVisible(byLabel("Plan name")))
	shot("admin-plans")

	// A phone: the pages read without sideways scrolling.
	for _, p := range []struct{ path, wait, name string }{
		{"/admin", `figure.chart`, "admin-phone"},
		{"/admin/projects", `table.admin-projects`, "admin-projects-phone"},
		{"/admin/deployments", `table.admin-deployments`, "admin-deployments-phone"},
		{"/admin/users", `table.admin-users`, "admin-users-phone"},
		{"/admin/plans", `table.admin-plans`, "admin-plans-phone"},
	} {
		run(p.name, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)), chromedp.Navigate(addr+p.path), chromedp.WaitVisible(p.wait))
		if w, _ := chromedp.Run(b, chromedp.Evaluate[float64](`document.documentElement.scrollWidth`)); w > 390 {
			t.Errorf("on a 390px phone %s is %vpx wide: it scrolls sideways", p.path, w)
		}
		shot(p.name)
	}
	run("back to a laptop", chromedp.EmulateViewport(1280, 900))
}
