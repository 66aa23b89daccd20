package gitserve_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/api"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/gitrepo"
	"github.com/apogee-dev/apogee/internal/gitserve"
	"github.com/apogee-dev/apogee/internal/platform"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// flakyRepos fails SaveGitRepo while fail is set: the database went away
// between git receiving a push and the push being stored.
type flakyRepos struct {
	apogee.GitRepoStore
	fail atomic.Bool
}

func (f *flakyRepos) SaveGitRepo(ctx context.Context, r *apogee.GitRepo, holder string) error {
	if f.fail.Load() {
		return errors.New("connection refused")
	}
	return f.GitRepoStore.SaveGitRepo(ctx, r, holder)
}

// TestPushNotStoredIsRejected: with the repositories in the store, a push
// git received but the platform could not store is reported rejected to
// the real git client, undone on the server, and builds nothing; the
// same push succeeds once the store is back.
func TestPushNotStoredIsRejected(t *testing.T) {
	st, bl, dir := testbed.Backends(t)
	log := testbed.Quiet
	pl, err := platform.New(platform.Config{Store: st, Blobs: bl, Bus: events.NewLocal(log), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	svc := pl.Services()
	flaky := &flakyRepos{GitRepoStore: st}
	repos, err := gitrepo.New(gitrepo.Config{Root: filepath.Join(dir, "git"), Store: flaky, Blobs: bl, Node: "test", Log: log})
	if err != nil {
		t.Fatal(err)
	}
	gs, err := gitserve.New(gitserve.Config{Repos: repos, Auth: svc.Accounts, Projects: svc.Projects, Builds: svc.Builds, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", api.New(api.Config{Services: svc, Logs: st, Log: log}))
	mux.Handle("/git/", gs)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e := &env{t: t, url: srv.URL, store: st, git: gs, root: filepath.Join(dir, "git")}
	alice, token := e.user("alice@example.com", false)
	p := e.project("web", alice, nil)
	work := workTree(t)

	flaky.fail.Store(true)
	out, err := git(t, work, "push", e.remote(token, "web"), "main")
	if err == nil {
		t.Fatalf("a push that was not stored succeeded:\n%s", out)
	}
	if !strings.Contains(out, "not stored on the platform") {
		t.Errorf("git's output does not say the push was not stored:\n%s", out)
	}
	if n := len(e.builds("web")); n != 0 {
		t.Errorf("a push that was not stored queued %d builds", n)
	}
	if refs := mustGit(t, work, "ls-remote", e.remote(token, "web")); refs != "" {
		t.Errorf("after a push that was not stored the server advertises:\n%s", refs)
	}

	flaky.fail.Store(false)
	mustGit(t, work, "push", "-q", e.remote(token, "web"), "main")
	if n := len(e.builds("web")); n != 1 {
		t.Errorf("the stored push queued %d builds, want 1", n)
	}
	rec, err := st.GitRepo(t.Context(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := mustGit(t, work, "rev-parse", "HEAD") + " refs/heads/main\n"; rec.Refs != want || len(rec.Bundles) != 1 {
		t.Errorf("the record holds refs %q and %d bundles, want %q and 1", rec.Refs, len(rec.Bundles), want)
	}
}
