package platform

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/framework"
	"github.com/apogee-dev/apogee/internal/nodejs"
)

// projects implements apogee.ProjectService.
type projects struct{ *Platform }

var _ apogee.ProjectService = projects{}

func (pl projects) Projects(ctx context.Context, team string) ([]*apogee.ProjectView, error) {
	u, err := pl.actor(ctx)
	if err != nil {
		return nil, err
	}
	owner, teamName, err := pl.scopeOwner(ctx, u, team)
	if err != nil {
		return nil, err
	}
	ps, err := pl.store.ListProjects(ctx, owner)
	if err != nil {
		return nil, fmt.Errorf("platform: list projects: %w", err)
	}
	views := make([]*apogee.ProjectView, len(ps))
	for i, p := range ps {
		views[i] = pl.projectView(p)
		views[i].Team = teamName
	}
	return views, nil
}

// withTeam names the team that owns v's project, if a team does.
func (pl *Platform) withTeam(ctx context.Context, v *apogee.ProjectView) *apogee.ProjectView {
	if t, err := pl.store.TeamByID(ctx, v.OwnerID); err == nil {
		v.Team = t.Name
	}
	return v
}

// MoveProject gives a project to a team or to the caller in person.
func (pl projects) MoveProject(ctx context.Context, name string, req apogee.MoveProjectRequest) (*apogee.ProjectView, error) {
	u, p, err := pl.project(ctx, name, needOwner)
	if err != nil {
		return nil, err
	}
	to, toName := u.ID, "you"
	if req.Team != "" {
		t, _, err := pl.teamAs(ctx, u, req.Team, needOwner)
		if err != nil {
			return nil, err
		}
		to, toName = t.ID, "team "+t.Name
	} else if u.Scope != nil && u.Scope.TeamID != "" {
		return nil, apogee.Errorf(apogee.EFORBIDDEN, "this token is scoped to a team: it cannot move projects to a person")
	}
	if to == p.OwnerID {
		return nil, apogee.Errorf(apogee.EINVALID, "project %s belongs to %s already", p.Name, toName)
	}
	if err := pl.checkProjects(ctx, to); err != nil {
		return nil, err
	}
	ds, err := pl.store.ListDomains(ctx, p.ID)
	if err != nil {
		return nil, fmt.Errorf("platform: domains of %q: %w", p.Name, err)
	}
	if err := pl.checkDomainsN(ctx, to, int64(len(ds))); err != nil {
		return nil, err
	}
	if err := pl.checkMovedStorage(ctx, to, p); err != nil {
		return nil, err
	}
	from := p.OwnerID
	if err := pl.store.MoveProject(ctx, p.ID, to); err != nil {
		return nil, fmt.Errorf("platform: move project %q: %w", p.Name, err)
	}
	p.OwnerID = to
	pl.log.Info("project moved", "project", p.Name, "from", from, "to", to, "user", u.ID)
	// Both sides' logs show the move.
	pl.record(ctx, u, from, p, "project.move", p.Name, "to "+toName)
	pl.record(ctx, u, to, p, "project.move", p.Name, "to "+toName)
	return pl.withTeam(ctx, pl.projectView(p)), nil
}

func (pl projects) Project(ctx context.Context, name string) (*apogee.ProjectView, error) {
	_, p, role, err := pl.projectAs(ctx, name, needRead)
	if err != nil {
		return nil, err
	}
	v := pl.projectView(p)
	if needSecrets.allows(role) { // a viewer never sees the webhook secret
		if v, err = pl.ownerView(p); err != nil {
			return nil, err
		}
	}
	return pl.withBranches(ctx, pl.withTeam(ctx, v))
}

// ownerView is the project as its owner (or an admin) sees it: with the
// webhook secret in plain text.
// withBranches adds the project's branch URLs to v.
func (pl *Platform) withBranches(ctx context.Context, v *apogee.ProjectView) (*apogee.ProjectView, error) {
	as, err := pl.store.BranchAliases(ctx, v.ID)
	if err != nil {
		return nil, fmt.Errorf("platform: branch hosts of %q: %w", v.Name, err)
	}
	for _, a := range as {
		v.Branches = append(v.Branches, apogee.BranchURL{Branch: a.Branch, URL: pl.cfg.SiteURL(a.Host), DeploymentID: a.DeploymentID})
	}
	return v, nil
}

func (pl *Platform) ownerView(p *apogee.Project) (*apogee.ProjectView, error) {
	v := pl.projectView(p)
	secret, err := p.OpenWebhookSecret(pl.box)
	if err != nil {
		return nil, fmt.Errorf("platform: project %q: webhook secret: %w", p.Name, err)
	}
	v.WebhookSecret = secret
	return v, nil
}

func (pl projects) CreateProject(ctx context.Context, req apogee.CreateProjectRequest) (*apogee.ProjectView, error) {
	u, err := pl.writer(ctx)
	if err != nil {
		return nil, err
	}
	if err := apogee.ValidateProjectName(req.Name); err != nil {
		return nil, err
	}
	owner, team, err := pl.ownerFor(ctx, u, req.Team)
	if err != nil {
		return nil, err
	}
	p := &apogee.Project{ID: apogee.NewID(), Name: req.Name, OwnerID: owner, CreatedAt: pl.now().UTC()}
	secret := apogee.NewSecret(32)
	p.SealWebhookSecret(pl.box, secret)
	if req.Git != nil {
		g, err := pl.validateGit(*req.Git)
		if err != nil {
			return nil, err
		}
		p.Git = &g
	}
	if req.App != nil {
		if err := apogee.ValidateAppSettings(*req.App); err != nil {
			return nil, err
		}
		if err := pl.checkSandbox(req.App.Sandbox); err != nil {
			return nil, err
		}
		if req.App.Instances != nil || req.App.MaxInstances != nil {
			if err := pl.checkInstances(ctx, owner, req.App.Scale().Max); err != nil {
				return nil, err
			}
		}
		p.Settings.App = *req.App
	}
	if err := pl.checkProjects(ctx, owner); err != nil {
		return nil, err
	}
	if err := pl.store.CreateProject(ctx, p); err != nil {
		if apogee.ErrorCode(err) == apogee.ECONFLICT {
			return nil, apogee.Errorf(apogee.ECONFLICT, "project name %q is taken; choose another", req.Name)
		}
		return nil, fmt.Errorf("platform: create project: %w", err)
	}
	pl.log.Info("project created", "project", p.Name, "user", u.ID, "owner", owner)
	pl.recordProject(ctx, u, p, "project.create", "", "")
	view := pl.projectView(p)
	view.WebhookSecret = secret
	if team != nil {
		view.Team = team.Name
	}
	return view, nil
}

// UpdateProject changes a project's settings by a JSON merge patch (RFC
// 7396) per section. Serve settings apply from the project's next
// deployment on: deployments never change, so no route does now.
func (pl projects) UpdateProject(ctx context.Context, name string, settings map[string]json.RawMessage) (*apogee.ProjectView, error) {
	u, p, err := pl.project(ctx, name, needChange)
	if err != nil {
		return nil, err
	}
	if settings == nil {
		return nil, apogee.Errorf(apogee.EINVALID, "send {\"settings\": {\"serve\": {…}}} with the settings to change, or {\"name\": …} to rename")
	}
	before := p.Settings.App
	for section, raw := range settings {
		switch section {
		case "serve":
			p.Settings.Serve, err = mergePatch(p.Settings.Serve, raw, "settings.serve")
		case "build":
			p.Settings.Build, err = mergePatch(p.Settings.Build, raw, "settings.build")
			if err == nil {
				err = validateBuildSettings(p.Settings.Build)
			}
		case "app":
			p.Settings.App, err = mergePatch(p.Settings.App, raw, "settings.app")
			if a := &p.Settings.App; err == nil && a.Instances != nil && !same(before.Instances, a.Instances) &&
				same(before.MinInstances, a.MinInstances) && same(before.MaxInstances, a.MaxInstances) {
				// A new fixed number replaces the autoscaler's bounds.
				a.MinInstances, a.MaxInstances = nil, nil
			}
			if err == nil {
				err = apogee.ValidateAppSettings(p.Settings.App)
			}
			if err == nil && !same(before.Sandbox, p.Settings.App.Sandbox) {
				// Checked on a change only: a project keeps a sandbox the
				// server stopped allowing until it chooses another (its
				// next release then fails and says why).
				err = pl.checkSandbox(p.Settings.App.Sandbox)
			}
			if err == nil && before.Scale().Max != p.Settings.App.Scale().Max {
				err = pl.checkInstances(ctx, p.OwnerID, p.Settings.App.Scale().Max)
			}
		default:
			err = apogee.Errorf(apogee.EINVALID, "settings has no section %q; the sections are \"serve\", \"build\" and \"app\"", section)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := pl.store.UpdateProject(ctx, p); err != nil {
		return nil, fmt.Errorf("platform: update project %q: %w", p.Name, err)
	}
	pl.log.Info("project settings updated", "project", p.Name, "user", u.ID)
	pl.recordProject(ctx, u, p, "project.settings", "", sectionsOf(settings))
	if err := pl.appSettingsChanged(ctx, u, p, before); err != nil {
		return nil, err
	}
	return pl.projectView(p), nil
}

// RenameProject renames a project and tells every edge: the production
// host follows the name, deployment hosts stay.
func (pl projects) RenameProject(ctx context.Context, name, newName string) (*apogee.ProjectView, error) {
	u, p, err := pl.project(ctx, name, needChange)
	if err != nil {
		return nil, err
	}
	if err := apogee.ValidateProjectName(newName); err != nil {
		return nil, err
	}
	if newName == p.Name {
		return nil, apogee.Errorf(apogee.EINVALID, "project %s has that name already; enter a different one", p.Name)
	}
	if releases, err := pl.store.ListReleases(ctx, p.ID, 1); err != nil {
		return nil, fmt.Errorf("platform: rename %q: releases: %w", p.Name, err)
	} else if len(releases) > 0 {
		return nil, apogee.Errorf(apogee.ECONFLICT, "project %s runs an app; apps cannot be renamed yet: create a project with the new name and deploy there", p.Name)
	}
	old := p.Name
	if err := pl.store.RenameProject(ctx, p.ID, newName); err != nil {
		if apogee.ErrorCode(err) == apogee.ECONFLICT {
			return nil, apogee.Errorf(apogee.ECONFLICT, "project name %q is taken; choose another", newName)
		}
		return nil, fmt.Errorf("platform: rename project %q: %w", p.Name, err)
	}
	p.Name = newName
	// Branch hosts carry the name: they move with it.
	as, err := pl.store.BranchAliases(ctx, p.ID)
	if err != nil {
		return nil, fmt.Errorf("platform: rename %q: branch hosts: %w", old, err)
	}
	for _, a := range as {
		pl.moveBranch(ctx, p, &apogee.Deployment{ID: a.DeploymentID, Branch: a.Branch}, a.Host != apogee.BranchHost(old, a.Branch, false))
	}
	pl.publish(ctx, apogee.Event{Type: apogee.EventAliasChanged, ProjectID: p.ID, Project: p.Name, DeploymentID: p.ProductionID})
	pl.log.Info("project renamed", "project", p.Name, "from", old, "user", u.ID)
	pl.recordProject(ctx, u, p, "project.rename", "", "from "+old)
	v, err := pl.ownerView(p)
	if err != nil {
		return nil, err
	}
	return pl.withBranches(ctx, v)
}

func (pl projects) DeleteProject(ctx context.Context, name string) error {
	u, p, err := pl.project(ctx, name, needOwner)
	if err != nil {
		return err
	}
	if err := pl.store.DeleteProject(ctx, p.ID); err != nil {
		return fmt.Errorf("platform: delete project %q: %w", p.Name, err)
	}
	pl.publish(ctx, apogee.Event{Type: apogee.EventProjectDeleted, ProjectID: p.ID, Project: p.Name})
	pl.log.Info("project deleted", "project", p.Name, "user", u.ID)
	pl.recordProject(ctx, u, p, "project.delete", "", "")
	return nil
}

// mergePatch applies the JSON merge patch raw to cur, a settings struct
// of flat fields, and returns the result. where names the object in
// error messages.
func mergePatch[T any](cur T, raw json.RawMessage, where string) (T, error) {
	var zero T
	var patch any
	if err := json.Unmarshal(raw, &patch); err != nil {
		return cur, apogee.Errorf(apogee.EINVALID, "%s is not valid JSON", where)
	}
	if patch == nil {
		return zero, nil // null resets the section
	}
	obj, ok := patch.(map[string]any)
	if !ok {
		return cur, apogee.Errorf(apogee.EINVALID, "%s must be an object", where)
	}
	b, err := json.Marshal(cur)
	if err != nil {
		return cur, fmt.Errorf("platform: %s: %w", where, err)
	}
	doc := map[string]any{}
	if err := json.Unmarshal(b, &doc); err != nil {
		return cur, fmt.Errorf("platform: %s: %w", where, err)
	}
	for k, v := range obj {
		if v == nil {
			delete(doc, k)
		} else {
			doc[k] = v
		}
	}
	b, err = json.Marshal(doc)
	if err != nil {
		return cur, fmt.Errorf("platform: %s: %w", where, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var out T
	if err := dec.Decode(&out); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr):
			return cur, apogee.Errorf(apogee.EINVALID, "%s.%s must be a %s, not a JSON %s", where, typeErr.Field, typeErr.Type.Kind(), typeErr.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return cur, apogee.Errorf(apogee.EINVALID, "%s has no field %s", where, strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return cur, apogee.Errorf(apogee.EINVALID, "%s: %v", where, err)
	}
	return out, nil
}

// validateBuildSettings checks the build overrides: directories are
// relative paths inside the repository, commands are one line of
// reasonable length.
func validateBuildSettings(b apogee.BuildSettings) error {
	for name, dir := range map[string]*string{"output_dir": b.OutputDir, "root_dir": b.RootDir} {
		if dir == nil || *dir == "" || *dir == "." {
			continue
		}
		if _, err := apogee.CleanPath(strings.TrimSuffix(*dir, "/")); err != nil {
			return apogee.Errorf(apogee.EINVALID, "settings.build.%s %q must be a relative path inside the repository", name, *dir)
		}
	}
	if err := apogee.CheckWatchPaths(b.WatchPaths); err != nil {
		return err
	}
	for name, cmd := range map[string]*string{"install_command": b.InstallCommand, "build_command": b.BuildCommand, "ignore_command": b.IgnoreCommand} {
		if cmd != nil && (len(*cmd) > 4096 || strings.ContainsAny(*cmd, "\x00\n\r")) {
			return apogee.Errorf(apogee.EINVALID, "settings.build.%s must be one line of at most 4096 bytes", name)
		}
	}
	if v := b.NodeVersion; v != nil && *v != "" {
		if err := nodejs.Check(*v); err != nil {
			return apogee.Errorf(apogee.EINVALID, "settings.build.node_version: %s", apogee.ErrorMessage(err))
		}
	}
	if f := b.Framework; f != nil {
		if _, ok := framework.Lookup(*f); !ok {
			ids := make([]string, 0, 16)
			for _, p := range framework.Presets() {
				ids = append(ids, p.Framework)
			}
			return apogee.Errorf(apogee.EINVALID, "settings.build.framework %q is not a preset; use one of %s, or null to detect", *f, strings.Join(ids, ", "))
		}
	}
	return nil
}

// sectionsOf lists the settings sections a patch changes, for the audit
// log: "build, serve".
func sectionsOf(settings map[string]json.RawMessage) string {
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return strings.Join(keys, ", ")
}
