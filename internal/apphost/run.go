package apphost

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/apogee-dev/apogee"
)

// PlanRestore reads the production releases Restore will start and,
// from now on, holds the requests for their projects' hosts until each is
// back (at most restoreWait). Call it before the server takes requests.
func (h *Host) PlanRestore(ctx context.Context) error {
	rels, err := h.cfg.Store.ProductionReleases(ctx)
	if err != nil {
		return err
	}
	plan := make([]restoring, 0, len(rels))
	for _, rel := range rels {
		p, err := h.cfg.Store.ProjectByID(ctx, rel.ProjectID)
		if err != nil {
			continue // deleted meanwhile
		}
		h.remember(p)
		r := restoring{rel: rel, project: p.Name, done: make(chan struct{})}
		h.mu.Lock()
		h.restoring[p.Name] = r.done
		h.mu.Unlock()
		plan = append(plan, r)
	}
	h.mu.Lock()
	h.plan = plan
	h.planned = true
	h.mu.Unlock()
	return nil
}

// restoring is a production release Restore brings back.
type restoring struct {
	rel     *apogee.Release
	project string
	done    chan struct{} // closed once restored, or given up
}

// Restore starts the instances of every production release (those
// PlanRestore read, or, without it, those there are now), as many as
// each project runs, a few projects at a time, and switches their pools
// to them. It is what a server does at start: the runtime killed the
// instances an earlier server left (a restart, or kill -9), so nothing
// runs twice. A release that fails to start is logged; its project's
// host answers 503 until the next deploy or rollback.
func (h *Host) Restore(ctx context.Context) error {
	h.mu.Lock()
	planned := h.planned
	h.mu.Unlock()
	if !planned {
		if err := h.PlanRestore(ctx); err != nil {
			return err
		}
	}
	h.mu.Lock()
	plan := h.plan
	h.plan = nil
	h.mu.Unlock()
	start := h.cfg.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	var mu sync.Mutex
	failed := 0
	for _, r := range plan {
		wg.Go(func() {
			defer func() {
				h.mu.Lock()
				if h.restoring[r.project] == r.done {
					delete(h.restoring, r.project)
				}
				h.mu.Unlock()
				close(r.done)
			}()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			if err := h.restore(ctx, r.rel); err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
				if ctx.Err() == nil {
					h.log.Error("app release not restored", "project", r.project, "release", r.rel.DeploymentID, "err", err)
				}
			}
		})
	}
	wg.Wait()
	if len(plan) > 0 {
		h.log.Info("app releases restored", "releases", len(plan)-failed, "failed", failed, "took", h.cfg.Now().Sub(start).Round(time.Millisecond))
	}
	return ctx.Err()
}

func (h *Host) restore(ctx context.Context, rel *apogee.Release) error {
	p, err := h.cfg.Store.ProjectByID(ctx, rel.ProjectID)
	if err != nil {
		return err
	}
	h.remember(p)
	if p.ProductionID != rel.DeploymentID {
		return nil // moved meanwhile; the move started it
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(rel.BootTimeout)*time.Second+time.Minute)
	defer cancel()
	n := p.Settings.App.InstancesOr()
	// A plan that allows fewer instances now (an admin changed it) runs
	// as many as it allows rather than none.
	if plan, err := h.appLimits(ctx, p.Name); err == nil && plan.MaxInstances > 0 && int64(n) > plan.MaxInstances {
		h.log.Warn("app restored with fewer instances: its owner's plan allows no more", "project", p.Name, "asked", n, "allowed", plan.MaxInstances)
		n = int(plan.MaxInstances)
	}
	if err := h.prepare(ctx, p, rel, nil, nil, n, true); err != nil {
		return err
	}
	return h.m.Switch(ctx, p.Name, rel.DeploymentID)
}

// Run follows bus until ctx ends, and runs the autoscaler (see
// Autoscale) every Config.AutoscaleTick: when a project's production moves to a
// static deployment, or the project is deleted, its app's instances
// stop. Every minute (and after each switch) it stops the releases that
// serve only their own host and were idle for IdleTimeout, and deletes
// the trees of releases that no longer run and are not kept, and the
// files no tree uses.
func (h *Host) Run(ctx context.Context, bus apogee.EventBus) error {
	events, err := bus.Subscribe(ctx)
	if err != nil {
		return err
	}
	scaling, stopScaling := context.WithCancel(ctx)
	var scaler sync.WaitGroup
	scaler.Go(func() { h.runAutoscaler(scaling) })
	defer func() {
		stopScaling()
		scaler.Wait()
		h.scaleWG.Wait()
	}()
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-events:
			if !ok {
				return nil
			}
			switch e.Type {
			case apogee.EventAliasChanged, apogee.EventProjectDeleted:
				h.check(ctx, e.ProjectID)
			case apogee.EventResync:
				for id := range h.projectsRunning() {
					h.check(ctx, id)
				}
			}
		case <-t.C:
			h.tidy(ctx)
		}
	}
}

// projectsRunning returns the ids of the projects with instances here.
func (h *Host) projectsRunning() map[string]string {
	running := h.m.Running()
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]string{}
	for id, name := range h.names {
		if len(running[name]) > 0 {
			out[id] = name
		}
	}
	return out
}

// check stops the app of a project whose production is no app's release
// any more (a static deployment, or none), or that was deleted.
func (h *Host) check(ctx context.Context, projectID string) {
	h.mu.Lock()
	name, known := h.names[projectID]
	h.mu.Unlock()
	if !known || len(h.m.Running()[name]) == 0 {
		return
	}
	p, err := h.cfg.Store.ProjectByID(ctx, projectID)
	switch {
	case errors.Is(err, apogee.ErrNotFound):
	case err != nil:
		h.log.Error("app check", "project", name, "err", err)
		return
	case p.ProductionID == "":
	default:
		if _, err := h.cfg.Store.Release(ctx, p.ProductionID); !errors.Is(err, apogee.ErrNotFound) {
			return // an app's release serves (or the store failed: keep it)
		}
	}
	if err := h.m.StopProject(ctx, name); err != nil {
		h.log.Error("stop app", "project", name, "err", err)
		return
	}
	h.forgetScaler(name)
	h.log.Info("app stopped: its project serves no app release", "project", name)
}

// tidy stops idle releases and deletes unused trees and files.
func (h *Host) tidy(ctx context.Context) {
	now := h.cfg.Now()
	running := h.m.Running()
	live := map[string]bool{}
	for project, ids := range running {
		cur := h.m.Current(project)
		for _, id := range ids {
			live[id] = true
			if id == cur || h.m.Warm(project, id) {
				continue
			}
			h.mu.Lock()
			last, ok := h.used[id]
			if !ok {
				// Started without a request (a failed promotion's
				// leftovers): idle from now.
				h.used[id] = now
				last = now
			}
			h.mu.Unlock()
			if now.Sub(last) < h.cfg.IdleTimeout {
				continue
			}
			if err := h.m.Retire(ctx, id); err != nil {
				h.log.Warn("stop an idle release", "release", id, "err", err)
				continue
			}
			delete(live, id)
			h.mu.Lock()
			delete(h.used, id)
			h.mu.Unlock()
			if h.cfg.Observer != nil {
				h.cfg.Observer.Forget(id)
			}
			h.log.Info("idle release stopped", "project", project, "release", id, "idle", now.Sub(last).Round(time.Second))
		}
	}
	ids, err := h.trees.Trees()
	if err != nil {
		h.log.Error("list release trees", "err", err)
		return
	}
	h.treeMu.Lock()
	defer h.treeMu.Unlock()
	removed := 0
	for _, id := range ids {
		if live[id] || h.m.ReleasePool(id) != nil {
			continue
		}
		rel, err := h.cfg.Store.Release(ctx, id)
		if err == nil && rel.PrunedAt == nil {
			continue // kept: a rollback to it starts at once
		}
		if err != nil && !errors.Is(err, apogee.ErrNotFound) {
			continue
		}
		if err := h.trees.Remove(id); err != nil {
			h.log.Warn("remove a release tree", "release", id, "err", err)
			continue
		}
		removed++
	}
	n, bytes, err := h.trees.Collect()
	if err != nil {
		h.log.Warn("collect release files", "err", err)
	}
	if removed > 0 || n > 0 {
		h.log.Info("release trees tidied", "trees", removed, "files", n, "bytes", bytes)
	}
}
