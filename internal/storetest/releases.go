package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// appDeployment creates an uploading deployment of p whose manifest has
// one file of its own (hash unique to the deployment) and one shared.
func appDeployment(t *testing.T, s apogee.Store, p *apogee.Project, at time.Time) (*apogee.Deployment, string) {
	t.Helper()
	id := apogee.NewID()
	own := hash("own " + id)
	d := &apogee.Deployment{ID: id, ProjectID: p.ID, Target: apogee.TargetProduction, CreatedAt: at}
	must(t, s.CreateDeployment(t.Context(), d, []apogee.File{
		{Path: "server.js", SHA256: own, Size: 10, Mode: 0o644},
		{Path: "node_modules/.bin/x", SHA256: hash("../x/cli.js"), Size: 9, Mode: 0o777 | uint32(1<<27)},
	}))
	return d, own
}

// release records a release of d made at at.
func release(t *testing.T, s apogee.Store, d *apogee.Deployment, at time.Time) *apogee.Release {
	t.Helper()
	r := &apogee.Release{DeploymentID: d.ID, ProjectID: d.ProjectID, StartCommand: "npm start", HealthPath: "/", BootTimeout: 60, CreatedAt: at}
	must(t, s.CreateRelease(t.Context(), r))
	return r
}

func testReleases(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	api := project(t, s, alice, "api")
	other := project(t, s, alice, "other")

	d1, _ := appDeployment(t, s, api, base)
	r1 := &apogee.Release{
		DeploymentID: d1.ID, ProjectID: api.ID, StartCommand: "node server.js", ReleaseCommand: "node migrate.js",
		HealthPath: "/healthz", BootTimeout: 30, NodeVersion: "22.12.0", Description: "build of main@1a2b3c4",
		Env: []apogee.EnvVar{
			{Key: "A", Value: "v1:sealed-a"},
			{Key: "DATABASE_URL", Value: "v1:sealed-db", Secret: true},
		},
		CreatedAt: base,
	}
	must(t, s.CreateRelease(ctx, r1))
	equal(t, "first version", r1.Version, 1)
	got, err := s.Release(ctx, d1.ID)
	must(t, err)
	want := *r1
	want.Env = []apogee.EnvVar{
		{Key: "A", Value: "v1:sealed-a", UpdatedAt: base},
		{Key: "DATABASE_URL", Value: "v1:sealed-db", Secret: true, UpdatedAt: base},
	}
	equal(t, "release", *got, want)

	// One release per deployment; only before it is final; only the
	// project's own.
	wantCode(t, s.CreateRelease(ctx, &apogee.Release{DeploymentID: d1.ID, ProjectID: api.ID, StartCommand: "x"}), apogee.ECONFLICT)
	wantNotFound(t, s.CreateRelease(ctx, &apogee.Release{DeploymentID: d1.ID, ProjectID: other.ID, StartCommand: "x"}), d1.ID)
	wantNotFound(t, s.CreateRelease(ctx, &apogee.Release{DeploymentID: "nosuch", ProjectID: api.ID, StartCommand: "x"}), "nosuch")
	wantNotFound(t, s.CreateRelease(ctx, &apogee.Release{DeploymentID: d1.ID, ProjectID: "nosuch", StartCommand: "x"}), "nosuch")
	static := ready(t, s, api, apogee.TargetPreview, base, false)
	wantCode(t, s.CreateRelease(ctx, &apogee.Release{DeploymentID: static.ID, ProjectID: api.ID, StartCommand: "x"}), apogee.ECONFLICT)
	_, err = s.Release(ctx, static.ID)
	wantNotFound(t, err, static.ID)

	// A build's release: queued, then building.
	b := &apogee.Deployment{ID: apogee.NewID(), ProjectID: api.ID, Target: apogee.TargetProduction, Source: apogee.SourceGit, CreatedAt: base.Add(time.Minute)}
	must(t, s.QueueBuild(ctx, b))
	_, err = s.ClaimBuild(ctx, "w", base.Add(time.Minute))
	must(t, err)
	r2 := release(t, s, b, base.Add(2*time.Minute))
	equal(t, "second version", r2.Version, 2)
	or := release(t, s, func() *apogee.Deployment { d, _ := appDeployment(t, s, other, base); return d }(), base)
	equal(t, "versions count per project", or.Version, 1)

	list, err := s.ListReleases(ctx, api.ID, 0)
	must(t, err)
	equal(t, "releases newest first", versions(list), []int{2, 1})
	list, err = s.ListReleases(ctx, api.ID, 1)
	must(t, err)
	equal(t, "releases limited", versions(list), []int{2})

	// The release phase is recorded once.
	must(t, s.MarkReleased(ctx, d1.ID, base.Add(time.Hour)))
	must(t, s.MarkReleased(ctx, d1.ID, base.Add(2*time.Hour)))
	got, err = s.Release(ctx, d1.ID)
	must(t, err)
	equal(t, "released at", *got.ReleasedAt, base.Add(time.Hour))
	wantNotFound(t, s.MarkReleased(ctx, "nosuch", base), "nosuch")

	// Routes say which deployments are apps'.
	_, err = s.FinalizeDeployment(ctx, d1.ID, base.Add(time.Second), true)
	must(t, err)
	routes, err := s.ProjectRoutes(ctx, api.ID)
	must(t, err)
	apps := map[string]bool{}
	for _, r := range routes {
		apps[r.Host] = r.App
	}
	equal(t, "app routes", apps, map[string]bool{"api": true, d1.Host: true, static.Host: false})
	all, err := s.Routes(ctx)
	must(t, err)
	for _, r := range all {
		if r.App != (r.DeploymentID == d1.ID) {
			t.Errorf("Routes: %s → %s has App %v", r.Host, r.DeploymentID, r.App)
		}
	}

	prod, err := s.ProductionReleases(ctx)
	must(t, err)
	equal(t, "production releases", len(prod), 1)
	equal(t, "production release", prod[0].DeploymentID, d1.ID)

	// A deleted project takes its releases along.
	must(t, s.DeleteProject(ctx, api.ID))
	_, err = s.Release(ctx, d1.ID)
	wantNotFound(t, err, d1.ID)
	prod, err = s.ProductionReleases(ctx)
	must(t, err)
	equal(t, "production releases after delete", len(prod), 0)
}

func versions(rs []*apogee.Release) []int {
	out := make([]int, len(rs))
	for i, r := range rs {
		out[i] = r.Version
	}
	return out
}

func testPruneReleases(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	api := project(t, s, alice, "api")

	// Five ready releases, v1 serving production; a sixth building.
	var ds []*apogee.Deployment
	var owns []string
	for i := range 5 {
		d, own := appDeployment(t, s, api, base.Add(time.Duration(i)*time.Minute))
		release(t, s, d, base.Add(time.Duration(i)*time.Minute))
		_, err := s.FinalizeDeployment(ctx, d.ID, base.Add(time.Duration(i)*time.Minute+time.Second), i == 0)
		must(t, err)
		ds, owns = append(ds, d), append(owns, own)
	}
	b := &apogee.Deployment{ID: apogee.NewID(), ProjectID: api.ID, Target: apogee.TargetProduction, Source: apogee.SourceGit, CreatedAt: base.Add(time.Hour)}
	must(t, s.QueueBuild(ctx, b))
	release(t, s, b, base.Add(time.Hour))

	// Keep 3: v6 (building), v5, v4; v1 serves; v3 and v2 go.
	pruned, err := s.PruneReleases(ctx, api.ID, 3, base.Add(2*time.Hour))
	must(t, err)
	slices.Sort(pruned)
	want := []string{ds[1].ID, ds[2].ID}
	slices.Sort(want)
	equal(t, "pruned", pruned, want)
	for i, d := range ds {
		r, err := s.Release(ctx, d.ID)
		must(t, err)
		files, err := s.DeploymentFiles(ctx, d.ID)
		must(t, err)
		gone := i == 1 || i == 2
		equal(t, fmt.Sprintf("v%d pruned", i+1), r.PrunedAt != nil, gone)
		equal(t, fmt.Sprintf("v%d manifest kept", i+1), len(files) > 0, !gone)
		inUse, err := s.HashesInUse(ctx, []string{owns[i]})
		must(t, err)
		equal(t, fmt.Sprintf("v%d's own blob in use", i+1), len(inUse) == 1, !gone)
	}
	// A rollback from v5 skips the pruned v3 and v2.
	must(t, s.SetProduction(ctx, api.ID, ds[4].ID))
	back, err := s.RollbackTarget(ctx, api.ID)
	must(t, err)
	equal(t, "rollback target", back.ID, ds[3].ID)
	must(t, s.SetProduction(ctx, api.ID, ds[3].ID))
	back, err = s.RollbackTarget(ctx, api.ID)
	must(t, err)
	equal(t, "rollback target past pruned releases", back.ID, ds[0].ID)

	// Pruning again prunes nothing more; another project's or none.
	// Pruning again prunes v1, which serves no more, and then nothing.
	pruned, err = s.PruneReleases(ctx, api.ID, 3, base.Add(3*time.Hour))
	must(t, err)
	equal(t, "pruned again", pruned, []string{ds[0].ID})
	pruned, err = s.PruneReleases(ctx, api.ID, 3, base.Add(3*time.Hour))
	must(t, err)
	equal(t, "pruned a third time", len(pruned), 0)
	_, err = s.PruneReleases(ctx, "nosuch", 3, base)
	wantNotFound(t, err, "nosuch")
}

func testConcurrentReleases(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	api := project(t, s, alice, "api")
	const n = 6
	ds := make([]*apogee.Deployment, n)
	for i := range ds {
		ds[i], _ = appDeployment(t, s, api, base)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, d := range ds {
		wg.Go(func() {
			errs[i] = s.CreateRelease(ctx, &apogee.Release{DeploymentID: d.ID, ProjectID: api.ID, StartCommand: "npm start", CreatedAt: base})
		})
	}
	wg.Wait()
	for _, err := range errs {
		must(t, err)
	}
	list, err := s.ListReleases(ctx, api.ID, 0)
	must(t, err)
	equal(t, "versions of concurrent releases", versions(list), []int{6, 5, 4, 3, 2, 1})
}
