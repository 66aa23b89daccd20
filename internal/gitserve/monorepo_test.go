package gitserve_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/apogee-dev/apogee"
)

// TestPushMonorepoDiffBase: a git push to the platform of a project with
// a root folder queues its build with the branch's commit before the
// push, for the build to compare; a new branch has none, and a project
// without a root folder or watch paths needs none.
func TestPushMonorepoDiffBase(t *testing.T) {
	e := newEnv(t, 0)
	ada, tok := e.user("ada@example.com", false)
	wt := workTree(t)
	first := mustGit(t, wt, "rev-parse", "HEAD")
	p := e.project("docs", ada, nil)
	mustGit(t, wt, "push", e.remote(tok, "docs"), "main")
	if ds := e.builds("docs"); len(ds) != 1 || ds[0].DiffBase != "" {
		t.Fatalf("first push: %+v", ds)
	}

	got, _ := e.store.ProjectByID(t.Context(), p.ID)
	root := "apps/docs"
	got.Settings.Build = apogee.BuildSettings{RootDir: &root}
	if err := e.store.UpdateProject(t.Context(), got); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(wt, "apps", "web"), 0o755)
	os.MkdirAll(filepath.Join(wt, "apps", "docs"), 0o755)
	second := commit(t, wt, "apps/web/index.html", "web")
	mustGit(t, wt, "push", e.remote(tok, "docs"), "main")
	ds := e.builds("docs")
	if len(ds) != 2 || ds[0].Commit != second || ds[0].DiffBase != first || ds[0].Status != apogee.StatusQueued {
		t.Fatalf("a push to a monorepo project queued %+v, want a build of %s comparing with %s", ds[0], second, first)
	}
	mustGit(t, wt, "checkout", "-q", "-b", "feature")
	commit(t, wt, "apps/docs/x.html", "x")
	mustGit(t, wt, "push", e.remote(tok, "docs"), "feature")
	if ds := e.builds("docs"); ds[0].Branch != "feature" || ds[0].DiffBase != "" {
		t.Fatalf("a new branch compares with %q, want nothing", ds[0].DiffBase)
	}
}
