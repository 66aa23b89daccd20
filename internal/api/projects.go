package api

import (
	"encoding/json"
	"net/http"

	"github.com/apogee-dev/apogee"
)

// Projects, their custom domains, environment variables and outgoing
// webhooks.

func (a *API) listProjects(w http.ResponseWriter, r *http.Request) error {
	ps, err := a.svc.Projects.Projects(r.Context(), r.URL.Query().Get("team"))
	return answer(w, http.StatusOK, map[string]any{"projects": ps}, err)
}

func (a *API) createProject(w http.ResponseWriter, r *http.Request) error {
	var req apogee.CreateProjectRequest
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	v, err := a.svc.Projects.CreateProject(r.Context(), req)
	return answer(w, http.StatusCreated, v, err)
}

func (a *API) getProject(w http.ResponseWriter, r *http.Request) error {
	v, err := a.svc.Projects.Project(r.Context(), r.PathValue("name"))
	return answer(w, http.StatusOK, v, err)
}

// updateProject changes a project's settings by a JSON merge patch (RFC
// 7396) of its "settings":
//
//	PATCH /api/v1/projects/web
//	{"settings": {"serve": {"spa": true, "trailing_slash": null}}}
func (a *API) updateProject(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name     string                     `json:"name"`
		Settings map[string]json.RawMessage `json:"settings"`
	}
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	name := r.PathValue("name")
	if req.Name == "" || req.Settings != nil {
		v, err := a.svc.Projects.UpdateProject(r.Context(), name, req.Settings)
		if err != nil || req.Name == "" {
			return answer(w, http.StatusOK, v, err)
		}
	}
	// A new name, like Vercel's PATCH {"name": …}: after any settings.
	v, err := a.svc.Projects.RenameProject(r.Context(), name, req.Name)
	return answer(w, http.StatusOK, v, err)
}

func (a *API) deleteProject(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, a.svc.Projects.DeleteProject(r.Context(), r.PathValue("name")))
}

func (a *API) listDomains(w http.ResponseWriter, r *http.Request) error {
	ds, err := a.svc.Domains.Domains(r.Context(), r.PathValue("name"))
	return answer(w, http.StatusOK, map[string]any{"domains": ds}, err)
}

func (a *API) createDomain(w http.ResponseWriter, r *http.Request) error {
	var req apogee.CreateDomainRequest
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	v, err := a.svc.Domains.AddDomain(r.Context(), r.PathValue("name"), req.Name)
	return answer(w, http.StatusCreated, v, err)
}

func (a *API) getDomain(w http.ResponseWriter, r *http.Request) error {
	v, err := a.svc.Domains.Domain(r.Context(), r.PathValue("domain"))
	return answer(w, http.StatusOK, v, err)
}

func (a *API) verifyDomain(w http.ResponseWriter, r *http.Request) error {
	v, err := a.svc.Domains.VerifyDomain(r.Context(), r.PathValue("domain"))
	return answer(w, http.StatusOK, v, err)
}

func (a *API) deleteDomain(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, a.svc.Domains.RemoveDomain(r.Context(), r.PathValue("domain")))
}

func (a *API) listEnv(w http.ResponseWriter, r *http.Request) error {
	vs, err := a.svc.Env.Env(r.Context(), r.PathValue("name"))
	return answer(w, http.StatusOK, map[string]any{"env": vs}, err)
}

func (a *API) setEnv(w http.ResponseWriter, r *http.Request) error {
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
	v, err := a.svc.Env.SetEnv(r.Context(), r.PathValue("name"), key, *req.Value, req.Secret)
	return answer(w, http.StatusOK, v, err)
}

func (a *API) deleteEnv(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, a.svc.Env.DeleteEnv(r.Context(), r.PathValue("name"), r.PathValue("key")))
}

func (a *API) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	hs, err := a.svc.Webhooks.Webhooks(r.Context(), r.PathValue("name"))
	return answer(w, http.StatusOK, map[string]any{"webhooks": hs}, err)
}

func (a *API) createWebhook(w http.ResponseWriter, r *http.Request) error {
	var req apogee.CreateWebhookRequest
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	v, err := a.svc.Webhooks.CreateWebhook(r.Context(), r.PathValue("name"), req)
	return answer(w, http.StatusCreated, v, err)
}

func (a *API) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, a.svc.Webhooks.DeleteWebhook(r.Context(), r.PathValue("name"), r.PathValue("id")))
}

func (a *API) testWebhook(w http.ResponseWriter, r *http.Request) error {
	d, err := a.svc.Webhooks.TestWebhook(r.Context(), r.PathValue("name"), r.PathValue("id"))
	return answer(w, http.StatusOK, d, err)
}

// A team's webhooks: every project of the team's notifications.

func (a *API) listTeamWebhooks(w http.ResponseWriter, r *http.Request) error {
	hs, err := a.svc.Webhooks.TeamWebhooks(r.Context(), r.PathValue("team"))
	return answer(w, http.StatusOK, map[string]any{"webhooks": hs}, err)
}

func (a *API) createTeamWebhook(w http.ResponseWriter, r *http.Request) error {
	var req apogee.CreateWebhookRequest
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	v, err := a.svc.Webhooks.CreateTeamWebhook(r.Context(), r.PathValue("team"), req)
	return answer(w, http.StatusCreated, v, err)
}

func (a *API) deleteTeamWebhook(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, a.svc.Webhooks.DeleteTeamWebhook(r.Context(), r.PathValue("team"), r.PathValue("id")))
}

func (a *API) testTeamWebhook(w http.ResponseWriter, r *http.Request) error {
	d, err := a.svc.Webhooks.TestTeamWebhook(r.Context(), r.PathValue("team"), r.PathValue("id"))
	return answer(w, http.StatusOK, d, err)
}
