package apogee

import (
	"context"
	"strings"
	"time"
)

// Invite lets one person make an account with a fixed email on a server
// whose sign-up is by invitation (--signup invite). Only the SHA-256 of
// the link's random token is kept, like API tokens: the link is shown
// once, to the admin who made it.
type Invite struct {
	ID        string     `json:"id"`
	Email     string     `json:"email"`
	Hash      []byte     `json:"-"`
	InvitedBy string     `json:"invited_by"` // the admin's user id
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	UsedAt    *time.Time `json:"used_at,omitempty"`
}

// Pending reports whether the invite may still be used at now: not used
// and not expired. A revoked invite is deleted.
func (i *Invite) Pending(now time.Time) bool { return i.UsedAt == nil && now.Before(i.ExpiresAt) }

// DefaultInviteTTL is how long an invite is good for unless the admin
// says otherwise.
const DefaultInviteTTL = 7 * 24 * time.Hour

// InviteStore keeps invites. Errors follow the Store conventions.
type InviteStore interface {
	// CreateInvite inserts i (an empty ID is filled in); ErrNotFound if
	// the inviting user does not exist, ECONFLICT if the ID or hash is
	// taken.
	CreateInvite(ctx context.Context, i *Invite) error
	// InviteByHash returns the invite whose token hashes to hash, used or
	// expired ones included: the caller decides with Invite.Pending.
	InviteByHash(ctx context.Context, hash []byte) (*Invite, error)
	// ListInvites returns the invites pending at now, oldest first.
	ListInvites(ctx context.Context, now time.Time) ([]*Invite, error)
	// DeleteInvite removes (revokes) an invite, used or not; ErrNotFound
	// if there is none with this id.
	DeleteInvite(ctx context.Context, id string) error
	// AcceptInvite creates u and marks the invite used at u.CreatedAt in
	// one transaction. If the invite is not pending at u.CreatedAt (used,
	// expired or revoked meanwhile) it answers ErrInviteUsed; if the
	// email is taken, ECONFLICT; in both cases nothing changes.
	AcceptInvite(ctx context.Context, inviteID string, u *User) error
}

// ErrInviteUsed is the answer to an invite link that was used, revoked
// or has expired.
var ErrInviteUsed = Errorf(EINVALID, "this invitation link was used already, was revoked or has expired; ask the admin who invited you for a new one")

// CheckEmail trims and lower-cases an email address and refuses one
// that cannot be an address, with an EINVALID message that says what to
// enter.
func CheckEmail(email string) (string, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	at := strings.IndexByte(email, '@')
	if at < 1 || at == len(email)-1 || len(email) > 254 || strings.ContainsAny(email, " \t\r\n<>\"") || strings.Count(email, "@") != 1 {
		return "", Errorf(EINVALID, "enter an email address such as you@example.com")
	}
	return email, nil
}

// InviteRequest is the body of POST /api/v1/admin/invites.
type InviteRequest struct {
	Email string `json:"email"`
	// ExpiresIn is how long the link is good for, in seconds (default 7
	// days).
	ExpiresIn int64 `json:"expires_in,omitempty"`
}

// NewInvite is the answer to POST /api/v1/admin/invites: the invite and
// its link, which is never shown again.
type NewInvite struct {
	*Invite
	URL string `json:"url"`
}
