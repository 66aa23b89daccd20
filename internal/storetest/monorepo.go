package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// testSkippedBuilds: a push that did not touch a project is stored as a
// skipped deployment (canceled, skipped, the reason, ended when made); a
// queued build keeps the commit to compare with and can end as skipped
// once; a skipped build is never claimed.
func testSkippedBuilds(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	unlimited(t, s, alice)
	web := project(t, s, alice, "web")
	base := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)

	const why = "Skipped: no change in apps/web (the push changed 2 files, elsewhere)"
	sk := &apogee.Deployment{ID: apogee.NewID(), ProjectID: web.ID, Target: apogee.TargetProduction, CreatedAt: base,
		Source: apogee.SourceGit, Branch: "main", Commit: strings.Repeat("a", 40), Skipped: true, Error: why}
	must(t, s.QueueBuild(ctx, sk))
	got, err := s.DeploymentByID(ctx, sk.ID)
	must(t, err)
	equal(t, "skipped as stored", string(got.Status)+" "+got.Error, "canceled "+why)
	equal(t, "skipped flag", got.Skipped, true)
	if got.BuildFinishedAt == nil || !got.BuildFinishedAt.Equal(base) {
		t.Errorf("a skipped deployment ended at %v, want %v", got.BuildFinishedAt, base)
	}
	_, err = s.ClaimBuild(ctx, "node/a", base.Add(time.Minute))
	wantCode(t, err, apogee.ENOTFOUND)

	// A build that compares with the commit before the push.
	q := &apogee.Deployment{ID: apogee.NewID(), ProjectID: web.ID, Target: apogee.TargetPreview, CreatedAt: base.Add(time.Minute),
		Source: apogee.SourceGit, Branch: "feature", Commit: strings.Repeat("b", 40), DiffBase: strings.Repeat("c", 40)}
	must(t, s.QueueBuild(ctx, q))
	claimed, err := s.ClaimBuild(ctx, "node/a", base.Add(2*time.Minute))
	must(t, err)
	equal(t, "claimed", claimed.ID, q.ID)
	equal(t, "diff base", claimed.DiffBase, strings.Repeat("c", 40))
	equal(t, "not skipped yet", claimed.Skipped, false)
	ended, err := s.SkipBuild(ctx, q.ID, "Skipped by the ignored build step", base.Add(3*time.Minute))
	must(t, err)
	equal(t, "skipped build", string(ended.Status)+" "+ended.Error, "canceled Skipped by the ignored build step")
	equal(t, "skipped build flag", ended.Skipped, true)
	_, err = s.SkipBuild(ctx, q.ID, "again", base)
	wantCode(t, err, apogee.ECONFLICT)
	_, err = s.SkipBuild(ctx, "nosuch", "x", base)
	wantCode(t, err, apogee.ENOTFOUND)

	// A canceled build is no skipped one.
	c := queued(t, s, web, apogee.TargetPreview, base.Add(4*time.Minute))
	ended, err = s.EndBuild(ctx, c.ID, apogee.StatusCanceled, "canceled by alice", base.Add(5*time.Minute))
	must(t, err)
	equal(t, "canceled is not skipped", ended.Skipped, false)
	listed, err := s.ListDeployments(ctx, web.ID, 0)
	must(t, err)
	n := 0
	for _, d := range listed {
		if d.Skipped {
			n++
		}
	}
	equal(t, "skipped in the list", n, 2)
}
