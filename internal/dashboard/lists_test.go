package dashboard

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// TestDeploymentListFilters searches, filters and pages a project's
// deployments by query parameters.
func TestDeploymentListFilters(t *testing.T) {
	e := newEnv(t, SignupClosed)
	p, older, _ := e.project(e.alice, "web")
	ctx := context.Background()
	for i := range 23 {
		id := apogee.NewID()
		at := time.Now().UTC().Add(time.Duration(i) * time.Second)
		if err := e.store.CreateDeployment(ctx, &apogee.Deployment{ID: id, ProjectID: p.ID, Status: apogee.StatusUploading,
			Target: apogee.TargetPreview, Host: apogee.DeploymentHost("web", id), CreatedAt: at, Source: apogee.SourceUpload,
			Branch: "feat/x"}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.FinalizeDeployment(ctx, id, at, false); err != nil {
			t.Fatal(err)
		}
	}
	building := e.building(p)
	alice := e.signedIn(e.alice)
	rows := func(path string) int {
		t.Helper()
		res := alice.get(path)
		want(t, path, res, 200)
		return strings.Count(res.body, `<tr class="production" data-deployment=`) + strings.Count(res.body, "<tr data-deployment=")
	}
	for _, c := range []struct {
		path string
		rows int
	}{
		{"/projects/web", 20},
		{"/projects/web?page=2", 6},
		{"/projects/web?page=9", 6}, // past the end: the last page
		{"/projects/web?branch=feat/x", 20},
		{"/projects/web?branch=feat/x&page=2", 3},
		{"/projects/web?status=building", 1},
		{"/projects/web?target=production", 3},
		{"/projects/web?target=production&status=ready", 2},
		{"/projects/web?q=" + older.ID[:10], 1},
		{"/projects/web?q=" + strings.ToUpper(building.ID), 1},
		{"/projects/web?q=no-such-thing", 0},
	} {
		if got := rows(c.path); got != c.rows {
			t.Errorf("%s lists %d deployments, want %d", c.path, got, c.rows)
		}
	}
	want(t, "pager", alice.get("/projects/web?branch=feat%2Fx"), 200, "Page 1 of 2 · 23 in all",
		`href="/projects/web?branch=feat%2Fx&amp;page=2" rel="next"`, `<option value="feat/x" selected>`)
	want(t, "no match", alice.get("/projects/web?q=no-such-thing"), 200, `id="no-match"`, `value="no-such-thing"`)
}

// TestProjectListSearchAndCards pages and searches the projects, and each
// card says Production only of a deployment that is production.
func TestProjectListSearchAndCards(t *testing.T) {
	e := newEnv(t, SignupClosed)
	web, _, _ := e.project(e.alice, "web")
	e.building(web) // newest: a production build not live yet
	e.project(e.alice, "site")
	for i := range 12 {
		e.project(e.alice, fmt.Sprintf("p%02d", i))
	}
	alice := e.signedIn(e.alice)
	count := func(path string) int {
		t.Helper()
		res := alice.get(path)
		want(t, path, res, 200)
		return strings.Count(res.body, `<li class="card project"`)
	}
	for path, n := range map[string]int{"/": 12, "/?page=2": 2, "/?q=p0": 10, "/?q=WEB": 1, "/?q=nothing": 0} {
		if got := count(path); got != n {
			t.Errorf("%s lists %d projects, want %d", path, got, n)
		}
	}
	page := alice.get("/?q=web")
	want(t, "web card", page, 200, "Not in production", "http://web.localhost/")
	if strings.Contains(page.body, "Production</span> ·") {
		t.Error("the card of a project whose newest deployment is not live says Production")
	}
	want(t, "site card", alice.get("/?q=site"), 200, "<span data-target>Production</span> · ")
}
