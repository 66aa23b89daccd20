package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
)

var _ apogee.InviteStore = (*Store)(nil)

const inviteCols = "id, email, token_hash, invited_by, created_at, expires_at, used_at"

func scanInvite(row scanner) (*apogee.Invite, error) {
	var i apogee.Invite
	err := row.Scan(&i.ID, &i.Email, &i.Hash, &i.InvitedBy, timeCol{&i.CreatedAt}, timeCol{&i.ExpiresAt}, nullTimeCol{&i.UsedAt})
	return &i, err
}

// CreateInvite inserts i, storing the email lower-case and filling in an
// empty ID and a zero CreatedAt; i is updated to what was stored.
func (s *Store) CreateInvite(ctx context.Context, i *apogee.Invite) error {
	if i.ID == "" {
		i.ID = apogee.NewID()
	}
	if i.CreatedAt.IsZero() {
		i.CreatedAt = time.Now()
	}
	i.Email = strings.ToLower(i.Email)
	i.CreatedAt, i.ExpiresAt, i.UsedAt = normTime(i.CreatedAt), normTime(i.ExpiresAt), normTimePtr(i.UsedAt)
	_, err := s.exec(ctx, "INSERT INTO invites ("+inviteCols+") VALUES ($1, $2, $3, $4, $5, $6, $7)",
		i.ID, i.Email, i.Hash, i.InvitedBy, s.d.timeArg(i.CreatedAt), s.d.timeArg(i.ExpiresAt), s.d.nullTimeArg(i.UsedAt))
	switch {
	case isUnique(err):
		return apogee.Errorf(apogee.ECONFLICT, "invite %q or its token exists already", i.ID)
	case isForeignKey(err):
		return notFound("user", i.InvitedBy)
	}
	return wrap("create invite", err)
}

func (s *Store) InviteByHash(ctx context.Context, hash []byte) (*apogee.Invite, error) {
	i, err := scanInvite(s.rdb.QueryRowContext(ctx, "SELECT "+inviteCols+" FROM invites WHERE token_hash = $1", hash))
	if errors.Is(err, sql.ErrNoRows) {
		// Never echo the hash: it identifies a secret.
		return nil, apogee.Errorf(apogee.ENOTFOUND, "invite not found")
	}
	if err != nil {
		return nil, wrap("invite by hash", err)
	}
	return i, nil
}

func (s *Store) ListInvites(ctx context.Context, now time.Time) ([]*apogee.Invite, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+inviteCols+" FROM invites WHERE used_at IS NULL AND expires_at > $1 "+
		"ORDER BY created_at, id", s.d.timeArg(now))
	if err != nil {
		return nil, wrap("list invites", err)
	}
	out, err := collect(rows, scanInvite)
	return out, wrap("list invites", err)
}

func (s *Store) DeleteInvite(ctx context.Context, id string) error {
	n, err := s.exec(ctx, "DELETE FROM invites WHERE id = $1", id)
	if err != nil {
		return wrap("delete invite", err)
	}
	if n == 0 {
		return notFound("invite", id)
	}
	return nil
}

// AcceptInvite marks the invite used and inserts u (as CreateUser does:
// lower-case email, ID and CreatedAt filled in) in one transaction. The
// conditional UPDATE is what makes two sign-ups with one link race
// safely: only one of them sees a row change.
func (s *Store) AcceptInvite(ctx context.Context, inviteID string, u *apogee.User) error {
	if u.ID == "" {
		u.ID = apogee.NewID()
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = time.Now()
	}
	u.Email = strings.ToLower(u.Email)
	u.CreatedAt = normTime(u.CreatedAt)
	at := s.d.timeArg(u.CreatedAt)
	return s.inTx(ctx, "accept invite", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE invites SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND expires_at > $2", inviteID, at)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return apogee.ErrInviteUsed
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO users ("+userCols+") VALUES ($1, $2, $3, $4, $5, $6, $7)",
			u.ID, u.Email, u.Password, u.Admin, at, nullString(u.PlanID), s.d.nullTimeArg(u.DisabledAt))
		if isUnique(err) {
			return apogee.Errorf(apogee.ECONFLICT, "a user with email %q exists already", u.Email)
		}
		return err
	})
}
