package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/apogee-dev/apogee"
)

// project returns the named project if u may see it. Another user's
// project is reported exactly like a missing one.
func (a *API) project(r *http.Request, u *apogee.User, name string) (*apogee.Project, error) {
	notFound := apogee.Errorf(apogee.ENOTFOUND, "project %q not found; list yours with `apogee projects list`", name)
	if apogee.ValidateProjectName(name) != nil {
		return nil, notFound
	}
	p, err := a.store.ProjectByName(r.Context(), name)
	if errors.Is(err, apogee.ErrNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, fmt.Errorf("api: look up project %q: %w", name, err)
	}
	if !p.MayAccess(u) {
		return nil, notFound
	}
	return p, nil
}

func (a *API) projectView(p *apogee.Project) *apogee.ProjectView {
	return &apogee.ProjectView{Project: p, URL: a.siteURL(p.Name)}
}

func (a *API) listProjects(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	ps, err := a.store.ListProjects(r.Context(), u.ID)
	if err != nil {
		return fmt.Errorf("api: list projects: %w", err)
	}
	views := make([]*apogee.ProjectView, len(ps))
	for i, p := range ps {
		views[i] = a.projectView(p)
	}
	writeJSON(w, http.StatusOK, map[string]any{"projects": views})
	return nil
}

func (a *API) createProject(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	var req apogee.CreateProjectRequest
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	if err := apogee.ValidateProjectName(req.Name); err != nil {
		return err
	}
	p := &apogee.Project{ID: apogee.NewID(), Name: req.Name, OwnerID: u.ID, CreatedAt: a.now().UTC()}
	webhookSecret := a.newWebhookSecret(p)
	if req.Git != nil {
		g, err := a.validateGit(*req.Git)
		if err != nil {
			return err
		}
		p.Git = &g
	}
	if err := a.checkProjects(r.Context(), u.ID); err != nil {
		return err
	}
	if err := a.store.CreateProject(r.Context(), p); err != nil {
		if apogee.ErrorCode(err) == apogee.ECONFLICT {
			return apogee.Errorf(apogee.ECONFLICT, "project name %q is taken; choose another", req.Name)
		}
		return fmt.Errorf("api: create project: %w", err)
	}
	a.log.Info("project created", "project", p.Name, "user", u.ID)
	view := a.projectView(p)
	view.WebhookSecret = webhookSecret
	writeJSON(w, http.StatusCreated, view)
	return nil
}

func (a *API) getProject(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	p, err := a.project(r, u, r.PathValue("name"))
	if err != nil {
		return err
	}
	view, err := a.ownerView(p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, view)
	return nil
}

func (a *API) deleteProject(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	p, err := a.project(r, u, r.PathValue("name"))
	if err != nil {
		return err
	}
	if err := a.store.DeleteProject(r.Context(), p.ID); err != nil {
		return fmt.Errorf("api: delete project %q: %w", p.Name, err)
	}
	a.publish(r.Context(), apogee.Event{Type: apogee.EventProjectDeleted, ProjectID: p.ID, Project: p.Name})
	a.log.Info("project deleted", "project", p.Name, "user", u.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
