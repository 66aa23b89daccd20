package api

import (
	"fmt"
	"net/http"

	"github.com/apogee-dev/apogee"
)

// Environment variables of a project: GET lists them (secret values
// never), PUT sets one, DELETE removes one. Values are sealed by
// internal/envvars before the store sees them. No log line carries a
// value.

func (a *API) listEnv(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	p, err := a.project(r, u, r.PathValue("name"))
	if err != nil {
		return err
	}
	vs, err := a.env.List(r.Context(), p.ID)
	if err != nil {
		return fmt.Errorf("api: list env of %q: %w", p.Name, err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"env": vs})
	return nil
}

func (a *API) setEnv(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	p, err := a.project(r, u, r.PathValue("name"))
	if err != nil {
		return err
	}
	key := r.PathValue("key")
	if err := apogee.ValidateEnvKey(key); err != nil {
		return err
	}
	var req apogee.SetEnvRequest
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	if req.Value == nil {
		return apogee.Errorf(apogee.EINVALID, "request body needs \"value\" (a string; \"\" for an empty value)")
	}
	v, err := a.env.Set(r.Context(), p.ID, key, *req.Value, req.Secret)
	if err != nil {
		if code := apogee.ErrorCode(err); code != apogee.EINTERNAL {
			return err
		}
		return fmt.Errorf("api: set env %s of %q: %w", key, p.Name, err)
	}
	a.log.Info("env var set", "project", p.Name, "key", key, "secret", req.Secret, "user", u.ID)
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (a *API) deleteEnv(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	p, err := a.project(r, u, r.PathValue("name"))
	if err != nil {
		return err
	}
	key := r.PathValue("key")
	if err := apogee.ValidateEnvKey(key); err != nil {
		return err
	}
	if err := a.env.Delete(r.Context(), p.ID, key); err != nil {
		if apogee.ErrorCode(err) == apogee.ENOTFOUND {
			return apogee.Errorf(apogee.ENOTFOUND, "project %s has no environment variable %s; list them with `apogee env ls --project %s`", p.Name, key, p.Name)
		}
		return fmt.Errorf("api: delete env %s of %q: %w", key, p.Name, err)
	}
	a.log.Info("env var removed", "project", p.Name, "key", key, "user", u.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// newWebhookSecret gives a new project p a random webhook secret, sealed
// in p.WebhookSecret, and returns it in plain text for its owner.
func (a *API) newWebhookSecret(p *apogee.Project) string {
	secret := apogee.NewSecret(32)
	p.SealWebhookSecret(a.box, secret)
	return secret
}

// ownerView is the project as its owner (or an admin) sees it: with the
// webhook secret in plain text.
func (a *API) ownerView(p *apogee.Project) (*apogee.ProjectView, error) {
	v := a.projectView(p)
	secret, err := p.OpenWebhookSecret(a.box)
	if err != nil {
		return nil, fmt.Errorf("api: project %q: webhook secret: %w", p.Name, err)
	}
	v.WebhookSecret = secret
	return v, nil
}
