package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
)

// The admin API (/api/v1/admin/…) and the caller's own plan and usage.
// Admin routes answer 401 without a token and 403 to anyone who is not an
// admin (adminOnly, figures.go); they see every user.

func (a *API) adminRoutes(authed func(string, func(http.ResponseWriter, *http.Request, *apogee.User) error)) {
	authed("GET /api/v1/usage", a.usage)
	authed("GET /api/v1/admin/users", adminOnly(a.adminListUsers))
	authed("PATCH /api/v1/admin/users/{id}", adminOnly(a.adminUpdateUser))
	authed("GET /api/v1/admin/plans", adminOnly(a.adminListPlans))
	authed("POST /api/v1/admin/plans", adminOnly(a.adminCreatePlan))
	authed("PATCH /api/v1/admin/plans/{id}", adminOnly(a.adminUpdatePlan))
	authed("DELETE /api/v1/admin/plans/{id}", adminOnly(a.adminDeletePlan))
}

// planUsage returns the plan and usage of a user (the owner of projects).
func (a *API) planUsage(ctx context.Context, userID string) (*apogee.Plan, *apogee.Usage, error) {
	p, err := a.store.UserPlan(ctx, userID)
	if err != nil {
		return nil, nil, fmt.Errorf("api: plan of user %s: %w", userID, err)
	}
	now := a.now().UTC()
	use, err := a.store.Usage(ctx, userID, apogee.MonthStart(now), now)
	if err != nil {
		return nil, nil, fmt.Errorf("api: usage of user %s: %w", userID, err)
	}
	return p, use, nil
}

func (a *API) userView(ctx context.Context, u *apogee.User) (*apogee.UserView, error) {
	p, use, err := a.planUsage(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	return &apogee.UserView{User: u, Plan: p, Usage: use, Disabled: u.Disabled()}, nil
}

// whoami is GET /api/v1/user: the caller with their plan and usage.
func (a *API) whoami(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	v, err := a.userView(r.Context(), u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// usage is GET /api/v1/usage: the caller's plan, its limits and what
// they use of them this month.
func (a *API) usage(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	p, use, err := a.planUsage(r.Context(), u.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apogee.PlanView{Plan: p, Usage: use, Month: apogee.MonthStart(a.now())})
	return nil
}

func (a *API) adminListUsers(w http.ResponseWriter, r *http.Request, _ *apogee.User) error {
	users, err := a.store.ListUsers(r.Context())
	if err != nil {
		return fmt.Errorf("api: list users: %w", err)
	}
	views := make([]*apogee.UserView, 0, len(users))
	for _, u := range users {
		v, err := a.userView(r.Context(), u)
		if err != nil {
			return err
		}
		views = append(views, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": views})
	return nil
}

// lookupUser finds a user by id or, with an @, by email.
func (a *API) lookupUser(ctx context.Context, key string) (*apogee.User, error) {
	var u *apogee.User
	var err error
	if strings.Contains(key, "@") {
		u, err = a.store.UserByEmail(ctx, key)
	} else {
		u, err = a.store.UserByID(ctx, key)
	}
	if errors.Is(err, apogee.ErrNotFound) {
		return nil, apogee.Errorf(apogee.ENOTFOUND, "user %q not found; list users with `apogee admin users list`", key)
	}
	if err != nil {
		return nil, fmt.Errorf("api: look up user: %w", err)
	}
	return u, nil
}

// lookupPlan finds a plan by id or name.
func (a *API) lookupPlan(ctx context.Context, key string) (*apogee.Plan, error) {
	p, err := a.store.PlanByID(ctx, key)
	if err == nil {
		return p, nil
	}
	if !errors.Is(err, apogee.ErrNotFound) {
		return nil, fmt.Errorf("api: look up plan: %w", err)
	}
	plans, err := a.store.ListPlans(ctx)
	if err != nil {
		return nil, fmt.Errorf("api: look up plan: %w", err)
	}
	for _, p := range plans {
		if strings.EqualFold(p.Name, key) {
			return p, nil
		}
	}
	return nil, apogee.Errorf(apogee.ENOTFOUND, "plan %q not found; list plans with `apogee admin plans list`", key)
}

// adminUpdateUser is PATCH /api/v1/admin/users/{id} (an id or an
// email): plan, disabled, admin. Everything is checked before anything
// changes. An admin cannot disable or demote themselves (another admin
// can), so a server is never left without a way in by one mistake.
func (a *API) adminUpdateUser(w http.ResponseWriter, r *http.Request, me *apogee.User) error {
	var req apogee.UpdateUserRequest
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	if req.Plan == nil && req.Disabled == nil && req.Admin == nil {
		return apogee.Errorf(apogee.EINVALID, "send at least one of \"plan\", \"disabled\", \"admin\"")
	}
	ctx := r.Context()
	u, err := a.lookupUser(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	if u.ID == me.ID && req.Disabled != nil && *req.Disabled {
		return apogee.Errorf(apogee.EINVALID, "you cannot disable your own account; ask another admin")
	}
	if u.ID == me.ID && req.Admin != nil && !*req.Admin {
		return apogee.Errorf(apogee.EINVALID, "you cannot remove your own admin rights; ask another admin")
	}
	planID := ""
	if req.Plan != nil && *req.Plan != "" {
		p, err := a.lookupPlan(ctx, *req.Plan)
		if err != nil {
			return err
		}
		planID = p.ID
	}
	if req.Plan != nil {
		if err := a.store.SetUserPlan(ctx, u.ID, planID); err != nil {
			return fmt.Errorf("api: set plan: %w", err)
		}
	}
	if req.Disabled != nil {
		var at *time.Time
		if *req.Disabled {
			now := a.now().UTC()
			at = &now
		}
		if err := a.store.SetUserDisabled(ctx, u.ID, at); err != nil {
			return fmt.Errorf("api: disable user: %w", err)
		}
	}
	if req.Admin != nil {
		if err := a.store.SetUserAdmin(ctx, u.ID, *req.Admin); err != nil {
			return fmt.Errorf("api: set admin: %w", err)
		}
	}
	a.log.Info("admin changed user", "admin", me.ID, "user", u.ID,
		"plan", req.Plan, "disabled", req.Disabled, "is_admin", req.Admin)
	if u, err = a.store.UserByID(ctx, u.ID); err != nil {
		return fmt.Errorf("api: read user back: %w", err)
	}
	v, err := a.userView(ctx, u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (a *API) adminListPlans(w http.ResponseWriter, r *http.Request, _ *apogee.User) error {
	plans, err := a.store.ListPlans(r.Context())
	if err != nil {
		return fmt.Errorf("api: list plans: %w", err)
	}
	if plans == nil {
		plans = []*apogee.Plan{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"plans": plans})
	return nil
}

// adminCreatePlan is POST /api/v1/admin/plans. Limits left out are the
// default plan's.
func (a *API) adminCreatePlan(w http.ResponseWriter, r *http.Request, me *apogee.User) error {
	var req apogee.PlanRequest
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	if req.Name == nil {
		return apogee.Errorf(apogee.EINVALID, "a plan needs a \"name\"")
	}
	def, err := a.store.DefaultPlan(r.Context())
	if err != nil {
		return fmt.Errorf("api: default plan: %w", err)
	}
	p := &apogee.Plan{Limits: def.Limits, CreatedAt: a.now().UTC()}
	req.Apply(p)
	if err := p.Validate(); err != nil {
		return err
	}
	if err := a.store.CreatePlan(r.Context(), p); err != nil {
		return fmt.Errorf("api: create plan: %w", err)
	}
	a.log.Info("admin created plan", "admin", me.ID, "plan", p.ID, "name", p.Name)
	writeJSON(w, http.StatusCreated, p)
	return nil
}

// adminUpdatePlan is PATCH /api/v1/admin/plans/{id} (an id or a name).
func (a *API) adminUpdatePlan(w http.ResponseWriter, r *http.Request, me *apogee.User) error {
	var req apogee.PlanRequest
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	p, err := a.lookupPlan(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	req.Apply(p)
	if err := p.Validate(); err != nil {
		return err
	}
	if err := a.store.UpdatePlan(r.Context(), p); err != nil {
		return fmt.Errorf("api: update plan: %w", err)
	}
	a.log.Info("admin updated plan", "admin", me.ID, "plan", p.ID, "name", p.Name)
	if p, err = a.store.PlanByID(r.Context(), p.ID); err != nil {
		return fmt.Errorf("api: read plan back: %w", err)
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// adminDeletePlan is DELETE /api/v1/admin/plans/{id} (an id or a name):
// refused while users are on it or it is the default.
func (a *API) adminDeletePlan(w http.ResponseWriter, r *http.Request, me *apogee.User) error {
	p, err := a.lookupPlan(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := a.store.DeletePlan(r.Context(), p.ID); err != nil {
		return fmt.Errorf("api: delete plan: %w", err)
	}
	a.log.Info("admin deleted plan", "admin", me.ID, "plan", p.ID, "name", p.Name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
