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
// browser of their own: the member is new to the server (sign-up is by
// invitation, the default) and makes an account on the link's page, the
// viewer signs in to an account they have; the member makes a team
// project on the new-project form, a token scoped to the team on the
// account page, deploys with it (the CLI's client) and sets a variable; the viewer sees the project and its
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
		// Signed out, the link's page offers signing in first, and
		// signing in comes back to it.
		run(email+" opens the link", desktop(), chromedp.Navigate(link),
			chromedp.WaitVisible(`//a[normalize-space()="Sign in" and starts-with(@href, "/login?next=")]`),
			chromedp.Click(`//a[normalize-space()="Sign in" and starts-with(@href, "/login?next=")]`),
			chromedp.WaitVisible(byLabel("Email")),
			chromedp.SendKeys(byLabel("Email"), email),
			chromedp.SendKeys(byLabel("Password"), password),
			chromedp.Click(button("Sign in")),
			chromedp.WaitVisible(button("Join team")))
		run(email+" joins", chromedp.Click(button("Join team")),
			chromedp.WaitVisible(`//div[contains(@class,"flash") and contains(., "You joined team acme as `+role+`")]`))
		return b, run, text, shot
	}
	// The member has no account: the link's page makes one and joins.
	mb := newBrowser(t)
	mrun, mtext, mshot := steps(t, mb, shots)
	mrun("member opens the link", desktop(), chromedp.Navigate(toMember),
		chromedp.WaitVisible(byLabel("Password again")),
		chromedp.WaitVisible(`//h1[normalize-space()="Join team acme"]`))
	mshot("team-join-signup")
	mrun("member makes an account and joins",
		chromedp.SendKeys(byLabel("Password"), "member password"),
		chromedp.SendKeys(byLabel("Password again"), "member password"),
		chromedp.Click(button("Create account and join")),
		chromedp.WaitVisible(`//div[contains(@class,"flash") and contains(., "You joined team acme as member")]`),
		chromedp.WaitVisible(`//a[@href="/account"]`))
	if u, err := store.UserByEmail(ctx, "member@example.com"); err != nil || u.Admin {
		t.Fatalf("the member's new account: %+v, %v", u, err)
	}
	// The used link makes nothing more: a clear page.
	ab := newBrowser(t)
	arun, atext, _ := steps(t, ab, shots)
	arun("someone opens the used link", desktop(), chromedp.Navigate(toMember), chromedp.WaitVisible(`//h1`))
	if body := atext(`body`); !strings.Contains(body, "used already") || strings.Contains(body, "Create account and join") {
		t.Errorf("the used link's page: %.400s", body)
	}
	_, vrun, vtext, vshot := join("viewer@example.com", "viewer password", toViewer, "viewer")

	// The member makes a team project on the form and deploys to it.
	mrun("member makes a team project", chromedp.Navigate(addr+"/projects/new"),
		chromedp.WaitVisible(byLabel("Owner")),
		chromedp.SendKeys(byLabel("Name"), "site"),
		chromedp.SetValue(`#team`, "acme"),
		chromedp.Click(button("Create project")),
		chromedp.WaitVisible(`//h1[normalize-space()="site"]`),
	)
	// A token scoped to the team, made on the account page.
	mrun("member makes a team token", chromedp.Navigate(addr+"/account"),
		chromedp.WaitVisible(byLabel("Token name")),
		chromedp.SendKeys(byLabel("Token name"), "deploy"),
		chromedp.SetValue(`#token-team`, "acme"),
		chromedp.Click(button("Create token")),
		chromedp.WaitVisible(`#new-token`))
	memberTok := strings.TrimSpace(mtext(`#new-token`))
	if !strings.HasPrefix(memberTok, "apg_") || !strings.Contains(mtext(`body`), "team acme") {
		t.Fatalf("the account page made the token %q", memberTok)
	}
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
		{"invite.signup", "member@example.com"},
		{"invite.accept", "viewer@example.com"},
		{"project.create", "member@example.com"},
		{"deployment.create", "member@example.com"},
		{"production.deploy", "member@example.com"},
		{"env.set", "member@example.com"},
		{"access.refused", "viewer@example.com"},
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
	// One refusal: the viewer's change. Reading pages refuses nothing.
	if n := strings.Count(audit, "access.refused"); n != 1 {
		t.Errorf("the audit log has %d refusals, want 1 (the viewer's variable):\n%s", n, audit)
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
