package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// testWildcardRoutes: a verified *.example.com routes the project's
// production (marked Wildcard) and, under it, each branch at its label;
// the zone reports Wildcard. Two branches with one label: the first by
// name wins.
func testWildcardRoutes(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	web := project(t, s, alice, "web")
	must(t, s.CreateZone(ctx, &apogee.Zone{Name: "example.com", OwnerID: alice.ID, CreatedAt: base}))
	prod := ready(t, s, web, apogee.TargetProduction, base, true)
	feature := ready(t, s, web, apogee.TargetPreview, base.Add(time.Minute), false)
	other := ready(t, s, web, apogee.TargetPreview, base.Add(2*time.Minute), false)
	must(t, s.SetBranchAlias(ctx, apogee.BranchAlias{ProjectID: web.ID, Branch: "Feature/X", Host: "web-git-feature-x", DeploymentID: feature.ID}))
	must(t, s.SetBranchAlias(ctx, apogee.BranchAlias{ProjectID: web.ID, Branch: "feature-x", Host: "web-git-feature-x-0a1b2c", DeploymentID: other.ID}))

	wild := func() []apogee.Route {
		t.Helper()
		rs, err := s.ProjectRoutes(ctx, web.ID)
		must(t, err)
		all, err := s.Routes(ctx)
		must(t, err)
		var out, outAll []apogee.Route
		for _, r := range rs {
			if r.Wildcard {
				out = append(out, r)
			}
		}
		for _, r := range all {
			if r.Wildcard {
				outAll = append(outAll, r)
			}
		}
		equal(t, "wildcard routes of Routes and ProjectRoutes", outAll, out)
		return out
	}
	domain(t, s, web, "*.example.com")
	if rs := wild(); len(rs) != 0 {
		t.Fatalf("an unverified wildcard routes %+v", rs)
	}
	_, err := s.VerifyDomain(ctx, web.ID, "*.example.com", base)
	must(t, err)
	want := []apogee.Route{
		{Host: "*.example.com", DeploymentID: prod.ID, ProjectID: web.ID, Wildcard: true},
		{Host: "feature-x.example.com", DeploymentID: feature.ID, ProjectID: web.ID, Wildcard: true}, // "Feature/X" < "feature-x"
	}
	equal(t, "wildcard routes", wild(), want)
	if rs, _ := s.Routes(ctx); !slices.IsSortedFunc(rs, func(a, b apogee.Route) int { return compareStrings(a.Host, b.Host) }) {
		t.Errorf("routes are not ordered by host: %+v", rs)
	}
	z, err := s.ZoneByName(ctx, "example.com")
	must(t, err)
	if !z.Wildcard {
		t.Error("the zone of a verified *.example.com is not Wildcard")
	}
	must(t, s.DeleteDomain(ctx, web.ID, "*.example.com"))
	if rs := wild(); len(rs) != 0 {
		t.Fatalf("a deleted wildcard routes %+v", rs)
	}
	if z, _ = s.ZoneByName(ctx, "example.com"); z.Wildcard {
		t.Error("the zone is Wildcard after its wildcard domain is deleted")
	}
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
