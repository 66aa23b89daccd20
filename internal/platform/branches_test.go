package platform_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// build queues a build of branch of project p, claims it as a worker
// and returns it (not finished).
func (w *world) build(p *apogee.ProjectView, branch string, at time.Time) *apogee.Deployment {
	w.t.Helper()
	id := apogee.NewID()
	if err := w.store.QueueBuild(w.t.Context(), &apogee.Deployment{ID: id, ProjectID: p.ID, Target: apogee.TargetPreview,
		Host: apogee.DeploymentHost(p.Name, id), CreatedAt: at, Source: apogee.SourceGit, Branch: branch}); err != nil {
		w.t.Fatal(err)
	}
	d, err := w.pl.Queue().ClaimBuild(w.t.Context(), "test/1")
	if err != nil || d.ID != id {
		w.t.Fatalf("claim %s: %+v %v", id, d, err)
	}
	return d
}

func (w *world) finish(d *apogee.Deployment) {
	w.t.Helper()
	sum := sha256.Sum256([]byte(d.ID))
	if _, err := w.pl.Queue().FinishBuild(w.t.Context(), d.ID, []apogee.File{{Path: "index.html", SHA256: hex.EncodeToString(sum[:]), Size: 12}}); err != nil {
		w.t.Fatal(err)
	}
}

// routeOf is the deployment the project's routes serve at host ("" for
// none).
func (w *world) routeOf(projectID, host string) string {
	w.t.Helper()
	rs, err := w.store.ProjectRoutes(w.t.Context(), projectID)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, r := range rs {
		if r.Host == host {
			return r.DeploymentID
		}
	}
	return ""
}

// TestBranchHosts: each branch's stable host follows its newest ready
// build, in Vercel's form, hashed when taken, and moves with a rename.
func TestBranchHosts(t *testing.T) {
	w := newWorld(t, nil)
	base := time.Now().UTC()
	older := w.build(w.web, "feature/Login-Page", base)
	w.finish(older)
	const host = "web-git-feature-login-page"
	if got := w.routeOf(w.web.ID, host); got != older.ID {
		t.Fatalf("%s serves %q, want the ready build %s", host, got, older.ID)
	}
	newer := w.build(w.web, "feature/Login-Page", base.Add(time.Second))
	w.finish(newer)
	if got := w.routeOf(w.web.ID, host); got != newer.ID {
		t.Fatalf("%s serves %q, want the newer build %s", host, got, newer.ID)
	}
	// An older build finishing late (concurrent builds) leaves the branch
	// with its newest: the store decides.
	if err := w.store.SetBranchAlias(t.Context(), apogee.BranchAlias{ProjectID: w.web.ID, Branch: "feature/Login-Page", Host: host, DeploymentID: older.ID}); err != nil {
		t.Fatal(err)
	}
	if got := w.routeOf(w.web.ID, host); got != newer.ID {
		t.Fatalf("an older build moved %s to %s", host, got)
	}
	third := w.build(w.web, "feature/Login-Page", base.Add(2*time.Second))
	w.finish(third)
	if got := w.routeOf(w.web.ID, host); got != third.ID {
		t.Fatalf("%s serves %s, want the newest %s", host, got, third.ID)
	}

	// Another branch with the same label, and a project named like a
	// branch host, get the hashed form.
	twin := w.build(w.web, "feature-login-page", base.Add(3*time.Second))
	w.finish(twin)
	taken, err := w.svc.Projects.CreateProject(w.ctx, apogee.CreateProjectRequest{Name: "web-git-main"})
	if err != nil {
		t.Fatal(err)
	}
	main := w.build(w.web, "main", base.Add(4*time.Second))
	w.finish(main)
	v, err := w.svc.Projects.Project(w.ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	urls := map[string]string{}
	for _, b := range v.Branches {
		urls[b.Branch] = b.URL + " " + b.DeploymentID
	}
	if got := urls["feature/Login-Page"]; got != "http://"+host+".localhost/ "+third.ID {
		t.Errorf("branch URL of feature/Login-Page = %q", got)
	}
	for _, b := range []string{"feature-login-page", "main"} {
		if u := urls[b]; !strings.Contains(u, "-git-") || strings.HasPrefix(u, "http://"+host+".") || strings.HasPrefix(u, "http://web-git-main.") {
			t.Errorf("branch %s has URL %q, want a hashed host of its own", b, u)
		}
	}
	if got := w.routeOf(taken.ID, "web-git-main"); got != "" {
		t.Errorf("project web-git-main's own host is served by %s", got)
	}

	// A rename moves the branch hosts with the name.
	if _, err := w.svc.Projects.RenameProject(w.ctx, "web", "site"); err != nil {
		t.Fatal(err)
	}
	if got := w.routeOf(w.web.ID, "site-git-feature-login-page"); got != third.ID {
		t.Errorf("after the rename site-git-feature-login-page serves %q, want %s", got, third.ID)
	}
	if got := w.routeOf(w.web.ID, host); got != "" {
		t.Errorf("after the rename %s still serves %s", host, got)
	}
}

func TestBranchHost(t *testing.T) {
	long := strings.Repeat("very-long-branch-", 6)
	for _, c := range []struct {
		project, branch string
		hashed          bool
		want            string
	}{
		{"web", "main", false, "web-git-main"},
		{"web", "feature/Login_Page", false, "web-git-feature-login-page"},
		{"web", "--odd//name--", false, "web-git-odd-name"},
		{"web", "ünïcode", false, "web-git-n-code"},
		{"web", "main", true, ""},
		{"web", long, false, ""},
		{"web", "///", false, "web-git"},
	} {
		got := apogee.BranchHost(c.project, c.branch, c.hashed)
		if c.want != "" && got != c.want {
			t.Errorf("BranchHost(%q, %q, %v) = %q, want %q", c.project, c.branch, c.hashed, got, c.want)
		}
		if len(got) > 63 || strings.Contains(got, "--") || strings.HasSuffix(got, "-") || !strings.HasPrefix(got, c.project+"-git") {
			t.Errorf("BranchHost(%q, %q, %v) = %q: not a valid branch label", c.project, c.branch, c.hashed, got)
		}
		if (c.hashed || len(c.project+c.branch) > 60) && got[len(got)-7] != '-' {
			t.Errorf("BranchHost(%q, %q, %v) = %q, want a hash suffix", c.project, c.branch, c.hashed, got)
		}
	}
	if a, b := apogee.BranchHost("web", "a/b", true), apogee.BranchHost("web", "a-b", true); a == b {
		t.Errorf("two branches hash to one host %q", a)
	}
}
