package dashboard

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/auth"
)

// teamLink makes an invitation to team as u and returns its link's path
// and query (/teams/join?token=…) and its token.
func (e *env) teamLink(u *apogee.User, team, email, role string) (string, string) {
	e.t.Helper()
	inv, err := e.svc.Teams.Invite(as(u), team, apogee.TeamInviteRequest{Email: email, Role: role})
	if err != nil {
		e.t.Fatal(err)
	}
	return "/teams/join?token=" + url.QueryEscape(inv.Token), inv.Token
}

func (e *env) memberRole(team, email string) apogee.Role {
	e.t.Helper()
	ms, err := e.svc.Teams.Members(as(e.alice), team)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, m := range ms {
		if m.Email == email {
			return m.Role
		}
	}
	return ""
}

// TestTeamJoinBySignup: on a server where sign-up is by invitation only,
// a team's invitation link lets a new person make an account and join in
// one step; a link that no longer works says so and makes nothing; a
// person with an account signs in and joins.
func TestTeamJoinBySignup(t *testing.T) {
	for db, plat := range backends {
		t.Run(db, func(t *testing.T) { testTeamJoinBySignup(t, newEnvOn(t, SignupInvite, nil, plat(t), nil)) })
	}
}

func testTeamJoinBySignup(t *testing.T, e *env) {
	ctx := context.Background()
	if _, err := e.svc.Teams.CreateTeam(as(e.alice), apogee.CreateTeamRequest{Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	link, token := e.teamLink(e.alice, "acme", "", "member")

	// Signed out: the page says which team and role, and has the form.
	b := e.browser()
	want(t, "join page", b.get(link), 200, "Join team acme", "<b>member</b>", "Create account and join",
		`<label for="password2">`, `href="/login?next=%2fteams%2fjoin%3ftoken%3d`)
	form := func(email, pw, pw2 string) url.Values {
		return url.Values{"token": {token}, "email": {email}, "password": {pw}, "password2": {pw2}}
	}

	// Bad input: the form again with the reason; nothing made, the link
	// still pending.
	for _, c := range []struct {
		name string
		form url.Values
		code int
		msg  string
	}{
		{"short", form("dora@example.com", "short", "short"), 400, "at least 8"},
		{"differ", form("dora@example.com", "password one", "password two"), 400, "differ"},
		{"not an email", form("dora", "dora password", "dora password"), 400, "you@example.com"},
		{"has an account", form("Alice@example.com", "dora password", "dora password"), 409, "exists already: sign in"},
	} {
		want(t, c.name, b.post("/teams/join/signup", c.form), c.code, c.msg, "Create account and join")
	}
	nocsrf := form("dora@example.com", "dora password", "dora password")
	nocsrf.Set("csrf", "")
	want(t, "no csrf", b.post("/teams/join/signup", nocsrf), 403)
	e.noUser("refused sign-ups", "dora@example.com")
	if inv, err := e.svc.Teams.Invites(as(e.alice), "acme"); err != nil || len(inv) != 1 {
		t.Fatalf("refused sign-ups used the invitation: %v, %v", inv, err)
	}

	// The account and the membership in one step; signed in after.
	res := b.post("/teams/join/signup", form("Dora@Example.com", "dora password", "dora password"))
	if res.code != http.StatusSeeOther || res.location != "/teams/acme" {
		t.Fatalf("sign-up and join = %d %q %.500s", res.code, res.location, res.body)
	}
	want(t, "team page", b.get("/teams/acme"), 200, "You joined team acme as member", "dora@example.com")
	dora, err := e.store.UserByEmail(ctx, "dora@example.com")
	if err != nil || dora.Admin {
		t.Fatalf("dora = %+v, %v", dora, err)
	}
	if r := e.memberRole("acme", "dora@example.com"); r != apogee.RoleMember {
		t.Fatalf("dora's role = %q", r)
	}
	fresh := e.browser()
	fresh.get("/login")
	want(t, "dora signs in", fresh.post("/login", url.Values{"email": {"dora@example.com"}, "password": {"dora password"}}), 303)
	es, err := e.svc.Audit.Audit(as(e.alice), apogee.AuditRequest{Team: "acme"})
	if err != nil || len(es) == 0 || es[0].Action != "invite.signup" || es[0].Actor != "dora@example.com" || es[0].ClientAddr != "127.0.0.1" {
		t.Fatalf("audit after sign-up = %+v, %v", es, err)
	}

	// The used link: a clear page, nothing made.
	again := e.browser()
	want(t, "used link", again.get(link), 400, "used already")
	again.get("/login")
	want(t, "used link posted", again.post("/teams/join/signup", form("eve@example.com", "eve password", "eve password")), 400, "used already")
	e.noUser("used link", "eve@example.com")

	// An invitation naming an email makes that account, whatever the
	// form says.
	link, token = e.teamLink(e.alice, "acme", "frank@example.com", "viewer")
	want(t, "fixed email", again.get(link), 200, `value="frank@example.com"`, "readonly", "<b>viewer</b>")
	res = again.post("/teams/join/signup", form("mallory@example.com", "frank password", "frank password"))
	if res.code != http.StatusSeeOther {
		t.Fatalf("fixed-email sign-up = %d %.500s", res.code, res.body)
	}
	e.noUser("changed email", "mallory@example.com")
	if r := e.memberRole("acme", "frank@example.com"); r != apogee.RoleViewer {
		t.Fatalf("frank's role = %q", r)
	}

	// Revoked, expired and unknown links: the clear page, nothing made.
	link, token = e.teamLink(e.alice, "acme", "", "member")
	invs, _ := e.svc.Teams.Invites(as(e.alice), "acme")
	if err := e.svc.Teams.RevokeInvite(as(e.alice), "acme", invs[0].ID); err != nil {
		t.Fatal(err)
	}
	other := e.browser()
	want(t, "revoked link", other.get(link), 400, "revoked")
	other.get("/login")
	want(t, "revoked link posted", other.post("/teams/join/signup", form("gina@example.com", "gina password", "gina password")), 400, "revoked")
	e.noUser("revoked", "gina@example.com")
	team, err := e.store.TeamByName(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	secret, hash := auth.NewToken()
	old := &apogee.TeamInvite{TeamID: team.ID, Role: apogee.RoleMember, Hash: hash, InvitedBy: e.alice.ID,
		CreatedAt: time.Now().Add(-8 * 24 * time.Hour), ExpiresAt: time.Now().Add(-time.Hour)}
	if err := e.store.CreateTeamInvite(ctx, old); err != nil {
		t.Fatal(err)
	}
	token = secret
	want(t, "expired link", other.get("/teams/join?token="+url.QueryEscape(secret)), 400, "has expired")
	want(t, "expired link posted", other.post("/teams/join/signup", form("hal@example.com", "hal password", "hal password")), 400, "has expired")
	e.noUser("expired", "hal@example.com")
	want(t, "unknown link", other.get("/teams/join?token=apg_nothing"), 400, "used already")
	want(t, "empty link", other.get("/teams/join?token="), 400, "no invitation token")

	// Someone with an account: the page offers joining as them.
	link, _ = e.teamLink(e.alice, "acme", "", "viewer")
	bob := e.signedIn(e.bob)
	want(t, "signed-in join page", bob.get(link), 200, "Join it as <b>bob@example.com</b>", `action="/teams/join"`)
	if strings.Contains(bob.get(link).body, "Create account and join") {
		t.Fatal("a signed-in person is offered a new account")
	}
	want(t, "bob joins", bob.post("/teams/join", url.Values{"token": {mustURL(link).Query().Get("token")}}), 303)
	if r := e.memberRole("acme", "bob@example.com"); r != apogee.RoleViewer {
		t.Fatalf("bob's role = %q", r)
	}
	if _, err := e.store.UserByEmail(ctx, "eve@example.com"); !errors.Is(err, apogee.ErrNotFound) {
		t.Fatal("eve has an account")
	}

	// An invitation for another email: the page says which account to
	// sign in with and offers no join; posting it anyway is refused with
	// the same words; nothing changes. Signing out comes back to the
	// page, which then makes that account.
	link, token = e.teamLink(e.alice, "acme", "Ivy@Example.com", "owner")
	res = bob.get(link)
	want(t, "someone else's invitation", res, 200, `id="invite-other-account"`, "is for ivy@example.com", "sign in as ivy@example.com",
		"Sign out and come back here")
	if strings.Contains(res.body, `action="/teams/join"`) {
		t.Fatal("the page offers bob to join with ivy's invitation")
	}
	res = bob.post("/teams/join", url.Values{"token": {token}})
	want(t, "bob posts ivy's invitation", res, 303)
	want(t, "the refusal", bob.get(res.location), 200, "is for ivy@example.com", "sign in as ivy@example.com")
	if r := e.memberRole("acme", "bob@example.com"); r != apogee.RoleViewer {
		t.Fatalf("bob's role after posting ivy's owner invitation = %q", r)
	}
	if invs, err := e.svc.Teams.Invites(as(e.alice), "acme"); err != nil || len(invs) != 1 || invs[0].Email != "ivy@example.com" {
		t.Fatalf("ivy's invitation after bob's try: %+v, %v", invs, err)
	}
	res = bob.post("/logout", url.Values{"next": {link}})
	if res.code != http.StatusSeeOther || res.location != link {
		t.Fatalf("sign out from the page = %d %q; want back to %s", res.code, res.location, link)
	}
	want(t, "signed out, ivy's page", bob.get(link), 200, `value="ivy@example.com"`, "readonly", "Create account and join")
}

// TestScopedTokens: the account page makes the tokens `apogee tokens
// create --team --read-only` makes, and the API holds them to it.
func TestScopedTokens(t *testing.T) {
	for db, plat := range backends {
		t.Run(db, func(t *testing.T) { testScopedTokens(t, newEnvOn(t, SignupInvite, nil, plat(t), nil)) })
	}
}

func testScopedTokens(t *testing.T, e *env) {
	for _, team := range []string{"acme", "globex"} {
		if _, err := e.svc.Teams.CreateTeam(as(e.alice), apogee.CreateTeamRequest{Name: team}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.Teams.CreateTeam(as(e.bob), apogee.CreateTeamRequest{Name: "bobs"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct{ team, name string }{{"acme", "site"}, {"globex", "shop"}, {"", "mine"}} {
		if _, err := e.svc.Projects.CreateProject(as(e.alice), apogee.CreateProjectRequest{Name: p.name, Team: p.team}); err != nil {
			t.Fatal(err)
		}
	}
	b := e.signedIn(e.alice)
	want(t, "account", b.get("/account"), 200, `<label for="token-team">Scope</label>`, `<option value="acme">team acme only</option>`,
		`<option value="globex">team globex only</option>`, `<label for="token-read-only">Read-only</label>`)
	if strings.Contains(b.get("/account").body, `value="bobs"`) {
		t.Fatal("the scope list offers another person's team")
	}
	tokenRE := regexp.MustCompile(`apg_[A-Za-z0-9_-]{43}`)
	mint := func(form url.Values) string {
		t.Helper()
		res := b.post("/account/tokens", form)
		want(t, "token "+form.Get("name"), res, 200, "Copy it now")
		return tokenRE.FindString(res.body)
	}
	call := func(tok, method, path, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		e.api.ServeHTTP(rec, req)
		return rec.Code
	}
	acmeRW := mint(url.Values{"name": {"acme-ci"}, "expires": {"30d"}, "team": {"acme"}})
	acmeRO := mint(url.Values{"name": {"acme-ro"}, "expires": {"30d"}, "team": {"acme"}, "read_only": {"on"}})
	allRO := mint(url.Values{"name": {"reader"}, "expires": {""}, "read_only": {"on"}})
	for _, c := range []struct {
		name, tok, method, path, body string
		code                          int
	}{
		{"team token reads its team's project", acmeRW, "GET", "/api/v1/projects/site", "", 200},
		{"team token changes its team's project", acmeRW, "PATCH", "/api/v1/projects/site", `{"settings":{"serve":{"spa":true}}}`, 200},
		{"team token, another team's project", acmeRW, "GET", "/api/v1/projects/shop", "", 404},
		{"team token, a personal project", acmeRW, "GET", "/api/v1/projects/mine", "", 404},
		{"read-only team token reads", acmeRO, "GET", "/api/v1/projects/site", "", 200},
		{"read-only team token changes", acmeRO, "PATCH", "/api/v1/projects/site", `{"settings":{"serve":{"spa":false}}}`, 403},
		{"read-only token reads anything", allRO, "GET", "/api/v1/projects/shop", "", 200},
		{"read-only token changes", allRO, "PATCH", "/api/v1/projects/mine", `{"settings":{"serve":{"spa":true}}}`, 403},
	} {
		if got := call(c.tok, c.method, c.path, c.body); got != c.code {
			t.Errorf("%s: %d, want %d", c.name, got, c.code)
		}
	}
	page := b.get("/account")
	for _, s := range []string{"team acme, read-only", "team acme</td>", "your account, read-only"} {
		if !strings.Contains(page.body, s) {
			t.Errorf("the token list does not say %q", s)
		}
	}

	// Another person's team, an unknown one: refused, nothing made.
	before, _ := e.store.ListTokens(context.Background(), e.alice.ID)
	for _, team := range []string{"bobs", "nope"} {
		res := b.post("/account/tokens", url.Values{"name": {"x"}, "expires": {"30d"}, "team": {team}})
		if res.code != http.StatusSeeOther {
			t.Fatalf("token for team %s: %d", team, res.code)
		}
		want(t, "refusal shown", b.get("/account"), 200, team)
	}
	if after, _ := e.store.ListTokens(context.Background(), e.alice.ID); len(after) != len(before) {
		t.Fatalf("refused tokens were made: %d → %d", len(before), len(after))
	}
}

// TestScopeRemembered: the scope chosen on the projects page stays from
// page to page (a cookie), the new-project form starts on it, and a
// person removed from the team is back on their own projects, told why.
func TestScopeRemembered(t *testing.T) {
	for db, plat := range backends {
		t.Run(db, func(t *testing.T) { testScopeRemembered(t, newEnvOn(t, SignupInvite, nil, plat(t), nil)) })
	}
}

func testScopeRemembered(t *testing.T, e *env) {
	if _, err := e.svc.Teams.CreateTeam(as(e.alice), apogee.CreateTeamRequest{Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	_, token := e.teamLink(e.alice, "acme", "", "member")
	if _, err := e.svc.Teams.AcceptInvite(as(e.bob), token); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		u          *apogee.User
		team, name string
	}{{e.alice, "acme", "site"}, {e.bob, "", "bobsite"}} {
		if _, err := e.svc.Projects.CreateProject(as(p.u), apogee.CreateProjectRequest{Name: p.name, Team: p.team}); err != nil {
			t.Fatal(err)
		}
	}
	b := e.signedIn(e.bob)
	teamShown := func(what string, res response) {
		t.Helper()
		want(t, what, res, 200, `href="/projects/site"`, `<a href="/?team=acme" aria-current="page">acme</a>`)
		if strings.Contains(res.body, `href="/projects/bobsite"`) {
			t.Fatalf("%s: the team's scope shows a personal project", what)
		}
	}
	nav := `<a href="/?team=" aria-current="page">Personal</a>`
	personalShown := func(what string, res response) {
		t.Helper()
		want(t, what, res, 200, `href="/projects/bobsite"`, nav)
		if strings.Contains(res.body, `href="/projects/site"`) {
			t.Fatalf("%s: the personal scope shows a team project", what)
		}
	}
	personalShown("first visit", b.get("/"))
	teamShown("choose acme", b.get("/?team=acme"))
	b.get("/teams")
	b.get("/account")
	teamShown("back on the projects page", b.get("/"))
	want(t, "new project form", b.get("/projects/new"), 200, `<option value="acme" selected>Team acme</option>`)
	want(t, "a link's owner wins", b.get("/projects/new?team="), 200, `<option value="acme">Team acme</option>`)
	personalShown("choose personal", b.get("/?team="))
	personalShown("personal remembered", b.get("/"))
	if strings.Contains(b.get("/projects/new").body, `selected>Team acme`) {
		t.Fatal("the new-project form starts on a team after choosing personal")
	}
	want(t, "a team of someone else's", b.get("/?team=globex"), 404)
	personalShown("a refused scope is not remembered", b.get("/"))

	// Removed from the team: personal again, with the reason, once.
	teamShown("acme again", b.get("/?team=acme"))
	if err := e.svc.Teams.RemoveMember(as(e.alice), "acme", "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	nav = "" // bob has no team left: no switcher
	res := b.get("/")
	personalShown("after removal", res)
	want(t, "reason", res, 200, "You are no longer a member of the team you chose")
	res = b.get("/")
	personalShown("after removal, again", res)
	if strings.Contains(res.body, "no longer a member") {
		t.Fatal("the removal notice stays after the scope was forgotten")
	}
	if strings.Contains(b.get("/projects/new").body, `value="acme"`) {
		t.Fatal("the new-project form offers a team the person left")
	}
}

// TestTeamRename: an owner renames the team (name and display name) on
// its page; members cannot; bad names change nothing; the old URL stops
// working and the remembered scope follows the team.
func TestTeamRename(t *testing.T) {
	for db, plat := range backends {
		t.Run(db, func(t *testing.T) { testTeamRename(t, newEnvOn(t, SignupInvite, nil, plat(t), nil)) })
	}
}

func testTeamRename(t *testing.T, e *env) {
	for _, name := range []string{"acme", "globex"} {
		if _, err := e.svc.Teams.CreateTeam(as(e.alice), apogee.CreateTeamRequest{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	_, token := e.teamLink(e.alice, "acme", "", "member")
	if _, err := e.svc.Teams.AcceptInvite(as(e.bob), token); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Projects.CreateProject(as(e.alice), apogee.CreateProjectRequest{Name: "site", Team: "acme"}); err != nil {
		t.Fatal(err)
	}
	name := func() string {
		t.Helper()
		ts, err := e.store.Teams(context.Background(), e.alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, t := range ts {
			names = append(names, t.Name+"/"+t.DisplayName)
		}
		return strings.Join(names, ",")
	}

	bob := e.signedIn(e.bob)
	if strings.Contains(bob.get("/teams/acme").body, `action="/teams/acme/rename"`) {
		t.Fatal("a member is offered the rename form")
	}
	bob.get("/teams/acme")
	res := bob.post("/teams/acme/rename", url.Values{"name": {"bobs"}, "display_name": {""}})
	if res.code != http.StatusSeeOther {
		t.Fatalf("member renames: %d", res.code)
	}
	want(t, "member refused", bob.get("/teams/acme"), 200, "owner")
	if got := name(); got != "acme/,globex/" {
		t.Fatalf("a member's rename changed the teams: %s", got)
	}

	alice := e.signedIn(e.alice)
	alice.get("/?team=acme")
	want(t, "owner's page", alice.get("/teams/acme"), 200, `<label for="team-name">Team name</label>`, `action="/teams/acme/rename"`)
	for _, c := range []struct{ name, display, msg string }{
		{"Bad Name", "", "team name"},
		{"globex", "", "taken"},
		{"join", "", "reserved"},
		{"acme", strings.Repeat("x", 65), "at most 64"},
	} {
		alice.get("/teams/acme")
		res := alice.post("/teams/acme/rename", url.Values{"name": {c.name}, "display_name": {c.display}})
		if res.code != http.StatusSeeOther || res.location != "/teams/acme" {
			t.Fatalf("rename to %q: %d %q", c.name, res.code, res.location)
		}
		want(t, "refusal "+c.name, alice.get("/teams/acme"), 200, c.msg)
	}
	alice.get("/teams/acme")
	want(t, "no csrf", alice.post("/teams/acme/rename", url.Values{"name": {"x"}, "csrf": {""}}), 403)
	if got := name(); got != "acme/,globex/" {
		t.Fatalf("refused renames changed the teams: %s", got)
	}

	alice.get("/teams/acme")
	res = alice.post("/teams/acme/rename", url.Values{"name": {"acme-inc"}, "display_name": {"Acme, Inc."}})
	if res.code != http.StatusSeeOther || res.location != "/teams/acme-inc" {
		t.Fatalf("rename: %d %q %.300s", res.code, res.location, res.body)
	}
	want(t, "renamed page", alice.get("/teams/acme-inc"), 200, "<h1>Acme, Inc.</h1>", "Team renamed", "<code>acme-inc</code>", "team.rename")
	want(t, "old URL", alice.get("/teams/acme"), 404)
	if got := name(); got != "acme-inc/Acme, Inc.,globex/" {
		t.Fatalf("teams after rename: %s", got)
	}
	// The remembered scope is the team, whatever its name.
	want(t, "scope after rename", alice.get("/"), 200, `<a href="/?team=acme-inc" aria-current="page">acme-inc</a>`, `href="/projects/site"`)
	want(t, "member's view", bob.get("/teams/acme-inc"), 200, "Acme, Inc.")
}

// TestAdminPlansCountTeams: a team on a plan is counted as a team on the
// admin's plans page, not as a user.
func TestAdminPlansCountTeams(t *testing.T) {
	e := newEnv(t, SignupInvite)
	if _, err := e.svc.Teams.CreateTeam(as(e.alice), apogee.CreateTeamRequest{Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	name := "pro"
	plan, err := e.svc.Admin.CreatePlan(as(e.admin), apogee.PlanRequest{Name: &name})
	if err != nil {
		t.Fatal(err)
	}
	for _, who := range []string{"team:acme", "bob@example.com"} {
		if _, err := e.svc.Admin.UpdateUser(as(e.admin), who, apogee.UpdateUserRequest{Plan: &plan.ID}); err != nil {
			t.Fatal(err)
		}
	}
	res := e.signedIn(e.admin).get("/admin/plans")
	want(t, "plans page", res, 200, "<th>Users</th><th>Teams</th>")
	row := res.body[strings.Index(res.body, `<tr data-plan="pro">`):]
	row = row[:strings.Index(row, "</tr>")]
	if !strings.Contains(row, `<td data-label="Users">1</td>`) || !strings.Contains(row, `<td data-label="Teams">1</td>`) {
		t.Fatalf("plan pro's row: %s", row)
	}
}

// TestSignInsAudited: a sign-in, and a refused one of an account that
// exists, are in the account's own audit log with the address they came
// from; an unknown email leaves no entry anywhere.
func TestSignInsAudited(t *testing.T) {
	e := newEnv(t, SignupInvite)
	bad := e.browser()
	bad.get("/login")
	want(t, "wrong password", bad.post("/login", url.Values{"email": {"alice@example.com"}, "password": {"not it at all"}}), 401)
	want(t, "unknown email", bad.post("/login", url.Values{"email": {"nobody@example.com"}, "password": {"not it at all"}}), 401)
	e.signedIn(e.alice)
	es, err := e.svc.Audit.Audit(as(e.alice), apogee.AuditRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range es {
		got = append(got, x.Action+" "+x.Actor+" "+x.Target+" "+x.ClientAddr)
	}
	wantLog := []string{"signin alice@example.com alice@example.com 127.0.0.1", "signin.refused  alice@example.com 127.0.0.1"}
	if strings.Join(got, "|") != strings.Join(wantLog, "|") {
		t.Fatalf("alice's audit log:\n got  %q\n want %q", got, wantLog)
	}
	want(t, "account activity", e.signedIn(e.alice).get("/account"), 200, `<h2>Activity</h2>`,
		`<tr data-action="signin.refused">`, `<tr data-action="signin">`, "127.0.0.1")
	all, err := e.svc.Audit.Audit(as(e.admin), apogee.AuditRequest{All: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range all {
		if strings.Contains(x.Target, "nobody") {
			t.Fatalf("an unknown email was recorded: %+v", x)
		}
	}
}
