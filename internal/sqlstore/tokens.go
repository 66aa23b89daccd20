package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/apogee-dev/apogee"
)

const tokenCols = "id, user_id, name, hash, created_at, expires_at, revoked_at, last_used_at, team_id, read_only"

func scanToken(row scanner) (*apogee.Token, error) {
	var t apogee.Token
	var team sql.NullString
	err := row.Scan(&t.ID, &t.UserID, &t.Name, &t.Hash, timeCol{&t.CreatedAt},
		nullTimeCol{&t.ExpiresAt}, nullTimeCol{&t.RevokedAt}, nullTimeCol{&t.LastUsed}, &team, &t.ReadOnly)
	t.TeamID = team.String
	return &t, err
}

// CreateToken inserts t, filling in an empty ID and a zero CreatedAt; t
// is updated to what was stored. ErrNotFound if the user does not exist,
// ECONFLICT if the ID or hash is taken.
func (s *Store) CreateToken(ctx context.Context, t *apogee.Token) error {
	if t.ID == "" {
		t.ID = apogee.NewID()
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now()
	}
	t.CreatedAt = normTime(t.CreatedAt)
	t.ExpiresAt = normTimePtr(t.ExpiresAt)
	t.RevokedAt = normTimePtr(t.RevokedAt)
	t.LastUsed = normTimePtr(t.LastUsed)
	_, err := s.exec(ctx, "INSERT INTO tokens ("+tokenCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
		t.ID, t.UserID, t.Name, t.Hash, s.d.timeArg(t.CreatedAt),
		s.d.nullTimeArg(t.ExpiresAt), s.d.nullTimeArg(t.RevokedAt), s.d.nullTimeArg(t.LastUsed), nullString(t.TeamID), t.ReadOnly)
	switch {
	case isUnique(err):
		return apogee.Errorf(apogee.ECONFLICT, "token %q or its secret exists already", t.ID)
	case isForeignKey(err):
		if t.TeamID != "" {
			return notFound("user or team", t.UserID+" or "+t.TeamID)
		}
		return notFound("user", t.UserID)
	}
	return wrap("create token", err)
}

func (s *Store) TokenByHash(ctx context.Context, hash []byte) (*apogee.Token, error) {
	t, err := scanToken(s.rdb.QueryRowContext(ctx, "SELECT "+tokenCols+" FROM tokens WHERE hash = $1", hash))
	if errors.Is(err, sql.ErrNoRows) {
		// Never echo the hash: it identifies a secret.
		return nil, apogee.Errorf(apogee.ENOTFOUND, "token not found")
	}
	if err != nil {
		return nil, wrap("token by hash", err)
	}
	return t, nil
}

// ListTokens returns the user's tokens, oldest first, revoked and expired
// ones included.
func (s *Store) ListTokens(ctx context.Context, userID string) ([]*apogee.Token, error) {
	rows, err := s.rdb.QueryContext(ctx,
		"SELECT "+tokenCols+" FROM tokens WHERE user_id = $1 ORDER BY created_at, id", userID)
	if err != nil {
		return nil, wrap("list tokens", err)
	}
	tokens, err := collect(rows, scanToken)
	return tokens, wrap("list tokens", err)
}

// RevokeToken marks the token revoked at at. Revoking a revoked token
// keeps the first revocation time.
func (s *Store) RevokeToken(ctx context.Context, userID, id string, at time.Time) error {
	n, err := s.exec(ctx,
		"UPDATE tokens SET revoked_at = COALESCE(revoked_at, $3) WHERE id = $1 AND user_id = $2",
		id, userID, s.d.timeArg(at))
	if err != nil {
		return wrap("revoke token", err)
	}
	if n == 0 {
		return notFound("token", id)
	}
	return nil
}

// TouchToken records a use of the token at at. It never moves LastUsed
// back, so racing touches keep the latest.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	n, err := s.exec(ctx,
		"UPDATE tokens SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
		id, s.d.timeArg(at))
	if err != nil {
		return wrap("touch token", err)
	}
	if n == 0 {
		// Either the token is gone or it was used later already.
		var one int
		err := s.rdb.QueryRowContext(ctx, "SELECT 1 FROM tokens WHERE id = $1", id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("token", id)
		}
		return wrap("touch token", err)
	}
	return nil
}
