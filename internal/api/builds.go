package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/logs"
	"github.com/apogee-dev/apogee/internal/source"
)

// validateGit checks a project's repository: a URL of an allowed scheme
// without credentials in it, and a branch name git accepts.
func (a *API) validateGit(g apogee.GitSource) (apogee.GitSource, error) {
	u, err := url.Parse(g.URL)
	if err != nil || u.Scheme == "" || (u.Host == "" && u.Scheme != "file") || u.Path == "" {
		return g, apogee.Errorf(apogee.EINVALID, "git URL %q is not a URL such as https://github.com/acme/web.git", g.URL)
	}
	if !slices.Contains(a.schemes, u.Scheme) {
		return g, apogee.Errorf(apogee.EINVALID, "git URL scheme %q is not allowed here; use one of %s", u.Scheme, strings.Join(a.schemes, ", "))
	}
	if u.User != nil {
		return g, apogee.Errorf(apogee.EINVALID, "git URL %q carries credentials; remove them (tokens are set separately)", u.Redacted())
	}
	if h := strings.ToLower(u.Host); h != u.Host {
		// Hosts are case-insensitive; webhooks match repositories by URL.
		u.Host = h
		g.URL = u.String()
	}
	if g.Branch == "" {
		g.Branch = "main"
	}
	if err := source.ValidRef(g.Branch); err != nil {
		return g, err
	}
	return g, nil
}

// queueBuild queues a build of the project's repository.
func (a *API) queueBuild(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	p, err := a.project(r, u, r.PathValue("name"))
	if err != nil {
		return err
	}
	var req apogee.BuildRequest
	if r.ContentLength != 0 {
		if err := decode(w, r, maxJSONBody, &req); err != nil {
			return err
		}
	}
	if req.UploadID != "" {
		return a.queueZipBuild(w, r, u, p, req)
	}
	if p.Git == nil {
		return apogee.Errorf(apogee.EINVALID, "project %q has no Git repository; connect one with `apogee projects create NAME --git URL`, or deploy a folder with `apogee deploy`", p.Name)
	}
	d, err := a.enqueue(r.Context(), p, u.ID, req.Ref, req.Target, req.NoCache)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, a.view(d, p))
	return nil
}

// enqueue queues a build of the project's repository at ref (a branch,
// tag or commit; "" = the project's branch) and wakes the builders. The target defaults to
// production for the project's branch and preview for anything else.
func (a *API) enqueue(ctx context.Context, p *apogee.Project, userID, ref, target string, noCache bool) (*apogee.Deployment, error) {
	if ref != "" {
		if err := source.ValidRef(ref); err != nil {
			return nil, err
		}
	}
	branch := ref
	if p.Git != nil && (ref == "" || ref == p.Git.Branch) {
		branch = p.Git.Branch
	}
	commit := ""
	if isSHA(ref) {
		commit, branch = ref, ""
	}
	switch target {
	case "":
		target = apogee.TargetPreview
		if p.Git != nil && branch == p.Git.Branch {
			target = apogee.TargetProduction
		}
	case apogee.TargetProduction, apogee.TargetPreview:
	default:
		return nil, apogee.Errorf(apogee.EINVALID, "target %q must be \"production\" or \"preview\"", target)
	}
	return a.queue(ctx, p, &apogee.Deployment{
		Target: target, CreatedBy: userID,
		Source: apogee.SourceGit, Branch: branch, Commit: commit, NoCache: noCache,
	})
}

// queue gives d (what to build and its target) an id, host and creation
// time, inserts it queued and wakes the builders. Every way a build
// starts comes here, so here the owner's plan is checked (quotas.go): a
// disabled owner or used-up build minutes refuse the build; a build over
// the plan's concurrent builds is queued with a first log line saying
// why it waits.
func (a *API) queue(ctx context.Context, p *apogee.Project, d *apogee.Deployment) (*apogee.Deployment, error) {
	plan, use, err := a.checkBuild(ctx, p)
	if err != nil {
		return nil, err
	}
	d.ID = apogee.NewID()
	d.ProjectID, d.Host, d.CreatedAt = p.ID, apogee.DeploymentHost(p.Name, d.ID), a.now().UTC()
	if err := a.store.QueueBuild(ctx, d); err != nil {
		return nil, fmt.Errorf("api: queue build: %w", err)
	}
	a.noteWaiting(ctx, d, plan, use)
	a.publish(ctx, apogee.Event{Type: apogee.EventBuildQueued, ProjectID: p.ID, Project: p.Name, DeploymentID: d.ID})
	a.log.Info("build queued", "project", p.Name, "deployment", d.ID, "source", d.Source,
		"branch", d.Branch, "commit", d.Commit, "target", d.Target)
	return d, nil
}

// redeploy builds a Git deployment's commit again, with its branch and
// target, as a new deployment (Vercel's "Redeploy"). The new build reads
// the project's current settings and variables.
func (a *API) redeploy(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	old, p, err := a.deployment(r, u, r.PathValue("id"))
	if err != nil {
		return err
	}
	var req apogee.RedeployRequest
	if r.ContentLength != 0 {
		if err := decode(w, r, maxJSONBody, &req); err != nil {
			return err
		}
	}
	if old.Source != apogee.SourceGit || old.Commit == "" {
		return apogee.Errorf(apogee.EINVALID, "deployment %s was not built from a Git commit, so there is nothing to build again; deploy a new version instead", old.ID)
	}
	if p.Git == nil {
		return apogee.Errorf(apogee.EINVALID, "project %q has no Git repository any more; connect one with `apogee projects update %s --git URL`", p.Name, p.Name)
	}
	d, err := a.queue(r.Context(), p, &apogee.Deployment{
		Target: old.Target, CreatedBy: u.ID, Source: apogee.SourceGit,
		Branch: old.Branch, Commit: old.Commit, NoCache: req.NoCache,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, a.view(d, p))
	return nil
}

// isSHA reports whether s is a full or abbreviated commit name.
func isSHA(s string) bool { return len(s) >= 7 && len(s) <= 40 && isHex(s) }

// cancelBuild ends a queued or building deployment as canceled. A worker
// building it stops at once (event) or at its next heartbeat.
func (a *API) cancelBuild(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	d, p, err := a.deployment(r, u, r.PathValue("id"))
	if err != nil {
		return err
	}
	d, err = a.store.EndBuild(r.Context(), d.ID, apogee.StatusCanceled, "canceled by "+u.Email, a.now().UTC())
	if err != nil {
		if apogee.ErrorCode(err) == apogee.ECONFLICT {
			return apogee.Errorf(apogee.ECONFLICT, "deployment %s is not queued or building; there is nothing to cancel", r.PathValue("id"))
		}
		return fmt.Errorf("api: cancel: %w", err)
	}
	a.publish(r.Context(), apogee.Event{Type: apogee.EventBuildCanceled, ProjectID: p.ID, DeploymentID: d.ID})
	writeJSON(w, http.StatusOK, a.view(d, p))
	return nil
}

// deploymentLogs returns a deployment's log lines after ?after=SEQ as
// JSON, or, with ?follow=1 or Accept: text/event-stream, streams them as
// Server-Sent Events until the build ends. A reconnecting EventSource
// sends Last-Event-ID, the seq of the last line it got.
func (a *API) deploymentLogs(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	d, _, err := a.deployment(r, u, r.PathValue("id"))
	if err != nil {
		return err
	}
	q := r.URL.Query()
	after, err := logs.After(r)
	if err != nil {
		return err
	}
	follow := q.Get("follow") == "1" || q.Get("follow") == "true" || strings.Contains(r.Header.Get("Accept"), "text/event-stream")
	if !follow {
		lines, err := a.store.Logs(r.Context(), d.ID, after, 0)
		if err != nil {
			return fmt.Errorf("api: logs: %w", err)
		}
		if lines == nil {
			lines = []apogee.LogLine{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"lines": lines, "status": d.Status})
		return nil
	}

	logs.ServeSSE(w, r, a.store, a.hub, d.ID, after, logs.DeploymentStatus(a.store, d.ID), a.log)
	return nil
}
