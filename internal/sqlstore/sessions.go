package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/apogee-dev/apogee"
)

var _ apogee.AccountStore = (*Store)(nil)

const sessionCols = "hash, user_id, created_at, expires_at, last_seen_at"

func scanSession(row scanner) (*apogee.Session, error) {
	var s apogee.Session
	err := row.Scan(&s.Hash, &s.UserID, timeCol{&s.CreatedAt}, timeCol{&s.ExpiresAt}, timeCol{&s.LastSeen})
	return &s, err
}

// CreateSession inserts sess; the times are stored as normTime gives
// them and sess is updated to what was stored.
func (s *Store) CreateSession(ctx context.Context, sess *apogee.Session) error {
	sess.CreatedAt, sess.ExpiresAt, sess.LastSeen = normTime(sess.CreatedAt), normTime(sess.ExpiresAt), normTime(sess.LastSeen)
	_, err := s.exec(ctx, "INSERT INTO sessions ("+sessionCols+") VALUES ($1, $2, $3, $4, $5)",
		sess.Hash, sess.UserID, s.d.timeArg(sess.CreatedAt), s.d.timeArg(sess.ExpiresAt), s.d.timeArg(sess.LastSeen))
	switch {
	case isForeignKey(err):
		return notFound("user", sess.UserID)
	case isUnique(err):
		return apogee.Errorf(apogee.ECONFLICT, "session exists already")
	}
	return wrap("create session", err)
}

func (s *Store) SessionByHash(ctx context.Context, hash []byte) (*apogee.Session, error) {
	sess, err := scanSession(s.rdb.QueryRowContext(ctx, "SELECT "+sessionCols+" FROM sessions WHERE hash = $1", hash))
	if errors.Is(err, sql.ErrNoRows) {
		// Never echo the hash: it identifies a secret.
		return nil, apogee.Errorf(apogee.ENOTFOUND, "session not found")
	}
	if err != nil {
		return nil, wrap("session by hash", err)
	}
	return sess, nil
}

// TouchSession never moves last_seen_at back.
func (s *Store) TouchSession(ctx context.Context, hash []byte, at time.Time) error {
	_, err := s.exec(ctx, "UPDATE sessions SET last_seen_at = $2 WHERE hash = $1 AND last_seen_at < $2",
		hash, s.d.timeArg(at))
	return wrap("touch session", err)
}

func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	_, err := s.exec(ctx, "DELETE FROM sessions WHERE hash = $1", hash)
	return wrap("delete session", err)
}

func (s *Store) DeleteUserSessions(ctx context.Context, userID string, keep []byte) (int, error) {
	if keep == nil {
		keep = []byte{} // matches no session: hashes are 32 bytes
	}
	n, err := s.exec(ctx, "DELETE FROM sessions WHERE user_id = $1 AND hash <> $2", userID, keep)
	return int(n), wrap("delete user sessions", err)
}

func (s *Store) DeleteExpiredSessions(ctx context.Context, before time.Time) (int, error) {
	n, err := s.exec(ctx, "DELETE FROM sessions WHERE expires_at < $1", s.d.timeArg(before))
	return int(n), wrap("delete expired sessions", err)
}

func (s *Store) SetPassword(ctx context.Context, userID, hash string) error {
	n, err := s.exec(ctx, "UPDATE users SET password = $2 WHERE id = $1", userID, hash)
	if err != nil {
		return wrap("set password", err)
	}
	if n == 0 {
		return notFound("user", userID)
	}
	return nil
}
