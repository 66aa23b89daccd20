package builder_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/builder"
	"github.com/apogee-dev/apogee/internal/egress"
	"github.com/apogee-dev/apogee/internal/github"
	"github.com/apogee-dev/apogee/internal/github/githubtest"
	"github.com/apogee-dev/apogee/internal/sandbox"
	"github.com/apogee-dev/apogee/internal/source"
)

// TestAppClone: a project linked to the GitHub App's installation clones
// its private repository from the fake GitHub's smart HTTP with the
// installation token minted from the app's JWT (Basic x-access-token, as
// GitHub wants), never shown in the log; unlinked, the same build has no
// token and GitHub refuses it.
func TestAppClone(t *testing.T) {
	fake := githubtest.New(t, "cid", "csecret")
	pemKey, key := githubtest.AppKey(t)
	fake.SetApp(4242, "apogee-test", &key.PublicKey)
	fake.Install(githubtest.Installation{ID: 77, Account: "acme", Repos: []githubtest.Repo{{FullName: "acme/site", Private: true, DefaultBranch: "main"}}})
	app, err := github.NewApp(github.AppConfig{AppID: 4242, PrivateKey: pemKey, WebhookSecret: "s", WebURL: fake.WebURL(), APIURL: fake.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	g := newGitRepo(t)
	head := g.commit("site", map[string]string{"index.html": "<h1>private</h1>"})
	bare := filepath.Join(t.TempDir(), "site.git")
	if out, err := exec.Command("git", "clone", "-q", "--bare", g.dir, bare).CombinedOutput(); err != nil {
		t.Fatalf("bare clone: %v %s", err, out)
	}
	fake.ServeGit(t, "acme/site", bare)

	var links apogee.GitHubAppStore
	r := newRigWith(t, sandbox.Limits{}, nil, func(st apogee.Store, _ *apogee.User) { links = st }, func(c *builder.Config) {
		c.Source = &builder.Sources{Blobs: c.Blobs,
			// The fake GitHub is on loopback.
			Git:   &source.Git{Policy: egress.Policy{AllowPrivate: true}},
			Token: app.CloneToken(links, nil)}
	})
	ctx := context.Background()
	r.project.Git = &apogee.GitSource{URL: fake.URL + "/acme/site.git", Branch: "main"}
	if err := r.store.UpdateProject(ctx, r.project); err != nil {
		t.Fatal(err)
	}
	build := func() (*apogee.Deployment, string) {
		t.Helper()
		d := &apogee.Deployment{ID: apogee.NewID(), ProjectID: r.project.ID, Target: apogee.TargetProduction, CreatedAt: time.Now(),
			Source: apogee.SourceGit, Branch: "main", Commit: head}
		r.watch(d.ID)
		if err := r.store.QueueBuild(ctx, d); err != nil {
			t.Fatal(err)
		}
		r.b.Kick()
		return r.wait(d.ID, 90*time.Second)
	}

	d, log := build()
	if d.Status != apogee.StatusError || fake.Minted() != 0 || !strings.Contains(d.Error, "authentication") {
		t.Fatalf("an unlinked project's build: %s %q, %d tokens minted; log:\n%s", d.Status, d.Error, fake.Minted(), log)
	}
	if err := links.LinkAppProject(ctx, apogee.AppProject{ProjectID: r.project.ID, InstallationID: 77, Repo: "acme/site"}); err != nil {
		t.Fatal(err)
	}
	d, log = build()
	if d.Status != apogee.StatusReady || r.file(d, "index.html") != "<h1>private</h1>" {
		t.Fatalf("a linked project's build: %s %q; log:\n%s", d.Status, d.Error, log)
	}
	if fake.Minted() != 1 {
		t.Errorf("%d installation tokens minted, want 1", fake.Minted())
	}
	for _, tok := range fake.InstallationTokens(77) {
		if strings.Contains(log, tok) {
			t.Fatal("the installation token is in the build log")
		}
	}
}
