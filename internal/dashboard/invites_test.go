package dashboard

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/auth"
)

var inviteLinkRE = regexp.MustCompile(`<pre class="code secret" id="new-invite">([^<]+)</pre>`)

// invite makes an invitation through the admin page and returns the
// link's path and query (/signup?invite=…).
func (b *browser) invite(email string) string {
	b.e.t.Helper()
	b.get("/admin/users")
	res := b.post("/admin/invites", url.Values{"email": {email}, "expires": {"7d"}})
	want(b.e.t, "invite "+email, res, 200, "Invitation for "+email+" created", "will not be shown again")
	m := inviteLinkRE.FindStringSubmatch(res.body)
	if m == nil {
		b.e.t.Fatalf("no link on the page: %.2000s", res.body)
	}
	u, err := url.Parse(strings.ReplaceAll(m[1], "&amp;", "&"))
	if err != nil || u.Path != "/signup" || u.Query().Get("invite") == "" {
		b.e.t.Fatalf("link %q", m[1])
	}
	return u.RequestURI()
}

func (e *env) pendingInvites() []string {
	e.t.Helper()
	list, err := e.store.ListInvites(context.Background(), time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, i := range list {
		out = append(out, i.Email)
	}
	return out
}

func (e *env) noUser(what, email string) {
	e.t.Helper()
	if _, err := e.store.UserByEmail(context.Background(), email); !errors.Is(err, apogee.ErrNotFound) {
		e.t.Fatalf("%s: an account %s exists: %v", what, email, err)
	}
}

// TestInviteAdminPages: who may invite and revoke, bad input, and the
// link shown once.
func TestInviteAdminPages(t *testing.T) {
	e := newEnv(t, SignupInvite)
	admin := e.signedIn(e.admin)
	res := admin.get("/admin/users")
	want(t, "users page", res, 200, "Invite a user", `<label for="invite-email">Email</label>`, "No pending invitations")

	link := admin.invite("carol@example.com")
	res = admin.get("/admin/users")
	want(t, "pending", res, 200, `data-invite="carol@example.com"`, "Pending", "Revoke the invitation for carol@example.com")
	if strings.Contains(res.body, "signup?invite") {
		t.Fatal("the users page shows the link again")
	}

	// No session, another user, no CSRF token: refused, nothing changed.
	alice := e.signedIn(e.alice)
	anon := e.browser()
	list, _ := e.store.ListInvites(context.Background(), time.Now())
	id := list[0].ID
	for _, c := range []struct {
		name string
		b    *browser
		path string
		form url.Values
		code int
	}{
		{"no session invites", anon, "/admin/invites", url.Values{"email": {"x@example.com"}, "expires": {"7d"}}, 403},
		{"no session revokes", anon, "/admin/invites/" + id + "/revoke", nil, 403},
		{"non-admin invites", alice, "/admin/invites", url.Values{"email": {"x@example.com"}, "expires": {"7d"}}, 403},
		{"non-admin revokes", alice, "/admin/invites/" + id + "/revoke", nil, 403},
		{"no csrf invites", admin, "/admin/invites", url.Values{"email": {"x@example.com"}, "expires": {"7d"}, "csrf": {""}}, 403},
		{"no csrf revokes", admin, "/admin/invites/" + id + "/revoke", url.Values{"csrf": {""}}, 403},
	} {
		want(t, c.name, c.b.post(c.path, c.form), c.code)
		if got := e.pendingInvites(); strings.Join(got, ",") != "carol@example.com" {
			t.Fatalf("%s changed the invites: %v", c.name, got)
		}
	}
	want(t, "non-admin page", alice.get("/admin/users"), 403)

	// Bad input: back to the page with the reason, nothing made.
	for _, c := range []struct{ name, email, expires, msg string }{
		{"not an email", "carol", "7d", "you@example.com"},
		{"empty", "", "7d", "you@example.com"},
		{"has an account", "Alice@example.com", "7d", "has an account already"},
		{"bad expiry", "x@example.com", "forever", "choose how long"},
	} {
		admin.get("/admin/users")
		res := admin.post("/admin/invites", url.Values{"email": {c.email}, "expires": {c.expires}})
		if res.code != http.StatusSeeOther || res.location != "/admin/users" {
			t.Fatalf("%s: %d %q", c.name, res.code, res.location)
		}
		want(t, c.name+" flash", admin.get("/admin/users"), 200, c.msg)
		if got := e.pendingInvites(); strings.Join(got, ",") != "carol@example.com" {
			t.Fatalf("%s changed the invites: %v", c.name, got)
		}
	}

	// Revoke: the link stops working; revoking again is the 404 page.
	admin.get("/admin/users")
	want(t, "revoke", admin.post("/admin/invites/"+id+"/revoke", nil), 303)
	want(t, "revoked flash", admin.get("/admin/users"), 200, "Invitation revoked", "No pending invitations")
	want(t, "revoke again", admin.post("/admin/invites/"+id+"/revoke", nil), 404)
	want(t, "revoked link", e.browser().get(link), 404, "does not work")
}

// TestInviteSignupFlow drives sign-up by invitation as a browser would:
// a cookie jar, the forms' CSRF tokens, redirects seen.
func TestInviteSignupFlow(t *testing.T) {
	for _, mode := range []string{SignupInvite, SignupOpen} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, mode)
			ctx := context.Background()
			if mode == SignupOpen { // newEnv makes no users then
				e.admin = e.user("admin@example.com", true)
				e.alice = e.user("alice@example.com", false)
			}
			admin := e.signedIn(e.admin)
			link := admin.invite("carol@example.com")

			// The form has the email fixed by the invite.
			b := e.browser()
			want(t, "form", b.get(link), 200, `value="carol@example.com"`, "readonly", "set by your invitation",
				`<label for="password">`, `<label for="password2">`)
			token := mustURL(link).Query().Get("invite")
			form := func(email, pw, pw2 string) url.Values {
				return url.Values{"invite": {token}, "email": {email}, "password": {pw}, "password2": {pw2}}
			}

			// Bad input: the form again with the reason, nothing made.
			want(t, "short", b.post("/signup", form("carol@example.com", "short", "short")), 400, "at least 8", `value="carol@example.com"`)
			want(t, "differ", b.post("/signup", form("carol@example.com", "password one", "password two")), 400, "differ")
			nocsrf := form("carol@example.com", "carol password", "carol password")
			nocsrf.Set("csrf", "")
			want(t, "no csrf", b.post("/signup", nocsrf), 403)
			e.noUser("refused sign-ups", "carol@example.com")

			// A changed email field is ignored: the invite says who.
			res := b.post("/signup", form("mallory@example.com", "carol password", "carol password"))
			if res.code != http.StatusSeeOther || res.location != "/" {
				t.Fatalf("sign-up = %d %q %.500s", res.code, res.location, res.body)
			}
			e.noUser("changed email", "mallory@example.com")
			want(t, "signed in", b.get("/"), 200, "carol@example.com")
			carol, err := e.store.UserByEmail(ctx, "carol@example.com")
			if err != nil || carol.Admin {
				t.Fatalf("carol = %+v, %v", carol, err)
			}
			wantSignedUp(t, e.svc, carol, "signed up by invitation")
			if got := e.pendingInvites(); len(got) != 0 {
				t.Fatalf("the used invite is still pending: %v", got)
			}
			// Her password signs her in.
			fresh := e.browser()
			fresh.get("/login")
			want(t, "carol signs in", fresh.post("/login", url.Values{"email": {"carol@example.com"}, "password": {"carol password"}}), 303)

			// Used twice: the clear page, nothing made.
			again := e.browser()
			want(t, "used link", again.get(link), 404, "does not work", "used already")
			again.get("/login")
			want(t, "used link posted", again.post("/signup", form("carol2@example.com", "other password", "other password")), 404, "does not work")
			e.noUser("used twice", "carol2@example.com")

			// Expired and unknown links: the same page.
			secret, hash := auth.NewToken()
			old := &apogee.Invite{Email: "old@example.com", Hash: hash, InvitedBy: e.admin.ID,
				CreatedAt: time.Now().Add(-8 * 24 * time.Hour), ExpiresAt: time.Now().Add(-time.Hour)}
			if err := e.store.CreateInvite(ctx, old); err != nil {
				t.Fatal(err)
			}
			want(t, "expired link", again.get("/signup?invite="+url.QueryEscape(secret)), 404, "has expired")
			token = secret
			want(t, "expired link posted", again.post("/signup", form("old@example.com", "old password", "old password")), 404, "does not work")
			e.noUser("expired", "old@example.com")
			want(t, "unknown link", again.get("/signup?invite=apg_nothing"), 404, "does not work")
			want(t, "empty link", again.get("/signup?invite="), 404, "does not work")

			// An email that got an account after the invite: 409, the
			// invite stays pending and alice's account unchanged.
			secret, hash = auth.NewToken()
			late := &apogee.Invite{Email: "alice@example.com", Hash: hash, InvitedBy: e.admin.ID,
				CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
			if err := e.store.CreateInvite(ctx, late); err != nil {
				t.Fatal(err)
			}
			token = secret
			again.get("/signup?invite=" + url.QueryEscape(secret))
			want(t, "existing email", again.post("/signup", form("alice@example.com", "new alice password", "new alice password")), 409, "exists already")
			if got := e.pendingInvites(); strings.Join(got, ",") != "alice@example.com" {
				t.Fatalf("a refused sign-up used the invite: %v", got)
			}
			if a, _ := e.store.UserByEmail(ctx, "alice@example.com"); a.Password != e.alice.Password {
				t.Fatal("a refused sign-up changed alice's password")
			}
		})
	}
}

// TestSignupByInvitationOnly: without a link, an invite-mode server says
// how to get an account, and signs no one up.
func TestSignupByInvitationOnly(t *testing.T) {
	e := newEnv(t, SignupInvite)
	b := e.browser()
	want(t, "plain signup", b.get("/signup"), 404, "by invitation", "invitation link")
	b.get("/login")
	want(t, "plain signup posted", b.post("/signup", url.Values{"email": {"x@example.com"}, "password": {"x password"}, "password2": {"x password"}}), 404, "by invitation")
	e.noUser("plain signup", "x@example.com")
	want(t, "login page", b.get("/login"), 200, "by invitation")
}

// TestSetPassword: an account without a password (made through GitHub)
// cannot sign in by password until its owner sets one, which asks for no
// current password.
func TestSetPassword(t *testing.T) {
	e := newEnv(t, SignupInvite)
	ctx := context.Background()
	gh := &apogee.User{ID: apogee.NewID(), Email: "octo@example.com", Password: "", CreatedAt: time.Now()}
	if err := e.store.CreateUser(ctx, gh); err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{password, "anything at all"} {
		fresh := e.browser()
		fresh.get("/login")
		want(t, "no password yet", fresh.post("/login", url.Values{"email": {gh.Email}, "password": {pw}}), 401, "wrong email or password")
	}
	// A session as GitHub sign-in would make it.
	b := e.browser()
	id := newSecret()
	now := time.Now().UTC()
	if err := e.store.CreateSession(ctx, &apogee.Session{Hash: hashID(id), UserID: gh.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour), LastSeen: now}); err != nil {
		t.Fatal(err)
	}
	b.c.Jar.SetCookies(mustURL(e.srv.URL), []*http.Cookie{{Name: sessionCookie, Value: id, Path: "/"}})
	res := b.get("/account")
	want(t, "account", res, 200, "Set a password", "has no password yet", `<label for="new">`, "Set password")
	if strings.Contains(res.body, `<label for="current">`) {
		t.Fatal("the set-a-password form asks for a current password")
	}
	want(t, "short", b.post("/account/password", url.Values{"new": {"short"}, "new2": {"short"}}), 400, "at least 8")
	want(t, "no csrf", b.post("/account/password", url.Values{"new": {"octo password"}, "new2": {"octo password"}, "csrf": {""}}), 403)
	if u, _ := e.store.UserByID(ctx, gh.ID); u.HasPassword() {
		t.Fatal("a refused form set a password")
	}
	want(t, "set", b.post("/account/password", url.Values{"new": {"octo password"}, "new2": {"octo password"}}), 303)
	res = b.get("/account")
	want(t, "set flash", res, 200, "Password set", `<label for="current">`, "Change password")
	fresh := e.browser()
	fresh.get("/login")
	want(t, "signs in with it", fresh.post("/login", url.Values{"email": {gh.Email}, "password": {"octo password"}}), 303)

	// Once set, changing it asks for the current one as before.
	b.get("/account")
	want(t, "change without current", b.post("/account/password", url.Values{"new": {"other password"}, "new2": {"other password"}}), 400, "current password is wrong")
}
