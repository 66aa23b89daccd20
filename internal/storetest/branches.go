package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// testBranchAliases: a branch host serves its newest ready deployment,
// moves the route version, is unique, never shadows a project's own
// host, and goes with its project.
func testBranchAliases(t *testing.T, s apogee.Store) {
	ctx := context.Background()
	owner := user(t, s, "branches@example.com")
	web := project(t, s, owner, "web")
	shadow := project(t, s, owner, "web-git-shadow")
	base := time.Now().Add(-time.Hour)
	older := ready(t, s, web, apogee.TargetPreview, base, false)
	newer := ready(t, s, web, apogee.TargetPreview, base.Add(time.Minute), false)
	served := func(host string) string {
		t.Helper()
		rs, err := s.Routes(ctx)
		must(t, err)
		for _, r := range rs {
			if r.Host == host {
				return r.DeploymentID
			}
		}
		return ""
	}

	v0, err := s.RouteVersion(ctx)
	must(t, err)
	must(t, s.SetBranchAlias(ctx, apogee.BranchAlias{ProjectID: web.ID, Branch: "feat", Host: "web-git-feat", DeploymentID: newer.ID}))
	if v, _ := s.RouteVersion(ctx); v != v0+1 {
		t.Errorf("setting a branch host moved the route version %d → %d, want one step", v0, v)
	}
	if got := served("web-git-feat"); got != newer.ID {
		t.Fatalf("web-git-feat serves %q, want %s", got, newer.ID)
	}
	// Older: no move, no bump.
	must(t, s.SetBranchAlias(ctx, apogee.BranchAlias{ProjectID: web.ID, Branch: "feat", Host: "web-git-feat", DeploymentID: older.ID}))
	if got := served("web-git-feat"); got != newer.ID {
		t.Errorf("an older deployment took web-git-feat: %s", got)
	}
	if v, _ := s.RouteVersion(ctx); v != v0+1 {
		t.Errorf("a refused move bumped the route version to %d", v)
	}
	// A host another branch holds.
	wantCode(t, s.SetBranchAlias(ctx, apogee.BranchAlias{ProjectID: web.ID, Branch: "feat-2", Host: "web-git-feat", DeploymentID: newer.ID}), apogee.ECONFLICT)
	// A branch host equal to a project's name is not served.
	must(t, s.SetBranchAlias(ctx, apogee.BranchAlias{ProjectID: web.ID, Branch: "shadow", Host: shadow.Name, DeploymentID: newer.ID}))
	if got := served(shadow.Name); got != "" {
		t.Errorf("a branch host shadows project %s's own host with %s", shadow.Name, got)
	}
	as, err := s.BranchAliases(ctx, web.ID)
	must(t, err)
	if len(as) != 2 || as[0].Branch != "feat" || as[0].DeploymentID != newer.ID || as[1].Branch != "shadow" {
		t.Fatalf("branch aliases = %+v", as)
	}
	rs, err := s.ProjectRoutes(ctx, web.ID)
	must(t, err)
	found := false
	for _, r := range rs {
		found = found || r.Host == "web-git-feat" && r.DeploymentID == newer.ID && r.ProjectID == web.ID
	}
	if !found {
		t.Errorf("the project's routes %+v lack its branch host", rs)
	}
	must(t, s.DeleteProject(ctx, web.ID))
	if as, _ := s.BranchAliases(ctx, web.ID); len(as) != 0 || served("web-git-feat") != "" {
		t.Errorf("a deleted project's branch hosts stay: %+v", as)
	}
}
