package platform

import (
	"context"
	"fmt"
	"time"

	"github.com/apogee-dev/apogee"
)

// queue implements apogee.BuildQueue: the builder's side of builds. It
// acts for the platform itself, with no user.
type queue struct{ *Platform }

var _ apogee.BuildQueue = queue{}

func (pl queue) ClaimBuild(ctx context.Context, worker string) (*apogee.Deployment, error) {
	d, err := pl.store.ClaimBuild(ctx, worker, pl.now().UTC())
	if err != nil {
		return nil, err
	}
	pl.publish(ctx, apogee.Event{Type: apogee.EventBuildStarted, ProjectID: d.ProjectID, DeploymentID: d.ID})
	return d, nil
}

// FinishBuild readies the output like an upload's at finalize (rules
// compiled, variants compressed, the serve settings recorded) and makes
// the deployment ready through the same path: a production build moves
// production and its custom domains. It fails nothing itself: an
// *apogee.Error (an invalid config file, production refused) is for the
// builder to end the build with.
func (pl queue) FinishBuild(ctx context.Context, id string, files []apogee.File) (*apogee.Deployment, error) {
	d, err := pl.store.DeploymentByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("platform: finish build: %w", err)
	}
	if d.Status != apogee.StatusBuilding {
		return nil, apogee.Errorf(apogee.ECONFLICT, "deployment %s is %s, not building", d.ID, d.Status)
	}
	p, err := pl.store.ProjectByID(ctx, d.ProjectID)
	if err != nil {
		return nil, fmt.Errorf("platform: finish build: %w", err)
	}
	if err := pl.checkOutput(ctx, p.OwnerID, files); err != nil {
		return nil, err
	}
	// The builder read the output's bytes itself: its owner holds them.
	if err := pl.hold(ctx, p.OwnerID, files); err != nil {
		return nil, err
	}
	if err := pl.prepare(ctx, d, p, files); err != nil {
		return nil, err
	}
	finish := func(ctx context.Context, promote bool) (*apogee.Deployment, error) {
		return pl.store.FinishBuild(ctx, d.ID, files, pl.now().UTC(), promote)
	}
	ready, err := pl.ready(ctx, p, d, files, "build", finish)
	if err != nil {
		return nil, err
	}
	pl.publish(ctx, apogee.Event{Type: apogee.EventBuildEnded, ProjectID: p.ID, DeploymentID: ready.ID})
	return ready, nil
}

func (pl queue) FailBuild(ctx context.Context, id string, status apogee.Status, reason string) (*apogee.Deployment, error) {
	d, err := pl.store.EndBuild(ctx, id, status, reason, pl.now().UTC())
	if err != nil {
		return nil, fmt.Errorf("platform: end build %s: %w", id, err)
	}
	pl.publish(ctx, apogee.Event{Type: apogee.EventBuildEnded, ProjectID: d.ProjectID, DeploymentID: d.ID})
	return d, nil
}

func (pl queue) SkipBuild(ctx context.Context, id, reason string) (*apogee.Deployment, error) {
	d, err := pl.store.SkipBuild(ctx, id, reason, pl.now().UTC())
	if err != nil {
		return nil, fmt.Errorf("platform: skip build %s: %w", id, err)
	}
	pl.publish(ctx, apogee.Event{Type: apogee.EventBuildEnded, ProjectID: d.ProjectID, DeploymentID: d.ID})
	return d, nil
}

func (pl queue) RequeueStaleBuilds(ctx context.Context, before time.Time, workerPrefix string, maxTakeovers int) ([]*apogee.Deployment, error) {
	ds, err := pl.store.RequeueStaleBuilds(ctx, before, workerPrefix, maxTakeovers)
	if err != nil {
		return nil, fmt.Errorf("platform: requeue stale builds: %w", err)
	}
	for _, d := range ds {
		pl.publish(ctx, apogee.Event{Type: apogee.EventBuildQueued, ProjectID: d.ProjectID, DeploymentID: d.ID})
	}
	return ds, nil
}

func (pl queue) FailStaleBuilds(ctx context.Context, before time.Time, workerPrefix, reason string) ([]*apogee.Deployment, error) {
	ds, err := pl.store.FailStaleBuilds(ctx, before, workerPrefix, reason)
	if err != nil {
		return nil, fmt.Errorf("platform: fail stale builds: %w", err)
	}
	for _, d := range ds {
		pl.publish(ctx, apogee.Event{Type: apogee.EventBuildEnded, ProjectID: d.ProjectID, DeploymentID: d.ID})
	}
	return ds, nil
}
