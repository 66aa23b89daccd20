package platform

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/apogee-dev/apogee"
)

// DefaultStartCommand starts an app whose build found no start command
// and whose project sets none (npm's own default for "npm start" is
// "node server.js").
const DefaultStartCommand = "npm start"

// FinishRelease records the release of an app's build, then readies the
// deployment as FinishBuild does (the edge never serves an app's files, so
// they get no routing rules and no compressed variants). A production
// release goes live through goLive, whose Gate has its instances ready
// first; afterwards the project's releases beyond the kept ones are
// pruned.
func (pl queue) FinishRelease(ctx context.Context, id string, files []apogee.File, app apogee.AppBuild) (*apogee.Deployment, error) {
	d, err := pl.store.DeploymentByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("platform: finish release: %w", err)
	}
	if d.Status != apogee.StatusBuilding {
		return nil, apogee.Errorf(apogee.ECONFLICT, "deployment %s is %s, not building", d.ID, d.Status)
	}
	p, err := pl.store.ProjectByID(ctx, d.ProjectID)
	if err != nil {
		return nil, fmt.Errorf("platform: finish release: %w", err)
	}
	what := "an uploaded ZIP"
	if d.Source == apogee.SourceGit {
		what = d.Branch
		if what == "" {
			what = "a Git ref"
		}
	}
	if err := pl.checkOutput(ctx, p.OwnerID, files); err != nil {
		return nil, err
	}
	if err := pl.hold(ctx, p.OwnerID, files); err != nil {
		return nil, err
	}
	if _, err := pl.createRelease(ctx, p, d, app, "build of "+what); err != nil {
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
	pl.pruneReleases(ctx, p)
	return ready, nil
}

// createRelease records the release of d, a deployment of app project p
// not yet final: the project's start command if it sets one, else the
// build's (else DefaultStartCommand); the build's release command and
// Node.js; its health check settings; its variables as they are now,
// sealed as stored.
func (pl *Platform) createRelease(ctx context.Context, p *apogee.Project, d *apogee.Deployment, app apogee.AppBuild, description string) (*apogee.Release, error) {
	a := p.Settings.App
	start, release := app.StartCommand, app.ReleaseCommand
	if a.StartCommand != nil {
		start = *a.StartCommand
	}
	if start == "" {
		start = DefaultStartCommand
	}
	r := &apogee.Release{
		DeploymentID: d.ID, ProjectID: p.ID,
		StartCommand: start, ReleaseCommand: release, NodeVersion: app.NodeVersion,
		HealthPath: apogee.DefaultHealthPath, BootTimeout: apogee.DefaultBootTimeout,
		Description: description, CreatedAt: pl.now().UTC(),
	}
	if a.HealthPath != nil {
		r.HealthPath = *a.HealthPath
	}
	if a.BootTimeout != nil {
		r.BootTimeout = *a.BootTimeout
	}
	vars, err := pl.store.ListEnv(ctx, p.ID)
	if err != nil {
		return nil, fmt.Errorf("platform: variables of %q for its release: %w", p.Name, err)
	}
	for _, v := range vars {
		r.Env = append(r.Env, *v)
	}
	if err := pl.store.CreateRelease(ctx, r); err != nil {
		return nil, fmt.Errorf("platform: record the release of %s: %w", d.ID, err)
	}
	pl.log.Info("release recorded", "project", p.Name, "deployment", d.ID, "version", r.Version, "description", description)
	return r, nil
}

// pruneReleases drops the project's releases beyond the ones its owner's
// plan keeps (never production's). A failure is logged: the next release
// prunes again.
func (pl *Platform) pruneReleases(ctx context.Context, p *apogee.Project) {
	ctx = context.WithoutCancel(ctx)
	plan, err := pl.store.UserPlan(ctx, p.OwnerID)
	if err != nil {
		pl.log.Error("prune releases: plan", "project", p.Name, "err", err)
		return
	}
	keep := plan.Apps().ReleasesKept
	if keep == apogee.Unlimited {
		return
	}
	ids, err := pl.store.PruneReleases(ctx, p.ID, int(max(keep, 1)), pl.now().UTC())
	if err != nil {
		pl.log.Error("prune releases", "project", p.Name, "err", err)
		return
	}
	if len(ids) > 0 {
		pl.log.Info("releases pruned", "project", p.Name, "count", len(ids))
	}
}

// rerelease makes a new release of the project's production app, with
// the same tree and the project's variables and app settings as they are
// now, and rolls it out (goLive, so its instances are ready before it
// serves). It does nothing, and returns nil, for a project whose
// production is not an app's release, or that is set to static. When the
// new release fails, it ends in error with the reason and the release
// that served keeps serving.
func (pl *Platform) rerelease(ctx context.Context, u *apogee.User, p *apogee.Project, description string) (*apogee.Deployment, error) {
	if p.ProductionID == "" || p.Settings.App.Kind != nil && *p.Settings.App.Kind == apogee.KindStatic {
		return nil, nil
	}
	base, err := pl.store.Release(ctx, p.ProductionID)
	if errors.Is(err, apogee.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("platform: release of %q: %w", p.Name, err)
	}
	prod, err := pl.store.DeploymentByID(ctx, p.ProductionID)
	if err != nil {
		return nil, fmt.Errorf("platform: production of %q: %w", p.Name, err)
	}
	files, err := pl.store.DeploymentFiles(ctx, prod.ID)
	if err != nil {
		return nil, fmt.Errorf("platform: manifest of %s: %w", prod.ID, err)
	}
	d := &apogee.Deployment{
		ID: apogee.NewID(), ProjectID: p.ID, Target: apogee.TargetProduction,
		Source: apogee.SourceEnv, Branch: prod.Branch, Commit: prod.Commit,
		CreatedBy: u.ID, CreatedAt: pl.now().UTC(),
	}
	if err := pl.store.CreateDeployment(ctx, d, files); err != nil {
		return nil, fmt.Errorf("platform: new release of %q: %w", p.Name, err)
	}
	if _, err := pl.createRelease(ctx, p, d, apogee.AppBuild{StartCommand: base.StartCommand, ReleaseCommand: base.ReleaseCommand, NodeVersion: base.NodeVersion}, description); err != nil {
		pl.failRelease(ctx, p, d, err)
		return nil, err
	}
	finalize := func(ctx context.Context, promote bool) (*apogee.Deployment, error) {
		return pl.store.FinalizeDeployment(ctx, d.ID, pl.now().UTC(), promote)
	}
	ready, err := pl.ready(ctx, p, d, files, "release", finalize)
	if err != nil {
		pl.failRelease(ctx, p, d, err)
		return nil, err
	}
	pl.pruneReleases(ctx, p)
	return ready, nil
}

// failRelease ends a release made without a build in error.
func (pl *Platform) failRelease(ctx context.Context, p *apogee.Project, d *apogee.Deployment, err error) {
	reason := apogee.ErrorMessage(err)
	if apogee.ErrorCode(err) == apogee.EINTERNAL {
		reason = "internal error; see the server's log"
	}
	if _, ferr := pl.store.FailDeployment(context.WithoutCancel(ctx), d.ID, reason); ferr != nil {
		pl.log.Error("mark release failed", "project", p.Name, "deployment", d.ID, "err", ferr)
	}
	pl.log.Info("release failed", "project", p.Name, "deployment", d.ID, "reason", reason)
}

// appSettingsChanged rolls a change of an app's settings out: a new
// start command or health check makes a new release of the production
// tree with them. The settings stay saved when the release fails; the
// error says so.
func (pl *Platform) appSettingsChanged(ctx context.Context, u *apogee.User, p *apogee.Project, before apogee.AppSettings) error {
	after := p.Settings.App
	if before.Scale() != after.Scale() && pl.apps != nil && pl.needApp(ctx, p) == nil {
		if err := pl.apps.SetScale(ctx, p.Name, after.Scale()); err != nil {
			return &apogee.Error{
				Code:    apogee.ErrorCode(err),
				Message: "the settings are saved, but scaling the app failed: " + apogee.ErrorMessage(err),
				Err:     err,
			}
		}
	}
	if same(before.StartCommand, after.StartCommand) && same(before.HealthPath, after.HealthPath) && same(before.BootTimeout, after.BootTimeout) &&
		same(before.Sandbox, after.Sandbox) {
		return nil
	}
	if _, err := pl.rerelease(ctx, u, p, "settings changed"); err != nil {
		return &apogee.Error{
			Code:    apogee.ErrorCode(err),
			Message: "the settings are saved, but the app's new release with them failed and the previous release keeps serving: " + apogee.ErrorMessage(err),
			Err:     err,
		}
	}
	return nil
}

// checkSandbox refuses a sandbox the server does not allow apps to
// choose (EINVALID); nil, the server's default, always passes.
func (pl *Platform) checkSandbox(sb *string) error {
	if sb == nil || slices.Contains(pl.cfg.AppSandboxes, *sb) {
		return nil
	}
	if len(pl.cfg.AppSandboxes) == 0 {
		return apogee.Errorf(apogee.EINVALID, "this server lets no app choose its sandbox: every app runs in its default one (an admin allows more with --app-sandboxes); leave settings.app.sandbox null")
	}
	return apogee.Errorf(apogee.EINVALID, "settings.app.sandbox %q is not one this server runs apps in; it allows %s (--app-sandboxes)", *sb, strings.Join(pl.cfg.AppSandboxes, ", "))
}

// checkInstances refuses a number of instances past the plan of the
// project's owner (EQUOTA).
func (pl *Platform) checkInstances(ctx context.Context, ownerID string, n int) error {
	plan, err := pl.store.UserPlan(ctx, ownerID)
	if err != nil {
		return fmt.Errorf("platform: plan of the project's owner: %w", err)
	}
	return plan.Apps().CheckInstances(n)
}

// same reports whether two optional settings are equal.
func same[T comparable](a, b *T) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}
