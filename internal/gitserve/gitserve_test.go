package gitserve_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/api"
	"github.com/apogee-dev/apogee/internal/auth"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/gitserve"
	"github.com/apogee-dev/apogee/internal/platform"
	"github.com/apogee-dev/apogee/internal/testbed"
)

type env struct {
	t     *testing.T
	url   string // http://127.0.0.1:port
	store apogee.Store
	git   *gitserve.Server
	root  string
}

// newEnv serves the real API and gitserve on 127.0.0.1 over SQLite, as
// the server's apex does.
func newEnv(t *testing.T, maxPush int64) *env {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("these tests need the git binary:", err)
	}
	st, bl, dir := testbed.Backends(t)
	log := testbed.Quiet
	pl, err := platform.New(platform.Config{Store: st, Blobs: bl, Bus: events.NewLocal(log), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	svc := pl.Services()
	a := api.New(api.Config{Services: svc, Logs: st, Log: log})
	gs, err := gitserve.New(gitserve.Config{Root: filepath.Join(dir, "git"),
		Auth: svc.Accounts, Projects: svc.Projects, Builds: svc.Builds, MaxPush: maxPush, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", a)
	mux.Handle("/git/", gs)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{t: t, url: srv.URL, store: st, git: gs, root: filepath.Join(dir, "git")}
}

// user makes a user and returns an API token of theirs.
func (e *env) user(email string, admin bool) (*apogee.User, string) {
	e.t.Helper()
	ctx := context.Background()
	u := &apogee.User{ID: apogee.NewID(), Email: email, Password: "x", Admin: admin, CreatedAt: time.Now()}
	if err := e.store.CreateUser(ctx, u); err != nil {
		e.t.Fatal(err)
	}
	secret, hash := auth.NewToken()
	if err := e.store.CreateToken(ctx, &apogee.Token{ID: apogee.NewID(), UserID: u.ID, Name: "git", Hash: hash, CreatedAt: time.Now()}); err != nil {
		e.t.Fatal(err)
	}
	return u, secret
}

func (e *env) project(name string, owner *apogee.User, git *apogee.GitSource) *apogee.Project {
	e.t.Helper()
	p := &apogee.Project{ID: apogee.NewID(), Name: name, OwnerID: owner.ID, CreatedAt: time.Now(), Git: git}
	if err := e.store.CreateProject(context.Background(), p); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// builds returns the project's queued builds, newest first.
func (e *env) builds(name string) []*apogee.Deployment {
	e.t.Helper()
	p, err := e.store.ProjectByName(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	ds, err := e.store.ListDeployments(context.Background(), p.ID, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return ds
}

// git runs the real git in dir with no user or system configuration and
// no prompts.
func git(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", append([]string{"-c", "user.name=Ada", "-c", "user.email=ada@example.com", "-c", "init.defaultBranch=main"}, args...)...)
	cmd.Dir = dir
	cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH"), "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/false"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := git(t, dir, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

// workTree makes a repository with one commit on main.
func workTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	mustGit(t, dir, "init", "-q")
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("<h1>hello</h1>\n"), 0o644)
	mustGit(t, dir, "add", ".")
	mustGit(t, dir, "commit", "-q", "-m", "first")
	return dir
}

func commit(t *testing.T, dir, file, content string) string {
	t.Helper()
	os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644)
	mustGit(t, dir, "add", ".")
	mustGit(t, dir, "commit", "-q", "-m", "change "+file)
	return mustGit(t, dir, "rev-parse", "HEAD")
}

func (e *env) remote(token, project string) string {
	return strings.Replace(e.url, "http://", "http://x:"+token+"@", 1) + "/git/" + project + ".git"
}

func TestPushBuildsEveryMovedBranch(t *testing.T) {
	e := newEnv(t, 0)
	ada, tok := e.user("ada@example.com", false)
	p := e.project("web", ada, nil)
	wt := workTree(t)
	head := mustGit(t, wt, "rev-parse", "HEAD")

	out := mustGit(t, wt, "push", e.remote(tok, "web"), "main")
	if !strings.Contains(out, "* [new branch]      main -> main") {
		t.Fatalf("push said:\n%s", out)
	}
	ds := e.builds("web")
	if len(ds) != 1 || ds[0].Status != apogee.StatusQueued || ds[0].Target != apogee.TargetProduction ||
		ds[0].Branch != "main" || ds[0].Commit != head || ds[0].Source != apogee.SourceGit || ds[0].CreatedBy != ada.ID {
		t.Fatalf("after the first push: %+v", ds)
	}
	// The project adopted the platform's repository, which holds the push.
	got, _ := e.store.ProjectByName(t.Context(), "web")
	if got.Git == nil || got.Git.URL != e.git.RepoURL(p.ID) || got.Git.Branch != "main" ||
		got.Git.URL != "file://"+filepath.Join(e.root, p.ID+".git") {
		t.Fatalf("project's git %+v", got.Git)
	}
	if c := mustGit(t, wt, "--git-dir", filepath.Join(e.root, p.ID+".git"), "rev-parse", "main"); c != head {
		t.Fatalf("platform repository's main is %s, want %s", c, head)
	}

	// Two branches in one push: main to production, feature-x a preview.
	mainHead := commit(t, wt, "about.html", "about")
	mustGit(t, wt, "checkout", "-q", "-b", "feature-x")
	featHead := commit(t, wt, "new.html", "new")
	mustGit(t, wt, "push", e.remote(tok, "web"), "main", "feature-x")
	ds = e.builds("web")
	if len(ds) != 3 {
		t.Fatalf("%d builds after the second push, want 3", len(ds))
	}
	byBranch := map[string]*apogee.Deployment{}
	for _, d := range ds[:2] {
		byBranch[d.Branch] = d
	}
	if d := byBranch["main"]; d == nil || d.Commit != mainHead || d.Target != apogee.TargetProduction {
		t.Errorf("main build %+v", d)
	}
	if d := byBranch["feature-x"]; d == nil || d.Commit != featHead || d.Target != apogee.TargetPreview {
		t.Errorf("feature-x build %+v", d)
	}

	// Nothing moved: nothing built. A deleted branch is not a build.
	mustGit(t, wt, "push", e.remote(tok, "web"), "main")
	mustGit(t, wt, "push", e.remote(tok, "web"), ":feature-x")
	if n := len(e.builds("web")); n != 3 {
		t.Fatalf("%d builds after pushes that moved nothing, want 3", n)
	}
	// A force push of a rewritten branch builds.
	mustGit(t, wt, "checkout", "-q", "main")
	mustGit(t, wt, "commit", "-q", "--amend", "-m", "rewritten")
	mustGit(t, wt, "push", "--force", e.remote(tok, "web"), "main")
	if ds := e.builds("web"); len(ds) != 4 || ds[0].Commit != mustGit(t, wt, "rev-parse", "HEAD") {
		t.Fatalf("force push: %d builds", len(ds))
	}

	// The owner can clone what was pushed.
	clone := t.TempDir()
	mustGit(t, clone, "clone", "-q", e.remote(tok, "web"), "copy")
	if _, err := os.Stat(filepath.Join(clone, "copy", "about.html")); err != nil {
		t.Fatal("clone lacks the pushed file:", err)
	}
}

func TestPushRefusals(t *testing.T) {
	e := newEnv(t, 0)
	ada, tok := e.user("ada@example.com", false)
	_, bobTok := e.user("bob@example.com", false)
	_, adminTok := e.user("root@example.com", true)
	e.project("web", ada, nil)
	e.project("hub", ada, &apogee.GitSource{URL: "https://github.com/acme/hub.git", Branch: "main"})
	wt := workTree(t)

	out, err := git(t, wt, "push", e.remote("apg_wrong", "web"), "main")
	if err == nil || !strings.Contains(out, "Authentication failed") {
		t.Fatalf("wrong token: %v\n%s", err, out)
	}
	out, err = git(t, wt, "push", e.remote(bobTok, "web"), "main")
	if err == nil || !strings.Contains(out, "not found") {
		t.Fatalf("another user's push: %v\n%s", err, out)
	}
	out, err = git(t, wt, "push", e.remote(tok, "nothing"), "main")
	if err == nil || !strings.Contains(out, "not found") {
		t.Fatalf("push to no project: %v\n%s", err, out)
	}
	out, err = git(t, wt, "push", e.remote(tok, "hub"), "main")
	if err == nil || !strings.Contains(out, "builds from https://github.com/acme/hub.git") {
		t.Fatalf("push to a GitHub project: %v\n%s", err, out)
	}
	if n := len(e.builds("web")) + len(e.builds("hub")); n != 0 {
		t.Fatalf("refused pushes queued %d builds", n)
	}
	// An admin may push to anyone's project.
	mustGit(t, wt, "push", e.remote(adminTok, "web"), "main")
	if n := len(e.builds("web")); n != 1 {
		t.Fatalf("admin's push queued %d builds", n)
	}

	// The HTTP answers themselves.
	for _, c := range []struct {
		method, path, user, pass string
		status                   int
	}{
		{"GET", "/git/web.git/info/refs?service=git-receive-pack", "", "", 401},
		{"GET", "/git/web.git/info/refs?service=git-receive-pack", "x", "apg_wrong", 401},
		{"GET", "/git/web.git/info/refs?service=git-receive-pack", "x", bobTok, 404},
		{"GET", "/git/web.git/info/refs?service=git-receive-pack", "anyone", tok, 200},
		{"GET", "/git/web/info/refs?service=git-upload-pack", "x", tok, 200},
		{"GET", "/git/web.git/info/refs", "x", tok, 404},
		{"GET", "/git/web.git/HEAD", "x", tok, 404},
		{"GET", "/git/web.git/objects/info/packs", "x", tok, 404},
		{"GET", "/git/web.git/config", "x", tok, 404},
		{"POST", "/git/web.git/git-upload-archive", "x", tok, 404},
		{"GET", "/git/web.git/git-receive-pack", "x", tok, 404},
		{"GET", "/git/../etc/info/refs?service=git-upload-pack", "x", tok, 404},
	} {
		req, _ := http.NewRequest(c.method, e.url+c.path, nil)
		if c.user != "" {
			req.SetBasicAuth(c.user, c.pass)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != c.status {
			t.Errorf("%s %s as %q: %d, want %d", c.method, c.path, c.user, res.StatusCode, c.status)
		}
		if c.status == 401 && res.Header.Get("WWW-Authenticate") != `Basic realm="apogee"` {
			t.Errorf("%s: WWW-Authenticate %q", c.path, res.Header.Get("WWW-Authenticate"))
		}
		if c.status == 200 && !strings.HasPrefix(res.Header.Get("Content-Type"), "application/x-git-") {
			t.Errorf("%s: Content-Type %q", c.path, res.Header.Get("Content-Type"))
		}
	}
}

func TestPushOverTheLimit(t *testing.T) {
	e := newEnv(t, 64<<10)
	ada, tok := e.user("ada@example.com", false)
	e.project("web", ada, nil)
	// Git sends up to http.postBuffer (1 MiB) with a Content-Length and
	// larger packs chunked: both are cut at the limit.
	for _, size := range []int{512 << 10, 3 << 20} {
		wt := workTree(t)
		big := make([]byte, size)
		rand.Read(big) // incompressible
		os.WriteFile(filepath.Join(wt, "big.bin"), big, 0o644)
		mustGit(t, wt, "add", ".")
		mustGit(t, wt, "commit", "-q", "-m", "big")
		out, err := git(t, wt, "push", e.remote(tok, "web"), "main")
		if err == nil {
			t.Fatalf("a push of %d bytes over the limit succeeded:\n%s", size, out)
		}
		if n := len(e.builds("web")); n != 0 {
			t.Fatalf("a push over the limit queued %d builds", n)
		}
	}
	// A push within the limit still works.
	wt := workTree(t)
	mustGit(t, wt, "push", e.remote(tok, "web"), "main")
	if n := len(e.builds("web")); n != 1 {
		t.Fatalf("%d builds after a small push", n)
	}
}
