package server

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestInvitesInBrowser: on a server with sign-up by invitation (the
// default), the admin invites an email on /admin/users by the form's
// label and sees the link once; in another browser the link opens the
// sign-up form with the email fixed, and the account it makes is signed
// in. Screenshots: admin-invite, signup-invite.
func TestInvitesInBrowser(t *testing.T) {
	s, _, addr := testServer(t)
	shots := artifacts(t)
	admin := newBrowser(t)
	run, text, shot := steps(t, admin, shots)
	run("admin signs in",
		chromedp.Navigate(addr+"/admin/users"),
		chromedp.WaitVisible(byLabel("Email")),
		chromedp.SendKeys(byLabel("Email"), "admin@example.com"),
		chromedp.SendKeys(byLabel("Password"), "password"),
		chromedp.Click(button("Sign in")),
		chromedp.WaitVisible(`//h2[normalize-space()="Invitations"]`),
	)
	run("invite",
		chromedp.SendKeys(byLabel("Email"), "carol@example.com"),
		chromedp.Click(button("Invite")),
		chromedp.WaitVisible(`#new-invite`),
	)
	shown := strings.TrimSpace(text(`#new-invite`))
	u, err := url.Parse(shown)
	if err != nil || u.Path != "/signup" || !strings.HasPrefix(u.Query().Get("invite"), "apg_") || !strings.HasSuffix(addr, ":"+u.Port()) {
		t.Fatalf("the page shows the link %q, want the server's /signup?invite=…", shown)
	}
	link := addr + u.RequestURI() // the server names itself localhost; the test dials 127.0.0.1
	if got := text(`//tr[@data-invite="carol@example.com"]`); !strings.Contains(got, "Pending") {
		t.Errorf("carol's row reads %q", got)
	}
	shot("admin-invite")

	carol := newBrowser(t)
	run, text, shot = steps(t, carol, shots)
	run("open the link", chromedp.Navigate(link), chromedp.WaitVisible(byLabel("Password")))
	email, err := chromedp.Run(carol, chromedp.Evaluate[string](`(() => { const e = document.getElementById("email"); return e.value + (e.readOnly ? " readonly" : "") })()`))
	if err != nil || email != "carol@example.com readonly" {
		t.Fatalf("the email field is %q (%v), want carol's, read-only", email, err)
	}
	shot("signup-invite")
	run("sign up",
		chromedp.SendKeys(byLabel("Password"), "carol password"),
		chromedp.SendKeys(byLabel("Password again"), "carol password"),
		chromedp.Click(button("Create account")),
		chromedp.WaitVisible(`//div[contains(@class,"flash") and contains(., "Welcome to Apogee")]`),
	)
	if got := text(`body`); !strings.Contains(got, "carol@example.com") {
		t.Errorf("after sign-up the page does not show carol signed in: %.300s", got)
	}
	if _, err := s.Store().UserByEmail(context.Background(), "carol@example.com"); err != nil {
		t.Fatalf("no account for carol: %v", err)
	}
	run("the link again", chromedp.Navigate(link), chromedp.WaitVisible(`//*[contains(., "does not work")]`))
}
