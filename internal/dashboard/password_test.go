package dashboard

import (
	"net/http"
	"net/url"
	"testing"
)

// TestGitHubAccountSetsPassword: an account made through GitHub sign-in
// has no password; its Account page offers to set one, and GitHub cannot
// be disconnected before (it would be locked out).
func TestGitHubAccountSetsPassword(t *testing.T) {
	g := newGitHubEnv(t, SignupOpen)
	b := g.browser()
	g.viaGitHub(b, "octo", "/login")
	res, _ := g.viaGitHub(b, "octo", "/auth/github?next=/account")
	want(t, "after GitHub", res, http.StatusOK, "octo@example.com")
	u, err := g.store.UserByEmail(t.Context(), "octo@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if u.HasPassword() {
		t.Fatalf("a GitHub-made account has a password hash %q", u.Password)
	}
	b.get("/account")
	want(t, "disconnect refused", b.post("/account/github/disconnect", nil), http.StatusSeeOther)
	want(t, "refusal says why", b.get("/account"), http.StatusOK, "Set a password below first", "Connected to GitHub as <b>@octo</b>", "Set a password")
	g.identity(u) // still linked
	want(t, "set", b.post("/account/password", url.Values{"new": {"octo password"}, "new2": {"octo password"}}), http.StatusSeeOther)
	b.get("/account")
	want(t, "disconnect", b.post("/account/github/disconnect", nil), http.StatusSeeOther)
	want(t, "disconnected", b.get("/account"), http.StatusOK, "GitHub disconnected", "Change password")
}
