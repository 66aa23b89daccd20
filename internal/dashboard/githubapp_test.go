package dashboard

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/github"
	"github.com/apogee-dev/apogee/internal/github/githubtest"
)

// TestGitHubAppImport: with the platform's GitHub App installed on a
// repository, importing it from the new-project page links the project
// to the installation (no repository webhook, no secret) and queues the
// first build; a repository the app was not granted gets its webhook as
// before; a repository granted to the app but out of the user's reach is
// not linked.
func TestGitHubAppImport(t *testing.T) {
	pemKey, key := githubtest.AppKey(t)
	g := newGitHubEnv(t, SignupOpen, func(c *Config, fake *githubtest.Server) {
		fake.SetApp(4242, "apogee-test", &key.PublicKey)
		fake.Install(githubtest.Installation{ID: 77, Account: "octo", Repos: []githubtest.Repo{
			{FullName: "octo/Web.Site", DefaultBranch: "trunk"}, {FullName: "acme/not-octos", DefaultBranch: "main"}}})
		app, err := github.NewApp(github.AppConfig{AppID: 4242, PrivateKey: pemKey, WebhookSecret: "app-secret",
			WebURL: fake.WebURL(), APIURL: fake.APIURL()})
		if err != nil {
			t.Fatal(err)
		}
		c.GitHubApp, c.AppLinks = app, c.Store.(apogee.GitHubAppStore)
	})
	b := g.browser()
	g.viaGitHub(b, "octo", "/auth/github")
	// The app's repositories that octo reaches are listed apart from the
	// others; acme/not-octos (granted to the app, out of octo's reach) is
	// not listed.
	page := b.get("/projects/new")
	want(t, "new-project page", page, http.StatusOK, "Through the Apogee GitHub App")
	app, oauth, _ := strings.Cut(page.body[strings.Index(page.body, `id="github-app-repos"`):], `id="github-oauth-repos"`)
	if !strings.Contains(app, ">octo/Web.Site</a>") || strings.Contains(app, "secret-api") || strings.Contains(page.body, "not-octos") ||
		!strings.Contains(oauth, ">octo/secret-api</a>") || strings.Contains(oauth, "Web.Site</a>") {
		t.Fatalf("new-project page lists: app %.600s; oauth %.600s", app, oauth)
	}

	res := b.post("/projects/new", url.Values{"kind": {"git"}, "name": {"web-site"},
		"git_url": {g.gh.URL + "/octo/Web.Site.git"}, "branch": {"trunk"}})
	if res.code != http.StatusSeeOther || res.location != "/projects/web-site" {
		t.Fatalf("import = %d %q; %.300s", res.code, res.location, res.body)
	}
	want(t, "landing", b.get("/projects/web-site"), http.StatusOK, "the GitHub App installed on octo/Web.Site sends its pushes to Apogee", "first build is queued")
	if h := g.gh.Hooks("octo/Web.Site"); len(h) != 0 {
		t.Fatalf("a repository webhook was made though the app is installed: %+v", h)
	}
	p, err := g.store.ProjectByName(t.Context(), "web-site")
	if err != nil {
		t.Fatal(err)
	}
	l, err := g.store.(apogee.GitHubAppStore).AppProject(t.Context(), p.ID)
	if err != nil || l.InstallationID != 77 || l.Repo != "octo/web.site" {
		t.Fatalf("link %+v, %v", l, err)
	}
	if deps, _ := g.store.ListDeployments(t.Context(), p.ID, 10); len(deps) != 1 || deps[0].Branch != "trunk" {
		t.Fatalf("deployments %+v, want the first build of trunk", deps)
	}
	want(t, "git settings", b.get("/projects/web-site/settings/git"), http.StatusOK,
		`Built through the Apogee GitHub App installed on <span class="mono">octo/web.site</span>`)

	// Granted to the app, but octo's account cannot read it: not linked.
	res = b.post("/projects/new", url.Values{"kind": {"git"}, "name": {"theirs"},
		"git_url": {g.gh.URL + "/acme/not-octos.git"}, "branch": {"main"}})
	if res.code != http.StatusSeeOther {
		t.Fatalf("import of another's repository = %d %.300s", res.code, res.body)
	}
	theirs, _ := g.store.ProjectByName(t.Context(), "theirs")
	if _, err := g.store.(apogee.GitHubAppStore).AppProject(t.Context(), theirs.ID); apogee.ErrorCode(err) != apogee.ENOTFOUND {
		t.Fatalf("a repository out of the user's reach was linked to the app: %v", err)
	}

	// Not granted to the app: the repository webhook, as without one.
	res = b.post("/projects/new", url.Values{"kind": {"git"}, "name": {"secret-api"},
		"git_url": {g.gh.URL + "/octo/secret-api.git"}, "branch": {"main"}})
	if res.code != http.StatusSeeOther || res.location != "/projects/secret-api" {
		t.Fatalf("import = %d %q", res.code, res.location)
	}
	if h := g.gh.Hooks("octo/secret-api"); len(h) != 1 {
		t.Fatalf("%d hooks on a repository the app was not granted, want 1", len(h))
	}
	if page := b.get("/projects/secret-api/settings/git"); strings.Contains(string(page.body), "github-app") {
		t.Fatal("a project with its own webhook says it is built through the app")
	}
}
