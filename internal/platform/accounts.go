package platform

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/auth"
)

// accounts implements apogee.AccountService.
type accounts struct{ *Platform }

var _ apogee.AccountService = accounts{}

// lastUsedGranularity limits writes that record a token's last use.
const lastUsedGranularity = time.Minute

// maxTokenName bounds a token's name.
const maxTokenName = 100

func (pl accounts) SignIn(ctx context.Context, req apogee.SignInRequest) (*apogee.User, error) {
	if req.Email == "" || req.Password == "" {
		return nil, apogee.Errorf(apogee.EINVALID, "send both an email and a password")
	}
	u, err := pl.guard.SignIn(ctx, pl.store, req.Address, req.Email, req.Password)
	// Sign-ins go in the account's own audit log, with the address they
	// came from; so do refused ones of an account that exists.
	actx := apogee.NewContextWithClient(ctx, req.Address)
	switch code := apogee.ErrorCode(err); {
	case err == nil:
		pl.record(actx, u, u.ID, nil, "signin", u.Email, "")
		return u, nil
	case errors.Is(err, auth.ErrBadLogin):
		pl.metrics.logins.WithLabelValues("failed").Inc()
		if who, lerr := pl.store.UserByEmail(ctx, strings.TrimSpace(req.Email)); lerr == nil {
			pl.record(actx, nil, who.ID, nil, "signin.refused", who.Email, "wrong password or a disabled account")
		}
		return nil, err
	case code == apogee.ETOOMANY:
		pl.metrics.logins.WithLabelValues("limited").Inc()
		pl.log.Warn("sign-in refused: too many", "address", req.Address)
		return nil, err
	case code != apogee.EINTERNAL || errors.Is(err, context.Canceled):
		return nil, err
	default:
		return nil, fmt.Errorf("platform: sign in: %w", err)
	}
}

func (pl accounts) SignedIn(ctx context.Context, u *apogee.User, address, via string) {
	pl.record(apogee.NewContextWithClient(ctx, address), u, u.ID, nil, "signin", u.Email, via)
}

func (pl accounts) Login(ctx context.Context, req apogee.LoginRequest) (*apogee.TokenResponse, error) {
	u, err := pl.SignIn(ctx, apogee.SignInRequest{Email: req.Email, Password: req.Password, Address: req.Address})
	if err != nil {
		return nil, err
	}
	name := req.TokenName
	if name == "" {
		name = "cli"
	}
	resp, err := pl.issueToken(ctx, u, name, nil)
	if err != nil {
		return nil, err
	}
	pl.metrics.logins.WithLabelValues("ok").Inc()
	pl.log.Info("login", "user", u.ID, "token", resp.Detail.ID)
	resp.User = u
	return resp, nil
}

func (pl *Platform) issueToken(ctx context.Context, u *apogee.User, name string, expires *time.Time, scope ...apogee.Scope) (*apogee.TokenResponse, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > maxTokenName {
		return nil, apogee.Errorf(apogee.EINVALID, "a token needs a name of 1 to %d characters", maxTokenName)
	}
	secret, hash := auth.NewToken()
	t := &apogee.Token{
		ID:        apogee.NewID(),
		UserID:    u.ID,
		Name:      name,
		Hash:      hash,
		CreatedAt: pl.now().UTC(),
		ExpiresAt: expires,
	}
	for _, sc := range scope {
		t.TeamID, t.ReadOnly = sc.TeamID, sc.ReadOnly
	}
	if err := pl.store.CreateToken(ctx, t); err != nil {
		return nil, fmt.Errorf("platform: create token: %w", err)
	}
	return &apogee.TokenResponse{Token: secret, Detail: t}, nil
}

var errBadToken = apogee.Errorf(apogee.EUNAUTHORIZED, "the API token is invalid, expired or revoked")

// Authenticate returns the user whose API token secret is, and records
// the token's use. A missing, expired or revoked token, or one whose user
// is gone, is EUNAUTHORIZED without saying which; a disabled user's token
// is auth.ErrDisabled.
func (pl accounts) Authenticate(ctx context.Context, secret string) (*apogee.User, error) {
	tok, err := pl.store.TokenByHash(ctx, auth.HashToken(secret))
	if errors.Is(err, apogee.ErrNotFound) {
		return nil, errBadToken
	}
	if err != nil {
		return nil, fmt.Errorf("platform: look up token: %w", err)
	}
	now := pl.now()
	if !tok.Valid(now) {
		return nil, errBadToken
	}
	u, err := pl.store.UserByID(ctx, tok.UserID)
	if errors.Is(err, apogee.ErrNotFound) {
		return nil, errBadToken
	}
	if err != nil {
		return nil, fmt.Errorf("platform: look up token's user: %w", err)
	}
	if err := auth.CheckActive(u); err != nil {
		return nil, err
	}
	if tok.TeamID != "" || tok.ReadOnly {
		u.Scope = &apogee.Scope{TeamID: tok.TeamID, ReadOnly: tok.ReadOnly}
	}
	if tok.LastUsed == nil || now.Sub(*tok.LastUsed) > lastUsedGranularity {
		if err := pl.store.TouchToken(ctx, tok.ID, now); err != nil {
			pl.log.Warn("record token use", "token", tok.ID, "err", err)
		}
	}
	return u, nil
}

func (pl accounts) Tokens(ctx context.Context) ([]*apogee.Token, error) {
	u, err := pl.actor(ctx)
	if err != nil {
		return nil, err
	}
	ts, err := pl.store.ListTokens(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("platform: list tokens: %w", err)
	}
	if ts == nil {
		ts = []*apogee.Token{}
	}
	return ts, nil
}

func (pl accounts) CreateToken(ctx context.Context, req apogee.CreateTokenRequest) (*apogee.TokenResponse, error) {
	u, err := pl.writer(ctx)
	if err != nil {
		return nil, err
	}
	scope := apogee.Scope{ReadOnly: req.ReadOnly}
	if u.Scope != nil { // a scoped token makes no token wider than itself
		if u.Scope.TeamID != "" && req.Team == "" {
			scope.TeamID = u.Scope.TeamID
		}
	}
	var team *apogee.Team
	if req.Team != "" {
		if team, _, err = pl.teamAs(ctx, u, req.Team, needRead); err != nil {
			return nil, err
		}
		scope.TeamID = team.ID
	}
	var expires *time.Time
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 {
			return nil, apogee.Errorf(apogee.EINVALID, "expires_in %q is not a positive duration such as \"720h\"", req.ExpiresIn)
		}
		at := pl.now().UTC().Add(d)
		expires = &at
	}
	tr, err := pl.issueToken(ctx, u, req.Name, expires, scope)
	if err != nil {
		return nil, err
	}
	owner := u.ID
	if scope.TeamID != "" {
		owner = scope.TeamID
	}
	detail := ""
	if scope.ReadOnly {
		detail = "read-only"
	}
	pl.record(ctx, u, owner, nil, "token.create", tr.Detail.Name, detail)
	return tr, nil
}

func (pl accounts) RevokeToken(ctx context.Context, id string) error {
	u, err := pl.writer(ctx)
	if err != nil {
		return err
	}
	if err := pl.store.RevokeToken(ctx, u.ID, id, pl.now().UTC()); err != nil {
		if errors.Is(err, apogee.ErrNotFound) {
			return apogee.Errorf(apogee.ENOTFOUND, "token %q not found", id)
		}
		return fmt.Errorf("platform: revoke token: %w", err)
	}
	pl.record(ctx, u, u.ID, nil, "token.revoke", id, "")
	return nil
}

func (pl accounts) Me(ctx context.Context) (*apogee.UserView, error) {
	u, err := pl.actor(ctx)
	if err != nil {
		return nil, err
	}
	return pl.userView(ctx, u)
}

func (pl accounts) Usage(ctx context.Context) (*apogee.PlanView, error) {
	u, err := pl.actor(ctx)
	if err != nil {
		return nil, err
	}
	p, use, err := pl.planUsage(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	return &apogee.PlanView{Plan: p, Usage: use, Month: apogee.MonthStart(pl.now())}, nil
}

func (pl *Platform) userView(ctx context.Context, u *apogee.User) (*apogee.UserView, error) {
	p, use, err := pl.planUsage(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	return &apogee.UserView{User: u, Plan: p, Usage: use, Disabled: u.Disabled()}, nil
}
