package api

import (
	"net/http"
	"strconv"

	"github.com/apogee-dev/apogee"
)

// The admin API (/api/v1/admin/…): the admin service answers 403 to
// anyone who is not an admin.

func (a *API) adminListUsers(w http.ResponseWriter, r *http.Request) error {
	us, err := a.svc.Admin.Users(r.Context())
	return answer(w, http.StatusOK, map[string]any{"users": us}, err)
}

// adminUpdateUser is PATCH /api/v1/admin/users/{id} (an id or an email).
func (a *API) adminUpdateUser(w http.ResponseWriter, r *http.Request) error {
	var req apogee.UpdateUserRequest
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	v, err := a.svc.Admin.UpdateUser(r.Context(), r.PathValue("id"), req)
	return answer(w, http.StatusOK, v, err)
}

func (a *API) adminListPlans(w http.ResponseWriter, r *http.Request) error {
	ps, err := a.svc.Admin.Plans(r.Context())
	return answer(w, http.StatusOK, map[string]any{"plans": ps}, err)
}

func (a *API) adminCreatePlan(w http.ResponseWriter, r *http.Request) error {
	var req apogee.PlanRequest
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	p, err := a.svc.Admin.CreatePlan(r.Context(), req)
	return answer(w, http.StatusCreated, p, err)
}

// adminUpdatePlan is PATCH /api/v1/admin/plans/{id} (an id or a name).
func (a *API) adminUpdatePlan(w http.ResponseWriter, r *http.Request) error {
	var req apogee.PlanRequest
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	p, err := a.svc.Admin.UpdatePlan(r.Context(), r.PathValue("id"), req)
	return answer(w, http.StatusOK, p, err)
}

func (a *API) adminDeletePlan(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, a.svc.Admin.DeletePlan(r.Context(), r.PathValue("id")))
}

func (a *API) createInvite(w http.ResponseWriter, r *http.Request) error {
	var req apogee.InviteRequest
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	inv, err := a.svc.Admin.Invite(r.Context(), req)
	return answer(w, http.StatusCreated, inv, err)
}

func (a *API) listInvites(w http.ResponseWriter, r *http.Request) error {
	list, err := a.svc.Admin.Invites(r.Context())
	return answer(w, http.StatusOK, map[string]any{"invites": list}, err)
}

func (a *API) deleteInvite(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, a.svc.Admin.RevokeInvite(r.Context(), r.PathValue("id")))
}

func (a *API) adminFigures(w http.ResponseWriter, r *http.Request) error {
	f, err := a.svc.Admin.Figures(r.Context())
	return answer(w, http.StatusOK, f, err)
}

func (a *API) adminProjects(w http.ResponseWriter, r *http.Request) error {
	ps, err := a.svc.Admin.AllProjects(r.Context())
	return answer(w, http.StatusOK, map[string]any{"projects": ps}, err)
}

// adminDeployments answers GET /api/v1/admin/deployments?limit=N (default
// 100, at most 1000).
func (a *API) adminDeployments(w http.ResponseWriter, r *http.Request) error {
	limit, err := limitParam(r, 100)
	if err != nil {
		return err
	}
	ds, err := a.svc.Admin.RecentDeployments(r.Context(), limit)
	return answer(w, http.StatusOK, map[string]any{"deployments": ds}, err)
}

// limitParam reads ?limit= (1 to 1000), def when absent.
func limitParam(r *http.Request, def int) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1000 {
		return 0, apogee.Errorf(apogee.EINVALID, "limit %q must be a number from 1 to 1000", s)
	}
	return n, nil
}
