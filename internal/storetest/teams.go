package storetest

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

func testTeams(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	bob := user(t, s, "bob@example.com")
	carol := user(t, s, "carol@example.com")

	acme := &apogee.Team{Name: "Acme", CreatedBy: alice.ID, CreatedAt: base}
	must(t, s.CreateTeam(ctx, acme, alice.ID))
	if acme.ID == "" || acme.Name != "acme" {
		t.Fatalf("created team %+v: want an id and the name lower-case", acme)
	}
	wantCode(t, s.CreateTeam(ctx, &apogee.Team{Name: "acme", CreatedAt: base}, bob.ID), apogee.ECONFLICT)
	wantNotFound(t, s.CreateTeam(ctx, &apogee.Team{Name: "ghost", CreatedAt: base}, "nosuchuser"), "nosuchuser")
	if _, err := s.TeamByName(ctx, "ghost"); !errors.Is(err, apogee.ErrNotFound) {
		t.Fatalf("a team whose owner did not exist was kept: %v", err)
	}
	got, err := s.TeamByName(ctx, "ACME")
	must(t, err)
	equal(t, "TeamByName", got, acme)
	got, err = s.TeamByID(ctx, acme.ID)
	must(t, err)
	equal(t, "TeamByID", got, acme)
	_, err = s.TeamByName(ctx, "nope")
	wantNotFound(t, err, "nope")

	// A team is an account but not a user: no sign-in by its email, not
	// in the users' list; its plan is the default until it has one.
	if _, err := s.UserByEmail(ctx, "team:"+acme.ID); !errors.Is(err, apogee.ErrNotFound) {
		t.Errorf("UserByEmail of the team's account = %v; want not found", err)
	}
	users, err := s.ListUsers(ctx)
	must(t, err)
	if len(users) != 3 {
		t.Errorf("ListUsers = %d users; want the 3 people", len(users))
	}
	plan, err := s.UserPlan(ctx, acme.ID)
	must(t, err)
	if !plan.Default {
		t.Errorf("team's plan = %+v; want the default", plan)
	}

	// Members: the creator is the owner.
	ms, err := s.Members(ctx, acme.ID)
	must(t, err)
	if len(ms) != 1 || ms[0].UserID != alice.ID || ms[0].Role != apogee.RoleOwner || ms[0].Email != alice.Email {
		t.Fatalf("members = %+v; want alice as owner", ms)
	}
	_, err = s.Membership(ctx, acme.ID, bob.ID)
	wantNotFound(t, err, bob.ID)

	// Invitations: accepted once, then used; expired ones refused.
	tok := sha256.Sum256([]byte("secret"))
	inv := &apogee.TeamInvite{TeamID: acme.ID, Email: "Bob@Example.com", Role: apogee.RoleMember, Hash: tok[:], InvitedBy: alice.ID,
		CreatedAt: base, ExpiresAt: base.Add(time.Hour)}
	must(t, s.CreateTeamInvite(ctx, inv))
	wantCode(t, s.CreateTeamInvite(ctx, &apogee.TeamInvite{TeamID: acme.ID, Role: "boss", Hash: []byte("x"), InvitedBy: alice.ID,
		CreatedAt: base, ExpiresAt: base.Add(time.Hour)}), apogee.EINVALID)
	byHash, err := s.TeamInviteByHash(ctx, tok[:])
	must(t, err)
	if byHash.ID != inv.ID || byHash.Email != "bob@example.com" || byHash.Role != apogee.RoleMember {
		t.Errorf("invite by hash = %+v", byHash)
	}
	pending, err := s.TeamInvites(ctx, acme.ID, base)
	must(t, err)
	if len(pending) != 1 {
		t.Fatalf("pending invites = %d; want 1", len(pending))
	}
	m, err := s.AcceptTeamInvite(ctx, inv.ID, bob.ID, base.Add(time.Minute))
	must(t, err)
	if m.UserID != bob.ID || m.Role != apogee.RoleMember || m.Email != bob.Email {
		t.Errorf("accepted membership = %+v", m)
	}
	_, err = s.AcceptTeamInvite(ctx, inv.ID, carol.ID, base.Add(2*time.Minute))
	if !errors.Is(err, apogee.ErrTeamInviteUsed) {
		t.Fatalf("second acceptance = %v; want ErrTeamInviteUsed", err)
	}
	if pending, _ = s.TeamInvites(ctx, acme.ID, base); len(pending) != 0 {
		t.Errorf("an accepted invite is still pending")
	}
	tok2 := sha256.Sum256([]byte("late"))
	late := &apogee.TeamInvite{TeamID: acme.ID, Role: apogee.RoleViewer, Hash: tok2[:], InvitedBy: alice.ID, CreatedAt: base, ExpiresAt: base.Add(time.Hour)}
	must(t, s.CreateTeamInvite(ctx, late))
	if _, err := s.AcceptTeamInvite(ctx, late.ID, carol.ID, base.Add(2*time.Hour)); !errors.Is(err, apogee.ErrTeamInviteUsed) {
		t.Errorf("expired invite accepted: %v", err)
	}
	if _, err := s.Membership(ctx, acme.ID, carol.ID); !errors.Is(err, apogee.ErrNotFound) {
		t.Errorf("an expired invitation made a member: %v", err)
	}
	tok3 := sha256.Sum256([]byte("again"))
	again := &apogee.TeamInvite{TeamID: acme.ID, Role: apogee.RoleViewer, Hash: tok3[:], InvitedBy: alice.ID, CreatedAt: base, ExpiresAt: base.Add(time.Hour)}
	must(t, s.CreateTeamInvite(ctx, again))
	_, err = s.AcceptTeamInvite(ctx, again.ID, bob.ID, base.Add(time.Minute))
	wantCode(t, err, apogee.ECONFLICT)
	if m, _ := s.Membership(ctx, acme.ID, bob.ID); m == nil || m.Role != apogee.RoleMember {
		t.Errorf("a refused acceptance changed bob's role: %+v", m)
	}
	// A new person signs up by the link: the account and the membership
	// come together, or neither does.
	tok4 := sha256.Sum256([]byte("newcomer"))
	fresh := &apogee.TeamInvite{TeamID: acme.ID, Role: apogee.RoleViewer, Hash: tok4[:], InvitedBy: alice.ID, CreatedAt: base, ExpiresAt: base.Add(time.Hour)}
	must(t, s.CreateTeamInvite(ctx, fresh))
	_, err = s.SignUpByTeamInvite(ctx, fresh.ID, &apogee.User{Email: "BOB@example.com", Password: "h"}, base.Add(time.Minute))
	wantCode(t, err, apogee.ECONFLICT) // bob has an account
	if inv, _ := s.TeamInviteByHash(ctx, tok4[:]); inv == nil || inv.AcceptedAt != nil {
		t.Errorf("a refused sign-up used the invitation: %+v", inv)
	}
	_, err = s.SignUpByTeamInvite(ctx, fresh.ID, &apogee.User{Email: "late@example.com", Password: "h"}, base.Add(2*time.Hour))
	if !errors.Is(err, apogee.ErrTeamInviteUsed) {
		t.Errorf("sign-up by an expired invitation = %v; want ErrTeamInviteUsed", err)
	}
	if _, err := s.UserByEmail(ctx, "late@example.com"); !errors.Is(err, apogee.ErrNotFound) {
		t.Errorf("an expired invitation made an account: %v", err)
	}
	dora := &apogee.User{Email: "Dora@Example.com", Password: "h"}
	m, err = s.SignUpByTeamInvite(ctx, fresh.ID, dora, base.Add(time.Minute))
	must(t, err)
	if dora.ID == "" || m.UserID != dora.ID || m.Role != apogee.RoleViewer || m.Email != "dora@example.com" {
		t.Errorf("signed-up membership = %+v (user %+v)", m, dora)
	}
	if got, err := s.UserByEmail(ctx, "dora@example.com"); err != nil || got.ID != dora.ID {
		t.Errorf("signed-up account = %+v, %v", got, err)
	}
	_, err = s.SignUpByTeamInvite(ctx, fresh.ID, &apogee.User{Email: "eve@example.com", Password: "h"}, base.Add(time.Minute))
	if !errors.Is(err, apogee.ErrTeamInviteUsed) {
		t.Errorf("second sign-up by one link = %v; want ErrTeamInviteUsed", err)
	}
	if _, err := s.UserByEmail(ctx, "eve@example.com"); !errors.Is(err, apogee.ErrNotFound) {
		t.Errorf("a used invitation made an account: %v", err)
	}
	must(t, s.RemoveMember(ctx, acme.ID, dora.ID, base.Add(time.Minute)))
	wantNotFound(t, s.DeleteTeamInvite(ctx, "otherteam", again.ID), again.ID)
	must(t, s.DeleteTeamInvite(ctx, acme.ID, again.ID))

	// Teams of a user, with roles.
	mine, err := s.Teams(ctx, bob.ID)
	must(t, err)
	if len(mine) != 1 || mine[0].Name != "acme" || mine[0].Role != apogee.RoleMember {
		t.Errorf("bob's teams = %+v", mine)
	}
	all, err := s.Teams(ctx, "")
	must(t, err)
	if len(all) != 1 {
		t.Errorf("every team = %d; want 1", len(all))
	}

	// Renaming: the name (unique) and the display name.
	other := &apogee.Team{Name: "globex", CreatedBy: alice.ID, CreatedAt: base}
	must(t, s.CreateTeam(ctx, other, alice.ID))
	wantCode(t, s.RenameTeam(ctx, acme.ID, "Globex", "x"), apogee.ECONFLICT)
	wantNotFound(t, s.RenameTeam(ctx, "noteam", "nobody", ""), "noteam")
	must(t, s.RenameTeam(ctx, acme.ID, "Acme-Inc", "Acme, Inc."))
	if got, err := s.TeamByID(ctx, acme.ID); err != nil || got.Name != "acme-inc" || got.DisplayName != "Acme, Inc." {
		t.Errorf("renamed team = %+v, %v", got, err)
	}
	if mine, _ := s.Teams(ctx, bob.ID); len(mine) != 1 || mine[0].Name != "acme-inc" || mine[0].DisplayName != "Acme, Inc." {
		t.Errorf("bob's teams after the rename = %+v", mine)
	}
	must(t, s.RenameTeam(ctx, acme.ID, "acme", ""))
	must(t, s.DeleteTeam(ctx, other.ID))

	// Roles: a team keeps an owner.
	wantCode(t, s.SetMemberRole(ctx, acme.ID, alice.ID, apogee.RoleMember), apogee.ECONFLICT)
	wantCode(t, s.RemoveMember(ctx, acme.ID, alice.ID, base), apogee.ECONFLICT)
	wantNotFound(t, s.SetMemberRole(ctx, acme.ID, carol.ID, apogee.RoleViewer), carol.ID)
	must(t, s.SetMemberRole(ctx, acme.ID, bob.ID, apogee.RoleOwner))
	must(t, s.SetMemberRole(ctx, acme.ID, alice.ID, apogee.RoleViewer))
	must(t, s.SetMemberRole(ctx, acme.ID, alice.ID, apogee.RoleOwner))
	must(t, s.SetMemberRole(ctx, acme.ID, bob.ID, apogee.RoleMember))

	// Removing a member revokes their tokens scoped to the team, and only
	// those.
	scoped := &apogee.Token{UserID: bob.ID, Name: "ci", Hash: []byte("h-scoped"), CreatedAt: base, TeamID: acme.ID, ReadOnly: true}
	must(t, s.CreateToken(ctx, scoped))
	own := &apogee.Token{UserID: bob.ID, Name: "laptop", Hash: []byte("h-own"), CreatedAt: base}
	must(t, s.CreateToken(ctx, own))
	back, err := s.TokenByHash(ctx, []byte("h-scoped"))
	must(t, err)
	if back.TeamID != acme.ID || !back.ReadOnly {
		t.Errorf("scoped token read back as %+v", back)
	}
	must(t, s.RemoveMember(ctx, acme.ID, bob.ID, base.Add(time.Hour)))
	if _, err := s.Membership(ctx, acme.ID, bob.ID); !errors.Is(err, apogee.ErrNotFound) {
		t.Errorf("removed member still a member: %v", err)
	}
	back, _ = s.TokenByHash(ctx, []byte("h-scoped"))
	if back.Valid(base.Add(2 * time.Hour)) {
		t.Errorf("the removed member's team token still works: %+v", back)
	}
	if back, _ = s.TokenByHash(ctx, []byte("h-own")); !back.Valid(base.Add(2 * time.Hour)) {
		t.Errorf("the removed member's own token was revoked: %+v", back)
	}
	wantNotFound(t, s.RemoveMember(ctx, acme.ID, bob.ID, base), bob.ID)

	// Projects: a team owns them as a user does; usage follows a move.
	web := project(t, s, alice, "web")
	must(t, s.MoveProject(ctx, web.ID, acme.ID))
	moved, err := s.ProjectByID(ctx, web.ID)
	must(t, err)
	if moved.OwnerID != acme.ID {
		t.Errorf("moved project's owner = %q; want the team", moved.OwnerID)
	}
	sums, err := s.ProjectSummaries(ctx)
	must(t, err)
	if len(sums) != 1 || sums[0].OwnerEmail != "team:acme" {
		t.Errorf("admin's summary of a team's project: %+v", sums)
	}
	teamProjects, err := s.ListProjects(ctx, acme.ID)
	must(t, err)
	if len(teamProjects) != 1 || teamProjects[0].ID != web.ID {
		t.Errorf("team's projects = %+v", teamProjects)
	}
	use, err := s.Usage(ctx, acme.ID, base, base)
	must(t, err)
	if use.Projects != 1 {
		t.Errorf("team usage projects = %d; want 1", use.Projects)
	}
	if use, _ = s.Usage(ctx, alice.ID, base, base); use.Projects != 0 {
		t.Errorf("alice still counts the moved project: %d", use.Projects)
	}
	wantNotFound(t, s.MoveProject(ctx, web.ID, "nobody"), "nobody")
	wantNotFound(t, s.MoveProject(ctx, "noproject", acme.ID), "noproject")

	// A team owning projects cannot be deleted; without them it can, and
	// its members, invitations and scoped tokens go with it.
	wantCode(t, s.DeleteTeam(ctx, acme.ID), apogee.ECONFLICT)
	must(t, s.MoveProject(ctx, web.ID, alice.ID))
	must(t, s.DeleteTeam(ctx, acme.ID))
	_, err = s.TeamByID(ctx, acme.ID)
	wantNotFound(t, err, acme.ID)
	if _, err := s.TokenByHash(ctx, []byte("h-scoped")); !errors.Is(err, apogee.ErrNotFound) {
		t.Errorf("a deleted team's scoped token is kept: %v", err)
	}
	if _, err := s.UserByID(ctx, acme.ID); !errors.Is(err, apogee.ErrNotFound) {
		t.Errorf("a deleted team's account is kept: %v", err)
	}
	wantNotFound(t, s.DeleteTeam(ctx, acme.ID), acme.ID)
	wantNotFound(t, s.DeleteTeam(ctx, alice.ID), alice.ID) // a person is no team
}

func testAudit(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	add := func(owner, action string, at time.Time, project string) *apogee.AuditEntry {
		e := &apogee.AuditEntry{At: at, OwnerID: owner, ActorID: "u1", Actor: "alice@example.com", ClientAddr: "192.0.2.1",
			Action: action, Target: "web", ProjectID: project, Project: "web", Detail: "d"}
		must(t, s.AddAudit(ctx, e))
		return e
	}
	e1 := add("team1", "project.create", base, "p1")
	e2 := add("team1", "deployment.promote", base.Add(time.Hour), "p1")
	e3 := add("user1", "token.create", base.Add(2*time.Hour), "")
	e4 := add("team1", "env.set", base.Add(3*time.Hour), "p2")
	if !(e1.ID < e2.ID && e2.ID < e3.ID && e3.ID < e4.ID) {
		t.Fatalf("ids not increasing: %d %d %d %d", e1.ID, e2.ID, e3.ID, e4.ID)
	}
	ids := func(es []*apogee.AuditEntry) []int64 {
		out := []int64{}
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	q := func(q apogee.AuditQuery) []int64 {
		t.Helper()
		es, err := s.AuditLog(ctx, q)
		must(t, err)
		return ids(es)
	}
	equal(t, "team1's log", q(apogee.AuditQuery{OwnerID: "team1"}), []int64{e4.ID, e2.ID, e1.ID})
	equal(t, "every entry", q(apogee.AuditQuery{All: true}), []int64{e4.ID, e3.ID, e2.ID, e1.ID})
	equal(t, "one project", q(apogee.AuditQuery{OwnerID: "team1", ProjectID: "p1"}), []int64{e2.ID, e1.ID})
	equal(t, "since", q(apogee.AuditQuery{OwnerID: "team1", Since: base.Add(time.Hour)}), []int64{e4.ID, e2.ID})
	equal(t, "page", q(apogee.AuditQuery{OwnerID: "team1", Before: e4.ID, Limit: 1}), []int64{e2.ID})
	_, err := s.AuditLog(ctx, apogee.AuditQuery{})
	wantCode(t, err, apogee.EINVALID)

	es, err := s.AuditLog(ctx, apogee.AuditQuery{OwnerID: "user1"})
	must(t, err)
	equal(t, "entry read back", es, []*apogee.AuditEntry{e3})

	owners, err := s.AuditOwners(ctx)
	must(t, err)
	equal(t, "owners", owners, []string{"team1", "user1"})
	n, err := s.PruneAudit(ctx, "team1", base.Add(90*time.Minute))
	must(t, err)
	if n != 2 {
		t.Errorf("pruned %d; want 2", n)
	}
	equal(t, "after pruning", q(apogee.AuditQuery{All: true}), []int64{e4.ID, e3.ID})
}
