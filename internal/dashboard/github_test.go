package dashboard

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/egress"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/github"
	"github.com/apogee-dev/apogee/internal/github/githubtest"
	"github.com/apogee-dev/apogee/internal/logs"
	"github.com/apogee-dev/apogee/internal/platform"
	"github.com/apogee-dev/apogee/internal/secretbox"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// clock is a settable time shared by the dashboard, its GitHub client and
// the fake GitHub, so a test can let tokens expire without waiting.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// ghEnv is env with sign-in by GitHub against a fake GitHub.
type ghEnv struct {
	*env
	gh    *githubtest.Server
	clock *clock
	dbDir string
}

const (
	ghClientID     = "Iv1.apogeetest"
	ghClientSecret = "s3cret-of-the-app"
)

// GitHub accounts of the fake: octo's primary email is verified and new
// to Apogee; alicegh's is alice@example.com; sly claims alice's address
// without GitHub having verified it.
var (
	octo = githubtest.User{ID: 101, Login: "octo", Name: "Octo Cat",
		Emails: []githubtest.Email{{Email: "old@example.com", Verified: true}, {Email: "Octo@Example.com", Primary: true, Verified: true}},
		Repos:  []githubtest.Repo{{FullName: "octo/Web.Site", DefaultBranch: "trunk"}, {FullName: "octo/secret-api", Private: true, DefaultBranch: "main"}}}
	aliceGH = githubtest.User{ID: 202, Login: "alicegh", Emails: []githubtest.Email{{Email: "alice@example.com", Primary: true, Verified: true}},
		Repos: []githubtest.Repo{{FullName: "alicegh/blog", DefaultBranch: "main"}}}
	sly = githubtest.User{ID: 303, Login: "sly", Emails: []githubtest.Email{{Email: "alice@example.com", Primary: true, Verified: false}}}
)

func newGitHubEnv(t *testing.T, signup string, opts ...func(*Config, *githubtest.Server)) *ghEnv {
	t.Helper()
	store, blobs, dir := testbed.Backends(t)
	log := testbed.Quiet
	bus := events.NewLocal(log)
	t.Cleanup(func() { bus.Close() })
	hub := logs.NewHub(0)
	box := secretbox.NewRandom()
	clk := &clock{}
	fake := githubtest.New(t, ghClientID, ghClientSecret)
	fake.Now = clk.Now
	for _, u := range []githubtest.User{octo, aliceGH, sly} {
		fake.AddUser(u)
	}
	gh, err := github.New(github.Config{ClientID: ghClientID, ClientSecret: ghClientSecret, WebURL: fake.WebURL(), APIURL: fake.APIURL(),
		Store: store, Box: box, Now: clk.Now, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	// The fake GitHub's clone URLs are http on 127.0.0.1.
	svc, a := services(t, platform.Config{Store: store, Blobs: blobs, Bus: bus, Logs: hub, Log: log, Box: box,
		GitSchemes: []string{"https", "http"}, GitPolicy: egress.Policy{AllowPrivate: true}})
	var base string
	cfg := Config{Store: store, Services: svc, Logs: hub, Signup: signup, Log: log, Now: clk.Now, GitHub: gh,
		BaseURL: func() string { return base }}
	for _, o := range opts {
		o(&cfg, fake)
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: store, hub: hub, box: box, api: a, svc: svc, signup: signup, srv: httptest.NewServer(d)}
	t.Cleanup(e.srv.Close)
	base = e.srv.URL
	fake.CallbackURL = base + "/auth/github/callback"
	e.alice = e.user("alice@example.com", false)
	e.bob = e.user("bob@example.com", false)
	return &ghEnv{env: e, gh: fake, clock: clk, dbDir: dir}
}

// viaGitHub signs in (or connects) with GitHub as login the way a
// browser does: from start it follows every redirect, through the fake
// GitHub and back, with the browser's cookie jar. It returns the last page
// and its path.
func (g *ghEnv) viaGitHub(b *browser, login, start string) (response, string) {
	g.t.Helper()
	g.gh.SignIn(login)
	follow := &http.Client{Jar: b.c.Jar} // follows redirects
	res, err := follow.Get(g.srv.URL + start)
	if err != nil {
		g.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if m := csrfRE.FindSubmatch(body); m != nil {
		b.csrf = string(m[1])
	}
	return response{code: res.StatusCode, body: string(body), header: res.Header}, res.Request.URL.Path
}

func (g *ghEnv) identity(u *apogee.User) *apogee.Identity {
	g.t.Helper()
	id, err := g.store.IdentityOfUser(context.Background(), u.ID, apogee.ProviderGitHub)
	if err != nil {
		g.t.Fatalf("identity of %s: %v", u.Email, err)
	}
	return id
}

func (g *ghEnv) users() int {
	g.t.Helper()
	us, err := g.store.ListUsers(context.Background())
	if err != nil {
		g.t.Fatal(err)
	}
	return len(us)
}

// rawIdentities returns every column of every identities row as text,
// read from the database file itself.
func (g *ghEnv) rawIdentities() string {
	g.t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(g.dbDir, "apogee.db")+"?mode=ro")
	if err != nil {
		g.t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT provider, provider_user_id, user_id, login, access_token, refresh_token, reconnect FROM identities")
	if err != nil {
		g.t.Fatal(err)
	}
	defer rows.Close()
	var sb strings.Builder
	for rows.Next() {
		var cols [7]string
		if err := rows.Scan(&cols[0], &cols[1], &cols[2], &cols[3], &cols[4], &cols[5], &cols[6]); err != nil {
			g.t.Fatal(err)
		}
		fmt.Fprintln(&sb, strings.Join(cols[:], " | "))
	}
	return sb.String()
}

// wantSealed fails unless the database holds none of login's live tokens
// in plain text, and holds some sealed values.
func (g *ghEnv) wantSealed(login string) {
	g.t.Helper()
	raw := g.rawIdentities()
	toks := g.gh.Tokens(login)
	if len(toks) == 0 {
		g.t.Fatalf("fake GitHub has no live token of %s", login)
	}
	for _, tok := range toks {
		if strings.Contains(raw, tok) {
			g.t.Fatalf("token %s… is stored in plain text: %s", tok[:8], raw)
		}
	}
	if !strings.Contains(raw, "v1:") {
		g.t.Fatalf("no sealed token in the identities table: %s", raw)
	}
}

func TestGitHubSignIn(t *testing.T) {
	t.Run("new user with open sign-up, then known identity", func(t *testing.T) {
		g := newGitHubEnv(t, SignupOpen)
		b := g.browser()
		res, path := g.viaGitHub(b, "octo", "/login")
		want(t, "sign-in page", res, http.StatusOK, "Continue with GitHub", `href="/auth/github?next=%2f"`)
		res, path = g.viaGitHub(b, "octo", "/auth/github?next=/account")
		want(t, "after GitHub", res, http.StatusOK, "Welcome to Apogee, @octo", "octo@example.com")
		if path != "/" {
			t.Errorf("new account landed on %s, want /", path)
		}
		// The authorize request was GitHub's, with PKCE and our callback.
		q := g.gh.LastAuthorize()
		if q.Get("client_id") != ghClientID || q.Get("redirect_uri") != g.srv.URL+"/auth/github/callback" ||
			q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || len(q.Get("state")) != 43 ||
			q.Get("scope") != "read:user user:email write:repo_hook repo:status repo_deployment public_repo" {
			t.Errorf("authorize query = %v", q)
		}
		u, err := g.store.UserByEmail(t.Context(), "octo@example.com")
		if err != nil {
			t.Fatalf("no user made from the verified primary email: %v", err)
		}
		if u.Admin {
			t.Error("a GitHub sign-up on a server with users became admin")
		}
		id := g.identity(u)
		if id.Login != "octo" || id.ProviderUserID != "101" || id.AccessExpiresAt == nil || id.RefreshExpiresAt == nil || id.RefreshToken == "" {
			t.Errorf("identity = %+v", id)
		}
		g.wantSealed("octo")
		if n := g.users(); n != 3 {
			t.Fatalf("%d users, want 3", n)
		}

		// Signed out, the same GitHub account signs in to the same user.
		want(t, "sign out", b.post("/logout", nil), http.StatusSeeOther)
		res, path = g.viaGitHub(b, "octo", "/auth/github?next=/account")
		want(t, "known identity", res, http.StatusOK, "Connected to GitHub as <b>@octo</b>")
		if path != "/account" {
			t.Errorf("known identity landed on %s, want /account (next)", path)
		}
		if n := g.users(); n != 3 {
			t.Fatalf("%d users after signing in again, want 3", n)
		}
		// Both are in octo's audit log, as a password sign-in is, saying
		// it was GitHub, with the client's address.
		g.wantSignIns(u, "signin octo@example.com octo@example.com 127.0.0.1 with GitHub as @octo",
			"signin octo@example.com octo@example.com 127.0.0.1 signed up with GitHub as @octo")
	})

	t.Run("existing email gets linked", func(t *testing.T) {
		g := newGitHubEnv(t, SignupClosed)
		b := g.browser()
		res, path := g.viaGitHub(b, "alicegh", "/auth/github")
		want(t, "linked", res, http.StatusOK, "alice@example.com")
		if path != "/" {
			t.Errorf("landed on %s", path)
		}
		if id := g.identity(g.alice); id.Login != "alicegh" {
			t.Fatalf("alice's identity = %+v", id)
		}
		want(t, "account", b.get("/account"), http.StatusOK, "Connected to GitHub as <b>@alicegh</b>",
			`<tr data-action="signin">`, "with GitHub as @alicegh")
		g.wantSignIns(g.alice, "signin alice@example.com alice@example.com 127.0.0.1 with GitHub as @alicegh")
	})

	t.Run("disabled user", func(t *testing.T) {
		g := newGitHubEnv(t, SignupClosed)
		b := g.browser()
		g.viaGitHub(b, "alicegh", "/auth/github") // linked while enabled
		want(t, "sign out", b.post("/logout", nil), http.StatusSeeOther)
		at := time.Now().UTC()
		if err := g.store.SetUserDisabled(t.Context(), g.alice.ID, &at); err != nil {
			t.Fatal(err)
		}
		before := g.identity(g.alice)
		res, path := g.viaGitHub(b, "alicegh", "/auth/github")
		want(t, "disabled", res, http.StatusUnauthorized, "this account is disabled")
		if path != "/auth/github/callback" {
			t.Errorf("ended on %s", path)
		}
		if res := b.get("/account"); res.code != http.StatusSeeOther {
			t.Errorf("a disabled user got a session: /account = %d", res.code)
		}
		if after := g.identity(g.alice); after.AccessToken != before.AccessToken {
			t.Error("a refused sign-in stored new tokens")
		}
	})

	// Every refusal: a page that says what happened, and nothing stored.
	for _, tt := range []struct {
		name   string
		signup string
		login  string
		setup  func(g *ghEnv)
		start  string
		status int
		says   string
	}{
		{"closed sign-up", SignupClosed, "octo", nil, "/auth/github", http.StatusForbidden, "sign-up on this server is by invitation; ask its admin"},
		{"unverified email does not link", SignupClosed, "sly", nil, "/auth/github", http.StatusForbidden, "no verified primary email"},
		{"unverified email, open sign-up", SignupOpen, "sly", nil, "/auth/github", http.StatusForbidden, "no verified primary email"},
		{"access denied", SignupOpen, "octo", func(g *ghEnv) { g.gh.Deny(true) }, "/auth/github", http.StatusForbidden, "you did not allow Apogee to use your GitHub account"},
		{"failed exchange", SignupOpen, "octo", func(g *ghEnv) { g.gh.SetClientSecret("rotated") }, "/auth/github", http.StatusUnauthorized, "GitHub did not accept the sign-in (The client_id and/or client_secret passed are incorrect.)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := newGitHubEnv(t, tt.signup)
			if tt.setup != nil {
				tt.setup(g)
			}
			b := g.browser()
			res, path := g.viaGitHub(b, tt.login, tt.start)
			want(t, tt.name, res, tt.status, tt.says)
			if path != "/auth/github/callback" {
				t.Errorf("ended on %s", path)
			}
			if n := g.users(); n != 2 {
				t.Errorf("%d users, want the 2 there were", n)
			}
			if raw := g.rawIdentities(); raw != "" {
				t.Errorf("identities stored: %s", raw)
			}
			if res := b.get("/account"); res.code != http.StatusSeeOther {
				t.Errorf("signed in after a refusal: /account = %d", res.code)
			}
			g.wantSignIns(g.alice)
		})
	}
}

// wantSignIns fails unless u's audit log holds exactly the entries want
// ("action actor target address detail"), newest first.
func (g *ghEnv) wantSignIns(u *apogee.User, want ...string) {
	g.t.Helper()
	es, err := g.svc.Audit.Audit(as(u), apogee.AuditRequest{})
	if err != nil {
		g.t.Fatal(err)
	}
	got := []string{}
	for _, e := range es {
		got = append(got, strings.Join([]string{e.Action, e.Actor, e.Target, e.ClientAddr, e.Detail}, " "))
	}
	if want == nil {
		want = []string{}
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		g.t.Fatalf("%s's audit log:\n got  %q\n want %q", u.Email, got, want)
	}
}

func TestGitHubBadState(t *testing.T) {
	g := newGitHubEnv(t, SignupOpen)
	g.gh.SignIn("octo")
	b := g.browser()
	// The flow's own redirect to GitHub, then GitHub's answer by hand.
	start := b.get("/auth/github")
	want(t, "start", start, http.StatusFound)
	auth, _ := url.Parse(start.location)
	if !strings.HasPrefix(start.location, g.gh.URL+"/login/oauth/authorize?") {
		t.Fatalf("redirect to %s", start.location)
	}
	res, err := b.c.Get(start.location)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	back, _ := url.Parse(res.Header.Get("Location"))
	code := back.Query().Get("code")
	if code == "" || back.Query().Get("state") != auth.Query().Get("state") {
		t.Fatalf("GitHub's redirect %s", back)
	}
	for _, tt := range []struct {
		name  string
		b     *browser
		query string
	}{
		{"wrong state", b, "code=" + code + "&state=" + strings.Repeat("A", 43)},
		{"no state", b, "code=" + code},
		{"another browser", g.browser(), back.RawQuery},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want(t, tt.name, tt.b.get("/auth/github/callback?"+tt.query), http.StatusForbidden, "not started in this browser")
		})
	}
	// The first wrong answer cleared the flow: even the right one fails now.
	want(t, "after a bad state", b.get("/auth/github/callback?"+back.RawQuery), http.StatusForbidden, "not started in this browser")
	if n := g.users(); n != 2 {
		t.Errorf("%d users, want 2", n)
	}
}

func TestGitHubRateLimit(t *testing.T) {
	g := newGitHubEnv(t, SignupOpen)
	b := g.browser()
	for range 10 {
		want(t, "bad state", b.get("/auth/github/callback?code=x&state=y"), http.StatusForbidden)
	}
	want(t, "11th", b.get("/auth/github/callback?code=x&state=y"), http.StatusTooManyRequests, "too many failed sign-ins")
	res, _ := g.viaGitHub(b, "octo", "/auth/github")
	want(t, "a good sign-in while limited", res, http.StatusTooManyRequests)
}

func TestGitHubConnectAndDisconnect(t *testing.T) {
	g := newGitHubEnv(t, SignupClosed)
	b := g.signedIn(g.bob)
	want(t, "account", b.get("/account"), http.StatusOK, "Not connected", `href="/auth/github"`)
	// bob connects octo (whose email is not his): the link is by session.
	res, path := g.viaGitHub(b, "octo", "/auth/github")
	want(t, "connected", res, http.StatusOK, "Connected to GitHub as @octo.", "Connected to GitHub as <b>@octo</b>", "Disconnect")
	if path != "/account" {
		t.Errorf("landed on %s", path)
	}
	g.wantSealed("octo")
	// alice cannot take octo.
	a := g.signedIn(g.alice)
	res, _ = g.viaGitHub(a, "octo", "/auth/github")
	want(t, "octo is bob's", res, http.StatusConflict, "linked to another Apogee account")
	if _, err := g.store.IdentityOfUser(t.Context(), g.alice.ID, "github"); !errors.Is(err, apogee.ErrNotFound) {
		t.Errorf("alice got an identity: %v", err)
	}

	want(t, "no CSRF", b.post("/account/github/disconnect", url.Values{"csrf": {""}}), http.StatusForbidden)
	g.identity(g.bob)
	want(t, "signed out", g.browser().post("/account/github/disconnect", nil), http.StatusForbidden)
	want(t, "disconnect", b.post("/account/github/disconnect", nil), http.StatusSeeOther)
	want(t, "account after", b.get("/account"), http.StatusOK, "GitHub disconnected", "Not connected")
	if raw := g.rawIdentities(); raw != "" {
		t.Errorf("identity kept: %s", raw)
	}
	want(t, "again", b.post("/account/github/disconnect", nil), http.StatusSeeOther)
	want(t, "account after again", b.get("/account"), http.StatusOK, "GitHub was not connected")
}

func TestGitHubRepositoriesAndRefresh(t *testing.T) {
	g := newGitHubEnv(t, SignupOpen)
	b := g.browser()
	g.viaGitHub(b, "octo", "/auth/github")
	u, err := g.store.UserByEmail(t.Context(), "octo@example.com")
	if err != nil {
		t.Fatal(err)
	}
	before := g.identity(u)

	res := b.get("/projects/new")
	want(t, "repositories", res, http.StatusOK, "octo/Web.Site", "octo/secret-api", "private",
		`href="/projects/new?branch=trunk&amp;git_url=`+url.QueryEscape(g.gh.URL+"/octo/Web.Site.git")+`&amp;kind=git&amp;name=web-site"`,
		`list="github-repos"`)
	if n := g.gh.Refreshes(); n != 0 {
		t.Fatalf("%d refreshes of a fresh token", n)
	}
	// Picking one fills the form.
	want(t, "picked", b.get("/projects/new?kind=git&git_url="+url.QueryEscape(g.gh.URL+"/octo/Web.Site.git")+"&branch=trunk&name=web-site"),
		http.StatusOK, `value="web-site"`, `value="trunk"`, `id="kind-git" name="kind" value="git" checked`)

	// Nine hours on, the 8-hour access token has expired at GitHub: the
	// page renews it with the refresh token and stores the new pair sealed.
	g.clock.advance(9 * time.Hour)
	want(t, "after expiry", b.get("/projects/new"), http.StatusOK, "octo/Web.Site")
	if n := g.gh.Refreshes(); n != 1 {
		t.Fatalf("%d refreshes, want 1", n)
	}
	after := g.identity(u)
	if after.AccessToken == before.AccessToken || after.RefreshToken == before.RefreshToken ||
		!after.AccessExpiresAt.After(*before.AccessExpiresAt) || after.Reconnect != "" {
		t.Fatalf("tokens not replaced: before %+v, after %+v", before, after)
	}
	g.wantSealed("octo")
	// The renewed token is used as it is until it expires.
	want(t, "again", b.get("/projects/new"), http.StatusOK, "octo/Web.Site")
	if n := g.gh.Refreshes(); n != 1 {
		t.Fatalf("%d refreshes, want still 1", n)
	}
	if n := g.gh.APICalls("/api/v3/user/repos"); n != 4 {
		t.Errorf("%d repository listings reached GitHub, want 4 (no call with an expired token)", n)
	}
}

func TestGitHubFailedRefresh(t *testing.T) {
	for _, tt := range []struct {
		name   string
		revoke bool
		after  time.Duration
		why    string
	}{
		{"revoked at GitHub", true, 9 * time.Hour, "GitHub refused the refresh token: The refresh token passed is incorrect or expired."},
		{"refresh token expired", false, 25 * time.Hour, "the refresh token expired"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := newGitHubEnv(t, SignupClosed)
			g.gh.RefreshTTL = 24 * time.Hour
			b := g.signedIn(g.alice)
			g.viaGitHub(b, "alicegh", "/auth/github")
			if tt.revoke {
				g.gh.Revoke("alicegh")
			}
			g.clock.advance(tt.after)
			want(t, "new project", b.get("/projects/new"), http.StatusOK,
				"GitHub no longer accepts Apogee&#39;s access to @alicegh", "reconnect GitHub on your Account page", `id="git_url"`)
			if id := g.identity(g.alice); id.Reconnect != tt.why {
				t.Fatalf("reconnect = %q, want %q", id.Reconnect, tt.why)
			}
			want(t, "account", b.get("/account"), http.StatusOK, "Needs reconnecting", "Reconnect GitHub")
			n := g.gh.Refreshes()
			b.get("/projects/new")
			if g.gh.Refreshes() != n {
				t.Error("a marked connection tried to refresh again")
			}
			// Reconnecting clears the mark.
			res, _ := g.viaGitHub(b, "alicegh", "/auth/github")
			want(t, "reconnected", res, http.StatusOK, "Connected to GitHub as <b>@alicegh</b>")
			if id := g.identity(g.alice); id.Reconnect != "" {
				t.Fatalf("still marked: %q", id.Reconnect)
			}
			want(t, "repositories again", b.get("/projects/new"), http.StatusOK, "Your GitHub repositories", "alicegh/blog")
		})
	}
}

func TestGitHubOff(t *testing.T) {
	e := newEnv(t, SignupOpen)
	b := e.browser()
	want(t, "login", b.get("/login"), http.StatusOK, "Sign in")
	if strings.Contains(b.get("/login").body, "GitHub") || strings.Contains(b.get("/signup").body, "GitHub") {
		t.Error("GitHub shows with no client id")
	}
	for _, p := range []string{"/auth/github", "/auth/github/callback?code=x&state=y"} {
		want(t, p, b.get(p), http.StatusNotFound)
	}
}

// Importing a repository of the connected GitHub creates its webhook
// through GitHub's API (json, the project's secret, push and
// pull_request), queues the first build and goes to the project page. A
// token without the webhook scope leaves the project built by hand: the
// settings page's manual steps, with the reason.
func TestGitHubImportCreatesWebhook(t *testing.T) {
	for _, tt := range []struct {
		name     string
		grant    []string // nil: every scope asked
		location string
		flash    string
		hooks    int
	}{
		{"hook created", nil, "/projects/web-site", "GitHub sends its pushes to Apogee", 1},
		{"no webhook scope", []string{"read:user", "user:email"}, "/projects/web-site/settings/git", "sign in with GitHub again", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := newGitHubEnv(t, SignupOpen)
			g.gh.Grant = tt.grant
			b := g.browser()
			g.viaGitHub(b, "octo", "/auth/github")
			b.get("/projects/new")
			res := b.post("/projects/new", url.Values{"kind": {"git"}, "name": {"web-site"},
				"git_url": {g.gh.URL + "/octo/Web.Site.git"}, "branch": {"trunk"}})
			if res.code != http.StatusSeeOther || res.location != tt.location {
				t.Fatalf("import = %d %q, want 303 %q; %.300s", res.code, res.location, tt.location, res.body)
			}
			want(t, "landing", b.get(tt.location), http.StatusOK, "first build is queued", tt.flash)
			if tt.hooks == 0 { // the manual steps are on the page
				want(t, "manual webhook", b.get(tt.location), http.StatusOK, "/api/v1/webhooks/github", "Show webhook secret")
			}
			p, err := g.store.ProjectByName(t.Context(), "web-site")
			if err != nil {
				t.Fatal(err)
			}
			secret, err := p.OpenWebhookSecret(g.box)
			if err != nil || secret == "" {
				t.Fatalf("secret %q, %v", secret, err)
			}
			hooks := g.gh.Hooks("octo/Web.Site")
			if len(hooks) != tt.hooks {
				t.Fatalf("%d hooks, want %d: %+v", len(hooks), tt.hooks, hooks)
			}
			if tt.hooks > 0 {
				h := hooks[0]
				wantHook := githubtest.Hook{ID: h.ID, Name: "web", Active: true, Events: []string{"push", "pull_request"},
					Config: githubtest.HookConfig{URL: g.srv.URL + "/api/v1/webhooks/github", ContentType: "json", Secret: secret, InsecureSSL: "0"}}
				if fmt.Sprint(h) != fmt.Sprint(wantHook) {
					t.Fatalf("hook %+v, want %+v", h, wantHook)
				}
			}
			deps, err := g.store.ListDeployments(t.Context(), p.ID, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(deps) != 1 || deps[0].Branch != "trunk" {
				t.Fatalf("deployments %+v, want the first build of trunk", deps)
			}
		})
	}
}
