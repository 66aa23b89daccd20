package apogee

import (
	"context"
	"time"
)

// Session is a dashboard sign-in. Only the SHA-256 of its random 256-bit
// id is kept (the id lives in the browser's cookie), so a copy of the
// database signs no one in.
type Session struct {
	Hash      []byte
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
	LastSeen  time.Time
}

// Valid reports whether the session may be used at now.
func (s *Session) Valid(now time.Time) bool { return now.Before(s.ExpiresAt) }

// AccountStore keeps what a person signed in to the dashboard changes:
// sessions and passwords. Errors follow the Store conventions.
type AccountStore interface {
	// CreateSession inserts s; ErrNotFound if the user does not exist.
	CreateSession(ctx context.Context, s *Session) error
	// SessionByHash returns the session whose id hashes to hash, expired
	// or not: the caller decides with Session.Valid.
	SessionByHash(ctx context.Context, hash []byte) (*Session, error)
	// TouchSession records a use of the session at at; it may be lossy.
	TouchSession(ctx context.Context, hash []byte, at time.Time) error
	// DeleteSession removes one session (signing out); deleting a missing
	// session is not an error.
	DeleteSession(ctx context.Context, hash []byte) error
	// DeleteUserSessions removes every session of the user except the one
	// whose hash is keep (nil: all), and returns how many it removed.
	DeleteUserSessions(ctx context.Context, userID string, keep []byte) (int, error)
	// DeleteExpiredSessions removes sessions that expired before before.
	DeleteExpiredSessions(ctx context.Context, before time.Time) (int, error)
	// SetPassword replaces the user's password hash (argon2id, PHC form);
	// ErrNotFound if there is no such user.
	SetPassword(ctx context.Context, userID, hash string) error
}
