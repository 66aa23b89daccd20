package platform

import (
	"context"
	"fmt"

	"github.com/apogee-dev/apogee"
)

// queueFolder queues the build of d, a source folder whose files are all
// uploaded (`apogee deploy` of a project's source): the owner's plan is
// checked as for every build, and the builder reads the deployment's
// manifest as the source tree. The output replaces the manifest when the
// build finishes.
func (pl *Platform) queueFolder(ctx context.Context, p *apogee.Project, d *apogee.Deployment) (*apogee.DeploymentView, error) {
	plan, use, err := pl.checkBuild(ctx, p)
	if err != nil {
		return nil, err
	}
	q, err := pl.store.QueueUploaded(ctx, d.ID)
	if err != nil {
		return nil, fmt.Errorf("platform: queue the build of %s: %w", d.ID, err)
	}
	pl.noteWaiting(ctx, q, plan, use)
	pl.publish(ctx, apogee.Event{Type: apogee.EventBuildQueued, ProjectID: p.ID, Project: p.Name, DeploymentID: q.ID})
	pl.log.Info("build queued", "project", p.Name, "deployment", q.ID, "source", q.Source, "files", q.Files, "target", q.Target)
	pl.recordCtx(ctx, p, "build.queue", q.ID, q.Source+" "+q.Target)
	return pl.view(q, p), nil
}
