package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/apogee-dev/apogee"
)

// ListTeamProjects returns a team's projects ("" the caller's own).
func (c *Client) ListTeamProjects(ctx context.Context, team string) ([]apogee.ProjectView, error) {
	var out struct {
		Projects []apogee.ProjectView `json:"projects"`
	}
	q := url.Values{}
	if team != "" {
		q.Set("team", team)
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/projects", query: q, out: &out}); err != nil {
		return nil, err
	}
	return out.Projects, nil
}

// MoveProject gives a project to a team ("" to the caller in person).
func (c *Client) MoveProject(ctx context.Context, project, team string) (*apogee.ProjectView, error) {
	var out apogee.ProjectView
	err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/projects/" + esc(project) + "/move",
		in: apogee.MoveProjectRequest{Team: team}, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Teams returns the caller's teams with their role in each.
func (c *Client) Teams(ctx context.Context) ([]apogee.TeamMembership, error) {
	var out struct {
		Teams []apogee.TeamMembership `json:"teams"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/teams", out: &out}); err != nil {
		return nil, err
	}
	return out.Teams, nil
}

// Team returns one of the caller's teams with its members, plan and usage.
func (c *Client) Team(ctx context.Context, name string) (*apogee.TeamView, error) {
	var out apogee.TeamView
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/teams/" + esc(name), out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// RenameTeam changes a team's name and/or display name (owners).
func (c *Client) RenameTeam(ctx context.Context, name string, req apogee.RenameTeamRequest) (*apogee.TeamView, error) {
	var out apogee.TeamView
	if err := c.do(ctx, request{method: http.MethodPatch, path: "/api/v1/teams/" + esc(name), in: req, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateTeam makes a team with the caller as its owner.
func (c *Client) CreateTeam(ctx context.Context, name string) (*apogee.TeamView, error) {
	var out apogee.TeamView
	err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/teams", in: apogee.CreateTeamRequest{Name: name}, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteTeam deletes a team that owns no projects.
func (c *Client) DeleteTeam(ctx context.Context, name string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/api/v1/teams/" + esc(name)})
}

// Members returns a team's members.
func (c *Client) Members(ctx context.Context, team string) ([]apogee.Member, error) {
	var out struct {
		Members []apogee.Member `json:"members"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/teams/" + esc(team) + "/members", out: &out}); err != nil {
		return nil, err
	}
	return out.Members, nil
}

// SetRole changes a member's role (user: email or id).
func (c *Client) SetRole(ctx context.Context, team, user, role string) (*apogee.Member, error) {
	var out apogee.Member
	err := c.do(ctx, request{method: http.MethodPatch, path: "/api/v1/teams/" + esc(team) + "/members/" + esc(user),
		in: apogee.SetRoleRequest{Role: role}, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// RemoveMember removes a member (user: email or id).
func (c *Client) RemoveMember(ctx context.Context, team, user string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/api/v1/teams/" + esc(team) + "/members/" + esc(user)})
}

// InviteToTeam makes an invitation link.
func (c *Client) InviteToTeam(ctx context.Context, team string, req apogee.TeamInviteRequest) (*apogee.NewTeamInvite, error) {
	var out apogee.NewTeamInvite
	if err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/teams/" + esc(team) + "/invites", in: req, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// TeamInvites returns a team's pending invitations.
func (c *Client) TeamInvites(ctx context.Context, team string) ([]apogee.TeamInvite, error) {
	var out struct {
		Invites []apogee.TeamInvite `json:"invites"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/teams/" + esc(team) + "/invites", out: &out}); err != nil {
		return nil, err
	}
	return out.Invites, nil
}

// RevokeTeamInvite revokes an invitation.
func (c *Client) RevokeTeamInvite(ctx context.Context, team, id string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/api/v1/teams/" + esc(team) + "/invites/" + esc(id)})
}

// JoinTeam accepts an invitation by its token or link.
func (c *Client) JoinTeam(ctx context.Context, token string) (*apogee.TeamMembership, error) {
	var out apogee.TeamMembership
	err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/teams/join", in: apogee.AcceptTeamInviteRequest{Token: token}, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Audit reads the audit log.
func (c *Client) Audit(ctx context.Context, req apogee.AuditRequest) ([]apogee.AuditEntry, error) {
	q := url.Values{}
	for k, v := range map[string]string{"team": req.Team, "project": req.Project, "since": req.Since} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if req.All {
		q.Set("all", "true")
	}
	if req.Before > 0 {
		q.Set("before", strconv.FormatInt(req.Before, 10))
	}
	if req.Limit > 0 {
		q.Set("limit", strconv.Itoa(req.Limit))
	}
	var out struct {
		Entries []apogee.AuditEntry `json:"entries"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/audit", query: q, out: &out}); err != nil {
		return nil, err
	}
	return out.Entries, nil
}
