package storetest

import (
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// testAdmin checks the admin view's queries: the system's figures,
// projects with their owner and newest deployment, and the newest
// deployments of every project.
func testAdmin(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	since := base.Add(-29 * 24 * time.Hour)

	// An empty platform: zeros, and no days rather than a nil list.
	f, err := s.SystemFigures(ctx, since)
	must(t, err)
	equal(t, "empty figures", *f, apogee.SystemFigures{DeploymentsPerDay: []apogee.DayCount{}})
	sums, err := s.ProjectSummaries(ctx)
	must(t, err)
	equal(t, "empty summaries", len(sums), 0)

	alice := user(t, s, "alice@example.com")
	bob := user(t, s, "bob@example.com")
	user(t, s, "carol@example.com")
	web := project(t, s, alice, "web")
	docs := project(t, s, bob, "docs")
	project(t, s, bob, "empty")

	// Deployments on three days, one of them before the window. Every
	// deployment's manifest is manifest(3): three blobs of 0, 1 and 2
	// bytes, shared, so they count once.
	old := ready(t, s, web, apogee.TargetProduction, base.Add(-40*24*time.Hour), true)
	d1 := ready(t, s, web, apogee.TargetProduction, base.Add(-24*time.Hour), true)
	d2 := deployment(t, s, docs, apogee.TargetPreview, base.Add(-23*time.Hour))
	d3 := ready(t, s, web, apogee.TargetPreview, base, false)
	// A build running and two queued, the newest deployments of all.
	queued := func(p *apogee.Project, at time.Time) *apogee.Deployment {
		id := apogee.NewID()
		d := &apogee.Deployment{ID: id, ProjectID: p.ID, Target: apogee.TargetProduction,
			Host: apogee.DeploymentHost(p.Name, id), CreatedAt: at, Source: apogee.SourceGit, Branch: "main"}
		must(t, s.QueueBuild(ctx, d))
		return d
	}
	b1 := queued(docs, base.Add(time.Minute))
	b2 := queued(docs, base.Add(2*time.Minute))
	b3 := queued(web, base.Add(3*time.Minute))
	claimed, err := s.ClaimBuild(ctx, "w/1", base.Add(4*time.Minute))
	must(t, err)
	equal(t, "claimed build", claimed.ID, b1.ID)

	// A compressed variant (counted), an encoding that did not pay off (not
	// counted) and an uploaded ZIP (counted).
	m := manifest(3)
	must(t, s.PutVariants(ctx, []apogee.BlobVariant{
		{SHA256: m[2].SHA256, Encoding: apogee.EncodingBrotli, VariantSHA256: hash("br"), Size: 100},
		{SHA256: m[2].SHA256, Encoding: apogee.EncodingGzip, VariantSHA256: "", Size: 0},
	}))
	up := &apogee.Upload{ID: apogee.NewID(), ProjectID: docs.ID, CreatedAt: base, ExpiresAt: base.Add(time.Hour)}
	must(t, s.CreateUpload(ctx, up))
	_, err = s.UseUpload(ctx, up.ID, hash("zip"), 1000, base)
	must(t, err)

	f, err = s.SystemFigures(ctx, since)
	must(t, err)
	day := func(t time.Time) string { return t.UTC().Format(apogee.DayLayout) }
	equal(t, "figures", *f, apogee.SystemFigures{
		Users: 3, Projects: 3, Deployments: 7, BuildsRunning: 1, BuildsQueued: 2,
		StoredBytes: 0 + 1 + 2 + 100 + 1000,
		DeploymentsPerDay: []apogee.DayCount{
			{Day: day(d1.CreatedAt), Count: 2}, // d1, d2 (23 h later, same UTC day: base is 12:00)
			{Day: day(base), Count: 4},         // d3 and the three builds
		},
	})
	// The window starts at since, to the microsecond.
	f, err = s.SystemFigures(ctx, base.Add(time.Minute+time.Microsecond))
	must(t, err)
	equal(t, "figures from a minute on", f.DeploymentsPerDay, []apogee.DayCount{{Day: day(base), Count: 2}})

	sums, err = s.ProjectSummaries(ctx)
	must(t, err)
	if len(sums) != 3 {
		t.Fatalf("ProjectSummaries returned %d projects; want 3", len(sums))
	}
	type summary struct {
		Name, Owner, Last, Production string
		Status                        apogee.Status
	}
	got := make([]summary, len(sums))
	for i, ps := range sums {
		got[i] = summary{Name: ps.Project.Name, Owner: ps.OwnerEmail, Production: ps.Project.ProductionID}
		if ps.Last != nil {
			got[i].Last, got[i].Status = ps.Last.ID, ps.Last.Status
		}
	}
	equal(t, "summaries", got, []summary{
		{Name: "docs", Owner: "bob@example.com", Last: b2.ID, Status: apogee.StatusQueued},
		{Name: "empty", Owner: "bob@example.com"},
		{Name: "web", Owner: "alice@example.com", Last: b3.ID, Status: apogee.StatusQueued, Production: d1.ID},
	})
	// The newest deployment comes back whole, as DeploymentByID has it.
	want, err := s.DeploymentByID(ctx, b3.ID)
	must(t, err)
	equal(t, "summary's last deployment", sums[2].Last, want)
	equal(t, "summary's project", sums[2].Project.Git, (*apogee.GitSource)(nil))

	recent, err := s.RecentDeployments(ctx, 3)
	must(t, err)
	ids := func(ds []*apogee.Deployment) []string {
		out := make([]string, len(ds))
		for i, d := range ds {
			out[i] = d.ID
		}
		return out
	}
	equal(t, "recent 3", ids(recent), []string{b3.ID, b2.ID, b1.ID})
	equal(t, "recent deployment", recent[0], want)
	all, err := s.RecentDeployments(ctx, 0)
	must(t, err)
	equal(t, "all recent", ids(all), []string{b3.ID, b2.ID, b1.ID, d3.ID, d2.ID, d1.ID, old.ID})
}
