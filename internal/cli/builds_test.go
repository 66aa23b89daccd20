package cli

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/api/apitest"
	"github.com/apogee-dev/apogee/internal/auth"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/logs"
	"github.com/apogee-dev/apogee/internal/platform"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// buildAPI runs the real API on SQLite with project "web" built from a
// Git repository, logs the CLI in through APOGEE_SERVER and APOGEE_TOKEN,
// and returns the store and log hub a simulated builder uses.
func buildAPI(t *testing.T) (apogee.Store, *logs.Hub) {
	t.Helper()
	env(t)
	ctx := context.Background()
	st, bl, _ := testbed.Backends(t)
	log := testbed.Quiet
	hub := logs.NewHub(0)
	srv := httptest.NewServer(apitest.New(t, platform.Config{Store: st, Blobs: bl, Bus: events.NewLocal(log), Log: log,
		Logs: hub, GitSchemes: []string{"https", "file"}}))
	t.Cleanup(srv.Close)

	u := &apogee.User{ID: apogee.NewID(), Email: email, Password: "x", CreatedAt: time.Now()}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	secret, hash := auth.NewToken()
	if err := st.CreateToken(ctx, &apogee.Token{ID: apogee.NewID(), UserID: u.ID, Name: "t", Hash: hash, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	p := &apogee.Project{ID: apogee.NewID(), Name: "web", OwnerID: u.ID, CreatedAt: time.Now(),
		Git: &apogee.GitSource{URL: "https://git.example.com/acme/web.git", Branch: "main"}}
	if err := st.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	t.Setenv("APOGEE_SERVER", srv.URL)
	t.Setenv("APOGEE_TOKEN", secret)
	return st, hub
}

// simulateBuild stands in for the builder: it claims the next queued
// build, writes its log through internal/logs a line at a time (so the
// CLI sees them live), and ends it ready, or in error with fail as the
// reason. It returns the deployment's id once done.
// simulatedCommit is the commit simulateBuild's builds record.
var simulatedCommit = apogee.CommitInfo{SHA: "0123456789abcdef0123456789abcdef01234567", Message: "Add the header to every page of the site",
	Author: "Ada Lovelace", URL: "https://github.com/acme/web/commit/0123456789abcdef0123456789abcdef01234567"}

func simulateBuild(t *testing.T, st apogee.Store, hub *logs.Hub, fail string) <-chan *apogee.Deployment {
	t.Helper()
	done := make(chan *apogee.Deployment, 1)
	ctx := t.Context()
	go func() {
		defer close(done)
		var d *apogee.Deployment
		for {
			var err error
			d, err = st.ClaimBuild(ctx, "test/1", time.Now())
			if err == nil {
				break
			}
			if !errors.Is(err, apogee.ErrNotFound) || ctx.Err() != nil {
				t.Error("claim:", err)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		// As the builder does after fetching (the commit asked for, if any).
		c := simulatedCommit
		if d.Commit != "" {
			c.SHA, c.URL = d.Commit, "https://github.com/acme/web/commit/"+d.Commit
		}
		if err := st.SetBuildCommit(ctx, d.ID, c); err != nil {
			t.Error("set commit:", err)
			return
		}
		if err := st.SetBuildInfo(ctx, d.ID, apogee.BuildInfo{Framework: "vite", NodeVersion: "22.12.0"}); err != nil {
			t.Error("set build info:", err)
			return
		}
		w := logs.NewWriter(d.ID, st, hub, logs.Options{FlushInterval: 10 * time.Millisecond})
		w.Systemf("Cloning %s", d.Branch)
		out := w.Stream(apogee.StreamStdout)
		for _, l := range []string{"vite v5.4.0 building for production...", "\x1b[32m✓\x1b[39m 31 modules transformed."} {
			io.WriteString(out, l+"\n")
			time.Sleep(20 * time.Millisecond)
		}
		var err error
		if fail != "" {
			io.WriteString(w.Stream(apogee.StreamStderr), "error: "+fail+"\n")
			w.Systemf("Build failed: %s", fail)
			w.Close(ctx)
			d, err = st.EndBuild(ctx, d.ID, apogee.StatusError, fail, time.Now())
		} else {
			w.Systemf("Deployed")
			w.Close(ctx)
			files := []apogee.File{{Path: "index.html", SHA256: strings.Repeat("a", 64), Size: 5}}
			d, err = st.FinishBuild(ctx, d.ID, files, time.Now(), d.Target == apogee.TargetProduction)
		}
		if err != nil {
			t.Error("end build:", err)
			return
		}
		hub.End(d.ID)
		done <- d
	}()
	return done
}

func TestDeployGitStreamsLogAndPrintsURL(t *testing.T) {
	st, hub := buildAPI(t)
	built := simulateBuild(t, st, hub, "")
	r := run(t, "", "deploy", "--project", "web", "--git", "--prod").ok(t)
	d := <-built
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, d.Host) {
		t.Fatalf("last stdout line %q, want the deployment's URL (%s)", last, d.Host)
	}
	for _, want := range []string{"Queued build " + d.ID, "==> Cloning main", "vite v5.4.0 building", "✓ 31 modules", "==> Deployed", "Production:"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stdout, "vite") {
		t.Errorf("the log went to stdout:\n%s", r.stdout)
	}
	if d.Target != apogee.TargetProduction || d.Branch != "main" {
		t.Errorf("built %+v, want production of main", d)
	}

	// A preview of another branch, with --json: one object at the end,
	// the log still on stderr.
	built = simulateBuild(t, st, hub, "")
	r = run(t, "", "deploy", "-p", "web", "--git", "--ref", "feature-x", "--no-cache", "--json").ok(t)
	d = <-built
	got := oneJSON(t, r.stdout)
	if got["id"] != d.ID || got["status"] != string(apogee.StatusReady) || got["target"] != apogee.TargetPreview || got["branch"] != "feature-x" || got["no_cache"] != true {
		t.Fatalf("deploy --json = %v", got)
	}
	if !strings.Contains(r.stderr, "vite v5.4.0") {
		t.Errorf("--json without --quiet should keep the log on stderr:\n%s", r.stderr)
	}
	if got["commit_message"] != simulatedCommit.Message || got["commit_author"] != "Ada Lovelace" || got["commit_url"] != simulatedCommit.URL {
		t.Errorf("deploy --json lacks the commit: %v", got)
	}
	// Lists and show name the commit.
	r = run(t, "", "deployments", "list", "-p", "web").ok(t)
	if !strings.Contains(r.stdout, "COMMIT") || !strings.Contains(r.stdout, "feature-x@0123456 Add the header to every page of the site ") {
		t.Errorf("deployments list lacks the commit:\n%s", r.stdout)
	}
	// A push a monorepo's project skipped lists as skipped, with why.
	web, err := st.ProjectByName(t.Context(), "web")
	if err != nil {
		t.Fatal(err)
	}
	sk := &apogee.Deployment{ID: apogee.NewID(), ProjectID: web.ID, Target: apogee.TargetPreview, CreatedAt: time.Now(), Source: apogee.SourceGit,
		Branch: "feature-y", Commit: strings.Repeat("e", 40), Skipped: true, Error: "Skipped: no change in apps/web"}
	if err := st.QueueBuild(t.Context(), sk); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "", "deployments", "list", "-p", "web").ok(t); !strings.Contains(r.stdout, "skipped: Skipped: no change in apps/web") {
		t.Errorf("deployments list does not show the skipped build:\n%s", r.stdout)
	}
	if r := run(t, "", "deployments", "show", sk.ID).ok(t); !strings.Contains(r.stdout, "skipped") {
		t.Errorf("deployments show does not say skipped:\n%s", r.stdout)
	}
	r = run(t, "", "deployments", "show", d.ID).ok(t)
	for _, want := range []string{simulatedCommit.SHA, simulatedCommit.Message, "Ada Lovelace", simulatedCommit.URL, "Framework:   vite", "Node.js:     22.12.0"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("deployments show lacks %q:\n%s", want, r.stdout)
		}
	}
	built = simulateBuild(t, st, hub, "")
	r = run(t, "", "deploy", "-p", "web", "--git", "--quiet", "--preview")
	<-built
	if r.code != 0 || strings.Contains(r.stderr, "vite") {
		t.Fatalf("--quiet: code %d\n%s", r.code, r.stderr)
	}
	// Like a folder, the project's own branch makes a preview without --prod.
	built = simulateBuild(t, st, hub, "")
	run(t, "", "deploy", "-p", "web", "--git", "--quiet").ok(t)
	if pv := <-built; pv.Target != apogee.TargetPreview || pv.Branch != "main" {
		t.Fatalf("deploy --git without --prod built %+v, want a preview of main", pv)
	}

	// Stored logs, as text and as one JSON object; following an ended
	// build prints everything and stops.
	r = run(t, "", "logs", d.ID).ok(t)
	// Colours are stripped when the output is no terminal.
	if !strings.Contains(r.stdout, "==> Cloning feature-x") || !strings.Contains(r.stdout, "✓ 31 modules") || strings.Contains(r.stdout, "\x1b") {
		t.Fatalf("logs:\n%s", r.stdout)
	}
	page := oneJSON(t, run(t, "", "logs", d.ID, "--json").ok(t).stdout)
	if ls, _ := page["lines"].([]any); len(ls) != 4 || page["status"] != string(apogee.StatusReady) {
		t.Fatalf("logs --json = %v", page)
	}
	r = run(t, "", "logs", d.ID, "--follow", "--json", "--after", "2").ok(t)
	if n := strings.Count(r.stdout, "\n"); n != 3 || !strings.Contains(r.stdout, `"seq":3`) || !strings.HasSuffix(r.stdout, "{\"status\":\"ready\"}\n") {
		t.Fatalf("logs --follow --json --after 2:\n%s", r.stdout)
	}
}

func TestDeployGitFailureAndCancel(t *testing.T) {
	st, hub := buildAPI(t)
	built := simulateBuild(t, st, hub, "npm run build exited with code 1")
	r := run(t, "", "deploy", "--project", "web", "--git")
	d := <-built
	if r.code == 0 || !strings.Contains(r.stderr, "Build "+d.ID+" failed: npm run build exited with code 1") ||
		!strings.Contains(r.stderr, "apogee logs "+d.ID) || r.stdout != "" {
		t.Fatalf("failed build: code %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}

	built = simulateBuild(t, st, hub, "out of memory")
	r = run(t, "", "deploy", "--project", "web", "--git", "--json")
	<-built
	got := oneJSON(t, r.stdout)
	if r.code == 0 || got["status"] != string(apogee.StatusError) || got["error"] != "out of memory" {
		t.Fatalf("failed build --json: code %d: %v", r.code, got)
	}

	// Cancel a queued build (no builder takes it).
	var v apogee.DeploymentView
	c := newClient(serverEnv(t))
	q, err := c.QueueBuild(t.Context(), "web", apogee.BuildRequest{Ref: "next"})
	if err != nil {
		t.Fatal(err)
	}
	v = *q
	can := oneJSON(t, run(t, "", "cancel", v.ID, "--json").ok(t).stdout)
	if can["status"] != string(apogee.StatusCanceled) || !strings.Contains(can["error"].(string), "canceled by "+email) {
		t.Fatalf("cancel --json = %v", can)
	}
	r = run(t, "", "cancel", v.ID)
	if r.code == 0 || !strings.Contains(r.stderr, "nothing to cancel") {
		t.Fatalf("second cancel: code %d\n%s", r.code, r.stderr)
	}

	r = run(t, "", "deployments", "list", "--project", "web").ok(t)
	for _, want := range []string{"error: npm run build exited with code 1", "error: out of memory", "canceled: canceled by " + email} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("deployments list lacks %q:\n%s", want, r.stdout)
		}
	}

	r = run(t, "", "deploy", "--project", "web", "--git", "--zip", "x.zip")
	if r.code == 0 || !strings.Contains(r.stderr, "cannot be combined") {
		t.Fatalf("--git --zip: code %d\n%s", r.code, r.stderr)
	}
	r = run(t, "", "deploy", "--project", "web", "--ref", "main")
	if r.code == 0 || !strings.Contains(r.stderr, "add --git") {
		t.Fatalf("--ref alone: code %d\n%s", r.code, r.stderr)
	}
}

func TestProjectsCreateGit(t *testing.T) {
	buildAPI(t)
	got := oneJSON(t, run(t, "", "projects", "create", "app", "--git", "https://github.com/acme/app.git", "--branch", "trunk", "--json").ok(t).stdout)
	if g, _ := got["git"].(map[string]any); g["url"] != "https://github.com/acme/app.git" || g["branch"] != "trunk" {
		t.Fatalf("create --git --json = %v", got)
	}
	r := run(t, "", "projects", "create", "app2", "--git", "file:///srv/repos/app2.git").ok(t)
	if !strings.Contains(r.stderr, "Pushes to main of file:///srv/repos/app2.git deploy to production") {
		t.Fatalf("create --git file://:\n%s", r.stderr)
	}
	r = run(t, "", "projects", "create", "app3", "--git", "ssh://git@github.com/acme/app.git")
	if r.code == 0 || !strings.Contains(r.stderr, "not allowed") {
		t.Fatalf("create with a refused scheme: code %d\n%s", r.code, r.stderr)
	}
}

// serverEnv returns the server and token the CLI was given.
func serverEnv(t *testing.T) (string, string) {
	cfg, err := (&app{}).resolve()
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Server, cfg.Token
}

func TestDeployZip(t *testing.T) {
	st, hub := buildAPI(t)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	f, _ := zw.Create("index.html")
	io.WriteString(f, "<h1>zipped</h1>")
	zw.Close()
	path := filepath.Join(t.TempDir(), "site.zip")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())

	built := simulateBuild(t, st, hub, "")
	r := run(t, "", "deploy", "--project", "web", "--zip", path).ok(t)
	d := <-built
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, d.Host) {
		t.Fatalf("last stdout line %q, want the deployment's URL", last)
	}
	if !strings.Contains(r.stderr, "Uploading site.zip") || !strings.Contains(r.stderr, "vite v5.4.0") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	stored, err := st.DeploymentByID(t.Context(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Source != apogee.SourceZip || stored.SourceBlob != hex.EncodeToString(sum[:]) || stored.Target != apogee.TargetPreview {
		t.Fatalf("zip deployment %+v", stored)
	}

	r = run(t, "", "deploy", "--project", "web", "--zip", path, "--ref", "main")
	if r.code == 0 || !strings.Contains(r.stderr, "--ref is for --git") {
		t.Fatalf("--zip --ref: code %d\n%s", r.code, r.stderr)
	}
	r = run(t, "", "deploy", "--project", "web", "--zip", filepath.Join(t.TempDir(), "missing.zip"))
	if r.code == 0 || !strings.Contains(r.stderr, "Cannot read the ZIP") {
		t.Fatalf("--zip of a missing file: code %d\n%s", r.code, r.stderr)
	}
}

// TestRedeploy builds a Git deployment's commit again: same commit,
// branch and target, log streamed, URL last; an uploaded deployment is
// refused with the server's reason.
func TestRedeploy(t *testing.T) {
	st, hub := buildAPI(t)
	ctx := context.Background()
	p, err := st.ProjectByName(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	const commit = "4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39"
	old := &apogee.Deployment{ID: apogee.NewID(), ProjectID: p.ID, Target: apogee.TargetPreview, CreatedAt: time.Now().UTC(),
		Source: apogee.SourceGit, Branch: "feature-x", Commit: commit}
	old.Host = apogee.DeploymentHost("web", old.ID)
	if err := st.QueueBuild(ctx, old); err != nil {
		t.Fatal(err)
	}
	<-simulateBuild(t, st, hub, "")

	built := simulateBuild(t, st, hub, "")
	r := run(t, "", "redeploy", old.ID, "--no-cache", "--json").ok(t)
	d := <-built
	got := oneJSON(t, r.stdout)
	if got["id"] != d.ID || d.ID == old.ID || got["status"] != string(apogee.StatusReady) || got["commit"] != commit ||
		got["branch"] != "feature-x" || got["target"] != apogee.TargetPreview || got["no_cache"] != true {
		t.Fatalf("redeploy --json = %v", got)
	}
	if !strings.Contains(r.stderr, "vite v5.4.0") {
		t.Errorf("--json should keep the log on stderr:\n%s", r.stderr)
	}
	built = simulateBuild(t, st, hub, "")
	r = run(t, "", "redeploy", d.ID).ok(t)
	d2 := <-built
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if !strings.Contains(r.stderr, "Queued build "+d2.ID+" of web (commit "+commit) || !strings.Contains(lines[len(lines)-1], d2.Host) {
		t.Errorf("redeploy: stdout %q, stderr:\n%s", r.stdout, r.stderr)
	}

	r = run(t, "", "redeploy", "nosuch")
	if r.code != 1 || !strings.Contains(r.stderr, `Deployment "nosuch" not found`) {
		t.Fatalf("unknown deployment: %+v", r)
	}
}
