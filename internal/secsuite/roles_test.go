package secsuite

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/auth"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// Team roles as columns of the matrix (issue 19): every API and
// dashboard row for a project's owner runs again on a project of the victim's team, as a
// member and as a viewer of that team. A member may do what the owner
// may except the owner's part (delete or move the project); a viewer may
// read (GET) and nothing else, and never sees a secret value; both are
// refused with 403 and the victim's data stays as it was. Team rows name
// the project's team: members and viewers may read it and its members,
// only owners change them. DNS zones are a person's: 404.

const (
	roleMember role = "team member"
	roleViewer role = "team viewer"
)

// ownersOnly are the rows only a team's owners may use: deleting or
// moving a project, and the team's members, invitations and webhooks (the
// team rows name the team that owns the fixture's project).
var ownersOnly = map[string]bool{
	"DELETE /api/v1/projects/{name}":             true,
	"POST /api/v1/projects/{name}/move":          true,
	"DELETE /api/v1/teams/{team}":                true,
	"PATCH /api/v1/teams/{team}":                 true,
	"POST /teams/{team}/rename":                  true,
	"PATCH /api/v1/teams/{team}/members/{user}":  true,
	"DELETE /api/v1/teams/{team}/members/{user}": true,
	"GET /api/v1/teams/{team}/invites":           true,
	"POST /api/v1/teams/{team}/invites":          true,
	"DELETE /api/v1/teams/{team}/invites/{id}":   true,
	"POST /projects/{name}/delete":               true,
	"POST /teams/{team}/invites":                 true,
	"POST /teams/{team}/invites/{id}/revoke":     true,
	"POST /teams/{team}/members/{user}/role":     true,
	"POST /teams/{team}/members/{user}/remove":   true,
	// A team's webhooks are its settings: members and viewers list them.
	"POST /api/v1/teams/{team}/webhooks":           true,
	"DELETE /api/v1/teams/{team}/webhooks/{id}":    true,
	"POST /api/v1/teams/{team}/webhooks/{id}/test": true,
	"POST /teams/{team}/webhooks":                  true,
	"POST /teams/{team}/webhooks/{id}/delete":      true,
	"POST /teams/{team}/webhooks/{id}/test":        true,
}

// roleColumn says whether a route of the owner's gets the role columns:
// the API's and the dashboard's, not git push (its own tests).
func roleColumn(route string) bool {
	return route != "/git/"
}

// TestTeamRoleColumns runs the matrix's project rows as a team's member
// and viewer, on SQLite and PostgreSQL.
func TestTeamRoleColumns(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			database := ""
			if db == "postgres" {
				database = testbed.PostgresURL(t)
			}
			w := startWorld(t, database)
			crew, member, viewer := w.crew(t)
			n := 0
			for _, r := range matrix() {
				if r.who != owner || !roleColumn(r.route) {
					continue
				}
				n++
				t.Run(r.route, func(t *testing.T) {
					for _, p := range []*principal{member, viewer} {
						w.runRole(t, r, p, crew)
					}
				})
			}
			if n < 30 {
				t.Fatalf("only %d project rows of the API; the matrix lost its rows?", n)
			}
			t.Logf("%d routes as a team's member and viewer", n)
		})
	}
}

// crew makes the victim's team with a member and a viewer who signed in
// through the server's own paths.
func (w *world) crew(t *testing.T) (string, *principal, *principal) {
	t.Helper()
	ctx := context.Background()
	team, err := w.ownerAPI.CreateTeam(ctx, w.unique("crew"))
	if err != nil {
		t.Fatal(err)
	}
	member := w.signIn(roleMember, "member@crew.example", false)
	viewer := w.signIn(roleViewer, "viewer@crew.example", false)
	for _, p := range []struct {
		who  *principal
		role apogee.Role
	}{{member, apogee.RoleMember}, {viewer, apogee.RoleViewer}} {
		_, hash := auth.NewToken()
		inv := &apogee.TeamInvite{TeamID: team.ID, Role: p.role, Hash: hash, InvitedBy: w.owner.user.ID,
			CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
		if err := w.store.CreateTeamInvite(ctx, inv); err != nil {
			t.Fatal(err)
		}
		if _, err := w.store.AcceptTeamInvite(ctx, inv.ID, p.who.user.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	return team.Name, member, viewer
}

// teamFixture is a fixture whose project belongs to team, with a plain
// variable and the webhook secret known, which a viewer must never see.
func (w *world) teamFixture(t *testing.T, team string) (*fixture, []string) {
	t.Helper()
	f := &fixture{w: w, t: t, ctx: context.Background(), markers: map[string]bool{}, deps: map[string]string{}}
	f.team = team // team rows name the project's own team
	tv, err := w.store.TeamByName(f.ctx, team)
	if err != nil {
		t.Fatal(err)
	}
	f.teamID = tv.ID
	f.project = w.unique("teamvictim")
	f.path = f.project
	if _, err := w.ownerAPI.CreateProjectWith(f.ctx, apogee.CreateProjectRequest{Name: f.project, Team: team,
		Git: &apogee.GitSource{URL: f.repoURL(), Branch: "main"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if f.dnsZone != "" { // the team's plan holds a few zones
			_ = w.ownerAPI.RemoveZone(context.Background(), f.dnsZone)
		}
		_ = w.ownerAPI.DeleteProject(context.Background(), f.project)
	})
	plain := w.unique("plainvalue-")
	if _, err := w.ownerAPI.SetEnv(f.ctx, f.project, strings.ToUpper(w.unique("PLAIN_")), plain, false); err != nil {
		t.Fatal(err)
	}
	return f, []string{plain, f.ProjectWebhookSecret()}
}

// runRole sends the row's request as p, a member or viewer of team, on a
// team project of its own.
func (w *world) runRole(t *testing.T, r row, p *principal, team string) {
	t.Helper()
	f, secrets := w.teamFixture(t, team)
	req := r.req(f)
	before := f.snapshot()
	res := w.do(p, req)
	after := f.snapshot()
	w.checks.Add(1)
	label := fmt.Sprintf("as %s: %s %s", p.role, req.method, req.path)
	permitted := !ownersOnly[r.route] && (p.role == roleMember || req.method == http.MethodGet)
	if !permitted {
		// The API says 403; a dashboard form says why on the page it
		// came from (303 back to the project's or the team's page).
		loc := res.header.Get("Location")
		back := res.status == http.StatusSeeOther && (strings.HasPrefix(loc, "/projects/"+f.project) || strings.HasPrefix(loc, "/teams/"+team) ||
			strings.HasPrefix(loc, "/deployments/"))
		if res.status != http.StatusForbidden && !back {
			t.Errorf("%s: %s; want 403, or 303 back to the page (the role does not allow it)", label, res)
		}
		if before != after {
			t.Errorf("%s: refused, yet the victim's data changed:\n%s", label, diff(before, after))
		}
		return
	}
	if !succeeded(r, res) {
		t.Errorf("%s: %s; want %s (the role allows it)", label, res, wantText(r))
	}
	if r.changes && before == after {
		t.Errorf("%s: %s; the row changes the project, but nothing changed", label, res)
	}
	if p.role == roleViewer {
		for _, s := range secrets {
			if strings.Contains(string(res.body), s) {
				t.Errorf("%s: a viewer sees a secret value: %s", label, res)
			}
		}
	}
}
