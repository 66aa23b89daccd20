package github_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/api"
	"github.com/apogee-dev/apogee/internal/egress"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/github"
	"github.com/apogee-dev/apogee/internal/github/githubtest"
	"github.com/apogee-dev/apogee/internal/notify"
	"github.com/apogee-dev/apogee/internal/platform"
	"github.com/apogee-dev/apogee/internal/sqlstore"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// TestAppMonorepoPullRequest goes through a pull request of a monorepo
// whose two projects (apps/web, apps/docs) build through the GitHub App,
// with deliveries shaped and signed as the app's, on SQLite and
// PostgreSQL: the app's pull_request opened builds a preview of each
// (the repository webhook's code path); each deployment gets a check run
// "Apogee — <project>" that goes queued, in_progress, completed (success
// with the preview's URL, failure with the log) and no commit status;
// one comment by the app's bot holds a row per project and is edited in
// place; a new commit's builds compare it with the base branch's commit,
// and a project it did not touch shows skipped; each preview is a transient GitHub Deployment to "Preview –
// <project>"; a push to main touching apps/web only builds web and
// completes a check run "skipped" for docs; closing says so in the one
// comment.
func TestAppMonorepoPullRequest(t *testing.T) {
	for name, open := range map[string]func(testing.TB) *sqlstore.Store{
		"sqlite":   func(tb testing.TB) *sqlstore.Store { return testbed.Store(tb, tb.TempDir()) },
		"postgres": testbed.PostgresStore,
	} {
		t.Run(name, func(t *testing.T) { testAppMonorepoPullRequest(t, open(t)) })
	}
}

// subscribed is a Reporter that closes its channel at its first
// notification: the notifier is listening.
type subscribed struct {
	once chan struct{}
	done bool
}

func (s *subscribed) Report(ctx context.Context, note notify.Notification) {
	if !s.done {
		s.done = true
		close(s.once)
	}
}

func testAppMonorepoPullRequest(t *testing.T, st *sqlstore.Store) {
	f := newFixtureOn(t, st, nil)
	fake := f.fake
	pemKey, key := githubtest.AppKey(t)
	fake.SetApp(4242, "apogee-test", &key.PublicKey)
	fake.Install(githubtest.Installation{ID: 77, Account: "acme", Repos: []githubtest.Repo{{FullName: "acme/mono", DefaultBranch: "main"}}})
	app, err := newApp(t, fake, pemKey)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	bus := events.NewLocal(testbed.Quiet)
	t.Cleanup(func() { bus.Close() })
	pl, err := platform.New(platform.Config{Store: st, Blobs: testbed.Blobs(t, t.TempDir()), Bus: bus, Log: testbed.Quiet,
		SiteURL:    func(l string) string { return "https://" + l + ".apogee.example/" },
		GitSchemes: []string{"https", "http"}, GitPolicy: egress.Policy{AllowPrivate: true}, GitHubApp: app})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Config{Services: pl.Services(), Logs: st, Log: testbed.Quiet}))
	t.Cleanup(srv.Close)
	ready := &subscribed{once: make(chan struct{})}
	n, err := notify.New(notify.Config{Store: st, Bus: bus, Reporters: []notify.Reporter{ready, github.WithApp(nil, app, st, st)},
		SiteURL: func(label string) string { return "https://" + label + ".apogee.example/" },
		BaseURL: func() string { return "https://apogee.example" }, Log: testbed.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	// A probe's queued build, again, until the notifier tells it on.
	probe := &apogee.Project{ID: apogee.NewID(), Name: "probe", OwnerID: f.user.ID, CreatedAt: time.Now().UTC()}
	if err := st.CreateProject(ctx, probe); err != nil {
		t.Fatal(err)
	}
	probeID := apogee.NewID()
	if err := st.QueueBuild(ctx, &apogee.Deployment{ID: probeID, ProjectID: probe.ID, Target: apogee.TargetPreview,
		Host: apogee.DeploymentHost("probe", probeID), CreatedAt: time.Now().UTC(), Source: apogee.SourceUpload,
		Skipped: true, Error: "a probe, never built"}); err != nil {
		t.Fatal(err)
	}
	for waiting := true; waiting; {
		bus.Publish(ctx, apogee.Event{Type: apogee.EventBuildQueued, DeploymentID: probeID})
		select {
		case <-ready.once:
			waiting = false
		case <-time.After(20 * time.Millisecond):
		}
	}

	projects := map[string]*apogee.Project{}
	for _, name := range []string{"docs", "web"} {
		root := "apps/" + name
		p := &apogee.Project{ID: apogee.NewID(), Name: name, OwnerID: f.user.ID, CreatedAt: time.Now().UTC(),
			Git:      &apogee.GitSource{URL: fake.URL + "/acme/mono.git", Branch: "main"},
			Settings: apogee.ProjectSettings{Build: apogee.BuildSettings{RootDir: &root}}}
		if err := st.CreateProject(ctx, p); err != nil {
			t.Fatal(err)
		}
		if err := st.LinkAppProject(ctx, apogee.AppProject{ProjectID: p.ID, InstallationID: 77, Repo: "acme/mono", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		projects[name] = p
	}
	send := func(event string, payload []byte, want int) map[string]apogee.DeploymentView {
		t.Helper()
		d, err := fake.SendAppEvent(ctx, srv.URL+"/api/v1/webhooks/github-app", "app-hook-secret", 77, event, payload)
		if err != nil || d.Status != want {
			t.Fatalf("%s: %d %s, %v; want %d", event, d.Status, d.Body, err, want)
		}
		var out struct {
			Deployments []apogee.DeploymentView `json:"deployments"`
			Skipped     []apogee.DeploymentView `json:"skipped"`
		}
		json.Unmarshal([]byte(d.Body), &out)
		by := map[string]apogee.DeploymentView{}
		for _, v := range append(out.Deployments, out.Skipped...) {
			by[v.Project] = v
		}
		return by
	}
	opened := fake.PullRequestPayload(githubtest.PullRequestEvent{Action: "opened", Number: 3, Title: "Pricing",
		Base: "acme/mono", HeadBranch: "pricing", HeadSHA: sha('a'), Sender: "ada"})
	ds := send("pull_request", opened, 202)
	if len(ds) != 2 || ds["web"].PullRequest != 3 || ds["docs"].PullRequest != 3 || ds["web"].Target != apogee.TargetPreview {
		t.Fatalf("the app's pull request queued %+v", ds)
	}
	web, docs := ds["web"].ID, ds["docs"].ID
	runs := func() map[string]githubtest.CheckRun {
		out := map[string]githubtest.CheckRun{}
		for _, cr := range fake.CheckRuns("acme/mono") {
			out[cr.ExternalID] = cr
		}
		return out
	}
	comments := func() []githubtest.Comment { return fake.Comments("acme/mono") }
	eventually(t, "queued check runs and one comment with both rows", func() bool {
		r, c := runs(), comments()
		return r[web].Status == "queued" && r[docs].Status == "queued" && len(c) == 1 &&
			strings.Contains(c[0].Body, "| **docs** | ⏳ Queued") && strings.Contains(c[0].Body, "| **web** | ⏳ Queued")
	}, func() any { return []any{runs(), comments()} })
	if r := runs()[web]; r.Name != "Apogee — web" || r.HeadSHA != sha('a') || r.App != "apogee-test" || r.DetailsURL != "https://apogee.example/deployments/"+web {
		t.Fatalf("web's check run %+v", r)
	}
	first := comments()[0]
	if first.Author != "apogee-test[bot]" || first.Issue != 3 {
		t.Fatalf("comment %+v, want the app's bot's on #3", first)
	}

	// Build both: web is ready, docs fails.
	for range 2 {
		d, err := pl.Queue().ClaimBuild(ctx, "test/1")
		if err != nil {
			t.Fatal(err)
		}
		if d.ID == web {
			finishBuild(t, pl, web)
		} else if _, err := pl.Queue().FailBuild(ctx, d.ID, apogee.StatusError, "npm run build exited with 1"); err != nil {
			t.Fatal(err)
		}
	}
	webURL := "https://" + apogee.DeploymentHost("web", web) + ".apogee.example/"
	eventually(t, "completed check runs and the comment edited", func() bool {
		r, c := runs(), comments()
		return r[web].Conclusion == "success" && r[docs].Conclusion == "failure" && len(c) == 1 &&
			strings.Contains(c[0].Body, "[Visit Preview]("+webURL+")") && strings.Contains(c[0].Body, "| **docs** | ❌ Failed")
	}, func() any { return []any{runs(), comments()} })
	if r := runs()[web]; r.Status != "completed" || r.DetailsURL != webURL || r.Updates != 2 || r.StartedAt == "" || r.CompletedAt == "" || r.Title != "Preview ready" {
		t.Fatalf("web's check run %+v", r)
	}
	if r := runs()[docs]; r.DetailsURL != "https://apogee.example/deployments/"+docs || !strings.Contains(r.Summary, "npm run build exited with 1") {
		t.Fatalf("docs's check run %+v", r)
	}
	if c := comments()[0]; c.ID != first.ID {
		t.Fatalf("comment %d replaced by %d", first.ID, c.ID)
	}
	if sts := fake.Statuses("acme/mono"); len(sts) != 0 {
		t.Fatalf("commit statuses set for projects built through the app: %+v", sts)
	}
	envs := map[string]githubtest.Deployment{}
	eventually(t, "preview GitHub Deployments", func() bool {
		for _, d := range fake.Deployments("acme/mono") {
			envs[d.Environment] = d
		}
		return len(envs["Preview – web"].Statuses) == 2 && len(envs["Preview – docs"].Statuses) == 2
	}, func() any { return fake.Deployments("acme/mono") })
	if d := envs["Preview – web"]; d.Ref != sha('a') || !d.TransientEnvironment || d.ProductionEnvironment ||
		d.Statuses[0].State != "in_progress" || d.Statuses[1].State != "success" || d.Statuses[1].EnvironmentURL != webURL {
		t.Fatalf("web's preview deployment %+v", d)
	}
	if d := envs["Preview – docs"]; d.Statuses[1].State != "failure" || d.Statuses[1].LogURL != "https://apogee.example/deployments/"+docs {
		t.Fatalf("docs's preview deployment %+v", d)
	}

	// A new commit: each build compares it with the base branch's
	// commit; docs's finds no change in apps/docs and skips (as the
	// builder does: SkipBuild), web's builds.
	sync := fake.PullRequestPayload(githubtest.PullRequestEvent{Action: "synchronize", Number: 3, Title: "Pricing",
		Base: "acme/mono", HeadBranch: "pricing", HeadSHA: sha('d'), Before: sha('a'), BaseSHA: sha('e'), Sender: "ada"})
	ds = send("pull_request", sync, 202)
	for _, name := range []string{"web", "docs"} {
		if d, err := st.DeploymentByID(ctx, ds[name].ID); err != nil || d.DiffBase != sha('e') || d.Commit != sha('d') {
			t.Fatalf("%s's new preview %+v, %v; want it compared with the base's commit", name, d, err)
		}
	}
	docs2 := ds["docs"].ID
	for range 2 {
		d, err := pl.Queue().ClaimBuild(ctx, "test/1")
		if err != nil {
			t.Fatal(err)
		}
		if d.ID != docs2 {
			finishBuild(t, pl, d.ID) // the plan builds one at a time
		} else if _, err := pl.Queue().SkipBuild(ctx, docs2, "Skipped: no change in apps/docs (the push changed 1 file, elsewhere)"); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "docs's skipped preview in its check run and the comment", func() bool {
		c := comments()
		return runs()[docs2].Conclusion == "skipped" && len(c) == 1 && strings.Contains(c[0].Body, "| **docs** | ⏭ Skipped") &&
			strings.Contains(c[0].Body, "| **web** | ✅ Ready") && strings.Contains(c[0].Body, "`ddddddd`")
	}, func() any { return []any{runs(), comments()} })

	// A push to main that touches apps/web only: docs is skipped.
	pushed := send("push", fake.PushPayloadFiles("acme/mono", "main", sha('a'), sha('c'), "ada", []string{"apps/web/index.html"}), 202)
	if pushed["web"].Skipped || !pushed["docs"].Skipped {
		t.Fatalf("the monorepo's push: %+v", pushed)
	}
	skipped := pushed["docs"].ID
	eventually(t, "docs's skipped check run", func() bool { return runs()[skipped].Conclusion == "skipped" }, func() any { return runs() })
	if r := runs()[skipped]; r.Status != "completed" || r.HeadSHA != sha('c') || r.Name != "Apogee — docs" || !strings.HasPrefix(r.Title, "Skipped: no change in apps/docs") {
		t.Fatalf("docs's skipped check run %+v", r)
	}
	eventually(t, "web's production check run queued", func() bool { return runs()[pushed["web"].ID].Status == "queued" }, func() any { return runs() })

	closed := fake.PullRequestPayload(githubtest.PullRequestEvent{Action: "closed", Number: 3, Title: "Pricing",
		Base: "acme/mono", HeadBranch: "pricing", HeadSHA: sha('a'), Merged: true, Sender: "ada"})
	send("pull_request", closed, 200)
	eventually(t, "the comment says closed", func() bool {
		c := comments()
		return len(c) == 1 && c[0].ID == first.ID && strings.Contains(c[0].Body, "is closed")
	}, func() any { return comments() })
}

// finishBuild makes a building deployment ready, as a builder would.
func finishBuild(t *testing.T, pl *platform.Platform, id string) {
	t.Helper()
	sum := sha256.Sum256([]byte(id))
	if _, err := pl.Queue().FinishBuild(t.Context(), id, []apogee.File{{Path: "index.html", SHA256: hex.EncodeToString(sum[:]), Size: 12}}); err != nil {
		t.Fatal(err)
	}
}
