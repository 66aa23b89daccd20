package storetest

import (
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// testSourceFolder: an uploaded source folder becomes a queued build
// with its manifest as the source, is claimed like any build, and the
// build's output replaces the source manifest when it finishes.
func testSourceFolder(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	web := project(t, s, alice, "web")

	src := []apogee.File{
		{Path: "index.html", SHA256: hash("src index"), Size: 10, Mode: 0o644},
		{Path: "package.json", SHA256: hash("package.json"), Size: 20, Mode: 0o644},
		{Path: "src/main.ts", SHA256: hash("main.ts"), Size: 30, Mode: 0o644},
		{Path: "bin/run", SHA256: hash("run"), Size: 5, Mode: 0o755},
	}
	d := &apogee.Deployment{ID: apogee.NewID(), ProjectID: web.ID, Target: apogee.TargetProduction, CreatedAt: base,
		Source: apogee.SourceFolder, NoCache: true}
	must(t, s.CreateDeployment(ctx, d, src))
	equal(t, "created status", d.Status, apogee.StatusUploading)

	// A plain upload cannot be queued, nor can a deployment twice.
	plain := deployment(t, s, web, apogee.TargetPreview, base)
	_, err := s.QueueUploaded(ctx, plain.ID)
	wantCode(t, err, apogee.ECONFLICT)
	_, err = s.QueueUploaded(ctx, "nosuch")
	wantNotFound(t, err, "nosuch")

	q, err := s.QueueUploaded(ctx, d.ID)
	must(t, err)
	equal(t, "queued", string(q.Status)+" "+q.Source, "queued folder")
	equal(t, "queued keeps no_cache", q.NoCache, true)
	_, err = s.QueueUploaded(ctx, d.ID)
	wantCode(t, err, apogee.ECONFLICT)
	files, err := s.DeploymentFiles(ctx, d.ID)
	must(t, err)
	equal(t, "source manifest kept while queued", len(files), len(src))
	use, err := s.HashesInUse(ctx, []string{hash("main.ts")})
	must(t, err)
	equal(t, "the source's blobs stay in use while it builds", len(use), 1)

	c, err := s.ClaimBuild(ctx, "node/a", base.Add(time.Minute))
	must(t, err)
	equal(t, "claimed", c.ID, d.ID)
	out := []apogee.File{
		{Path: "index.html", SHA256: hash("built index"), Size: 100, Mode: 0o644},
		{Path: "assets/index-abc123.js", SHA256: hash("bundle"), Size: 2000, Mode: 0o644},
	}
	done, err := s.FinishBuild(ctx, d.ID, out, base.Add(2*time.Minute), true)
	must(t, err)
	equal(t, "finished", string(done.Status), string(apogee.StatusReady))
	equal(t, "output counts", [2]int64{int64(done.Files), done.Size}, [2]int64{2, 2100})
	files, err = s.DeploymentFiles(ctx, d.ID)
	must(t, err)
	got := map[string]string{}
	for _, f := range files {
		got[f.Path] = f.SHA256
	}
	equal(t, "the output replaced the source", len(got), 2)
	equal(t, "built index", got["index.html"], hash("built index"))
	equal(t, "production", productionID(t, s, web.ID), d.ID)
}
