package apogee

import (
	"context"
	"time"
)

// ProviderGitHub names GitHub in Identity.Provider.
const ProviderGitHub = "github"

// Identity links a user to an account at an outside provider (GitHub)
// that the user signs in with, and keeps the provider's tokens. A user has
// at most one identity per provider, and a provider account links to at
// most one user.
//
// AccessToken and RefreshToken are stored as given: callers seal them
// (Sealer) before storing, so a copy of the database holds no usable
// token, and open them only to call the provider.
type Identity struct {
	UserID         string
	Provider       string // ProviderGitHub
	ProviderUserID string // the provider's stable id of the account (GitHub's numeric user id)
	Login          string // the account's name at the provider, as shown ("octocat")
	AccessToken    string // sealed
	RefreshToken   string // sealed; "" when the provider's tokens do not expire
	// AccessExpiresAt and RefreshExpiresAt are nil when the token does not
	// expire (classic GitHub OAuth App tokens).
	AccessExpiresAt  *time.Time
	RefreshExpiresAt *time.Time
	// Reconnect, when not empty, says why the stored tokens no longer work
	// (a refresh was refused: revoked, expired): the user must connect the
	// account again.
	Reconnect string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// IdentityStore keeps identities. Errors follow the Store conventions.
type IdentityStore interface {
	// CreateIdentity inserts id; ECONFLICT if the provider account is
	// linked to a user already, or the user has an identity at that
	// provider; ErrNotFound if the user does not exist.
	CreateIdentity(ctx context.Context, id *Identity) error
	// IdentityByProviderID returns the identity of the provider's account.
	IdentityByProviderID(ctx context.Context, provider, providerUserID string) (*Identity, error)
	// IdentityOfUser returns the user's identity at provider.
	IdentityOfUser(ctx context.Context, userID, provider string) (*Identity, error)
	// UpdateIdentity writes id's Login, tokens, expiry times, Reconnect
	// and UpdatedAt, found by (Provider, ProviderUserID) and UserID;
	// ErrNotFound if there is no such identity.
	UpdateIdentity(ctx context.Context, id *Identity) error
	// DeleteIdentity removes the user's identity at provider; ErrNotFound
	// if there is none.
	DeleteIdentity(ctx context.Context, userID, provider string) error
}
