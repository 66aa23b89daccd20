package apphost

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/appproxy"
	"github.com/apogee-dev/apogee/internal/apps"
)

// What a node of a platform spanning several runs as the scheduler
// placed it (internal/cluster): a release's instances, not tied to this
// node's production pool.

// RunRelease makes n instances of a release run here and waits until
// they are ready (its tree laid out, its Node.js fetched). live runs the
// release command first when the release was never released: only one
// node of those it is placed on must pass it. files is the release's
// manifest when the store does not hold it yet (nil: read it there).
func (h *Host) RunRelease(ctx context.Context, releaseID string, n int, live bool, files []apogee.File) error {
	rel, err := h.cfg.Store.Release(ctx, releaseID)
	if err != nil {
		return fmt.Errorf("apphost: release %s: %w", releaseID, err)
	}
	p, err := h.cfg.Store.ProjectByID(ctx, rel.ProjectID)
	if err != nil {
		return fmt.Errorf("apphost: project of release %s: %w", releaseID, err)
	}
	h.remember(p)
	h.touch(releaseID) // placed releases are never idle (see tidy)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(rel.BootTimeout)*time.Second+time.Minute)
	defer cancel()
	err = h.prepare(ctx, p, rel, files, nil, n, live)
	if err != nil && apogee.ErrorCode(err) != apogee.EINTERNAL && h.cfg.Observer != nil {
		// The node that failed is not the one whose log tells the
		// deploy: the reason carries the app's last lines.
		if lines := h.cfg.Observer.Tail(releaseID); len(lines) > 0 {
			var b strings.Builder
			for _, l := range lines[max(0, len(lines)-5):] {
				fmt.Fprintf(&b, "\n  [%s %s] %s", l.Instance, l.Stream, l.Text)
			}
			return apogee.Errorf(apogee.ErrorCode(err), "%s; the app's last lines:%s", apogee.ErrorMessage(err), b.String())
		}
	}
	return err
}

// Released reports whether a release's release command ran (or it has
// none to run), so that its instances may start.
func (h *Host) Released(ctx context.Context, releaseID string) (bool, error) {
	rel, err := h.cfg.Store.Release(ctx, releaseID)
	if err != nil {
		return false, err
	}
	return rel.ReleasedAt != nil, nil
}

// StopRelease drains and stops a release's instances here.
func (h *Host) StopRelease(ctx context.Context, releaseID string) error {
	if err := h.m.Retire(ctx, releaseID); err != nil {
		return err
	}
	h.mu.Lock()
	delete(h.used, releaseID)
	h.mu.Unlock()
	return nil
}

// ShrinkRelease drains and stops a release's instances here beyond n
// (the scheduler placed fewer on this node).
func (h *Host) ShrinkRelease(ctx context.Context, releaseID string, n int) error {
	return h.m.Shrink(ctx, releaseID, n)
}

// KeepRunning marks a placed release as in use, so that tidy does not
// stop it as idle.
func (h *Host) KeepRunning(releaseID string) { h.touch(releaseID) }

// ReleaseInstances returns a release's instances here, nil when none.
func (h *Host) ReleaseInstances(releaseID string) []apps.Instance { return h.m.Instances(releaseID) }

// ReleaseTargets returns the proxy's targets of a release's instances
// here.
func (h *Host) ReleaseTargets(releaseID string) []*appproxy.Target { return h.m.Targets(releaseID) }

// Instance returns the instance of this node with id, nil when none
// runs here.
func (h *Host) Instance(id string) apps.Instance {
	for _, ids := range h.m.Running() {
		for _, rel := range ids {
			for _, in := range h.m.Instances(rel) {
				if in.ID() == id {
					return in
				}
			}
		}
	}
	return nil
}
