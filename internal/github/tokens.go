package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/apogee-dev/apogee"
)

// purpose binds a sealed token to its identity and kind, so a sealed
// value copied into another row does not open there.
func purpose(githubID, kind string) string { return "identity/github/" + githubID + "/" + kind }

// expiryDelta is how early an access token is renewed before it expires.
const expiryDelta = time.Minute

// ErrReconnect means the stored GitHub tokens no longer work and the user
// must connect GitHub again; match it with errors.Is, and show the user
// Message(err).
var ErrReconnect = errors.New("github: reconnect needed")

type reconnectError struct{ msg string }

func (e *reconnectError) Error() string        { return e.msg }
func (e *reconnectError) Is(target error) bool { return target == ErrReconnect }

// reconnect is the error of a connection that needs renewing.
func reconnect(login, why string) error {
	return &reconnectError{msg: fmt.Sprintf("GitHub no longer accepts Apogee's access to @%s (%s); reconnect GitHub on your Account page", login, why)}
}

// Message returns what to tell a user about err from this package.
func Message(err error) string {
	var re *reconnectError
	if errors.As(err, &re) {
		return re.msg
	}
	return apogee.ErrorMessage(err)
}

// Save links the account to the user (or updates the link) with tok's
// tokens sealed, and returns the stored identity. ECONFLICT if the
// account is linked to another user, or the user to another account.
func (c *Client) Save(ctx context.Context, userID string, a *Account, tok *oauth2.Token) (*apogee.Identity, error) {
	now := c.now().UTC()
	id := &apogee.Identity{UserID: userID, Provider: apogee.ProviderGitHub, ProviderUserID: a.ID, Login: a.Login,
		CreatedAt: now, UpdatedAt: now}
	c.seal(id, tok)
	existing, err := c.store.IdentityByProviderID(ctx, apogee.ProviderGitHub, a.ID)
	switch {
	case errors.Is(err, apogee.ErrNotFound):
		if err := c.store.CreateIdentity(ctx, id); err != nil {
			return nil, fmt.Errorf("github: link account: %w", err)
		}
		return id, nil
	case err != nil:
		return nil, fmt.Errorf("github: link account: %w", err)
	case existing.UserID != userID:
		return nil, apogee.Errorf(apogee.ECONFLICT, "the GitHub account @%s is linked to another Apogee account", a.Login)
	}
	id.CreatedAt = existing.CreatedAt
	if err := c.store.UpdateIdentity(ctx, id); err != nil {
		return nil, fmt.Errorf("github: update linked account: %w", err)
	}
	return id, nil
}

// seal puts tok's tokens and expiry times into id, sealed, and clears
// Reconnect.
func (c *Client) seal(id *apogee.Identity, tok *oauth2.Token) {
	id.AccessToken = c.box.Seal(tok.AccessToken, purpose(id.ProviderUserID, "access"))
	id.RefreshToken, id.AccessExpiresAt, id.RefreshExpiresAt = "", nil, nil
	if tok.RefreshToken != "" {
		id.RefreshToken = c.box.Seal(tok.RefreshToken, purpose(id.ProviderUserID, "refresh"))
	}
	// Expiry times count from this client's clock (oauth2 sets
	// tok.Expiry from its own).
	if secs := extraSeconds(tok, "expires_in"); secs > 0 {
		t := c.now().UTC().Add(time.Duration(secs) * time.Second)
		id.AccessExpiresAt = &t
	} else if !tok.Expiry.IsZero() {
		t := tok.Expiry.UTC()
		id.AccessExpiresAt = &t
	}
	if secs := extraSeconds(tok, "refresh_token_expires_in"); secs > 0 {
		t := c.now().UTC().Add(time.Duration(secs) * time.Second)
		id.RefreshExpiresAt = &t
	}
	id.Reconnect = ""
}

// extraSeconds reads a number of seconds from the token answer. oauth2
// gives a JSON answer's number as float64 and a form-encoded one's as
// int64 (or a string if it does not parse).
func extraSeconds(tok *oauth2.Token, key string) int64 {
	switch v := tok.Extra(key).(type) {
	case float64:
		return int64(v)
	case int64:
		return v
	case string:
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	return 0
}

// open returns the identity's tokens in plain text.
func (c *Client) open(id *apogee.Identity) (*oauth2.Token, error) {
	access, err := c.box.Open(id.AccessToken, purpose(id.ProviderUserID, "access"))
	if err != nil {
		return nil, fmt.Errorf("github: open access token of user %s: %w", id.UserID, err)
	}
	tok := &oauth2.Token{AccessToken: access, TokenType: "Bearer"}
	if id.RefreshToken != "" {
		if tok.RefreshToken, err = c.box.Open(id.RefreshToken, purpose(id.ProviderUserID, "refresh")); err != nil {
			return nil, fmt.Errorf("github: open refresh token of user %s: %w", id.UserID, err)
		}
	}
	if id.AccessExpiresAt != nil {
		tok.Expiry = *id.AccessExpiresAt
	}
	return tok, nil
}

// Identity returns the user's GitHub identity (ErrNotFound if none).
func (c *Client) Identity(ctx context.Context, userID string) (*apogee.Identity, error) {
	return c.store.IdentityOfUser(ctx, userID, apogee.ProviderGitHub)
}

// ByAccount returns the identity linked to a GitHub account (ErrNotFound
// if none).
func (c *Client) ByAccount(ctx context.Context, githubID string) (*apogee.Identity, error) {
	return c.store.IdentityByProviderID(ctx, apogee.ProviderGitHub, githubID)
}

// Disconnect forgets the user's GitHub account and its tokens. The grant
// stays listed at GitHub until the user revokes it there.
func (c *Client) Disconnect(ctx context.Context, userID string) error {
	return c.store.DeleteIdentity(ctx, userID, apogee.ProviderGitHub)
}

func (c *Client) userLock(userID string) *sync.Mutex {
	c.lockMu.Lock()
	defer c.lockMu.Unlock()
	m, ok := c.locks[userID]
	if !ok {
		m = new(sync.Mutex)
		c.locks[userID] = m
	}
	return m
}

// TokenSource returns the user's stored GitHub token, renewed first when
// it has expired (or will within a minute): the refresh token is spent,
// and the new pair is stored sealed before the token is returned. A
// refresh that GitHub refuses marks the identity (Identity.Reconnect) and
// returns an error matching ErrReconnect; so does a marked identity.
//
// Refreshes of one user are serialized in this process and the stored
// row is read again under the lock, so two requests do not spend the same
// refresh token (GitHub rotates them). Servers sharing a database can
// still race; the loser is asked to reconnect.
func (c *Client) TokenSource(ctx context.Context, userID string) oauth2.TokenSource {
	return &source{c: c, ctx: ctx, userID: userID}
}

type source struct {
	c      *Client
	ctx    context.Context
	userID string
}

var _ oauth2.TokenSource = (*source)(nil)

func (s *source) Token() (*oauth2.Token, error) {
	c := s.c
	mu := c.userLock(s.userID)
	mu.Lock()
	defer mu.Unlock()
	id, err := c.Identity(s.ctx, s.userID)
	if err != nil {
		return nil, fmt.Errorf("github: token: %w", err)
	}
	if id.Reconnect != "" {
		return nil, reconnect(id.Login, id.Reconnect)
	}
	tok, err := c.open(id)
	if err != nil {
		return nil, err
	}
	now := c.now()
	if tok.Expiry.IsZero() || now.Add(expiryDelta).Before(tok.Expiry) {
		return tok, nil
	}
	why := ""
	switch {
	case tok.RefreshToken == "":
		why = "the access token expired and there is no refresh token"
	case id.RefreshExpiresAt != nil && !now.Before(*id.RefreshExpiresAt):
		why = "the refresh token expired"
	}
	if why == "" {
		// oauth2 refreshes a token whose expiry has passed: say it has.
		old := *tok
		old.Expiry = time.Unix(1, 0)
		fresh, err := c.oauth.TokenSource(c.ctx(s.ctx), &old).Token()
		var re *oauth2.RetrieveError
		switch {
		case errors.As(err, &re):
			why = "GitHub refused the refresh token: " + describe(re)
		case err != nil:
			return nil, fmt.Errorf("github: refresh token of user %s: %w", s.userID, err)
		default:
			c.seal(id, fresh)
			id.UpdatedAt = c.now().UTC()
			if err := c.store.UpdateIdentity(s.ctx, id); err != nil {
				// The old refresh token is spent: without the new pair stored,
				// the next refresh fails and asks for a reconnect.
				return nil, fmt.Errorf("github: store refreshed tokens of user %s: %w", s.userID, err)
			}
			c.log.Info("GitHub token refreshed", "user", s.userID)
			return fresh, nil
		}
	}
	c.log.Warn("GitHub connection needs reconnecting", "user", s.userID, "reason", why)
	id.Reconnect, id.UpdatedAt = why, c.now().UTC()
	if err := c.store.UpdateIdentity(s.ctx, id); err != nil {
		return nil, fmt.Errorf("github: mark connection of user %s: %w", s.userID, err)
	}
	return nil, reconnect(id.Login, why)
}

// Repo is a repository the user can reach.
type Repo struct {
	FullName      string `json:"full_name"`
	CloneURL      string `json:"clone_url"`
	HTMLURL       string `json:"html_url"`
	DefaultBranch string `json:"default_branch"`
	Private       bool   `json:"private"`
}

// Repos lists the user's repositories, most recently pushed first (one
// page of 100). Errors match ErrReconnect when the connection needs
// renewing.
func (c *Client) Repos(ctx context.Context, userID string) ([]Repo, error) {
	hc := oauth2.NewClient(c.ctx(ctx), c.TokenSource(ctx, userID))
	var repos []Repo
	err := c.get(ctx, hc, "/user/repos?per_page=100&sort=pushed&affiliation=owner,collaborator,organization_member", &repos)
	var ae *errAPI
	if errors.As(err, &ae) && ae.status == http.StatusUnauthorized {
		// The token GitHub had given is refused (revoked at GitHub).
		id, ierr := c.Identity(ctx, userID)
		if ierr == nil {
			id.Reconnect, id.UpdatedAt = "GitHub refused the access token", c.now().UTC()
			if uerr := c.store.UpdateIdentity(ctx, id); uerr != nil {
				c.log.Warn("mark GitHub connection", "user", userID, "err", uerr)
			}
			return nil, reconnect(id.Login, id.Reconnect)
		}
	}
	return repos, err
}
