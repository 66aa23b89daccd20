package api

import (
	"net/http"

	"github.com/apogee-dev/apogee"
)

// Accounts: sign-in with a password, API tokens, the caller's plan.

func (a *API) login(w http.ResponseWriter, r *http.Request) error {
	var req apogee.LoginRequest
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	req.Address = r.RemoteAddr // forwarded headers are not trusted: anyone can send them
	resp, err := a.svc.Accounts.Login(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// whoami is GET /api/v1/user: the caller with their plan and usage.
func (a *API) whoami(w http.ResponseWriter, r *http.Request) error {
	v, err := a.svc.Accounts.Me(r.Context())
	return answer(w, http.StatusOK, v, err)
}

// usage is GET /api/v1/usage: the caller's plan, its limits and what
// they use of them this month.
func (a *API) usage(w http.ResponseWriter, r *http.Request) error {
	v, err := a.svc.Accounts.Usage(r.Context())
	return answer(w, http.StatusOK, v, err)
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request) error {
	ts, err := a.svc.Accounts.Tokens(r.Context())
	return answer(w, http.StatusOK, map[string]any{"tokens": ts}, err)
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request) error {
	var req apogee.CreateTokenRequest
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	resp, err := a.svc.Accounts.CreateToken(r.Context(), req)
	return answer(w, http.StatusCreated, resp, err)
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, a.svc.Accounts.RevokeToken(r.Context(), r.PathValue("id")))
}
