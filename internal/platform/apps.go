package platform

import (
	"context"
	"errors"
	"fmt"

	"github.com/apogee-dev/apogee"
)

// Apps is the app runtime of this server as the AppService needs it
// (internal/apphost implements it). Safe for concurrent use.
type Apps interface {
	// Instances returns the instances of the named project's releases
	// running here, and the ids of its releases kept warm.
	Instances(project string) (running []apogee.AppInstance, warm []string)
	// SetScale records the scaling settings of the project's app and
	// applies their bounds now: the instances it lacks below min start
	// (ready before SetScale returns), those above max are drained.
	SetScale(ctx context.Context, project string, s apogee.AppScale) error
	// Scaling is what the autoscaler does with the project's app here,
	// nil when it does not run here.
	Scaling(project string) *apogee.AppScaling
	// Restart replaces every instance of the project's production
	// release, each new one ready before the old ones drain.
	Restart(ctx context.Context, project string) error
}

// releasesShown is how many releases AppStatus lists.
const releasesShown = apogee.DefaultReleasesKept

// apps implements apogee.AppService.
type appService struct{ *Platform }

var _ apogee.AppService = appService{}

func (pl appService) AppStatus(ctx context.Context, project string) (*apogee.AppStatus, error) {
	_, p, err := pl.project(ctx, project, needRead)
	if err != nil {
		return nil, err
	}
	return pl.appStatus(ctx, p)
}

func (pl *Platform) appStatus(ctx context.Context, p *apogee.Project) (*apogee.AppStatus, error) {
	st := &apogee.AppStatus{Project: p.Name, Production: p.ProductionID, Instances: p.Settings.App.InstancesOr(),
		Releases: []apogee.ReleaseView{}, Running: []apogee.AppInstance{}, Scale: p.Settings.App.Scale()}
	if sb := p.Settings.App.Sandbox; sb != nil {
		st.Sandbox = *sb
	}
	if p.ProductionID != "" {
		st.Kind = apogee.KindStatic
		if _, err := pl.store.Release(ctx, p.ProductionID); err == nil {
			st.Kind = apogee.KindApp
		} else if !errors.Is(err, apogee.ErrNotFound) {
			return nil, fmt.Errorf("platform: release of %q: %w", p.Name, err)
		}
	}
	var warm []string
	if pl.apps != nil {
		st.Running, warm = pl.apps.Instances(p.Name)
		st.Autoscale = pl.apps.Scaling(p.Name)
		if st.Running == nil {
			st.Running = []apogee.AppInstance{}
		}
	}
	rels, err := pl.store.ListReleases(ctx, p.ID, releasesShown)
	if err != nil {
		return nil, fmt.Errorf("platform: releases of %q: %w", p.Name, err)
	}
	for _, r := range rels {
		d, err := pl.store.DeploymentByID(ctx, r.DeploymentID)
		if err != nil {
			return nil, fmt.Errorf("platform: deployment of release %s: %w", r.DeploymentID, err)
		}
		v := apogee.ReleaseView{Release: r, Status: d.Status, Error: d.Error, Production: d.ID == p.ProductionID, URL: pl.cfg.SiteURL(d.Host)}
		for _, id := range warm {
			v.Warm = v.Warm || id == d.ID
		}
		st.Releases = append(st.Releases, v)
	}
	return st, nil
}

func (pl appService) ScaleApp(ctx context.Context, project string, req apogee.ScaleRequest) (*apogee.AppStatus, error) {
	u, p, err := pl.project(ctx, project, needChange)
	if err != nil {
		return nil, err
	}
	if req == (apogee.ScaleRequest{}) {
		return nil, apogee.Errorf(apogee.EINVALID, "send instances, or min, max and concurrency, to scale %s", p.Name)
	}
	if req.Instances != 0 && (req.Min != nil || req.Max != nil) {
		return nil, apogee.Errorf(apogee.EINVALID, "send instances (a fixed number) or min and max, not both")
	}
	if req.Instances != 0 && (req.Instances < 1 || req.Instances > apogee.DefaultMaxInstances) {
		return nil, apogee.Errorf(apogee.EINVALID, "an app runs 1 to %d instances; %d is out of range", apogee.DefaultMaxInstances, req.Instances)
	}
	app := req.Apply(p.Settings.App)
	if err := apogee.ValidateAppSettings(app); err != nil {
		return nil, err
	}
	if err := pl.needApp(ctx, p); err != nil {
		return nil, err
	}
	set := app.Scale()
	if err := pl.checkInstances(ctx, p.OwnerID, set.Max); err != nil {
		return nil, err
	}
	if sc, ok := pl.apps.(scaleChecker); ok {
		if err := sc.CheckScale(p.Name, set); err != nil {
			return nil, err
		}
	}
	p.Settings.App = app
	if err := pl.store.UpdateProject(ctx, p); err != nil {
		return nil, fmt.Errorf("platform: scale %q: %w", p.Name, err)
	}
	if err := pl.apps.SetScale(ctx, p.Name, set); err != nil {
		return nil, fmt.Errorf("platform: scale %q: %w", p.Name, err)
	}
	pl.log.Info("app scaled", "project", p.Name, "min", set.Min, "max", set.Max, "concurrency", set.Concurrency, "user", u.ID)
	pl.recordProject(ctx, u, p, "app.scale", "", fmt.Sprintf("%d-%d", set.Min, set.Max))
	return pl.appStatus(ctx, p)
}

func (pl appService) RestartApp(ctx context.Context, project string) (*apogee.AppStatus, error) {
	u, p, err := pl.project(ctx, project, needChange)
	if err != nil {
		return nil, err
	}
	if err := pl.needApp(ctx, p); err != nil {
		return nil, err
	}
	if err := pl.apps.Restart(ctx, p.Name); err != nil {
		return nil, fmt.Errorf("platform: restart %q: %w", p.Name, err)
	}
	pl.log.Info("app restarted", "project", p.Name, "user", u.ID)
	pl.recordProject(ctx, u, p, "app.restart", "", "")
	return pl.appStatus(ctx, p)
}

// scaleChecker is an Apps that refuses some scales before anything is
// saved (instances across nodes cannot autoscale yet).
type scaleChecker interface {
	CheckScale(project string, s apogee.AppScale) error
}

// needApp refuses a project whose production is not an app's release,
// and a server that runs no apps.
func (pl *Platform) needApp(ctx context.Context, p *apogee.Project) error {
	if p.ProductionID == "" {
		return apogee.Errorf(apogee.ECONFLICT, "project %s has no production deployment yet; deploy the app first", p.Name)
	}
	if _, err := pl.store.Release(ctx, p.ProductionID); errors.Is(err, apogee.ErrNotFound) {
		return apogee.Errorf(apogee.EINVALID, "project %s is not an app: its production is a static site", p.Name)
	} else if err != nil {
		return fmt.Errorf("platform: release of %q: %w", p.Name, err)
	}
	if pl.apps == nil {
		return apogee.Errorf(apogee.ECONFLICT, "this server runs no apps")
	}
	return nil
}
