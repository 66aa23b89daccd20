package platform

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/auth"
)

// teams implements apogee.TeamService. Every check of a role goes
// through teamAs (access.go), the same check projects use.
type teams struct{ *Platform }

var _ apogee.TeamService = teams{}

// MaxTeamInviteTTL bounds how long a team invitation is good for.
const MaxTeamInviteTTL = 30 * 24 * time.Hour

func (pl teams) Teams(ctx context.Context) ([]*apogee.TeamMembership, error) {
	u, err := pl.actor(ctx)
	if err != nil {
		return nil, err
	}
	ts, err := pl.store.Teams(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("platform: teams: %w", err)
	}
	out := []*apogee.TeamMembership{}
	for _, t := range ts {
		if u.Scope != nil && u.Scope.TeamID != "" && u.Scope.TeamID != t.ID {
			continue
		}
		out = append(out, t)
	}
	return out, nil
}

func (pl teams) Team(ctx context.Context, name string) (*apogee.TeamView, error) {
	u, err := pl.actor(ctx)
	if err != nil {
		return nil, err
	}
	t, role, err := pl.teamAs(ctx, u, name, needRead)
	if err != nil {
		return nil, err
	}
	return pl.teamView(ctx, t, role)
}

func (pl *Platform) teamView(ctx context.Context, t *apogee.Team, role apogee.Role) (*apogee.TeamView, error) {
	ms, err := pl.store.Members(ctx, t.ID)
	if err != nil {
		return nil, fmt.Errorf("platform: members of %s: %w", t.Name, err)
	}
	v := &apogee.TeamView{Team: t, Role: role, Members: ms}
	plan, use, err := pl.planUsage(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	v.Plan = &apogee.PlanView{Plan: plan, Usage: use, Month: apogee.MonthStart(pl.now())}
	if role == apogee.RoleOwner {
		if v.Invites, err = pl.store.TeamInvites(ctx, t.ID, pl.now().UTC()); err != nil {
			return nil, fmt.Errorf("platform: invitations of %s: %w", t.Name, err)
		}
	}
	return v, nil
}

func (pl teams) CreateTeam(ctx context.Context, req apogee.CreateTeamRequest) (*apogee.TeamView, error) {
	u, err := pl.writer(ctx)
	if err != nil {
		return nil, err
	}
	if u.Scope != nil && u.Scope.TeamID != "" {
		return nil, apogee.Errorf(apogee.EFORBIDDEN, "this token is scoped to a team: it cannot make teams")
	}
	name, err := teamName(req.Name)
	if err != nil {
		return nil, err
	}
	t := &apogee.Team{Name: name, CreatedBy: u.ID, CreatedAt: pl.now().UTC()}
	if err := pl.store.CreateTeam(ctx, t, u.ID); err != nil {
		if apogee.ErrorCode(err) == apogee.ECONFLICT {
			return nil, apogee.Errorf(apogee.ECONFLICT, "team name %q is taken; choose another", name)
		}
		return nil, fmt.Errorf("platform: create team: %w", err)
	}
	pl.log.Info("team created", "team", t.Name, "user", u.ID)
	pl.record(ctx, u, t.ID, nil, "team.create", t.Name, "")
	return pl.teamView(ctx, t, apogee.RoleOwner)
}

// teamName checks a team's name (its slug): a project name's rules, and
// not "join", which is the invitation page's path under /teams.
func teamName(raw string) (string, error) {
	name := strings.ToLower(strings.TrimSpace(raw))
	if err := apogee.ValidateProjectName(name); err != nil {
		return "", apogee.Errorf(apogee.EINVALID, "team name %q: %s", raw,
			strings.Replace(apogee.ErrorMessage(err), "project name", "a team name", 1))
	}
	if name == "join" {
		return "", apogee.Errorf(apogee.EINVALID, "team name %q is reserved (the dashboard's /teams/join); choose another", name)
	}
	return name, nil
}

func (pl teams) RenameTeam(ctx context.Context, team string, req apogee.RenameTeamRequest) (*apogee.TeamView, error) {
	u, err := pl.actor(ctx)
	if err != nil {
		return nil, err
	}
	t, role, err := pl.teamAs(ctx, u, team, needOwner)
	if err != nil {
		return nil, err
	}
	if req.Name == nil && req.DisplayName == nil {
		return nil, apogee.Errorf(apogee.EINVALID, "send a new name, a new display_name or both")
	}
	name, display := t.Name, t.DisplayName
	if req.Name != nil {
		if name, err = teamName(*req.Name); err != nil {
			return nil, err
		}
	}
	if req.DisplayName != nil {
		display = strings.TrimSpace(*req.DisplayName)
		if n := len([]rune(display)); n > apogee.MaxTeamDisplayName {
			return nil, apogee.Errorf(apogee.EINVALID, "a display name is at most %d characters; this one has %d", apogee.MaxTeamDisplayName, n)
		}
		if strings.ContainsFunc(display, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return nil, apogee.Errorf(apogee.EINVALID, "a display name is one line of text, without control characters")
		}
	}
	if name == t.Name && display == t.DisplayName {
		return pl.teamView(ctx, t, role) // nothing to change
	}
	if err := pl.store.RenameTeam(ctx, t.ID, name, display); err != nil {
		if apogee.ErrorCode(err) == apogee.ECONFLICT {
			return nil, apogee.Errorf(apogee.ECONFLICT, "team name %q is taken; choose another", name)
		}
		return nil, fmt.Errorf("platform: rename team %s: %w", t.Name, err)
	}
	var changes []string
	if name != t.Name {
		changes = append(changes, "name "+t.Name+" → "+name)
	}
	if display != t.DisplayName {
		changes = append(changes, fmt.Sprintf("display name %q → %q", t.DisplayName, display))
	}
	pl.log.Info("team renamed", "team", t.ID, "from", t.Name, "to", name, "user", u.ID)
	pl.record(ctx, u, t.ID, nil, "team.rename", name, strings.Join(changes, "; "))
	t.Name, t.DisplayName = name, display
	return pl.teamView(ctx, t, role)
}

func (pl teams) DeleteTeam(ctx context.Context, name string) error {
	u, err := pl.actor(ctx)
	if err != nil {
		return err
	}
	t, _, err := pl.teamAs(ctx, u, name, needOwner)
	if err != nil {
		return err
	}
	if err := pl.store.DeleteTeam(ctx, t.ID); err != nil {
		if apogee.ErrorCode(err) == apogee.ECONFLICT {
			return apogee.Errorf(apogee.ECONFLICT, "team %s still owns projects: delete them or move them out first", t.Name)
		}
		return fmt.Errorf("platform: delete team %s: %w", t.Name, err)
	}
	pl.log.Info("team deleted", "team", t.Name, "user", u.ID)
	pl.record(ctx, u, t.ID, nil, "team.delete", t.Name, "")
	return nil
}

func (pl teams) Members(ctx context.Context, team string) ([]*apogee.Member, error) {
	u, err := pl.actor(ctx)
	if err != nil {
		return nil, err
	}
	t, _, err := pl.teamAs(ctx, u, team, needRead)
	if err != nil {
		return nil, err
	}
	ms, err := pl.store.Members(ctx, t.ID)
	if err != nil {
		return nil, fmt.Errorf("platform: members of %s: %w", t.Name, err)
	}
	return ms, nil
}

// member finds a member of t by email or user id.
func (pl *Platform) member(ctx context.Context, t *apogee.Team, user string) (*apogee.Member, error) {
	notFound := apogee.Errorf(apogee.ENOTFOUND, "%s is not a member of team %s", user, t.Name)
	id := user
	if strings.Contains(user, "@") {
		u, err := pl.store.UserByEmail(ctx, strings.TrimSpace(user))
		if errors.Is(err, apogee.ErrNotFound) {
			return nil, notFound
		}
		if err != nil {
			return nil, fmt.Errorf("platform: user %s: %w", user, err)
		}
		id = u.ID
	}
	m, err := pl.store.Membership(ctx, t.ID, id)
	if errors.Is(err, apogee.ErrNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, fmt.Errorf("platform: membership: %w", err)
	}
	return m, nil
}

func (pl teams) SetRole(ctx context.Context, team, user string, role apogee.Role) (*apogee.Member, error) {
	u, err := pl.actor(ctx)
	if err != nil {
		return nil, err
	}
	if !role.Valid() {
		return nil, apogee.Errorf(apogee.EINVALID, "role %q is not one of owner, member, viewer", role)
	}
	t, _, err := pl.teamAs(ctx, u, team, needOwner)
	if err != nil {
		return nil, err
	}
	m, err := pl.member(ctx, t, user)
	if err != nil {
		return nil, err
	}
	if err := pl.store.SetMemberRole(ctx, t.ID, m.UserID, role); err != nil {
		if apogee.ErrorCode(err) == apogee.ECONFLICT {
			return nil, apogee.Errorf(apogee.ECONFLICT, "team %s needs an owner: make another member an owner first", t.Name)
		}
		return nil, fmt.Errorf("platform: set role: %w", err)
	}
	pl.record(ctx, u, t.ID, nil, "member.role", m.Email, string(m.Role)+" → "+string(role))
	m.Role = role
	return m, nil
}

func (pl teams) RemoveMember(ctx context.Context, team, user string) error {
	u, err := pl.actor(ctx)
	if err != nil {
		return err
	}
	// Anyone may leave; removing someone else is for owners.
	t, _, err := pl.teamAs(ctx, u, team, needRead)
	if err != nil {
		return err
	}
	m, err := pl.member(ctx, t, user)
	if err != nil {
		return err
	}
	if m.UserID != u.ID {
		if t, _, err = pl.teamAs(ctx, u, team, needOwner); err != nil {
			return err
		}
	} else if u.Scope != nil && u.Scope.ReadOnly {
		return errReadOnly
	}
	if err := pl.store.RemoveMember(ctx, t.ID, m.UserID, pl.now().UTC()); err != nil {
		if apogee.ErrorCode(err) == apogee.ECONFLICT {
			return apogee.Errorf(apogee.ECONFLICT, "team %s needs an owner: make another member an owner first", t.Name)
		}
		return fmt.Errorf("platform: remove member: %w", err)
	}
	pl.log.Info("team member removed", "team", t.Name, "member", m.UserID, "user", u.ID)
	pl.record(ctx, u, t.ID, nil, "member.remove", m.Email, string(m.Role))
	return nil
}

func (pl teams) Invite(ctx context.Context, team string, req apogee.TeamInviteRequest) (*apogee.NewTeamInvite, error) {
	u, err := pl.actor(ctx)
	if err != nil {
		return nil, err
	}
	t, _, err := pl.teamAs(ctx, u, team, needOwner)
	if err != nil {
		return nil, err
	}
	role, err := apogee.CheckRole(req.Role)
	if err != nil {
		return nil, err
	}
	email := ""
	if strings.TrimSpace(req.Email) != "" {
		if email, err = apogee.CheckEmail(req.Email); err != nil {
			return nil, err
		}
		if other, err := pl.store.UserByEmail(ctx, email); err == nil {
			if _, err := pl.store.Membership(ctx, t.ID, other.ID); err == nil {
				return nil, apogee.Errorf(apogee.ECONFLICT, "%s is a member of team %s already", email, t.Name)
			}
		}
	}
	ttl := apogee.DefaultTeamInviteTTL
	if req.ExpiresIn != 0 {
		ttl = time.Duration(req.ExpiresIn) * time.Second
		if req.ExpiresIn < 0 || ttl < MinInviteTTL || ttl > MaxTeamInviteTTL {
			return nil, apogee.Errorf(apogee.EINVALID, "expires_in must be between %d and %d seconds (1 minute to 30 days)",
				int64(MinInviteTTL/time.Second), int64(MaxTeamInviteTTL/time.Second))
		}
	}
	secret, hash := auth.NewToken()
	now := pl.now().UTC()
	inv := &apogee.TeamInvite{TeamID: t.ID, Email: email, Role: role, Hash: hash, InvitedBy: u.ID, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := pl.store.CreateTeamInvite(ctx, inv); err != nil {
		return nil, fmt.Errorf("platform: team invite: %w", err)
	}
	pl.log.Info("team invitation made", "team", t.Name, "invite", inv.ID, "role", role, "user", u.ID)
	pl.record(ctx, u, t.ID, nil, "invite.create", email, string(role))
	return &apogee.NewTeamInvite{TeamInvite: inv, Token: secret,
		URL: pl.cfg.BaseURL() + "/teams/join?token=" + url.QueryEscape(secret)}, nil
}

func (pl teams) Invites(ctx context.Context, team string) ([]*apogee.TeamInvite, error) {
	u, err := pl.actor(ctx)
	if err != nil {
		return nil, err
	}
	t, _, err := pl.teamAs(ctx, u, team, needOwner)
	if err != nil {
		return nil, err
	}
	is, err := pl.store.TeamInvites(ctx, t.ID, pl.now().UTC())
	if err != nil {
		return nil, fmt.Errorf("platform: team invitations: %w", err)
	}
	if is == nil {
		is = []*apogee.TeamInvite{}
	}
	return is, nil
}

func (pl teams) RevokeInvite(ctx context.Context, team, id string) error {
	u, err := pl.actor(ctx)
	if err != nil {
		return err
	}
	t, _, err := pl.teamAs(ctx, u, team, needOwner)
	if err != nil {
		return err
	}
	if err := pl.store.DeleteTeamInvite(ctx, t.ID, id); err != nil {
		if errors.Is(err, apogee.ErrNotFound) {
			return apogee.Errorf(apogee.ENOTFOUND, "team %s has no invitation %q", t.Name, id)
		}
		return fmt.Errorf("platform: revoke team invite: %w", err)
	}
	pl.record(ctx, u, t.ID, nil, "invite.revoke", id, "")
	return nil
}

func (pl teams) AcceptInvite(ctx context.Context, token string) (*apogee.TeamMembership, error) {
	u, err := pl.writer(ctx)
	if err != nil {
		return nil, err
	}
	if u.Scope != nil && u.Scope.TeamID != "" {
		return nil, apogee.Errorf(apogee.EFORBIDDEN, "this token is scoped to a team: accept invitations with your own")
	}
	inv, err := pl.teamInvite(ctx, token)
	if err != nil {
		return nil, err
	}
	now := pl.now().UTC()
	if !inv.Pending(now) {
		return nil, apogee.ErrTeamInviteUsed
	}
	t, err := pl.store.TeamByID(ctx, inv.TeamID)
	if err != nil {
		return nil, fmt.Errorf("platform: team of invite: %w", err)
	}
	// An invitation made for an email is that account's alone.
	if err := apogee.CheckInviteEmail(t.Name, inv.Email, u.Email); err != nil {
		return nil, err
	}
	m, err := pl.store.AcceptTeamInvite(ctx, inv.ID, u.ID, now)
	if err != nil {
		return nil, err
	}
	pl.log.Info("team invitation accepted", "team", t.Name, "user", u.ID, "role", m.Role)
	pl.record(ctx, u, t.ID, nil, "invite.accept", u.Email, string(m.Role))
	return &apogee.TeamMembership{Team: t, Role: m.Role}, nil
}

// teamInvite finds the invitation of a token (or of a whole pasted link).
func (pl *Platform) teamInvite(ctx context.Context, token string) (*apogee.TeamInvite, error) {
	token = strings.TrimSpace(token)
	if i := strings.LastIndex(token, "token="); i >= 0 { // the whole link pasted
		if v, err := url.QueryUnescape(token[i+len("token="):]); err == nil {
			token = v
		}
	}
	if token == "" {
		return nil, apogee.Errorf(apogee.EINVALID, "send the invitation's token (the end of its link)")
	}
	inv, err := pl.store.TeamInviteByHash(ctx, auth.HashToken(token))
	if errors.Is(err, apogee.ErrNotFound) {
		return nil, apogee.ErrTeamInviteUsed
	}
	if err != nil {
		return nil, fmt.Errorf("platform: team invite: %w", err)
	}
	return inv, nil
}

func (pl teams) InvitePreview(ctx context.Context, token string) (*apogee.TeamInvitePreview, error) {
	inv, err := pl.teamInvite(ctx, token)
	if err != nil {
		return nil, err
	}
	if !inv.Pending(pl.now()) {
		return nil, apogee.ErrTeamInviteUsed
	}
	t, err := pl.store.TeamByID(ctx, inv.TeamID)
	if err != nil {
		return nil, fmt.Errorf("platform: team of invite: %w", err)
	}
	return &apogee.TeamInvitePreview{Team: t.Name, Role: inv.Role, Email: inv.Email, ExpiresAt: inv.ExpiresAt}, nil
}

func (pl teams) SignUpByInvite(ctx context.Context, req apogee.TeamSignUpRequest) (*apogee.User, *apogee.TeamMembership, error) {
	inv, err := pl.teamInvite(ctx, req.Token)
	if err != nil {
		return nil, nil, err
	}
	now := pl.now().UTC()
	if !inv.Pending(now) {
		return nil, nil, apogee.ErrTeamInviteUsed
	}
	email := inv.Email
	if email == "" {
		if email, err = apogee.CheckEmail(req.Email); err != nil {
			return nil, nil, err
		}
	}
	if err := auth.CheckNewPassword(req.Password); err != nil {
		return nil, nil, err
	}
	hash, err := auth.HashPassword(req.Password)
	if err != nil {
		return nil, nil, fmt.Errorf("platform: sign up by team invite: %w", err)
	}
	u := &apogee.User{ID: apogee.NewID(), Email: email, Password: hash, CreatedAt: now}
	m, err := pl.store.SignUpByTeamInvite(ctx, inv.ID, u, now)
	switch {
	case apogee.ErrorCode(err) == apogee.ECONFLICT:
		return nil, nil, apogee.Errorf(apogee.ECONFLICT, "an account with the email %s exists already: sign in, then open the link again to join", email)
	case err != nil:
		return nil, nil, err
	}
	t, err := pl.store.TeamByID(ctx, inv.TeamID)
	if err != nil {
		return nil, nil, fmt.Errorf("platform: team of invite: %w", err)
	}
	pl.log.Info("signed up by team invitation", "team", t.Name, "user", u.ID, "role", m.Role)
	pl.record(ctx, u, t.ID, nil, "invite.signup", u.Email, string(m.Role))
	return u, &apogee.TeamMembership{Team: t, Role: m.Role}, nil
}
