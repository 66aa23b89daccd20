package client

import (
	"context"
	"net/http"

	"github.com/apogee-dev/apogee"
)

// Me returns the caller with their plan and usage (GET /api/v1/user).
func (c *Client) Me(ctx context.Context) (*apogee.UserView, error) {
	var out apogee.UserView
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/user", out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// Usage returns the caller's plan, its limits and this month's usage.
func (c *Client) Usage(ctx context.Context) (*apogee.PlanView, error) {
	var out apogee.PlanView
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/usage", out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// AdminUsers lists every user with plan and usage (admins only).
func (c *Client) AdminUsers(ctx context.Context) ([]apogee.UserView, error) {
	var out struct {
		Users []apogee.UserView `json:"users"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/admin/users", out: &out}); err != nil {
		return nil, err
	}
	return out.Users, nil
}

// AdminUpdateUser changes a user (an id or an email): plan, disabled,
// admin.
func (c *Client) AdminUpdateUser(ctx context.Context, user string, req apogee.UpdateUserRequest) (*apogee.UserView, error) {
	var out apogee.UserView
	if err := c.do(ctx, request{method: http.MethodPatch, path: "/api/v1/admin/users/" + esc(user), in: req, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// AdminPlans lists every plan.
func (c *Client) AdminPlans(ctx context.Context) ([]apogee.Plan, error) {
	var out struct {
		Plans []apogee.Plan `json:"plans"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/admin/plans", out: &out}); err != nil {
		return nil, err
	}
	return out.Plans, nil
}

// AdminCreatePlan makes a plan; limits left out are the default plan's.
func (c *Client) AdminCreatePlan(ctx context.Context, req apogee.PlanRequest) (*apogee.Plan, error) {
	var out apogee.Plan
	if err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/admin/plans", in: req, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// AdminUpdatePlan changes a plan (an id or a name).
func (c *Client) AdminUpdatePlan(ctx context.Context, plan string, req apogee.PlanRequest) (*apogee.Plan, error) {
	var out apogee.Plan
	if err := c.do(ctx, request{method: http.MethodPatch, path: "/api/v1/admin/plans/" + esc(plan), in: req, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// AdminDeletePlan deletes a plan no user is on.
func (c *Client) AdminDeletePlan(ctx context.Context, plan string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/api/v1/admin/plans/" + esc(plan)})
}

// AdminInvite invites an email; the answer holds the link, shown this
// once (admins only).
func (c *Client) AdminInvite(ctx context.Context, req apogee.InviteRequest) (*apogee.NewInvite, error) {
	var out apogee.NewInvite
	if err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/admin/invites", in: req, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// AdminInvites lists the pending invites (admins only).
func (c *Client) AdminInvites(ctx context.Context) ([]apogee.Invite, error) {
	var out struct {
		Invites []apogee.Invite `json:"invites"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/admin/invites", out: &out}); err != nil {
		return nil, err
	}
	return out.Invites, nil
}

// AdminRevokeInvite revokes an invite by id (admins only).
func (c *Client) AdminRevokeInvite(ctx context.Context, id string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/api/v1/admin/invites/" + esc(id)})
}
