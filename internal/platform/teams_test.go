package platform_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/platform"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// teamWorld is the platform on a real store of either database with four
// people: alice (who makes team acme), bob and carol (invited as member
// and viewer) and dave (no member).
type teamWorld struct {
	t                 *testing.T
	svc               apogee.Services
	store             apogee.Store
	pl                *platform.Platform
	alice, bob, carol context.Context
	dave              context.Context
	aliceU, bobU, _   *apogee.User
}

func stores(t *testing.T) map[string]func(t *testing.T) apogee.Store {
	return map[string]func(t *testing.T) apogee.Store{
		"sqlite":   func(t *testing.T) apogee.Store { st, _, _ := testbed.Backends(t); return st },
		"postgres": func(t *testing.T) apogee.Store { return testbed.PostgresStore(t) },
	}
}

func newTeamWorld(t *testing.T, st apogee.Store) *teamWorld {
	t.Helper()
	bl := testbed.Blobs(t, t.TempDir())
	pl, err := platform.New(platform.Config{Store: st, Blobs: bl, Bus: events.NewLocal(testbed.Quiet), Log: testbed.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	w := &teamWorld{t: t, svc: pl.Services(), store: st, pl: pl}
	person := func(email string) (context.Context, *apogee.User) {
		u := &apogee.User{ID: apogee.NewID(), Email: email, Password: "x", CreatedAt: time.Now()}
		if err := st.CreateUser(t.Context(), u); err != nil {
			t.Fatal(err)
		}
		return apogee.NewContextWithClient(apogee.NewContextWithUser(t.Context(), u), "198.51.100.7:4242"), u
	}
	w.alice, w.aliceU = person("alice@example.com")
	w.bob, w.bobU = person("bob@example.com")
	w.carol, _ = person("carol@example.com")
	w.dave, _ = person("dave@example.com")
	return w
}

// as is ctx acting with a token's scope instead of a session.
func as(ctx context.Context, scope apogee.Scope) context.Context {
	u := *apogee.UserFromContext(ctx)
	u.Scope = &scope
	return apogee.NewContextWithUser(ctx, &u)
}

// result is a call's two results, for try(f()).must(t).
type result[T any] struct {
	v   T
	err error
}

func try[T any](v T, err error) result[T] { return result[T]{v, err} }

func (r result[T]) must(t *testing.T) T {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.v
}

func wantRole(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := apogee.ErrorCode(err); got != code {
		t.Errorf("%s: error %v (code %q); want %q", what, err, got, code)
	}
}

func (w *teamWorld) deploy(ctx context.Context, project, body string) (*apogee.DeploymentView, error) {
	sum := sha256.Sum256([]byte(body))
	h := hex.EncodeToString(sum[:])
	d, err := w.svc.Deployments.CreateDeployment(ctx, project, apogee.CreateDeploymentRequest{
		Target: apogee.TargetProduction, Files: []apogee.File{{Path: "index.html", SHA256: h, Size: int64(len(body))}}})
	if err != nil {
		return nil, err
	}
	if len(d.Missing) > 0 {
		if err := w.svc.Deployments.UploadFile(ctx, d.ID, h, bytes.NewReader([]byte(body)), int64(len(body))); err != nil {
			return nil, err
		}
	}
	return w.svc.Deployments.Finalize(ctx, d.ID)
}

// TestTeamRoles: the roles of issue 19, checked in the platform for every
// way in: a member deploys and changes, a viewer sees without secrets and
// changes nothing, a non-member sees nothing; scoped and read-only tokens;
// removing a member ends their access at once; every step is in the
// team's audit log with the actor and the client's address.
func TestTeamRoles(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) { testTeamRoles(t, newTeamWorld(t, open(t))) })
	}
}

func testTeamRoles(t *testing.T, w *teamWorld) {
	T, P := w.svc.Teams, w.svc.Projects
	team := try(T.CreateTeam(w.alice, apogee.CreateTeamRequest{Name: "Acme"})).must(t)
	if team.Name != "acme" || team.Role != apogee.RoleOwner || len(team.Members) != 1 {
		t.Fatalf("new team %+v", team)
	}
	_, err := T.CreateTeam(w.bob, apogee.CreateTeamRequest{Name: "acme"})
	wantRole(t, "a taken team name", err, apogee.ECONFLICT)
	_, err = T.CreateTeam(w.bob, apogee.CreateTeamRequest{Name: "no such--name"})
	wantRole(t, "a bad team name", err, apogee.EINVALID)

	// Invitations: owners only; links accepted once.
	_, err = T.Invite(w.bob, "acme", apogee.TeamInviteRequest{Role: "member"})
	wantRole(t, "a non-member invites", err, apogee.ENOTFOUND)
	_, err = T.Invite(w.alice, "acme", apogee.TeamInviteRequest{Role: "boss"})
	wantRole(t, "a bad role", err, apogee.EINVALID)
	toBob := try(T.Invite(w.alice, "acme", apogee.TeamInviteRequest{Email: "bob@example.com", Role: "member"})).must(t)
	toCarol := try(T.Invite(w.alice, "acme", apogee.TeamInviteRequest{Email: "Carol@Example.COM", Role: "viewer"})).must(t)
	if toBob.URL == "" || toBob.Token == "" || bytes.Contains([]byte(toBob.URL), toBob.Hash) {
		t.Fatalf("invite %+v", toBob)
	}
	// An invitation for an email is that account's alone: another is
	// told whom to sign in as, and nothing changes.
	_, err = T.AcceptInvite(w.dave, toBob.Token)
	wantRole(t, "another account accepts bob's invitation", err, apogee.EFORBIDDEN)
	if msg := apogee.ErrorMessage(err); !strings.Contains(msg, "is for bob@example.com") || !strings.Contains(msg, "sign in as bob@example.com") {
		t.Errorf("the refusal says %q; want it to name the invitation's account", msg)
	}
	if _, err := T.Team(w.dave, "acme"); apogee.ErrorCode(err) != apogee.ENOTFOUND {
		t.Errorf("dave after a refused invitation: %v; want no membership", err)
	}
	if is := try(T.Invites(w.alice, "acme")).must(t); len(is) != 2 {
		t.Errorf("%d invitations pending after a refusal; want both", len(is))
	}
	try(T.AcceptInvite(w.bob, toBob.URL)).must(t) // the whole link works as well as the token
	m := try(T.AcceptInvite(w.carol, toCarol.Token)).must(t)
	if m.Role != apogee.RoleViewer || m.Name != "acme" {
		t.Errorf("carol joined as %+v", m)
	}
	_, err = T.AcceptInvite(w.dave, toBob.Token)
	wantRole(t, "a used link", err, apogee.EINVALID)

	// A member makes and deploys a team project; the owner sees it.
	site := try(P.CreateProject(w.bob, apogee.CreateProjectRequest{Name: "site", Team: "acme"})).must(t)
	if site.Team != "acme" || site.OwnerID != team.ID {
		t.Fatalf("team project %+v", site)
	}
	_, err = P.CreateProject(w.carol, apogee.CreateProjectRequest{Name: "nope", Team: "acme"})
	wantRole(t, "a viewer creates a project", err, apogee.EFORBIDDEN)
	_, err = P.CreateProject(w.dave, apogee.CreateProjectRequest{Name: "nope", Team: "acme"})
	wantRole(t, "a stranger creates a project in the team", err, apogee.ENOTFOUND)
	d := try(w.deploy(w.bob, "site", "hello")).must(t)
	if !d.Production {
		t.Fatalf("member's deploy %+v", d)
	}
	try(w.svc.Env.SetEnv(w.bob, "site", "API_KEY", "s3cret", false)).must(t)

	// The viewer sees the project, deployments and logs, no secret, and
	// changes nothing.
	v := try(P.Project(w.carol, "site")).must(t)
	if v.WebhookSecret != "" {
		t.Errorf("a viewer sees the webhook secret")
	}
	if ov := try(P.Project(w.bob, "site")).must(t); ov.WebhookSecret == "" {
		t.Errorf("a member does not see the webhook secret")
	}
	vars := try(w.svc.Env.Env(w.carol, "site")).must(t)
	if len(vars) != 1 || vars[0].Value != nil {
		t.Errorf("a viewer's variables %+v; want the name without its value", vars)
	}
	if ds := try(w.svc.Deployments.Deployments(w.carol, "site", 10)).must(t); len(ds) != 1 {
		t.Errorf("viewer sees %d deployments", len(ds))
	}
	if ps := try(P.Projects(w.carol, "acme")).must(t); len(ps) != 1 || ps[0].Name != "site" || ps[0].Team != "acme" {
		t.Errorf("viewer's list of acme %+v", ps)
	}
	if ps := try(P.Projects(w.carol, "")).must(t); len(ps) != 0 {
		t.Errorf("team projects in carol's personal scope: %+v", ps)
	}
	for what, err := range map[string]error{
		"set env":  func() error { _, err := w.svc.Env.SetEnv(w.carol, "site", "X", "1", false); return err }(),
		"promote":  func() error { _, err := w.svc.Deployments.Promote(w.carol, "site", d.ID); return err }(),
		"rollback": func() error { _, err := w.svc.Deployments.Rollback(w.carol, "site", ""); return err }(),
		"deploy":   func() error { _, err := w.deploy(w.carol, "site", "viewer"); return err }(),
		"domain":   func() error { _, err := w.svc.Domains.AddDomain(w.carol, "site", "www.example.org"); return err }(),
		"delete":   P.DeleteProject(w.carol, "site"),
		"invite":   func() error { _, err := T.Invite(w.carol, "acme", apogee.TeamInviteRequest{}); return err }(),
	} {
		wantRole(t, "viewer: "+what, err, apogee.EFORBIDDEN)
	}
	// The member may not do the owner's part.
	wantRole(t, "member deletes the project", P.DeleteProject(w.bob, "site"), apogee.EFORBIDDEN)
	_, err = T.SetRole(w.bob, "acme", "carol@example.com", apogee.RoleOwner)
	wantRole(t, "member changes a role", err, apogee.EFORBIDDEN)
	// A stranger sees nothing, worded as missing.
	_, err = P.Project(w.dave, "site")
	wantRole(t, "stranger reads the project", err, apogee.ENOTFOUND)
	_, err = T.Team(w.dave, "acme")
	wantRole(t, "stranger reads the team", err, apogee.ENOTFOUND)

	// Tokens: scoped to the team, read-only.
	bobsOwn := try(P.CreateProject(w.bob, apogee.CreateProjectRequest{Name: "bobs"})).must(t)
	scoped := as(w.bob, apogee.Scope{TeamID: team.ID})
	_, err = P.Project(scoped, bobsOwn.Name)
	wantRole(t, "team token on a personal project", err, apogee.ENOTFOUND)
	if ps := try(P.Projects(scoped, "")).must(t); len(ps) != 1 || ps[0].Name != "site" {
		t.Errorf("a team token lists %+v", ps)
	}
	try(w.deploy(scoped, "site", "by token")).must(t)
	readOnly := as(w.bob, apogee.Scope{ReadOnly: true})
	try(P.Project(readOnly, "site")).must(t)
	_, err = w.svc.Env.SetEnv(readOnly, "site", "X", "1", false)
	wantRole(t, "read-only token changes", err, apogee.EFORBIDDEN)
	_, err = w.svc.Accounts.CreateToken(readOnly, apogee.CreateTokenRequest{Name: "wider"})
	wantRole(t, "read-only token makes a token", err, apogee.EFORBIDDEN)
	tok := try(w.svc.Accounts.CreateToken(w.bob, apogee.CreateTokenRequest{Name: "ci", Team: "acme"})).must(t)
	if tok.Detail.TeamID != team.ID {
		t.Fatalf("scoped token %+v", tok.Detail)
	}
	u := try(w.svc.Accounts.Authenticate(t.Context(), tok.Token)).must(t)
	if u.Scope == nil || u.Scope.TeamID != team.ID || u.Scope.ReadOnly {
		t.Fatalf("authenticated scope %+v", u.Scope)
	}

	// Removing a member ends their access at once, tokens included.
	if err := T.RemoveMember(w.alice, "acme", "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	_, err = P.Project(w.bob, "site")
	wantRole(t, "removed member reads", err, apogee.ENOTFOUND)
	_, err = w.svc.Accounts.Authenticate(t.Context(), tok.Token)
	wantRole(t, "removed member's team token", err, apogee.EUNAUTHORIZED)
	wantRole(t, "the last owner leaves", T.RemoveMember(w.alice, "acme", "alice@example.com"), apogee.ECONFLICT)

	// Moving: owners of both sides, within the receiving plan.
	web := try(P.CreateProject(w.alice, apogee.CreateProjectRequest{Name: "web"})).must(t)
	_, err = P.MoveProject(w.carol, "web", apogee.MoveProjectRequest{Team: "acme"})
	wantRole(t, "a stranger moves alice's project", err, apogee.ENOTFOUND)
	moved := try(P.MoveProject(w.alice, "web", apogee.MoveProjectRequest{Team: "acme"})).must(t)
	if moved.Team != "acme" || moved.OwnerID != team.ID || web.ID != moved.ID {
		t.Fatalf("moved %+v", moved)
	}
	_, err = P.MoveProject(w.carol, "web", apogee.MoveProjectRequest{})
	wantRole(t, "a viewer moves a team project out", err, apogee.EFORBIDDEN)
	one := int64(1)
	planName := "one project"
	plan := try(w.svc.Admin.CreatePlan(apogee.NewContextWithUser(t.Context(), &apogee.User{ID: "admin", Admin: true}),
		apogee.PlanRequest{Name: &planName, Projects: &one})).must(t)
	if err := w.store.SetUserPlan(t.Context(), w.aliceU.ID, plan.ID); err != nil {
		t.Fatal(err)
	}
	try(P.CreateProject(w.alice, apogee.CreateProjectRequest{Name: "mine"})).must(t)
	_, err = P.MoveProject(w.alice, "web", apogee.MoveProjectRequest{})
	wantRole(t, "moving beyond alice's plan", err, apogee.EQUOTA)
	// The team's plan is its own: alice's plan does not bind team projects.
	try(P.CreateProject(w.alice, apogee.CreateProjectRequest{Name: "more", Team: "acme"})).must(t)

	// The audit log: owners read the team's; each step with its actor
	// and address.
	_, err = w.svc.Audit.Audit(w.carol, apogee.AuditRequest{Team: "acme"})
	wantRole(t, "a viewer reads the audit log", err, apogee.EFORBIDDEN)
	es := try(w.svc.Audit.Audit(w.alice, apogee.AuditRequest{Team: "acme"})).must(t)
	var got []string
	for _, e := range es {
		got = append(got, e.Action+" "+e.Actor)
		if e.ClientAddr != "198.51.100.7" {
			t.Errorf("entry %+v: client address %q", e, e.ClientAddr)
		}
	}
	slices.Reverse(got)
	// Every change, and every refusal (the viewer's and the member's
	// attempts above, each a 403) with who tried.
	want := []string{
		"team.create alice@example.com",
		"invite.create alice@example.com",
		"invite.create alice@example.com",
		"invite.accept bob@example.com",
		"invite.accept carol@example.com",
		"project.create bob@example.com",
		"access.refused carol@example.com",
		"deployment.create bob@example.com",
		"production.deploy bob@example.com",
		"env.set bob@example.com",
		"access.refused carol@example.com",
		"access.refused carol@example.com",
		"access.refused carol@example.com",
		"access.refused carol@example.com",
		"access.refused carol@example.com",
		"access.refused carol@example.com",
		"access.refused carol@example.com",
		"access.refused bob@example.com",
		"access.refused bob@example.com",
		"deployment.create bob@example.com",
		"production.deploy bob@example.com",
		"access.refused bob@example.com",
		"token.create bob@example.com",
		"member.remove alice@example.com",
		"project.move alice@example.com",
		"access.refused carol@example.com",
		"project.create alice@example.com",
		"access.refused carol@example.com",
	}
	if !slices.Equal(got, want) {
		t.Errorf("team's audit log:\n got  %q\n want %q", got, want)
	}
	mine := try(w.svc.Audit.Audit(w.alice, apogee.AuditRequest{Since: "1h"})).must(t)
	if len(mine) == 0 || mine[0].Action != "project.create" || mine[0].Project != "mine" {
		t.Errorf("alice's own log starts %+v", mine)
	}
	_, err = w.svc.Audit.Audit(w.alice, apogee.AuditRequest{All: true})
	wantRole(t, "a user reads the whole log", err, apogee.EFORBIDDEN)
	_, err = w.svc.Audit.Audit(w.alice, apogee.AuditRequest{Since: "yesterday"})
	wantRole(t, "a bad since", err, apogee.EINVALID)

	// Prune within the plan: entries older than audit_log_days go.
	if n, err := w.pl.PruneAudit(t.Context()); err != nil || n != 0 {
		t.Errorf("pruning fresh entries: %d, %v", n, err)
	}
	// A team that owns projects cannot be deleted.
	wantRole(t, "delete a team with projects", T.DeleteTeam(w.alice, "acme"), apogee.ECONFLICT)
}

// TestTeamPlan: an admin puts a team on a plan by "team:NAME"; the
// team's projects count against it, not its members'; a team is never
// made an admin.
func TestTeamPlan(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			w := newTeamWorld(t, open(t))
			admin := apogee.NewContextWithUser(t.Context(), &apogee.User{ID: "root", Email: "root@example.com", Admin: true})
			try(w.svc.Teams.CreateTeam(w.alice, apogee.CreateTeamRequest{Name: "acme"})).must(t)
			one, planName := int64(1), "team of one"
			plan := try(w.svc.Admin.CreatePlan(admin, apogee.PlanRequest{Name: &planName, Projects: &one})).must(t)
			try(w.svc.Admin.UpdateUser(admin, "team:acme", apogee.UpdateUserRequest{Plan: &plan.ID})).must(t)
			// The admin's plan list counts the team as a team, not a user.
			for _, p := range try(w.svc.Admin.Plans(admin)).must(t) {
				if p.ID == plan.ID && (p.Users != 0 || p.Teams != 1) {
					t.Errorf("plan %s counts %d users and %d teams; want 0 and 1", p.Name, p.Users, p.Teams)
				}
			}
			if err := w.svc.Admin.DeletePlan(admin, plan.ID); apogee.ErrorCode(err) != apogee.ECONFLICT || !strings.Contains(apogee.ErrorMessage(err), "has 1 team(s) on it") {
				t.Errorf("deleting a plan a team is on: %v", err)
			}
			yes := true
			_, err := w.svc.Admin.UpdateUser(admin, "team:acme", apogee.UpdateUserRequest{Admin: &yes})
			wantRole(t, "a team made admin", err, apogee.EINVALID)
			try(w.svc.Projects.CreateProject(w.alice, apogee.CreateProjectRequest{Name: "first", Team: "acme"})).must(t)
			_, err = w.svc.Projects.CreateProject(w.alice, apogee.CreateProjectRequest{Name: "second", Team: "acme"})
			wantRole(t, "beyond the team's plan", err, apogee.EQUOTA)
			try(w.svc.Projects.CreateProject(w.alice, apogee.CreateProjectRequest{Name: "mine"})).must(t) // alice's own plan is not the team's
			// Moving in is held to the team's plan: storage too.
			tiny, tinyName := int64(4), "four bytes"
			small := try(w.svc.Admin.CreatePlan(admin, apogee.PlanRequest{Name: &tinyName, StorageBytes: &tiny})).must(t)
			try(w.svc.Teams.CreateTeam(w.alice, apogee.CreateTeamRequest{Name: "small"})).must(t)
			try(w.svc.Admin.UpdateUser(admin, "team:small", apogee.UpdateUserRequest{Plan: &small.ID})).must(t)
			try(w.deploy(w.alice, "mine", "more than four bytes")).must(t)
			_, err = w.svc.Projects.MoveProject(w.alice, "mine", apogee.MoveProjectRequest{Team: "small"})
			wantRole(t, "moving beyond the team's storage", err, apogee.EQUOTA)
			if p := try(w.store.ProjectByName(t.Context(), "mine")).must(t); p.OwnerID != apogee.UserFromContext(w.alice).ID {
				t.Errorf("a refused move moved the project")
			}
			v := try(w.svc.Teams.Team(w.alice, "acme")).must(t)
			if v.Plan == nil || v.Plan.Plan.ID != plan.ID || v.Plan.Usage.Projects != 1 {
				t.Errorf("team view's plan %+v", v.Plan)
			}
		})
	}
}

// TestPruneAudit: each owner's entries older than their plan's
// audit_log_days go, others stay; an unlimited plan keeps everything, an
// owner that is gone is held to the default plan.
func TestPruneAudit(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			w := newTeamWorld(t, open(t))
			ctx := t.Context()
			admin := apogee.NewContextWithUser(ctx, &apogee.User{ID: "root", Email: "root@example.com", Admin: true})
			unl, planName := int64(apogee.Unlimited), "keeps all"
			plan := try(w.svc.Admin.CreatePlan(admin, apogee.PlanRequest{Name: &planName, AuditLogDays: &unl})).must(t)
			bob := apogee.UserFromContext(w.bob)
			if err := w.store.SetUserPlan(ctx, bob.ID, plan.ID); err != nil {
				t.Fatal(err)
			}
			alice := apogee.UserFromContext(w.alice)
			now := time.Now()
			add := func(owner string, age time.Duration) {
				if err := w.store.AddAudit(ctx, &apogee.AuditEntry{At: now.Add(-age), OwnerID: owner, Action: "test.entry"}); err != nil {
					t.Fatal(err)
				}
			}
			day := 24 * time.Hour
			add(alice.ID, 100*day) // past the free plan's 90 days
			add(alice.ID, 80*day)
			add(bob.ID, 400*day) // unlimited
			add("gone", 91*day)  // no such owner: the default plan
			add("", 10*day)      // the platform's own
			n, err := w.pl.PruneAudit(ctx)
			if err != nil || n != 2 {
				t.Fatalf("pruned %d, %v; want 2", n, err)
			}
			left := try(w.store.AuditLog(ctx, apogee.AuditQuery{All: true})).must(t)
			var owners []string
			for _, e := range left {
				if e.Action == "test.entry" {
					owners = append(owners, e.OwnerID)
				}
			}
			want := []string{"", alice.ID, bob.ID}
			slices.Sort(owners)
			slices.Sort(want)
			if !slices.Equal(owners, want) {
				t.Errorf("left after pruning: %q", owners)
			}
		})
	}
}
