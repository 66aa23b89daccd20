package dashboard

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/api"
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
	Webhooks  []*apogee.WebhookView
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
	if data.Webhooks, err = d.svc.Webhooks.TeamWebhooks(ctx, t.Name); err != nil {
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

func (d *Dashboard) renameTeam(w http.ResponseWriter, r *http.Request, s *session) error {
	name, display := r.PostFormValue("name"), r.PostFormValue("display_name")
	t, err := d.svc.Teams.RenameTeam(r.Context(), r.PathValue("team"), apogee.RenameTeamRequest{Name: &name, DisplayName: &display})
	if err != nil {
		return teamBack(w, r, err, teamURL(r))
	}
	setFlash(w, r, "ok", "Team renamed: it is "+t.Name+" now.")
	return seeOther(w, r, "/teams/"+url.PathEscape(t.Name))
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

// joinPage is where an invitation link lands. It says which team and
// role the link is for. Signed in: a button that joins (a GET never
// changes anything). Signed out: a form that makes an account and joins
// in one step, whatever the server's sign-up mode (the invitation is the
// permission, as an admin's invitation is), and a way to sign in first
// for someone who has an account. A link that no longer works is a clear
// error, and nothing else.
func (d *Dashboard) joinPage(w http.ResponseWriter, r *http.Request) error {
	token := r.URL.Query().Get("token")
	if token == "" {
		return apogee.Errorf(apogee.EINVALID, "this link has no invitation token; ask a team owner for the whole link")
	}
	s, err := d.session(r)
	if err != nil {
		return err
	}
	inv, err := d.svc.Teams.InvitePreview(r.Context(), token)
	if err != nil {
		return err
	}
	data := joinData{TeamInvitePreview: inv, Token: token, Next: r.URL.RequestURI()}
	if s == nil {
		data.LoginToken = d.loginToken(w, r)
	} else if err := apogee.CheckInviteEmail(inv.Team, inv.Email, s.user.Email); err != nil {
		// For another account: say which, offer no button that would
		// fail (the platform refuses it too).
		data.Refusal = apogee.ErrorMessage(err)
	}
	d.render(w, r, http.StatusOK, "team_join", s, "Join team "+inv.Team, data)
	return nil
}

type joinData struct {
	*apogee.TeamInvitePreview
	Token      string
	Next       string // this page, for signing in and coming back
	LoginToken string // the signed-out form's CSRF token
	FormEmail  string // what the sign-up form was sent with
	Error      string
	// Refusal says why the signed-in account may not accept the
	// invitation (it is for another email).
	Refusal string
}

// joinSignup makes the account and the membership together (the
// platform's SignUpByInvite) and signs the new account in.
func (d *Dashboard) joinSignup(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if !checkLoginToken(r) {
		return errBadCSRF
	}
	token := r.PostFormValue("token")
	inv, err := d.svc.Teams.InvitePreview(r.Context(), token)
	if err != nil {
		return err
	}
	ctx := apogee.NewContextWithClient(r.Context(), r.RemoteAddr)
	if r.PostFormValue("password") != r.PostFormValue("password2") {
		err = apogee.Errorf(apogee.EINVALID, "the two passwords differ")
	} else {
		var u *apogee.User
		var m *apogee.TeamMembership
		u, m, err = d.svc.Teams.SignUpByInvite(ctx, apogee.TeamSignUpRequest{Token: token,
			Email: r.PostFormValue("email"), Password: r.PostFormValue("password")})
		if err == nil {
			if err := d.startSession(w, r, u); err != nil {
				return err
			}
			setFlash(w, r, "ok", "Welcome to Apogee. You joined team "+m.Name+" as "+string(m.Role)+".")
			return seeOther(w, r, "/teams/"+url.PathEscape(m.Name))
		}
	}
	switch apogee.ErrorCode(err) {
	case apogee.EINVALID, apogee.ECONFLICT:
		if errors.Is(err, apogee.ErrTeamInviteUsed) {
			return err // used or revoked meanwhile
		}
		d.render(w, r, api.StatusOf(apogee.ErrorCode(err)), "team_join", nil, "Join team "+inv.Team, joinData{TeamInvitePreview: inv,
			Token: token, Next: "/teams/join?token=" + url.QueryEscape(token), LoginToken: d.loginToken(w, r),
			FormEmail: r.PostFormValue("email"), Error: apogee.ErrorMessage(err)})
		return nil
	}
	return err
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
