package platform

import (
	"context"
	"errors"
	"fmt"

	"github.com/apogee-dev/apogee"
)

// need is what a call asks of a project. The platform's one access check,
// allow, answers it for every call on a project, whoever the caller is:
// the project's owner in person, a member of the team that owns it (by
// role), an admin, and through whichever credential (a token scoped to a
// team or read-only).
type need int

const (
	// needRead: see the project, its settings, deployments, logs,
	// domains, variables' names: every role.
	needRead need = iota
	// needSecrets: see secret values (the webhook secret, variables'
	// values): members and owners, not viewers.
	needSecrets
	// needChange: change the project (deploy, promote, roll back,
	// variables, domains, settings, webhooks, builds): members and
	// owners.
	needChange
	// needOwner: delete or move the project: owners only.
	needOwner
)

func (n need) String() string {
	return [...]string{"see", "see secrets of", "change", "own"}[n]
}

// allows reports whether role may do what n needs.
func (n need) allows(role apogee.Role) bool {
	switch role {
	case apogee.RoleOwner:
		return true
	case apogee.RoleMember:
		return n <= needChange
	case apogee.RoleViewer:
		return n == needRead
	}
	return false
}

// roleOn returns u's role on the account ownerID (a person or a team) and
// the team, if ownerID is one: owner of their own account, the member's
// role for a team they belong to, owner for an admin (who may do anything
// anywhere), "" for none.
func (pl *Platform) roleOn(ctx context.Context, u *apogee.User, ownerID string) (apogee.Role, *apogee.Team, error) {
	if ownerID == u.ID {
		return apogee.RoleOwner, nil, nil
	}
	t, err := pl.store.TeamByID(ctx, ownerID)
	if errors.Is(err, apogee.ErrNotFound) {
		if u.Admin {
			return apogee.RoleOwner, nil, nil
		}
		return "", nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("platform: team %s: %w", ownerID, err)
	}
	m, err := pl.store.Membership(ctx, t.ID, u.ID)
	switch {
	case err == nil:
		if u.Admin {
			return apogee.RoleOwner, t, nil
		}
		return m.Role, t, nil
	case errors.Is(err, apogee.ErrNotFound):
		if u.Admin {
			return apogee.RoleOwner, t, nil
		}
		return "", t, nil
	}
	return "", nil, fmt.Errorf("platform: membership of %s in %s: %w", u.ID, t.ID, err)
}

// allow is the one check of what u may do on project p. Someone with no
// role on it (and a token scoped to another team) is told notFound, as if
// it did not exist; a role that does not allow n is EFORBIDDEN with a
// message saying why; a read-only token may not change anything.
func (pl *Platform) allow(ctx context.Context, u *apogee.User, p *apogee.Project, n need, notFound error) (apogee.Role, error) {
	if sc := u.Scope; sc != nil && sc.TeamID != "" && p.OwnerID != sc.TeamID {
		return "", notFound
	}
	role, team, err := pl.roleOn(ctx, u, p.OwnerID)
	if err != nil {
		return "", err
	}
	if role == "" {
		return "", notFound
	}
	if sc := u.Scope; sc != nil && sc.ReadOnly && n >= needChange {
		pl.refused(ctx, u, team, p, n, "read-only token")
		return "", errReadOnly
	}
	if !n.allows(role) {
		pl.refused(ctx, u, team, p, n, string(role))
		return "", forbidden(team, role, n)
	}
	return role, nil
}

// refused records a refusal (a 403) on a team's project or the team
// itself in the team's audit log: who tried, from where, what they may
// not do. A person's own account has no one else to refuse.
func (pl *Platform) refused(ctx context.Context, u *apogee.User, team *apogee.Team, p *apogee.Project, n need, as string) {
	if team == nil {
		return
	}
	target := team.Name
	if p != nil {
		target = p.Name
	}
	pl.record(ctx, u, team.ID, p, "access.refused", target, "as "+as+": may not "+n.String()+" it")
}

// errReadOnly refuses a change made with a read-only token.
var errReadOnly = apogee.Errorf(apogee.EFORBIDDEN, "this token is read-only: it may see but not change anything; use a token that is not read-only")

// forbidden says why role may not do what n needs in team.
func forbidden(team *apogee.Team, role apogee.Role, n need) error {
	name := ""
	if team != nil {
		name = team.Name
	}
	switch {
	case role == apogee.RoleViewer && n == needSecrets:
		return apogee.Errorf(apogee.EFORBIDDEN, "you are a viewer of team %s: viewers see projects, deployments and logs, never secret values", name)
	case role == apogee.RoleViewer:
		return apogee.Errorf(apogee.EFORBIDDEN, "you are a viewer of team %s: viewers see projects, deployments and logs but change nothing; ask a team owner for the member role", name)
	default:
		return apogee.Errorf(apogee.EFORBIDDEN, "only an owner of team %s may do this; you are a %s", name, role)
	}
}

// writer returns the acting user for a change that concerns no project
// (a token, a team, a zone): refused with a read-only token.
func (pl *Platform) writer(ctx context.Context) (*apogee.User, error) {
	u, err := pl.actor(ctx)
	if err != nil {
		return nil, err
	}
	if u.Scope != nil && u.Scope.ReadOnly {
		return nil, errReadOnly
	}
	return u, nil
}

// ownerFor returns the account a new project of u goes to: the named
// team (u needs the member role or more there), else the team of u's
// scoped token, else u in person. It answers the team too (nil for u).
func (pl *Platform) ownerFor(ctx context.Context, u *apogee.User, team string) (string, *apogee.Team, error) {
	if team == "" && u.Scope != nil && u.Scope.TeamID != "" {
		t, err := pl.store.TeamByID(ctx, u.Scope.TeamID)
		if err != nil {
			return "", nil, fmt.Errorf("platform: team of token: %w", err)
		}
		team = t.Name
	}
	if team == "" {
		return u.ID, nil, nil
	}
	t, role, err := pl.teamAs(ctx, u, team, needChange)
	if err != nil {
		return "", nil, err
	}
	_ = role
	return t.ID, t, nil
}

// teamAs returns the named team if u may do what n needs there (needRead:
// any member; needChange: members and owners; needOwner: owners). A team
// u is no member of is ENOTFOUND, as a missing one.
func (pl *Platform) teamAs(ctx context.Context, u *apogee.User, name string, n need) (*apogee.Team, apogee.Role, error) {
	notFound := apogee.Errorf(apogee.ENOTFOUND, "team %q not found", name)
	if apogee.ValidateProjectName(name) != nil {
		return nil, "", notFound
	}
	t, err := pl.store.TeamByName(ctx, name)
	if errors.Is(err, apogee.ErrNotFound) {
		return nil, "", notFound
	}
	if err != nil {
		return nil, "", fmt.Errorf("platform: team %q: %w", name, err)
	}
	if sc := u.Scope; sc != nil && sc.TeamID != "" && sc.TeamID != t.ID {
		return nil, "", notFound
	}
	role, _, err := pl.roleOn(ctx, u, t.ID)
	if err != nil {
		return nil, "", err
	}
	if role == "" {
		return nil, "", notFound
	}
	if sc := u.Scope; sc != nil && sc.ReadOnly && n >= needChange {
		pl.refused(ctx, u, t, nil, n, "read-only token")
		return nil, "", errReadOnly
	}
	if !n.allows(role) {
		pl.refused(ctx, u, t, nil, n, string(role))
		return nil, "", forbidden(t, role, n)
	}
	return t, role, nil
}

// scopeOwner returns the account a listing of team's scope reads: team
// "" is u in person, or the team of u's token scoped to one; a team's
// name is that team (any member: needRead). It answers the team's name
// too ("" for u).
func (pl *Platform) scopeOwner(ctx context.Context, u *apogee.User, team string) (ownerID, teamName string, err error) {
	if team == "" && (u.Scope == nil || u.Scope.TeamID == "") {
		return u.ID, "", nil
	}
	if team == "" {
		t, err := pl.store.TeamByID(ctx, u.Scope.TeamID)
		if err != nil {
			return "", "", fmt.Errorf("platform: team of token: %w", err)
		}
		team = t.Name
	}
	t, _, err := pl.teamAs(ctx, u, team, needRead)
	if err != nil {
		return "", "", err
	}
	return t.ID, t.Name, nil
}
