package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/apogee-dev/apogee"
)

var _ apogee.IdentityStore = (*Store)(nil)

const identityCols = "provider, provider_user_id, user_id, login, access_token, refresh_token, " +
	"access_expires_at, refresh_expires_at, reconnect, created_at, updated_at"

func scanIdentity(row scanner) (*apogee.Identity, error) {
	var i apogee.Identity
	err := row.Scan(&i.Provider, &i.ProviderUserID, &i.UserID, &i.Login, &i.AccessToken, &i.RefreshToken,
		nullTimeCol{&i.AccessExpiresAt}, nullTimeCol{&i.RefreshExpiresAt}, &i.Reconnect,
		timeCol{&i.CreatedAt}, timeCol{&i.UpdatedAt})
	return &i, err
}

// CreateIdentity inserts id; its times are stored as normTime gives them
// (a zero CreatedAt or UpdatedAt becomes now) and id is updated to what
// was stored.
func (s *Store) CreateIdentity(ctx context.Context, id *apogee.Identity) error {
	if id.CreatedAt.IsZero() {
		id.CreatedAt = time.Now()
	}
	if id.UpdatedAt.IsZero() {
		id.UpdatedAt = id.CreatedAt
	}
	id.CreatedAt, id.UpdatedAt = normTime(id.CreatedAt), normTime(id.UpdatedAt)
	id.AccessExpiresAt, id.RefreshExpiresAt = normTimePtr(id.AccessExpiresAt), normTimePtr(id.RefreshExpiresAt)
	_, err := s.exec(ctx, "INSERT INTO identities ("+identityCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
		id.Provider, id.ProviderUserID, id.UserID, id.Login, id.AccessToken, id.RefreshToken,
		s.d.nullTimeArg(id.AccessExpiresAt), s.d.nullTimeArg(id.RefreshExpiresAt), id.Reconnect,
		s.d.timeArg(id.CreatedAt), s.d.timeArg(id.UpdatedAt))
	switch {
	case isForeignKey(err):
		return notFound("user", id.UserID)
	case isUnique(err):
		return apogee.Errorf(apogee.ECONFLICT,
			"this %s account is linked to an Apogee user already, or the user has another %s account linked", id.Provider, id.Provider)
	}
	return wrap("create identity", err)
}

func (s *Store) identity(ctx context.Context, op, where string, args ...any) (*apogee.Identity, error) {
	i, err := scanIdentity(s.rdb.QueryRowContext(ctx, "SELECT "+identityCols+" FROM identities WHERE "+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apogee.Errorf(apogee.ENOTFOUND, "no linked %s account", args[0])
	}
	if err != nil {
		return nil, wrap(op, err)
	}
	return i, nil
}

func (s *Store) IdentityByProviderID(ctx context.Context, provider, providerUserID string) (*apogee.Identity, error) {
	return s.identity(ctx, "identity by provider id", "provider = $1 AND provider_user_id = $2", provider, providerUserID)
}

func (s *Store) IdentityOfUser(ctx context.Context, userID, provider string) (*apogee.Identity, error) {
	return s.identity(ctx, "identity of user", "provider = $1 AND user_id = $2", provider, userID)
}

// UpdateIdentity writes id's login, tokens, expiries, Reconnect and
// UpdatedAt (a zero one becomes now).
func (s *Store) UpdateIdentity(ctx context.Context, id *apogee.Identity) error {
	if id.UpdatedAt.IsZero() {
		id.UpdatedAt = time.Now()
	}
	id.UpdatedAt = normTime(id.UpdatedAt)
	id.AccessExpiresAt, id.RefreshExpiresAt = normTimePtr(id.AccessExpiresAt), normTimePtr(id.RefreshExpiresAt)
	n, err := s.exec(ctx, "UPDATE identities SET login = $4, access_token = $5, refresh_token = $6, "+
		"access_expires_at = $7, refresh_expires_at = $8, reconnect = $9, updated_at = $10 "+
		"WHERE provider = $1 AND provider_user_id = $2 AND user_id = $3",
		id.Provider, id.ProviderUserID, id.UserID, id.Login, id.AccessToken, id.RefreshToken,
		s.d.nullTimeArg(id.AccessExpiresAt), s.d.nullTimeArg(id.RefreshExpiresAt), id.Reconnect, s.d.timeArg(id.UpdatedAt))
	if err != nil {
		return wrap("update identity", err)
	}
	if n == 0 {
		return apogee.Errorf(apogee.ENOTFOUND, "no linked %s account", id.Provider)
	}
	return nil
}

func (s *Store) DeleteIdentity(ctx context.Context, userID, provider string) error {
	n, err := s.exec(ctx, "DELETE FROM identities WHERE user_id = $1 AND provider = $2", userID, provider)
	if err != nil {
		return wrap("delete identity", err)
	}
	if n == 0 {
		return apogee.Errorf(apogee.ENOTFOUND, "no linked %s account", provider)
	}
	return nil
}
