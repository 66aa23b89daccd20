package server

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/github/githubtest"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// TestGitHubAppImportInBrowser: in chromium, a user signed in with
// GitHub finds the repository the platform's GitHub App was granted
// listed apart on the new-project page, picks it, creates the project
// and sees its first build start and end: the server linked the project
// to the installation (no repository webhook) and the builder cloned the
// private repository with the installation's token from the fake
// GitHub's Git server; GitHub got the build as the app's check run.
func TestGitHubAppImportInBrowser(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is missing: apt-get install git")
	}
	gh := fakeGitHub(t)
	pemKey, key := githubtest.AppKey(t)
	gh.SetApp(4242, "apogee-test", &key.PublicKey)
	gh.AddUser(githubtest.User{ID: 7, Login: "mona", Emails: []githubtest.Email{{Email: "mona@example.com", Primary: true, Verified: true}},
		Repos: []githubtest.Repo{{FullName: "mona/site", DefaultBranch: "main"}, {FullName: "mona/blog", Private: true, DefaultBranch: "main"}}})
	gh.Install(githubtest.Installation{ID: 77, Account: "mona", Repos: []githubtest.Repo{{FullName: "mona/blog", Private: true, DefaultBranch: "main"}}})
	// The private repository, served over Git's smart HTTP to the
	// installation's token only.
	work := filepath.Join(t.TempDir(), "blog")
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_NAME=Mona", "GIT_AUTHOR_EMAIL=mona@example.com", "GIT_COMMITTER_NAME=Mona", "GIT_COMMITTER_EMAIL=mona@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	git("init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(work, "index.html"), []byte("<h1>Mona's blog</h1>"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("add", ".")
	git("commit", "-q", "-m", "first")
	bare := filepath.Join(t.TempDir(), "blog.git")
	git("clone", "-q", "--bare", work, bare)
	gh.ServeGit(t, "mona/blog", bare)

	keyFile := filepath.Join(t.TempDir(), "app.pem")
	if err := os.WriteFile(keyFile, pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	s, addr := githubServer(t, gh, func(c *Config) {
		c.GitHubAppID, c.GitHubAppKey, c.GitHubAppWebhookSecret = 4242, keyFile, "app-secret"
		c.BuildWorkers, c.Sandbox, c.AllowPrivateGit, c.NodeDir = 1, "bwrap", true, testbed.NodeDir(t)
	})

	b := newBrowser(t)
	run, text, shot := steps(t, b, artifacts(t))
	run("continue with GitHub", chromedp.Navigate(addr+"/login"),
		chromedp.Click(`//a[normalize-space()="Continue with GitHub"]`),
		chromedp.WaitVisible(`//div[contains(@class,"flash") and contains(., "Welcome to Apogee, @mona")]`))
	run("new-project page", chromedp.Navigate(addr+"/projects/new"), chromedp.Click(`#kind-git`), chromedp.WaitVisible(`#github-app-repos`))
	shot("new-project-github-app")
	if app, oauth := text(`#github-app-repos`), text(`#github-oauth-repos`); !strings.Contains(app, "mona/blog") ||
		!strings.Contains(app, "app installed on mona") || strings.Contains(app, "mona/site") ||
		!strings.Contains(oauth, "mona/site") || strings.Contains(oauth, "mona/blog") {
		t.Fatalf("the GitHub App's repositories %q, the others %q", app, oauth)
	}
	run("pick the app's repository", chromedp.Click(`//ul[@id="github-app-repos"]//a[normalize-space()="mona/blog"]`),
		chromedp.WaitVisible(`//input[@id="git_url" and contains(@value, "/mona/blog.git")]`))
	run("create the project", chromedp.Click(`//button[normalize-space()="Create project"]`),
		chromedp.WaitVisible(`//div[contains(@class,"flash") and contains(., "the GitHub App installed on mona/blog sends its pushes to Apogee") and contains(., "first build is queued")]`),
		chromedp.WaitReady(`body[data-live]`))
	p, err := s.Store().ProjectByName(t.Context(), "blog")
	if err != nil {
		t.Fatal(err)
	}
	deps, err := s.Store().ListDeployments(t.Context(), p.ID, 10)
	if err != nil || len(deps) != 1 {
		t.Fatalf("deployments %+v, %v; want the first build", deps, err)
	}
	row := `tr[data-deployment="` + deps[0].ID + `"]`
	run("the first build starts and ends", chromedp.WaitVisible(row),
		void(chromedp.Poll[bool](`(() => { const r = document.querySelector('`+row+`');
			return !!r && r.querySelector(".badge").textContent === "Ready"; })()`, chromedp.WithPollingTimeout(2*time.Minute))))
	shot("github-app-first-build")
	d, err := s.Store().DeploymentByID(t.Context(), deps[0].ID)
	if err != nil || d.Status != apogee.StatusReady || d.Branch != "main" || d.BuildStartedAt == nil {
		t.Fatalf("first build %+v, %v", d, err)
	}
	if l, err := s.Store().AppProject(t.Context(), p.ID); err != nil || l.InstallationID != 77 || l.Repo != "mona/blog" {
		t.Fatalf("link %+v, %v", l, err)
	}
	if h := gh.Hooks("mona/blog"); len(h) != 0 {
		t.Fatalf("a repository webhook was made though the app is installed: %+v", h)
	}
	// GitHub shows the build as the app's check run, completed with the
	// deployment's URL.
	var runs []githubtest.CheckRun
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		runs = gh.CheckRuns("mona/blog")
		if len(runs) == 1 && runs[0].Conclusion == "success" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("check runs %+v; want the first build's, completed", runs)
		}
	}
	if r := runs[0]; r.Name != "Apogee — blog" || r.ExternalID != d.ID || r.Title != "Production ready" || !strings.HasPrefix(r.DetailsURL, "http://blog--"+d.ID) {
		t.Fatalf("check run %+v", r)
	}
	if gh.Minted() == 0 || gh.GitFetches() == 0 {
		t.Fatalf("%d installation tokens minted, %d Git fetches: the build did not clone through the app", gh.Minted(), gh.GitFetches())
	}
}
