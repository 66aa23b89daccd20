package api_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/github"
	"github.com/apogee-dev/apogee/internal/github/githubtest"
	"github.com/apogee-dev/apogee/internal/platform"
)

// appHook posts a delivery of the GitHub App.
func (e *env) appHook(event string, body []byte, sig string) resp {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/webhooks/github-app", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/5e1b0bd")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", "a1b2c3d4-0000-11f0-8000-4c9367dc0958")
	req.Header.Set("X-GitHub-Hook-Installation-Target-Type", "integration")
	req.Header.Set("X-GitHub-Hook-Installation-Target-ID", "4242")
	if sig != "" {
		req.Header.Set("X-Hub-Signature-256", sig)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(res.Body)
	return resp{res.StatusCode, buf.Bytes()}
}

// TestGitHubAppWebhook: the GitHub App's one webhook URL, deliveries
// shaped as GitHub sends them and signed with the app's secret. A push
// builds the projects linked to the installation for the repository
// (monorepo rules included) and no other project of it; a pull request
// builds their previews and closes them, as the repository webhook's; unsigned,
// wrongly signed or project-signed deliveries change nothing; taking the
// repository from the installation, or uninstalling, unlinks; a server
// without an app answers 404.
func TestGitHubAppWebhook(t *testing.T) {
	fake := githubtest.New(t, "cid", "csecret")
	pemKey, _ := githubtest.AppKey(t)
	app, err := github.NewApp(github.AppConfig{AppID: 4242, PrivateKey: pemKey, WebhookSecret: "app-secret",
		WebURL: fake.WebURL(), APIURL: fake.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, func(c *platform.Config) { c.GitHubApp = app })
	ctx := context.Background()
	tok := e.user("a@example.com")
	secrets := map[string]string{}
	for _, c := range []struct{ name, settings string }{
		{"web", `{"root_dir": "apps/web"}`},
		{"docs", `{"root_dir": "apps/docs"}`},
		{"solo", `{}`}, // same repository, its own webhook, not linked
	} {
		var p apogee.ProjectView
		e.must(e.call("POST", "/api/v1/projects", tok, apogee.CreateProjectRequest{Name: c.name,
			Git: &apogee.GitSource{URL: "https://github.com/acme/web.git", Branch: "main"}}), 201, &p)
		secrets[c.name] = p.WebhookSecret
		e.must(e.call("PATCH", "/api/v1/projects/"+c.name, tok, `{"settings": {"build": `+c.settings+`}}`), 200, nil)
		if c.name != "solo" {
			pr, _ := e.store.ProjectByName(ctx, c.name)
			if err := e.store.LinkAppProject(ctx, apogee.AppProject{ProjectID: pr.ID, InstallationID: 77, Repo: "acme/web", CreatedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
	}

	push := payload(t, "github_app_push.json")
	e.wantErr(e.appHook("push", push, ""), 401, apogee.EUNAUTHORIZED)
	e.wantErr(e.appHook("push", push, sign("wrong", push)), 401, apogee.EUNAUTHORIZED)
	e.wantErr(e.appHook("push", push, sign(secrets["web"], push)), 401, apogee.EUNAUTHORIZED)
	e.wantErr(e.appHook("push", []byte(`{"installation": `), sign("app-secret", []byte(`{"installation": `))), 400, apogee.EINVALID)
	for _, name := range []string{"web", "docs", "solo"} {
		if n := len(e.deployments(name)); n != 0 {
			t.Fatalf("refused deliveries made %d deployments of %s", n, name)
		}
	}

	var out struct {
		Deployments []apogee.DeploymentView `json:"deployments"`
		Skipped     []apogee.DeploymentView `json:"skipped"`
	}
	e.must(e.appHook("push", push, sign("app-secret", push)), 202, &out)
	if len(out.Deployments) != 1 || out.Deployments[0].Project != "web" || out.Deployments[0].Commit != "3e5b7a9c1d2f4e6a8b0c2d4e6f8a0b2c4d6e8f0a" ||
		len(out.Skipped) != 1 || out.Skipped[0].Project != "docs" {
		t.Fatalf("app push: %+v", out)
	}
	if n := len(e.deployments("solo")); n != 0 {
		t.Fatalf("the app's push built a project not linked to it (%d deployments)", n)
	}

	// A pull request builds a preview of its head for each linked
	// project, as the repository webhook's does; not for "solo".
	pr := payload(t, "github_app_pull_request.json")
	e.wantErr(e.appHook("pull_request", pr, ""), 401, apogee.EUNAUTHORIZED)
	e.wantErr(e.appHook("pull_request", pr, sign(secrets["solo"], pr)), 401, apogee.EUNAUTHORIZED)
	if n := len(e.deployments("web")); n != 1 {
		t.Fatalf("refused pull request deliveries made deployments: web has %d", n)
	}
	out.Deployments = nil
	e.must(e.appHook("pull_request", pr, sign("app-secret", pr)), 202, &out)
	previews := map[string]apogee.DeploymentView{}
	for _, d := range out.Deployments {
		previews[d.Project] = d
	}
	for _, name := range []string{"web", "docs"} {
		d := previews[name]
		if d.PullRequest != 7 || d.Branch != "feature" || d.Commit != "3e5b7a9c1d2f4e6a8b0c2d4e6f8a0b2c4d6e8f0a" || d.Target != apogee.TargetPreview {
			t.Fatalf("app pull request: %s's preview %+v (all: %+v)", name, d, out.Deployments)
		}
		p, _ := e.store.ProjectByName(ctx, name)
		if got, err := e.store.PullRequest(ctx, p.ID, 7); err != nil || got.Title != "Add a pricing page" || got.State != apogee.PullRequestOpen {
			t.Fatalf("%s's pull request #7: %+v, %v", name, got, err)
		}
	}
	if len(out.Deployments) != 2 || len(e.deployments("solo")) != 0 {
		t.Fatalf("app pull request built %+v; solo has %d deployments", out.Deployments, len(e.deployments("solo")))
	}
	// The same event again (GitHub redelivers) queues nothing more.
	e.must(e.appHook("pull_request", pr, sign("app-secret", pr)), 202, nil)
	if n := len(e.deployments("web")); n != 2 {
		t.Fatalf("a redelivered pull request: web has %d deployments, want 2", n)
	}
	// Closed: both projects' pull requests are closed.
	closed := bytes.Replace(pr, []byte(`"action": "opened"`), []byte(`"action": "closed"`), 1)
	e.must(e.appHook("pull_request", closed, sign("app-secret", closed)), 200, nil)
	for _, name := range []string{"web", "docs"} {
		p, _ := e.store.ProjectByName(ctx, name)
		if got, err := e.store.PullRequest(ctx, p.ID, 7); err != nil || got.State != apogee.PullRequestClosed {
			t.Fatalf("%s's pull request #7 after closed: %+v, %v", name, got, err)
		}
	}

	// Other events are verified and acknowledged.
	b := payload(t, "github_app_installation_created.json")
	e.wantErr(e.appHook("installation", b, ""), 401, apogee.EUNAUTHORIZED)
	e.must(e.appHook("installation", b, sign("app-secret", b)), 200, nil)

	// The repository taken from the installation: its pushes build nothing.
	removed := payload(t, "github_app_installation_repositories_removed.json")
	e.must(e.appHook("installation_repositories", removed, sign("app-secret", removed)), 200, nil)
	if ls, _ := e.store.AppProjects(ctx, 77, ""); len(ls) != 0 {
		t.Fatalf("links left after the repository was removed: %+v", ls)
	}
	e.must(e.appHook("push", push, sign("app-secret", push)), 200, nil)
	if n := len(e.deployments("web")); n != 2 {
		t.Fatalf("web has %d deployments after an unlinked push, want 2", n)
	}

	// Uninstalled: every link of the installation goes.
	web, _ := e.store.ProjectByName(ctx, "web")
	if err := e.store.LinkAppProject(ctx, apogee.AppProject{ProjectID: web.ID, InstallationID: 77, Repo: "acme/web"}); err != nil {
		t.Fatal(err)
	}
	deleted := payload(t, "github_app_installation_deleted.json")
	e.must(e.appHook("installation", deleted, sign("app-secret", deleted)), 200, nil)
	if _, err := e.store.AppProject(ctx, web.ID); apogee.ErrorCode(err) != apogee.ENOTFOUND {
		t.Fatalf("link after uninstall: %v", err)
	}

	// No app on this server.
	plain := newEnv(t)
	plain.wantErr(plain.appHook("push", push, sign("app-secret", push)), 404, apogee.ENOTFOUND)
}
