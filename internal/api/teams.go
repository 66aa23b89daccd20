package api

import (
	"net/http"
	"strconv"

	"github.com/apogee-dev/apogee"
)

// Teams, their members and invitations, moving projects, the audit log.

func (a *API) moveProject(w http.ResponseWriter, r *http.Request) error {
	var req apogee.MoveProjectRequest
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	v, err := a.svc.Projects.MoveProject(r.Context(), r.PathValue("name"), req)
	return answer(w, http.StatusOK, v, err)
}

func (a *API) listTeams(w http.ResponseWriter, r *http.Request) error {
	ts, err := a.svc.Teams.Teams(r.Context())
	return answer(w, http.StatusOK, map[string]any{"teams": ts}, err)
}

func (a *API) createTeam(w http.ResponseWriter, r *http.Request) error {
	var req apogee.CreateTeamRequest
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	v, err := a.svc.Teams.CreateTeam(r.Context(), req)
	return answer(w, http.StatusCreated, v, err)
}

func (a *API) getTeam(w http.ResponseWriter, r *http.Request) error {
	v, err := a.svc.Teams.Team(r.Context(), r.PathValue("team"))
	return answer(w, http.StatusOK, v, err)
}

func (a *API) renameTeam(w http.ResponseWriter, r *http.Request) error {
	var req apogee.RenameTeamRequest
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	v, err := a.svc.Teams.RenameTeam(r.Context(), r.PathValue("team"), req)
	return answer(w, http.StatusOK, v, err)
}

func (a *API) deleteTeam(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, a.svc.Teams.DeleteTeam(r.Context(), r.PathValue("team")))
}

func (a *API) listMembers(w http.ResponseWriter, r *http.Request) error {
	ms, err := a.svc.Teams.Members(r.Context(), r.PathValue("team"))
	return answer(w, http.StatusOK, map[string]any{"members": ms}, err)
}

func (a *API) setRole(w http.ResponseWriter, r *http.Request) error {
	var req apogee.SetRoleRequest
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	if req.Role == "" {
		return apogee.Errorf(apogee.EINVALID, "send {\"role\": \"owner\"|\"member\"|\"viewer\"}")
	}
	m, err := a.svc.Teams.SetRole(r.Context(), r.PathValue("team"), r.PathValue("user"), apogee.Role(req.Role))
	return answer(w, http.StatusOK, m, err)
}

func (a *API) removeMember(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, a.svc.Teams.RemoveMember(r.Context(), r.PathValue("team"), r.PathValue("user")))
}

func (a *API) listTeamInvites(w http.ResponseWriter, r *http.Request) error {
	is, err := a.svc.Teams.Invites(r.Context(), r.PathValue("team"))
	return answer(w, http.StatusOK, map[string]any{"invites": is}, err)
}

func (a *API) createTeamInvite(w http.ResponseWriter, r *http.Request) error {
	var req apogee.TeamInviteRequest
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	v, err := a.svc.Teams.Invite(r.Context(), r.PathValue("team"), req)
	return answer(w, http.StatusCreated, v, err)
}

func (a *API) deleteTeamInvite(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, a.svc.Teams.RevokeInvite(r.Context(), r.PathValue("team"), r.PathValue("id")))
}

func (a *API) joinTeam(w http.ResponseWriter, r *http.Request) error {
	var req apogee.AcceptTeamInviteRequest
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	m, err := a.svc.Teams.AcceptInvite(r.Context(), req.Token)
	return answer(w, http.StatusOK, m, err)
}

// auditLog: GET /api/v1/audit?team=&project=&all=1&since=7d&before=&limit=
func (a *API) auditLog(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	req := apogee.AuditRequest{Team: q.Get("team"), Project: q.Get("project"), Since: q.Get("since")}
	switch q.Get("all") {
	case "", "0", "false":
	case "1", "true":
		req.All = true
	default:
		return apogee.Errorf(apogee.EINVALID, "all must be true or false")
	}
	for _, p := range []struct {
		name string
		set  func(int64)
	}{{"before", func(v int64) { req.Before = v }}, {"limit", func(v int64) { req.Limit = int(v) }}} {
		if s := q.Get(p.name); s != "" {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil || v < 0 {
				return apogee.Errorf(apogee.EINVALID, "%s must be a whole number of at least 0", p.name)
			}
			p.set(v)
		}
	}
	es, err := a.svc.Audit.Audit(r.Context(), req)
	if es == nil {
		es = []*apogee.AuditEntry{}
	}
	return answer(w, http.StatusOK, map[string]any{"entries": es}, err)
}
