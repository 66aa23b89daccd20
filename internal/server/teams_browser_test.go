package server

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/apogee-dev/apogee/internal/client"
)

// TestTeamsInBrowser (issue 19): in chromium, an owner makes team acme
// and invites a member and a viewer by links shown once; each joins in a
// browser of their own; the member makes a team project on the
// new-project form and deploys to it (with the CLI's client and their
// token) and sets a variable; the viewer sees the project and its
// deployment, no variable's value and no webhook secret, and is refused
// a change; the owner's team page shows each step in the audit log.
// Screenshots: team-owner, team-viewer-refused, team-audit.
func TestTeamsInBrowser(t *testing.T) {
	s, _, addr := testServer(t)
	// The client's calls are bounded: a stuck deploy fails the test
	// rather than hanging the package.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	store := s.Store()
	userToken(t, store, "owner@example.com", "owner password", false)
	memberTok := userToken(t, store, "member@example.com", "member password", false)
	userToken(t, store, "viewer@example.com", "viewer password", false)
	shots := artifacts(t)

	signIn := func(run func(string, ...chromedp.Action[chromedp.Void]), email, password, path string) {
		run("sign in as "+email, desktop(), chromedp.Navigate(addr+path),
			chromedp.WaitVisible(byLabel("Email")),
			chromedp.SendKeys(byLabel("Email"), email),
			chromedp.SendKeys(byLabel("Password"), password),
			chromedp.Click(button("Sign in")),
			chromedp.WaitVisible(`//a[@href="/account"]`),
		)
	}

	owner := newBrowser(t)
	run, text, shot := steps(t, owner, shots)
	signIn(run, "owner@example.com", "owner password", "/teams")
	run("create the team",
		chromedp.WaitVisible(byLabel("Team name")),
		chromedp.SendKeys(byLabel("Team name"), "acme"),
		chromedp.Click(button("Create team")),
		chromedp.WaitVisible(`#members`),
	)
	invite := func(email, role string) string {
		// From a fresh team page, where no link is shown: the link
		// waited for is then the one this invitation made (after the
		// first, the page would still show the first's until the form's
		// answer replaced it).
		run("invite "+email+" as "+role,
			chromedp.Navigate(addr+"/teams/acme"),
			chromedp.WaitVisible(byLabel("Email")),
			chromedp.SendKeys(byLabel("Email"), email),
			chromedp.SetValue(`#invite-role`, role),
			chromedp.Click(button("Invite")),
			chromedp.WaitVisible(`#new-team-invite`),
		)
		u, err := url.Parse(strings.TrimSpace(text(`#new-team-invite`)))
		if err != nil || u.Path != "/teams/join" || !strings.HasPrefix(u.Query().Get("token"), "apg_") {
			t.Fatalf("the page shows the link %v (%v), want /teams/join?token=apg_…", u, err)
		}
		return addr + u.RequestURI()
	}
	toMember := invite("member@example.com", "member")
	toViewer := invite("viewer@example.com", "viewer")
	shot("team-owner")

	join := func(email, password, link, role string) (context.Context, func(string, ...chromedp.Action[chromedp.Void]), func(string) string, func(string)) {
		b := newBrowser(t)
		run, text, shot := steps(t, b, shots)
		signIn(run, email, password, "/teams/join?"+mustParse(t, link).RawQuery)
		run(email+" joins", chromedp.Click(button("Join team")),
			chromedp.WaitVisible(`//div[contains(@class,"flash") and contains(., "You joined team acme as `+role+`")]`))
		return b, run, text, shot
	}
	_, mrun, _, _ := join("member@example.com", "member password", toMember, "member")
	_, vrun, vtext, vshot := join("viewer@example.com", "viewer password", toViewer, "viewer")

	// The member makes a team project on the form and deploys to it.
	mrun("member makes a team project", chromedp.Navigate(addr+"/projects/new"),
		chromedp.WaitVisible(byLabel("Owner")),
		chromedp.SendKeys(byLabel("Name"), "site"),
		chromedp.SetValue(`#team`, "acme"),
		chromedp.Click(button("Create project")),
		chromedp.WaitVisible(`//h1[normalize-space()="site"]`),
	)
	mc := client.New(addr, memberTok)
	d, err := mc.Deploy(ctx, site(t, "hello from the team"), client.DeployOptions{Project: "site", Production: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mc.SetEnv(ctx, "site", "API_URL", "the-plain-value-viewers-never-see", false); err != nil {
		t.Fatal(err)
	}
	pv, err := mc.GetProject(ctx, "site")
	if err != nil || pv.WebhookSecret == "" || pv.Team != "acme" {
		t.Fatalf("the member's view of site: %+v, %v", pv, err)
	}

	// The viewer sees the project and its deployment, no secret, and is
	// refused a change.
	vrun("viewer opens the project", chromedp.Navigate(addr+"/projects/site"),
		chromedp.WaitVisible(`//h1[normalize-space()="site"]`))
	if body := vtext(`body`); !strings.Contains(body, d.Deployment.ID[:7]) && !strings.Contains(body, d.Deployment.ID) {
		t.Errorf("the viewer's project page does not show the deployment %s: %.400s", d.Deployment.ID, body)
	}
	for _, path := range []string{"/projects/site/settings/environment", "/projects/site/settings/git", "/projects/site/settings"} {
		vrun("viewer opens "+path, chromedp.Navigate(addr+path), chromedp.WaitVisible(`//h1`))
		page := vtext(`body`)
		for _, secret := range []string{"the-plain-value-viewers-never-see", pv.WebhookSecret} {
			if strings.Contains(page, secret) {
				t.Errorf("the viewer sees a secret value on %s", path)
			}
		}
	}
	vrun("viewer tries to add a variable", chromedp.Navigate(addr+"/projects/site/settings/environment"),
		chromedp.WaitVisible(byLabel("Value")),
		chromedp.SendKeys(byLabel("Name"), "HACKED"),
		chromedp.SendKeys(byLabel("Value"), "by the viewer"),
		chromedp.Click(button("Save")),
		chromedp.WaitVisible(`//div[contains(@class,"flash") and contains(., "viewer")]`),
	)
	vshot("team-viewer-refused")
	page := vtext(`body`)
	for _, secret := range []string{"the-plain-value-viewers-never-see", pv.WebhookSecret} {
		if strings.Contains(page, secret) {
			t.Errorf("the viewer's page shows a secret value %q", secret)
		}
	}
	if env, err := store.ListEnv(ctx, pv.ID); err != nil || len(env) != 1 {
		t.Errorf("variables after the viewer's attempt: %+v, %v", env, err)
	}

	// The owner's audit log shows each step.
	run("owner reads the audit log", chromedp.Navigate(addr+"/teams/acme"), chromedp.WaitVisible(`#audit`))
	shot("team-audit")
	audit := text(`#audit`)
	for _, step := range []struct{ action, actor string }{
		{"team.create", "owner@example.com"},
		{"invite.create", "owner@example.com"},
		{"invite.accept", "member@example.com"},
		{"invite.accept", "viewer@example.com"},
		{"project.create", "member@example.com"},
		{"deployment.create", "member@example.com"},
		{"production.deploy", "member@example.com"},
		{"env.set", "member@example.com"},
	} {
		found := false
		for _, line := range strings.Split(audit, "\n") {
			if strings.Contains(line, step.action) && strings.Contains(line, step.actor) {
				found = true
			}
		}
		if !found {
			t.Errorf("the audit log has no %s by %s:\n%s", step.action, step.actor, audit)
		}
	}
	if strings.Contains(audit, "HACKED") {
		t.Errorf("the viewer's refused change is in the audit log as if made:\n%s", audit)
	}
	if !strings.Contains(audit, "127.0.0.1") {
		t.Errorf("the audit log shows no client address:\n%s", audit)
	}
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
