package dashboard

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/apogee-dev/apogee"
)

// Teams (issue 19): the list of the user's teams with a form to make one,
// a team's page (members and roles, invitations, plan and usage, its
// projects, the audit log) and the page an invitation link opens. Every
// check of a role is the platform's: these pages call the same services
// as the API.

type teamsData struct {
	Teams []*apogee.TeamMembership
	Error string
}

func (d *Dashboard) teamsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	ts, err := d.svc.Teams.Teams(r.Context())
	if err != nil {
		return err
	}
	d.render(w, r, http.StatusOK, "teams", s, "Teams", teamsData{Teams: ts})
	return nil
}

func (d *Dashboard) createTeam(w http.ResponseWriter, r *http.Request, s *session) error {
	t, err := d.svc.Teams.CreateTeam(r.Context(), apogee.CreateTeamRequest{Name: r.PostFormValue("name")})
	if err != nil {
		return back(w, r, err, "")
	}
	setFlash(w, r, "ok", "Team "+t.Name+" created. Invite people below.")
	return seeOther(w, r, "/teams/"+url.PathEscape(t.Name))
}

type teamData struct {
	*apogee.TeamView
	Owner     bool
	Projects  []*apogee.ProjectView
	Audit     []*apogee.AuditEntry
	Usage     *planUsage
	NewInvite *apogee.NewTeamInvite // shown once, on the page that made it
}

func (d *Dashboard) team(w http.ResponseWriter, r *http.Request, s *session, newInvite *apogee.NewTeamInvite) error {
	ctx := r.Context()
	name := r.PathValue("team")
	t, err := d.svc.Teams.Team(ctx, name)
	if err != nil {
		return err
	}
	data := teamData{TeamView: t, Owner: t.Role == apogee.RoleOwner, NewInvite: newInvite, Usage: usageCard(t.Plan)}
	if data.Projects, err = d.svc.Projects.Projects(ctx, t.Name); err != nil {
		return err
	}
	if data.Owner {
		if data.Audit, err = d.svc.Audit.Audit(ctx, apogee.AuditRequest{Team: t.Name, Limit: 100}); err != nil {
			return err
		}
	}
	d.render(w, r, http.StatusOK, "team", s, "Team "+t.Name, data)
	return nil
}

func (d *Dashboard) teamPage(w http.ResponseWriter, r *http.Request, s *session) error {
	return d.team(w, r, s, nil)
}

func teamURL(r *http.Request) string { return "/teams/" + url.PathEscape(r.PathValue("team")) }

func (d *Dashboard) inviteToTeam(w http.ResponseWriter, r *http.Request, s *session) error {
	inv, err := d.svc.Teams.Invite(r.Context(), r.PathValue("team"), apogee.TeamInviteRequest{
		Email: r.PostFormValue("email"), Role: r.PostFormValue("role")})
	if err != nil {
		if c := apogee.ErrorCode(err); c == apogee.EINTERNAL || c == apogee.ENOTFOUND {
			return err // a team you are no member of is a 404, like a missing one
		}
		setFlash(w, r, "error", apogee.ErrorMessage(err))
		return seeOther(w, r, teamURL(r))
	}
	return d.team(w, r, s, inv)
}

func (d *Dashboard) revokeTeamInvite(w http.ResponseWriter, r *http.Request, s *session) error {
	err := d.svc.Teams.RevokeInvite(r.Context(), r.PathValue("team"), r.PathValue("id"))
	if err == nil {
		setFlash(w, r, "ok", "Invitation revoked: its link no longer works.")
	}
	return teamBack(w, r, err, teamURL(r))
}

func (d *Dashboard) setMemberRole(w http.ResponseWriter, r *http.Request, s *session) error {
	m, err := d.svc.Teams.SetRole(r.Context(), r.PathValue("team"), r.PathValue("user"), apogee.Role(r.PostFormValue("role")))
	if err == nil {
		setFlash(w, r, "ok", m.Email+" is now "+string(m.Role)+".")
	}
	return teamBack(w, r, err, teamURL(r))
}

func (d *Dashboard) removeMember(w http.ResponseWriter, r *http.Request, s *session) error {
	user := r.PathValue("user")
	err := d.svc.Teams.RemoveMember(r.Context(), r.PathValue("team"), user)
	if err != nil {
		return teamBack(w, r, err, teamURL(r))
	}
	if user == s.user.ID || strings.EqualFold(user, s.user.Email) {
		setFlash(w, r, "ok", "You left the team.")
		return seeOther(w, r, "/teams")
	}
	setFlash(w, r, "ok", "Member removed: their access ended at once.")
	return seeOther(w, r, teamURL(r))
}

// teamBack shows a refusal as a message on the page the form was on.
func teamBack(w http.ResponseWriter, r *http.Request, err error, to string) error {
	if err != nil {
		if apogee.ErrorCode(err) == apogee.EINTERNAL || apogee.ErrorCode(err) == apogee.ENOTFOUND {
			return err
		}
		setFlash(w, r, "error", apogee.ErrorMessage(err))
	}
	return seeOther(w, r, to)
}

// joinPage is where an invitation link lands: signed in, a button that
// joins (a GET never changes anything); signed out, the sign-in page
// first (authed sends them there and back).
func (d *Dashboard) joinPage(w http.ResponseWriter, r *http.Request, s *session) error {
	token := r.URL.Query().Get("token")
	if token == "" {
		return apogee.Errorf(apogee.EINVALID, "this link has no invitation token; ask a team owner for the whole link")
	}
	d.render(w, r, http.StatusOK, "team_join", s, "Join a team", map[string]string{"Token": token})
	return nil
}

func (d *Dashboard) joinTeam(w http.ResponseWriter, r *http.Request, s *session) error {
	m, err := d.svc.Teams.AcceptInvite(r.Context(), r.PostFormValue("token"))
	if err != nil {
		if c := apogee.ErrorCode(err); c == apogee.EINTERNAL {
			return err
		}
		setFlash(w, r, "error", apogee.ErrorMessage(err))
		return seeOther(w, r, "/teams")
	}
	setFlash(w, r, "ok", "You joined team "+m.Name+" as "+string(m.Role)+".")
	return seeOther(w, r, "/teams/"+url.PathEscape(m.Name))
}

// adminAudit is the platform's whole audit log, newest first (admins).
func (d *Dashboard) adminAudit(w http.ResponseWriter, r *http.Request, s *session) error {
	es, err := d.svc.Audit.Audit(r.Context(), apogee.AuditRequest{All: true, Limit: adminAuditShown})
	if err != nil {
		return err
	}
	d.render(w, r, http.StatusOK, "admin_audit", s, "Admin: audit log", map[string]any{"Entries": es, "Limit": adminAuditShown})
	return nil
}

// adminAuditShown is how many entries the admin's audit page shows.
const adminAuditShown = 200
