package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
)

var _ apogee.TeamStore = (*Store)(nil)

// A team is an account (a users row of kind 'team') with a teams row of
// the same id; see migration 00069.

const teamSelect = "SELECT t.id, t.name, t.display_name, t.created_by, t.created_at, u.plan_id FROM teams t JOIN users u ON u.id = t.id"

func scanTeam(row scanner) (*apogee.Team, error) {
	var t apogee.Team
	var plan sql.NullString
	err := row.Scan(&t.ID, &t.Name, &t.DisplayName, &t.CreatedBy, timeCol{&t.CreatedAt}, &plan)
	t.PlanID = plan.String
	return &t, err
}

// CreateTeam inserts the team's account, its name and its first owner in
// one transaction. An empty ID and a zero CreatedAt are filled in.
func (s *Store) CreateTeam(ctx context.Context, t *apogee.Team, owner string) error {
	if t.ID == "" {
		t.ID = apogee.NewID()
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now()
	}
	t.CreatedAt = normTime(t.CreatedAt)
	t.Name = strings.ToLower(t.Name)
	at := s.d.timeArg(t.CreatedAt)
	return s.inTx(ctx, "create team", func(tx *sql.Tx) error {
		// The account's email is no address a person can have.
		_, err := tx.ExecContext(ctx, "INSERT INTO users (id, email, password, admin, created_at, plan_id, kind) VALUES ($1, $2, '', $3, $4, $5, 'team')",
			t.ID, "team:"+t.ID, false, at, nullString(t.PlanID))
		if isUnique(err) {
			return apogee.Errorf(apogee.ECONFLICT, "team %q exists already", t.ID)
		}
		if isForeignKey(err) {
			return notFound("plan", t.PlanID)
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO teams (id, name, display_name, created_by, created_at) VALUES ($1, $2, $3, $4, $5)",
			t.ID, t.Name, t.DisplayName, t.CreatedBy, at)
		if isUnique(err) {
			return apogee.Errorf(apogee.ECONFLICT, "team name %q is taken", t.Name)
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO team_members (team_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
			t.ID, owner, string(apogee.RoleOwner), at)
		if isForeignKey(err) {
			return notFound("user", owner)
		}
		return err
	})
}

func (s *Store) team(ctx context.Context, op, where, key string) (*apogee.Team, error) {
	t, err := scanTeam(s.rdb.QueryRowContext(ctx, teamSelect+" WHERE "+where, key))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("team", key)
	}
	return t, wrap(op, err)
}

func (s *Store) TeamByName(ctx context.Context, name string) (*apogee.Team, error) {
	return s.team(ctx, "team by name", "t.name = $1", strings.ToLower(name))
}

func (s *Store) TeamByID(ctx context.Context, id string) (*apogee.Team, error) {
	return s.team(ctx, "team by id", "t.id = $1", id)
}

// Teams returns the user's teams with their role, or every team for "".
func (s *Store) Teams(ctx context.Context, userID string) ([]*apogee.TeamMembership, error) {
	var rows *sql.Rows
	var err error
	if userID == "" {
		rows, err = s.rdb.QueryContext(ctx, "SELECT t.id, t.name, t.display_name, t.created_by, t.created_at, u.plan_id, '' "+
			"FROM teams t JOIN users u ON u.id = t.id ORDER BY t.name")
	} else {
		rows, err = s.rdb.QueryContext(ctx, "SELECT t.id, t.name, t.display_name, t.created_by, t.created_at, u.plan_id, m.role "+
			"FROM teams t JOIN users u ON u.id = t.id JOIN team_members m ON m.team_id = t.id "+
			"WHERE m.user_id = $1 ORDER BY t.name", userID)
	}
	if err != nil {
		return nil, wrap("teams", err)
	}
	out, err := collect(rows, func(r scanner) (*apogee.TeamMembership, error) {
		var t apogee.Team
		var plan sql.NullString
		var role string
		err := r.Scan(&t.ID, &t.Name, &t.DisplayName, &t.CreatedBy, timeCol{&t.CreatedAt}, &plan, &role)
		t.PlanID = plan.String
		return &apogee.TeamMembership{Team: &t, Role: apogee.Role(role)}, err
	})
	return out, wrap("teams", err)
}

// RenameTeam sets the team's name (its slug) and display name.
func (s *Store) RenameTeam(ctx context.Context, id, name, displayName string) error {
	n, err := s.exec(ctx, "UPDATE teams SET name = $2, display_name = $3 WHERE id = $1", id, strings.ToLower(name), displayName)
	if isUnique(err) {
		return apogee.Errorf(apogee.ECONFLICT, "team name %q is taken", strings.ToLower(name))
	}
	if err != nil {
		return wrap("rename team", err)
	}
	if n == 0 {
		return notFound("team", id)
	}
	return nil
}

// DeleteTeam removes the team's account; members, invitations and tokens
// scoped to it go with it (ON DELETE CASCADE). Its projects keep it.
func (s *Store) DeleteTeam(ctx context.Context, id string) error {
	return s.inTx(ctx, "delete team", func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM teams WHERE id = $1", id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("team", id)
		}
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM projects WHERE owner_id = $1", id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return apogee.Errorf(apogee.ECONFLICT, "the team owns %d project(s): delete them or move them out first", n)
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM users WHERE id = $1 AND kind = 'team'", id)
		if isForeignKey(err) {
			return apogee.Errorf(apogee.ECONFLICT, "the team still owns records: delete its projects first")
		}
		if err != nil {
			return err
		}
		if k, err := res.RowsAffected(); err != nil {
			return err
		} else if k == 0 {
			return notFound("team", id)
		}
		return nil
	})
}

const memberSelect = "SELECT m.team_id, m.user_id, u.email, m.role, m.created_at FROM team_members m JOIN users u ON u.id = m.user_id"

func scanMember(r scanner) (*apogee.Member, error) {
	var m apogee.Member
	var role string
	err := r.Scan(&m.TeamID, &m.UserID, &m.Email, &role, timeCol{&m.CreatedAt})
	m.Role = apogee.Role(role)
	return &m, err
}

func (s *Store) Members(ctx context.Context, teamID string) ([]*apogee.Member, error) {
	rows, err := s.rdb.QueryContext(ctx, memberSelect+" WHERE m.team_id = $1 ORDER BY u.email", teamID)
	if err != nil {
		return nil, wrap("members", err)
	}
	out, err := collect(rows, scanMember)
	return out, wrap("members", err)
}

func (s *Store) Membership(ctx context.Context, teamID, userID string) (*apogee.Member, error) {
	m, err := scanMember(s.rdb.QueryRowContext(ctx, memberSelect+" WHERE m.team_id = $1 AND m.user_id = $2", teamID, userID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("member", userID)
	}
	return m, wrap("membership", err)
}

// memberChange runs change on a member in a transaction that first locks
// the team (PostgreSQL: two owners demoting each other serialize) and
// afterwards refuses to leave the team without an owner.
func (s *Store) memberChange(ctx context.Context, op, teamID, userID string, change func(tx *sql.Tx) (sql.Result, error)) error {
	return s.inTx(ctx, op, func(tx *sql.Tx) error {
		var id string
		err := tx.QueryRowContext(ctx, "SELECT id FROM teams WHERE id = $1"+s.d.lockRow(), teamID).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("team", teamID)
		}
		if err != nil {
			return err
		}
		res, err := change(tx)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return notFound("member", userID)
		}
		var owners int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM team_members WHERE team_id = $1 AND role = $2",
			teamID, string(apogee.RoleOwner)).Scan(&owners); err != nil {
			return err
		}
		if owners == 0 {
			return apogee.Errorf(apogee.ECONFLICT, "a team needs an owner: make another member an owner first")
		}
		return nil
	})
}

func (s *Store) SetMemberRole(ctx context.Context, teamID, userID string, role apogee.Role) error {
	if !role.Valid() {
		return apogee.Errorf(apogee.EINVALID, "role %q is not one of owner, member, viewer", role)
	}
	return s.memberChange(ctx, "set member role", teamID, userID, func(tx *sql.Tx) (sql.Result, error) {
		return tx.ExecContext(ctx, "UPDATE team_members SET role = $3 WHERE team_id = $1 AND user_id = $2", teamID, userID, string(role))
	})
}

func (s *Store) RemoveMember(ctx context.Context, teamID, userID string, at time.Time) error {
	return s.memberChange(ctx, "remove member", teamID, userID, func(tx *sql.Tx) (sql.Result, error) {
		res, err := tx.ExecContext(ctx, "DELETE FROM team_members WHERE team_id = $1 AND user_id = $2", teamID, userID)
		if err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE tokens SET revoked_at = $3 WHERE team_id = $1 AND user_id = $2 AND revoked_at IS NULL",
			teamID, userID, s.d.timeArg(normTime(at))); err != nil {
			return nil, err
		}
		return res, nil
	})
}

const teamInviteCols = "id, team_id, email, role, token_hash, invited_by, created_at, expires_at, accepted_at, accepted_by"

func scanTeamInvite(r scanner) (*apogee.TeamInvite, error) {
	var i apogee.TeamInvite
	var role string
	err := r.Scan(&i.ID, &i.TeamID, &i.Email, &role, &i.Hash, &i.InvitedBy, timeCol{&i.CreatedAt}, timeCol{&i.ExpiresAt},
		nullTimeCol{&i.AcceptedAt}, &i.AcceptedBy)
	i.Role = apogee.Role(role)
	return &i, err
}

func (s *Store) CreateTeamInvite(ctx context.Context, i *apogee.TeamInvite) error {
	if i.ID == "" {
		i.ID = apogee.NewID()
	}
	if i.CreatedAt.IsZero() {
		i.CreatedAt = time.Now()
	}
	if !i.Role.Valid() {
		return apogee.Errorf(apogee.EINVALID, "role %q is not one of owner, member, viewer", i.Role)
	}
	i.Email = strings.ToLower(i.Email)
	i.CreatedAt, i.ExpiresAt, i.AcceptedAt = normTime(i.CreatedAt), normTime(i.ExpiresAt), normTimePtr(i.AcceptedAt)
	_, err := s.exec(ctx, "INSERT INTO team_invites ("+teamInviteCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
		i.ID, i.TeamID, i.Email, string(i.Role), i.Hash, i.InvitedBy, s.d.timeArg(i.CreatedAt), s.d.timeArg(i.ExpiresAt),
		s.d.nullTimeArg(i.AcceptedAt), i.AcceptedBy)
	switch {
	case isUnique(err):
		return apogee.Errorf(apogee.ECONFLICT, "team invitation %q or its token exists already", i.ID)
	case isForeignKey(err):
		return notFound("team or user", i.TeamID+" or "+i.InvitedBy)
	}
	return wrap("create team invite", err)
}

func (s *Store) TeamInviteByHash(ctx context.Context, hash []byte) (*apogee.TeamInvite, error) {
	i, err := scanTeamInvite(s.rdb.QueryRowContext(ctx, "SELECT "+teamInviteCols+" FROM team_invites WHERE token_hash = $1", hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apogee.Errorf(apogee.ENOTFOUND, "team invitation not found") // never echo the hash
	}
	return i, wrap("team invite by hash", err)
}

func (s *Store) TeamInvites(ctx context.Context, teamID string, now time.Time) ([]*apogee.TeamInvite, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+teamInviteCols+" FROM team_invites WHERE team_id = $1 AND accepted_at IS NULL AND expires_at > $2 "+
		"ORDER BY created_at, id", teamID, s.d.timeArg(now))
	if err != nil {
		return nil, wrap("team invites", err)
	}
	out, err := collect(rows, scanTeamInvite)
	return out, wrap("team invites", err)
}

func (s *Store) DeleteTeamInvite(ctx context.Context, teamID, id string) error {
	n, err := s.exec(ctx, "DELETE FROM team_invites WHERE team_id = $1 AND id = $2", teamID, id)
	if err != nil {
		return wrap("delete team invite", err)
	}
	if n == 0 {
		return notFound("team invitation", id)
	}
	return nil
}

// AcceptTeamInvite: the conditional UPDATE makes two acceptances of one
// link race safely, as AcceptInvite does.
func (s *Store) AcceptTeamInvite(ctx context.Context, inviteID, userID string, at time.Time) (*apogee.Member, error) {
	at = normTime(at)
	var m *apogee.Member
	err := s.inTx(ctx, "accept team invite", func(tx *sql.Tx) error {
		var err error
		m, err = s.acceptTeamInvite(ctx, tx, inviteID, userID, at)
		return err
	})
	return m, err
}

// SignUpByTeamInvite makes the account u and accepts the invitation for
// it in one transaction: if either fails, neither happens.
func (s *Store) SignUpByTeamInvite(ctx context.Context, inviteID string, u *apogee.User, at time.Time) (*apogee.Member, error) {
	if u.ID == "" {
		u.ID = apogee.NewID()
	}
	at = normTime(at)
	u.Email = strings.ToLower(u.Email)
	u.CreatedAt = at
	var m *apogee.Member
	err := s.inTx(ctx, "sign up by team invite", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO users ("+userCols+") VALUES ($1, $2, $3, $4, $5, $6, $7)",
			u.ID, u.Email, u.Password, u.Admin, s.d.timeArg(at), nullString(u.PlanID), s.d.nullTimeArg(u.DisabledAt))
		if isUnique(err) {
			return apogee.Errorf(apogee.ECONFLICT, "a user with email %q exists already", u.Email)
		}
		if err != nil {
			return err
		}
		m, err = s.acceptTeamInvite(ctx, tx, inviteID, u.ID, at)
		return err
	})
	return m, err
}

func (s *Store) acceptTeamInvite(ctx context.Context, tx *sql.Tx, inviteID, userID string, at time.Time) (*apogee.Member, error) {
	var teamID, role string
	err := tx.QueryRowContext(ctx, "SELECT team_id, role FROM team_invites WHERE id = $1", inviteID).Scan(&teamID, &role)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apogee.ErrTeamInviteUsed
	}
	if err != nil {
		return nil, err
	}
	res, err := tx.ExecContext(ctx, "UPDATE team_invites SET accepted_at = $2, accepted_by = $3 WHERE id = $1 AND accepted_at IS NULL AND expires_at > $2",
		inviteID, s.d.timeArg(at), userID)
	if err != nil {
		return nil, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, err
	} else if n == 0 {
		return nil, apogee.ErrTeamInviteUsed
	}
	_, err = tx.ExecContext(ctx, "INSERT INTO team_members (team_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
		teamID, userID, role, s.d.timeArg(at))
	if isUnique(err) {
		return nil, apogee.Errorf(apogee.ECONFLICT, "you are a member of this team already")
	}
	if isForeignKey(err) {
		return nil, notFound("user", userID)
	}
	if err != nil {
		return nil, err
	}
	return scanMember(tx.QueryRowContext(ctx, memberSelect+" WHERE m.team_id = $1 AND m.user_id = $2", teamID, userID))
}

// MoveProject changes the project's owner account. The route version
// does not move: hosts stay.
func (s *Store) MoveProject(ctx context.Context, id, ownerID string) error {
	n, err := s.exec(ctx, "UPDATE projects SET owner_id = $2 WHERE id = $1", id, ownerID)
	if isForeignKey(err) {
		return notFound("owner", ownerID)
	}
	if err != nil {
		return wrap("move project", err)
	}
	if n == 0 {
		return notFound("project", id)
	}
	return nil
}
