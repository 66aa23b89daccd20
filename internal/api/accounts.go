package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/auth"
)

// lastUsedGranularity limits writes that record a token's last use.
const lastUsedGranularity = time.Minute

// maxTokenName bounds a token's name.
const maxTokenName = 100

func (a *API) login(w http.ResponseWriter, r *http.Request) error {
	var req apogee.LoginRequest
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	if req.Email == "" || req.Password == "" {
		return apogee.Errorf(apogee.EINVALID, "send both \"email\" and \"password\"")
	}
	u, err := auth.Login(r.Context(), a.store, req.Email, req.Password)
	if errors.Is(err, auth.ErrBadLogin) {
		a.metrics.logins.WithLabelValues("failed").Inc()
		return err
	}
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	name := req.TokenName
	if name == "" {
		name = "cli"
	}
	resp, err := a.issueToken(r, u, name, nil)
	if err != nil {
		return err
	}
	a.metrics.logins.WithLabelValues("ok").Inc()
	a.log.Info("login", "user", u.ID, "token", resp.Detail.ID)
	resp.User = u
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (a *API) issueToken(r *http.Request, u *apogee.User, name string, expires *time.Time) (*apogee.TokenResponse, error) {
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
		CreatedAt: a.now().UTC(),
		ExpiresAt: expires,
	}
	if err := a.store.CreateToken(r.Context(), t); err != nil {
		return nil, fmt.Errorf("api: create token: %w", err)
	}
	return &apogee.TokenResponse{Token: secret, Detail: t}, nil
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	ts, err := a.store.ListTokens(r.Context(), u.ID)
	if err != nil {
		return fmt.Errorf("api: list tokens: %w", err)
	}
	if ts == nil {
		ts = []*apogee.Token{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": ts})
	return nil
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	var req apogee.CreateTokenRequest
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	var expires *time.Time
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 {
			return apogee.Errorf(apogee.EINVALID, "expires_in %q is not a positive duration such as \"720h\"", req.ExpiresIn)
		}
		at := a.now().UTC().Add(d)
		expires = &at
	}
	resp, err := a.issueToken(r, u, req.Name, expires)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, resp)
	return nil
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	id := r.PathValue("id")
	if err := a.store.RevokeToken(r.Context(), u.ID, id, a.now().UTC()); err != nil {
		if errors.Is(err, apogee.ErrNotFound) {
			return apogee.Errorf(apogee.ENOTFOUND, "token %q not found; list yours with `apogee tokens list`", id)
		}
		return fmt.Errorf("api: revoke token: %w", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
