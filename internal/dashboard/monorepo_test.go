package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// TestMonorepoSettings: the build settings form sets a project's watch
// paths (one a line) and ignored build step, refuses a path outside the
// repository changing nothing, and a skipped deployment shows as Skipped
// with its reason on the project and deployment pages.
func TestMonorepoSettings(t *testing.T) {
	e, _ := newPagesEnv(t, 0)
	p, _, _ := e.project(e.alice, "docs")
	alice := e.signedIn(e.alice)

	form := url.Values{"root_dir": {"apps/docs"}, "watch_paths": {"packages/ui\r\n pnpm-lock.yaml \r\n"},
		"ignore_command": {"test -f SKIP"}}
	want(t, "save", alice.post("/projects/docs/settings/build", form), http.StatusSeeOther)
	b := e.settings("docs").Build
	if !slices.Equal(b.WatchPaths, []string{"packages/ui", "pnpm-lock.yaml"}) || b.IgnoreCommand == nil || *b.IgnoreCommand != "test -f SKIP" {
		t.Fatalf("saved watch paths %q, ignore command %v", b.WatchPaths, b.IgnoreCommand)
	}
	want(t, "page after save", alice.get("/projects/docs/settings/build"), 200, "packages/ui\npnpm-lock.yaml\n</textarea>", `value="test -f SKIP"`)

	form.Set("watch_paths", "../secrets")
	want(t, "bad watch path", alice.post("/projects/docs/settings/build", form), http.StatusSeeOther)
	want(t, "bad watch path message", alice.get("/projects/docs/settings/build"), 200, "leaves the repository")
	if got := e.settings("docs").Build.WatchPaths; len(got) != 2 {
		t.Fatalf("a refused form changed the watch paths to %q", got)
	}
	// Emptied: the root folder only, no ignored build step.
	form.Set("watch_paths", "")
	form.Set("ignore_command", "")
	want(t, "clear", alice.post("/projects/docs/settings/build", form), http.StatusSeeOther)
	if b := e.settings("docs").Build; b.WatchPaths != nil || b.IgnoreCommand != nil {
		t.Fatalf("after clearing: %q, %v", b.WatchPaths, b.IgnoreCommand)
	}

	const why = "Skipped: no change in apps/docs (the push changed 1 file, elsewhere)"
	d := &apogee.Deployment{ID: apogee.NewID(), ProjectID: p.ID, Target: apogee.TargetProduction, CreatedAt: time.Now(),
		Source: apogee.SourceGit, Branch: "main", Commit: strings.Repeat("d", 40), Skipped: true, Error: why}
	if err := e.store.QueueBuild(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	want(t, "project page", alice.get("/projects/docs"), 200, `<span class="badge skipped">Skipped</span>`, `<div class="small muted">`+why+`</div>`)
	want(t, "deployment page", alice.get("/deployments/"+d.ID), 200, `<span class="badge skipped" id="status">Skipped</span>`, `<p class="muted">`+why+`</p>`)
}
