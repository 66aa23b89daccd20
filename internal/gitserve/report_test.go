package gitserve_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/api"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/gitserve"
	"github.com/apogee-dev/apogee/internal/logs"
	"github.com/apogee-dev/apogee/internal/platform"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// newLoggedEnv is newEnv with build logs: pushes follow their builds.
func newLoggedEnv(t *testing.T) (*env, *logs.Hub) {
	t.Helper()
	st, bl, dir := testbed.Backends(t)
	log := testbed.Quiet
	hub := logs.NewHub(0)
	pl, err := platform.New(platform.Config{Store: st, Blobs: bl, Bus: events.NewLocal(log), Logs: hub, Log: log,
		SiteURL: func(host string) string { return "http://" + host + ".localhost:8080" }})
	if err != nil {
		t.Fatal(err)
	}
	svc := pl.Services()
	gs, err := gitserve.New(gitserve.Config{Root: filepath.Join(dir, "git"), Auth: svc.Accounts, Projects: svc.Projects,
		Builds: svc.Builds, Logs: &gitserve.HubLogs{Store: st, Hub: hub, Deployments: svc.Deployments}, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", api.New(api.Config{Services: svc, Logs: st, Log: log}))
	mux.Handle("/git/", gs)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{t: t, url: srv.URL, store: st, git: gs, root: filepath.Join(dir, "git")}, hub
}

// builder stands in for the builder: it takes the next queued build,
// logs two lines through the hub and ends it ready, or in error with
// fail as the reason.
func builder(t *testing.T, st apogee.Store, hub *logs.Hub, fail string) {
	t.Helper()
	ctx := t.Context()
	go func() {
		var d *apogee.Deployment
		for {
			var err error
			if d, err = st.ClaimBuild(ctx, "test/1", time.Now()); err == nil {
				break
			}
			if !errors.Is(err, apogee.ErrNotFound) || ctx.Err() != nil {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		w := logs.NewWriter(d.ID, st, hub, logs.Options{FlushInterval: 10 * time.Millisecond})
		w.Systemf("Cloning %s", d.Branch)
		io.WriteString(w.Stream(apogee.StreamStdout), "vite v7.0.0 building for production...\n")
		if fail != "" {
			io.WriteString(w.Stream(apogee.StreamStderr), "error: "+fail+"\n")
			w.Close(ctx)
			st.EndBuild(ctx, d.ID, apogee.StatusError, fail, time.Now())
		} else {
			w.Close(ctx)
			st.FinishBuild(ctx, d.ID, []apogee.File{{Path: "index.html", SHA256: strings.Repeat("a", 64), Size: 5}}, time.Now(), d.Target == apogee.TargetProduction)
		}
		hub.End(d.ID)
	}()
}

// TestPushReportsBuilds: git push prints the deployment, its URL and the
// build log as "remote:" lines until the build ends, and fails when the
// build does.
func TestPushReportsBuilds(t *testing.T) {
	e, hub := newLoggedEnv(t)
	ada, tok := e.user("ada@example.com", false)
	e.project("web", ada, nil)
	wt := workTree(t)

	builder(t, e.store, hub, "")
	out := mustGit(t, wt, "push", e.remote(tok, "web"), "main")
	d := e.builds("web")[0]
	for _, want := range []string{
		"remote: Apogee: building main of web as deployment " + d.ID + " (production)",
		"remote: Apogee: its URL once it is ready: http://web--" + d.ID + ".localhost:8080",
		"remote: ==> Cloning main",
		"remote: vite v7.0.0 building for production...",
		"remote: Apogee: deployment " + d.ID + " of main is ready: http://web--" + d.ID + ".localhost:8080",
		"remote: Apogee: production: http://web.localhost:8080",
		"* [new branch]      main -> main",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("push output lacks %q:\n%s", want, out)
		}
	}

	// A failing build: git push exits non-zero and says why.
	commit(t, wt, "about.html", "about")
	builder(t, e.store, hub, "npm run build exited with code 1")
	out, err := git(t, wt, "push", e.remote(tok, "web"), "main")
	d = e.builds("web")[0]
	if err == nil || d.Status != apogee.StatusError {
		t.Fatalf("push of a failing build: err %v, deployment %+v\n%s", err, d, out)
	}
	for _, want := range []string{
		"remote: error: npm run build exited with code 1",
		"remote: Apogee: build " + d.ID + " of main failed: npm run build exited with code 1",
		"apogee logs " + d.ID,
		"! [remote rejected] main -> main (build error)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("failed push output lacks %q:\n%s", want, out)
		}
	}

	// Quiet (as git is whenever its stderr is no terminal): the build's
	// log is the push's result, not git's progress, and still shows.
	commit(t, wt, "contact.html", "contact")
	builder(t, e.store, hub, "")
	out = mustGit(t, wt, "push", "-q", e.remote(tok, "web"), "main")
	if !strings.Contains(out, "is ready") || !strings.Contains(out, "vite v7.0.0") {
		t.Errorf("push -q said:\n%s", out)
	}

	// A big push (git sends it in chunks) still gets its report.
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(i * 7919 >> 3)
	}
	os.WriteFile(filepath.Join(wt, "big.bin"), big, 0o644)
	mustGit(t, wt, "add", ".")
	mustGit(t, wt, "commit", "-q", "-m", "big")
	builder(t, e.store, hub, "")
	if out := mustGit(t, wt, "push", e.remote(tok, "web"), "main"); !strings.Contains(out, "is ready") {
		t.Errorf("big push said:\n%s", out)
	}

	// A project that does not exist: the command that creates it.
	out, err = git(t, wt, "push", e.remote(tok, "nosuch"), "main")
	if err == nil || !strings.Contains(out, "apogee projects create nosuch") {
		t.Errorf("push to a missing project: %v\n%s", err, out)
	}
}
