package builder_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/sandbox"
)

// gitRepo is a real repository the test commits to.
type gitRepo struct {
	t   *testing.T
	dir string
}

func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is missing: apt-get install git")
	}
	g := &gitRepo{t: t, dir: filepath.Join(t.TempDir(), "mono")}
	if err := os.MkdirAll(g.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	g.git("init", "-q", "-b", "main")
	return g
}

func (g *gitRepo) git(args ...string) string {
	g.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = g.dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com", "GIT_COMMITTER_NAME=Ada", "GIT_COMMITTER_EMAIL=ada@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		g.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files (content "" removes one) and commits them.
func (g *gitRepo) commit(msg string, files map[string]string) string {
	g.t.Helper()
	for name, content := range files {
		p := filepath.Join(g.dir, name)
		if content == "" {
			g.git("rm", "-q", name)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			g.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			g.t.Fatal(err)
		}
	}
	g.git("add", "-A")
	g.git("commit", "-q", "-m", msg)
	return g.git("rev-parse", "HEAD")
}

// TestMonorepoBuild: a project of a monorepo (root folder apps/docs,
// watch path packages/ui) built from a real repository after a push whose
// changes were not known when it was queued (git push, a truncated
// webhook payload): the builder compares the commit before the push with
// the pushed one in its clone and skips a push that touched neither,
// saying why, and builds one that touched a watch path. The ignored
// build step then runs in the sandbox in apps/docs: exit 0 skips, any
// other code builds.
func TestMonorepoBuild(t *testing.T) {
	r := newRig(t, sandbox.Limits{}, nil)
	g := newGitRepo(t)
	ctx := context.Background()
	c1 := g.commit("first", map[string]string{
		"apps/web/index.html":  "<h1>web</h1>",
		"apps/docs/index.html": "<h1>docs</h1>",
		"packages/ui/ui.css":   "a{}",
	})
	c2 := g.commit("web only", map[string]string{"apps/web/index.html": "<h1>web 2</h1>", "apps/web/new.html": "new"})
	c3 := g.commit("ui", map[string]string{"packages/ui/ui.css": "a{color:red}"})

	root := "apps/docs"
	r.project.Git = &apogee.GitSource{URL: "file://" + g.dir, Branch: "main"}
	r.project.Settings.Build = apogee.BuildSettings{RootDir: &root, WatchPaths: []string{"packages/ui"}}
	if err := r.store.UpdateProject(ctx, r.project); err != nil {
		t.Fatal(err)
	}
	build := func(commit, base string) (*apogee.Deployment, string) {
		t.Helper()
		d := &apogee.Deployment{ID: apogee.NewID(), ProjectID: r.project.ID, Target: apogee.TargetProduction, CreatedAt: time.Now(),
			Source: apogee.SourceGit, Branch: "main", Commit: commit, DiffBase: base}
		r.watch(d.ID)
		if err := r.store.QueueBuild(ctx, d); err != nil {
			t.Fatal(err)
		}
		r.b.Kick()
		return r.wait(d.ID, 90*time.Second)
	}

	d, log := build(c2, c1)
	const reason = "Skipped: no change in apps/docs, packages/ui (the push changed 2 files, elsewhere)"
	if d.Status != apogee.StatusCanceled || !d.Skipped || d.Error != reason || d.BuildFinishedAt == nil {
		t.Fatalf("a push touching apps/web only: %s skipped=%v %q, want skipped with %q; log:\n%s", d.Status, d.Skipped, d.Error, reason, log)
	}
	if !strings.Contains(log, "The push changed 2 files since") || !strings.HasSuffix(strings.TrimSpace(log), reason) {
		t.Errorf("log does not say what the push changed and why it was skipped:\n%s", log)
	}
	if p, _ := r.store.ProjectByID(ctx, r.project.ID); p.ProductionID != "" {
		t.Fatal("a skipped build became production")
	}
	took := func(d *apogee.Deployment) time.Duration {
		if d.BuildStartedAt == nil || d.BuildFinishedAt == nil {
			return 0
		}
		return d.BuildFinishedAt.Sub(*d.BuildStartedAt).Round(time.Millisecond)
	}
	skippedIn := took(d)

	d, log = build(c3, c2)
	if d.Status != apogee.StatusReady || d.Skipped {
		t.Fatalf("a push touching packages/ui: %s %q; log:\n%s", d.Status, d.Error, log)
	}
	if got := r.file(d, "index.html"); got != "<h1>docs</h1>" {
		t.Errorf("built index.html = %q, want the docs'", got)
	}
	t.Logf("skipped by the clone's diff in %v; built (static, no install) in %v", skippedIn, took(d))

	// The ignored build step: runs in apps/docs, sees the push.
	ignore := `echo "ref=$APOGEE_GIT_COMMIT_REF target=$APOGEE_TARGET prev=$APOGEE_GIT_PREVIOUS_SHA"; test -f SKIP`
	r.project.Settings.Build.IgnoreCommand = &ignore
	if err := r.store.UpdateProject(ctx, r.project); err != nil {
		t.Fatal(err)
	}
	c4 := g.commit("skip docs", map[string]string{"apps/docs/SKIP": "1"})
	d, log = build(c4, c3)
	if d.Status != apogee.StatusCanceled || !d.Skipped || !strings.Contains(d.Error, "Skipped by the ignored build step") {
		t.Fatalf("ignored build step exiting 0: %s skipped=%v %q; log:\n%s", d.Status, d.Skipped, d.Error, log)
	}
	if !strings.Contains(log, "[stdout] ref=main target=production prev="+c3) {
		t.Errorf("the ignored build step did not see the push in its environment:\n%s", log)
	}
	c5 := g.commit("build docs", map[string]string{"apps/docs/SKIP": "", "apps/docs/index.html": "<h1>docs 2</h1>"})
	d, log = build(c5, c4)
	if d.Status != apogee.StatusReady || d.Skipped || !strings.Contains(log, "The ignored build step exited with code 1; building") {
		t.Fatalf("ignored build step exiting 1: %s %q; log:\n%s", d.Status, d.Error, log)
	}
	// A ZIP someone deploys is built as asked: no ignored build step.
	always := "exit 0"
	r.project.Settings.Build.IgnoreCommand = &always
	if err := r.store.UpdateProject(ctx, r.project); err != nil {
		t.Fatal(err)
	}
	q := r.build(r.zipOf(map[string]string{"apps/docs/index.html": "<h1>zip</h1>", "README.md": "zip"}), apogee.TargetPreview, false)
	d, log = r.wait(q.ID, 90*time.Second)
	if d.Status != apogee.StatusReady || d.Skipped || strings.Contains(log, "ignored build step") {
		t.Fatalf("a ZIP build with an ignored build step: %s %q; log:\n%s", d.Status, d.Error, log)
	}
	r.project.Settings.Build.IgnoreCommand = nil
	if err := r.store.UpdateProject(ctx, r.project); err != nil {
		t.Fatal(err)
	}
	// A base the repository does not have (a force push dropped it):
	// the build goes on.
	d, log = build(c5, strings.Repeat("0f", 20))
	if d.Status != apogee.StatusReady || !strings.Contains(log, "Cannot fetch the commit before the push") {
		t.Fatalf("unknown base: %s %q; log:\n%s", d.Status, d.Error, log)
	}
}
