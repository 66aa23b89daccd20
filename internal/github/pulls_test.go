package github_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"reflect"
	"slices"
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

// prWorld is the platform and its REST API (the webhook's receiver) on a
// real store, a notifier whose reporter is the GitHub client's Statuses,
// and the fake GitHub, whose repository hubot/site has Apogee's webhook.
type prWorld struct {
	t     *testing.T
	f     *fixture
	st    *sqlstore.Store
	pl    *platform.Platform
	svc   apogee.Services
	ctx   context.Context // as the project's owner
	web   *apogee.ProjectView
	site  string // the dashboard's URL
	bases map[string]string
}

func newPRWorld(t *testing.T, st *sqlstore.Store) *prWorld {
	f := newFixtureOn(t, st, nil)
	f.fake.AddUser(githubtest.User{ID: 9, Login: "hubot", Emails: []githubtest.Email{{Email: "hubot@example.com", Primary: true, Verified: true}},
		Repos: []githubtest.Repo{{FullName: "hubot/site", DefaultBranch: "main"}}})
	f.fake.AddUser(githubtest.User{ID: 10, Login: "eve", Repos: []githubtest.Repo{{FullName: "eve/site", DefaultBranch: "main"}}})
	f.connect(t)
	bus := events.NewLocal(testbed.Quiet)
	t.Cleanup(func() { bus.Close() })
	pl, err := platform.New(platform.Config{Store: st, Blobs: testbed.Blobs(t, t.TempDir()), Bus: bus, Log: testbed.Quiet,
		SiteURL:    func(l string) string { return "https://" + l + ".apogee.example/" },
		GitSchemes: []string{"https", "http"}, GitPolicy: egress.Policy{AllowPrivate: true}})
	if err != nil {
		t.Fatal(err)
	}
	w := &prWorld{t: t, f: f, st: st, pl: pl, svc: pl.Services(), ctx: apogee.NewContextWithUser(t.Context(), f.user), site: "https://apogee.example"}
	srv := httptest.NewServer(api.New(api.Config{Services: pl.Services(), Logs: st, Log: testbed.Quiet}))
	t.Cleanup(srv.Close)
	n, err := notify.New(notify.Config{Store: st, Bus: bus, Reporters: []notify.Reporter{f.c.Statuses(st)},
		SiteURL: func(label string) string { return "https://" + label + ".apogee.example/" },
		BaseURL: func() string { return w.site }, Log: testbed.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	time.Sleep(50 * time.Millisecond) // the notifier has subscribed

	w.web, err = w.svc.Projects.CreateProject(w.ctx, apogee.CreateProjectRequest{Name: "web",
		Git: &apogee.GitSource{URL: f.fake.URL + "/hubot/site.git", Branch: "main"}})
	if err != nil {
		t.Fatal(err)
	}
	// The hook one-click import creates.
	if _, err := f.c.CreateHook(t.Context(), f.user.ID, "hubot/site", github.Hook{URL: srv.URL + "/api/v1/webhooks/github",
		Secret: w.web.WebhookSecret, Events: []string{"push", "pull_request"}}); err != nil {
		t.Fatal(err)
	}
	return w
}

// send delivers an event to the repository's hook and returns the
// deployments the answer names.
func (w *prWorld) send(event string, payload []byte, wantStatus int) []apogee.DeploymentView {
	w.t.Helper()
	ds, err := w.f.fake.SendEvent(w.t.Context(), "hubot/site", event, payload)
	if err != nil || len(ds) != 1 {
		w.t.Fatalf("deliveries %+v, %v", ds, err)
	}
	if ds[0].Status != wantStatus {
		w.t.Fatalf("%s: %d %s, want %d", event, ds[0].Status, ds[0].Body, wantStatus)
	}
	var out struct {
		Deployments []apogee.DeploymentView `json:"deployments"`
	}
	json.Unmarshal([]byte(ds[0].Body), &out)
	return out.Deployments
}

func sha(c byte) string { return strings.Repeat(string(c), 40) }

// claim makes id building as a builder would.
func (w *prWorld) claim(id string) {
	w.t.Helper()
	d, err := w.pl.Queue().ClaimBuild(w.t.Context(), "test/1")
	if err != nil || d.ID != id {
		w.t.Fatalf("claimed %+v, %v; want %s", d, err, id)
	}
}

func (w *prWorld) finish(id string) {
	w.t.Helper()
	sum := sha256.Sum256([]byte(id))
	if _, err := w.pl.Queue().FinishBuild(w.t.Context(), id, []apogee.File{{Path: "index.html", SHA256: hex.EncodeToString(sum[:]), Size: 12}}); err != nil {
		w.t.Fatal(err)
	}
}

// eventually waits up to 5 s for ok.
func eventually(t *testing.T, what string, ok func() bool, show func() any) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: got %+v", what, show())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// comment is Apogee's comment on pull request #7 (the first, if several).
func (w *prWorld) comment() githubtest.Comment {
	for _, c := range w.f.fake.Comments("hubot/site") {
		if c.Issue == 7 {
			return c
		}
	}
	return githubtest.Comment{}
}

// TestPullRequestPreviews goes through a pull request's life as GitHub
// tells it, on SQLite and PostgreSQL: opened builds a preview of its
// head, once although the branch's push comes too; one comment on the
// pull request is posted and edited in place as builds go (queued,
// building, ready with the URL, then a new commit, failed with the log);
// the commit gets its statuses; a fork's pull request builds from the
// fork as a preview on a fork branch host; closed drops the branch host,
// keeps the preview at its own URL and says so in the comment.
func TestPullRequestPreviews(t *testing.T) {
	for name, open := range map[string]func(testing.TB) *sqlstore.Store{
		"sqlite":   func(tb testing.TB) *sqlstore.Store { return testbed.Store(tb, tb.TempDir()) },
		"postgres": testbed.PostgresStore,
	} {
		t.Run(name, func(t *testing.T) { testPullRequestPreviews(t, newPRWorld(t, open(t))) })
	}
}

func testPullRequestPreviews(t *testing.T, w *prWorld) {
	fake := w.f.fake
	opened := fake.PullRequestPayload(githubtest.PullRequestEvent{Action: "opened", Number: 7, Title: "Add a login page",
		Base: "hubot/site", HeadBranch: "login", HeadSHA: sha('a'), Sender: "hubot"})
	ds := w.send("pull_request", opened, 202)
	if len(ds) != 1 || ds[0].PullRequest != 7 || ds[0].Commit != sha('a') || ds[0].Branch != "login" ||
		ds[0].Target != apogee.TargetPreview || ds[0].ForkRepo != "" || ds[0].Status != apogee.StatusQueued {
		t.Fatalf("opened queued %+v", ds)
	}
	first := ds[0].ID
	// The push of the same commit (GitHub sends both) builds nothing more.
	pushed := w.send("push", fake.PushPayload("hubot/site", "login", sha('0'), sha('a'), "hubot"), 202)
	if len(pushed) != 1 || pushed[0].ID != first {
		t.Fatalf("the branch's push answered %+v, want the pull request's build %s", pushed, first)
	}
	if list, _ := w.st.ListDeployments(t.Context(), w.web.ID, 0); len(list) != 1 {
		t.Fatalf("%d deployments, want 1", len(list))
	}
	eventually(t, "comment posted (queued)", func() bool { return strings.Contains(w.comment().Body, "Queued") }, func() any { return fake.Comments("hubot/site") })
	c := w.comment()
	if c.Issue != 7 || c.Author != "hubot" || !strings.Contains(c.Body, w.site+"/deployments/"+first) {
		t.Fatalf("comment %+v", c)
	}
	// The comment's id is saved right after GitHub answers its creation.
	var saved int64
	var err error
	eventually(t, "the comment's id saved", func() bool {
		saved, err = w.st.RepoComment(t.Context(), "hubot/site", 7, "user:"+w.f.user.ID)
		return err == nil && saved == c.ID
	}, func() any { return fmt.Sprintf("%d, %v (comment %d)", saved, err, c.ID) })
	pr, err := w.st.PullRequest(t.Context(), w.web.ID, 7)
	if err != nil {
		t.Fatal(err)
	}
	if pr.Title != "Add a login page" || pr.State != apogee.PullRequestOpen || pr.HeadBranch != "login" {
		t.Fatalf("pull request %+v", pr)
	}

	w.claim(first)
	eventually(t, "comment says building", func() bool { return strings.Contains(w.comment().Body, "Building") }, func() any { return fake.Comments("hubot/site") })
	w.finish(first)
	previewURL := "https://" + apogee.DeploymentHost("web", first) + ".apogee.example/"
	eventually(t, "comment says ready", func() bool { return strings.Contains(w.comment().Body, "[Visit Preview]("+previewURL+")") },
		func() any { return fake.Comments("hubot/site") })
	if as, _ := w.st.BranchAliases(t.Context(), w.web.ID); len(as) != 1 || as[0].Branch != "login" || as[0].DeploymentID != first {
		t.Fatalf("branch hosts %+v", as)
	}

	// A new commit: a new preview, the same comment edited.
	sync := fake.PullRequestPayload(githubtest.PullRequestEvent{Action: "synchronize", Number: 7, Title: "Add a login page",
		Base: "hubot/site", HeadBranch: "login", HeadSHA: sha('b'), Before: sha('a'), Sender: "hubot"})
	ds = w.send("pull_request", sync, 202)
	if len(ds) != 1 || ds[0].ID == first || ds[0].Commit != sha('b') || ds[0].PullRequest != 7 {
		t.Fatalf("synchronize queued %+v", ds)
	}
	second := ds[0].ID
	w.claim(second)
	// Another commit while that one builds: the comment follows the
	// newest, and the older build ending late does not take it back.
	sync3 := fake.PullRequestPayload(githubtest.PullRequestEvent{Action: "synchronize", Number: 7, Title: "Add a login page",
		Base: "hubot/site", HeadBranch: "login", HeadSHA: sha('c'), Before: sha('b'), Sender: "hubot"})
	ds = w.send("pull_request", sync3, 202)
	third := ds[0].ID
	eventually(t, "comment on the newest commit", func() bool { return strings.Contains(w.comment().Body, "/deployments/"+third+")") },
		func() any { return fake.Comments("hubot/site") })
	if _, err := w.pl.Queue().FailBuild(t.Context(), second, apogee.StatusError, "npm run build exited with 1"); err != nil {
		t.Fatal(err)
	}
	logURL := func(id string) string { return w.site + "/deployments/" + id }
	failedB := githubtest.Status{SHA: sha('b'), State: "failure", Description: "Build failed", TargetURL: logURL(second), Context: "Apogee"}
	eventually(t, "the older build's status", func() bool { return slices.Contains(fake.Statuses("hubot/site"), failedB) }, func() any { return fake.Statuses("hubot/site") })
	if c2 := w.comment(); !strings.Contains(c2.Body, "/deployments/"+third+")") || strings.Contains(c2.Body, "Failed") {
		t.Fatalf("an older build's end changed the comment: %+v", c2)
	}
	w.claim(third)
	if _, err := w.pl.Queue().FailBuild(t.Context(), third, apogee.StatusError, "npm run build exited with 1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "comment says failed", func() bool { return strings.Contains(w.comment().Body, "Failed") }, func() any { return fake.Comments("hubot/site") })
	if c2 := w.comment(); c2.ID != c.ID || c2.Edits < 5 || !strings.Contains(c2.Body, w.site+"/deployments/"+third) {
		t.Fatalf("comment %+v, want comment %d edited in place", c2, c.ID)
	}
	wantSt := []githubtest.Status{
		{SHA: sha('a'), State: "pending", Description: "Building", TargetURL: logURL(first), Context: "Apogee"},
		{SHA: sha('a'), State: "success", Description: "Preview ready", TargetURL: previewURL, Context: "Apogee"},
		{SHA: sha('b'), State: "pending", Description: "Building", TargetURL: logURL(second), Context: "Apogee"},
		failedB,
		{SHA: sha('c'), State: "pending", Description: "Building", TargetURL: logURL(third), Context: "Apogee"},
		{SHA: sha('c'), State: "failure", Description: "Build failed", TargetURL: logURL(third), Context: "Apogee"},
	}
	eventually(t, "statuses", func() bool { return reflect.DeepEqual(fake.Statuses("hubot/site"), wantSt) }, func() any { return fake.Statuses("hubot/site") })

	// A fork's pull request builds from the fork, as a preview, even of
	// its main branch, on a branch host of its own.
	fork := fake.PullRequestPayload(githubtest.PullRequestEvent{Action: "opened", Number: 8, Title: "Fix a typo",
		Base: "hubot/site", HeadRepo: "eve/site", HeadBranch: "main", HeadSHA: sha('c'), Sender: "eve"})
	ds = w.send("pull_request", fork, 202)
	if len(ds) != 1 || ds[0].ForkRepo != fake.URL+"/eve/site.git" || ds[0].Target != apogee.TargetPreview || ds[0].Branch != "main" || ds[0].PullRequest != 8 {
		t.Fatalf("fork's pull request queued %+v", ds)
	}
	w.claim(ds[0].ID)
	w.finish(ds[0].ID)
	as, _ := w.st.BranchAliases(t.Context(), w.web.ID)
	if len(as) != 2 || as[0].Branch != "fork/eve/main" || as[0].Host != "web-git-fork-eve-main" || as[0].DeploymentID != ds[0].ID {
		t.Fatalf("branch hosts %+v", as)
	}
	if p, _ := w.st.ProjectByID(t.Context(), w.web.ID); p.ProductionID != "" {
		t.Fatalf("a fork's main went to production: %s", p.ProductionID)
	}

	// Closed: the branch host goes, the preview stays, the comment says so.
	closed := fake.PullRequestPayload(githubtest.PullRequestEvent{Action: "closed", Number: 7, Title: "Add a login page",
		Base: "hubot/site", HeadBranch: "login", HeadSHA: sha('b'), Merged: true, Sender: "hubot"})
	w.send("pull_request", closed, 200)
	eventually(t, "comment says closed", func() bool { return strings.Contains(w.comment().Body, "is closed") }, func() any { return fake.Comments("hubot/site") })
	as, _ = w.st.BranchAliases(t.Context(), w.web.ID)
	if len(as) != 1 || as[0].Branch != "fork/eve/main" {
		t.Fatalf("branch hosts after closing #7: %+v", as)
	}
	routes, _ := w.st.ProjectRoutes(t.Context(), w.web.ID)
	served := map[string]string{}
	for _, r := range routes {
		served[r.Host] = r.DeploymentID
	}
	if served["web-git-login"] != "" || served[apogee.DeploymentHost("web", first)] != first {
		t.Fatalf("routes after closing: %v", served)
	}
	if pr, _ := w.st.PullRequest(t.Context(), w.web.ID, 7); pr.State != apogee.PullRequestClosed || !pr.Merged || pr.ClosedAt == nil {
		t.Fatalf("pull request after closing: %+v", pr)
	}
	if n := len(fake.Comments("hubot/site")); n != 2 { // #7's and #8's
		t.Fatalf("%d comments, want one per pull request", n)
	}
	// The fork's pull request closes after the fork was deleted (GitHub
	// names no head repository then): its fork branch host goes too.
	gone := fake.PullRequestPayload(githubtest.PullRequestEvent{Action: "closed", Number: 8, Title: "Fix a typo",
		Base: "hubot/site", HeadRepo: "eve/site", HeadBranch: "main", HeadSHA: sha('c'), Sender: "eve", HeadDeleted: true})
	w.send("pull_request", gone, 200)
	if as, _ := w.st.BranchAliases(t.Context(), w.web.ID); len(as) != 0 {
		t.Fatalf("branch hosts after closing the fork's pull request: %+v", as)
	}

	// A deleted comment is posted again on the next news.
	fake.DeleteComment("hubot/site", c.ID)
	reopened := fake.PullRequestPayload(githubtest.PullRequestEvent{Action: "reopened", Number: 7, Title: "Add a login page",
		Base: "hubot/site", HeadBranch: "login", HeadSHA: sha('b'), Sender: "hubot"})
	ds = w.send("pull_request", reopened, 202)
	if len(ds) != 1 || ds[0].ID == second {
		t.Fatalf("reopened after a failed build queued %+v, want a new build", ds)
	}
	eventually(t, "comment posted again", func() bool {
		for _, c3 := range fake.Comments("hubot/site") {
			if c3.Issue == 7 && c3.ID != c.ID {
				return true
			}
		}
		return false
	}, func() any { return fake.Comments("hubot/site") })
}

// TestProductionDeployments: a push to the production branch is a GitHub
// Deployment to environment production with statuses in_progress, then
// success with the site's URL (or failure with the log); a canceled
// build's commit gets the error status "Build canceled". On SQLite and
// PostgreSQL.
func TestProductionDeployments(t *testing.T) {
	for name, open := range map[string]func(testing.TB) *sqlstore.Store{
		"sqlite":   func(tb testing.TB) *sqlstore.Store { return testbed.Store(tb, tb.TempDir()) },
		"postgres": testbed.PostgresStore,
	} {
		t.Run(name, func(t *testing.T) { testProductionDeployments(t, newPRWorld(t, open(t))) })
	}
}

func testProductionDeployments(t *testing.T, w *prWorld) {
	fake := w.f.fake
	ds := w.send("push", fake.PushPayload("hubot/site", "main", sha('0'), sha('d'), "hubot"), 202)
	if len(ds) != 1 || ds[0].Target != apogee.TargetProduction {
		t.Fatalf("push to main queued %+v", ds)
	}
	prod := ds[0].ID
	w.claim(prod)
	w.finish(prod)
	logURL := func(id string) string { return w.site + "/deployments/" + id }
	siteURL := "https://" + apogee.DeploymentHost("web", prod) + ".apogee.example/"
	want := []githubtest.Deployment{{ID: 0, Ref: sha('d'), Environment: "production", Description: "Apogee deployment " + prod, ProductionEnvironment: true,
		Statuses: []githubtest.DeploymentStatus{
			{State: "in_progress", Description: "Building", LogURL: logURL(prod)},
			{State: "success", Description: "Production ready", LogURL: logURL(prod), EnvironmentURL: siteURL},
		}}}
	got := func() []githubtest.Deployment {
		gd := fake.Deployments("hubot/site")
		for i := range gd {
			gd[i].ID = 0
		}
		return gd
	}
	eventually(t, "GitHub deployment", func() bool { return reflect.DeepEqual(got(), want) }, func() any { return got() })
	id, err := w.st.GitHubDeployment(t.Context(), prod)
	if err != nil || id != fake.Deployments("hubot/site")[0].ID {
		t.Fatalf("recorded GitHub deployment %d, %v", id, err)
	}

	// A build canceled while it builds: error on the commit and the
	// GitHub deployment.
	ds = w.send("push", fake.PushPayload("hubot/site", "main", sha('d'), sha('e'), "hubot"), 202)
	next := ds[0].ID
	w.claim(next)
	eventually(t, "second GitHub deployment", func() bool { return len(fake.Deployments("hubot/site")) == 2 }, func() any { return got() })
	if _, err := w.svc.Builds.Cancel(w.ctx, next); err != nil {
		t.Fatal(err)
	}
	wantSt := githubtest.Status{SHA: sha('e'), State: "error", Description: "Build canceled", TargetURL: logURL(next), Context: "Apogee"}
	eventually(t, "canceled status", func() bool {
		st := fake.Statuses("hubot/site")
		return len(st) > 0 && st[len(st)-1] == wantSt
	}, func() any { return fake.Statuses("hubot/site") })
	eventually(t, "canceled deployment status", func() bool {
		d := fake.Deployments("hubot/site")[1]
		return len(d.Statuses) == 2 && d.Statuses[1].State == "error" && d.Statuses[1].Description == "Build canceled"
	}, func() any { return got() })
}

// TestOneCommentAcrossServers: two servers telling GitHub the first news
// of a pull request at the same moment leave one comment, recorded with
// the pull request (the other is deleted).
func TestOneCommentAcrossServers(t *testing.T) {
	st := testbed.Store(t, t.TempDir())
	f := newFixtureOn(t, st, nil)
	withRepo(f)
	f.connect(t)
	ctx := t.Context()
	p := &apogee.Project{ID: apogee.NewID(), Name: "site", OwnerID: f.user.ID, CreatedAt: time.Now().UTC(),
		Git: &apogee.GitSource{URL: f.fake.URL + "/hubot/site.git", Branch: "main"}}
	if err := st.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	var buses []*events.Local
	for range 2 { // two servers, each with its notifier and reporter
		bus := events.NewLocal(testbed.Quiet)
		t.Cleanup(func() { bus.Close() })
		n, err := notify.New(notify.Config{Store: st, Bus: bus, Reporters: []notify.Reporter{f.c.Statuses(st)}, Log: testbed.Quiet})
		if err != nil {
			t.Fatal(err)
		}
		runCtx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); n.Run(runCtx) }()
		t.Cleanup(func() { stop(); <-done })
		buses = append(buses, bus)
	}
	time.Sleep(50 * time.Millisecond) // the notifiers have subscribed
	const rounds = 5
	for number := 1; number <= rounds; number++ {
		if err := st.SavePullRequest(ctx, &apogee.PullRequest{ProjectID: p.ID, Number: number, HeadBranch: "b", State: apogee.PullRequestOpen, UpdatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		id := apogee.NewID()
		if err := st.QueueBuild(ctx, &apogee.Deployment{ID: id, ProjectID: p.ID, Target: apogee.TargetPreview, Host: apogee.DeploymentHost("site", id),
			CreatedAt: time.Now(), Source: apogee.SourceGit, Branch: "b", Commit: sha('a'), PullRequest: number}); err != nil {
			t.Fatal(err)
		}
		for _, bus := range buses {
			go bus.Publish(ctx, apogee.Event{Type: apogee.EventPullRequest, ProjectID: p.ID, DeploymentID: id, Reason: "opened"})
		}
	}
	eventually(t, "every pull request's comment", func() bool {
		for number := 1; number <= rounds; number++ {
			if id, err := st.RepoComment(ctx, "hubot/site", number, "user:"+f.user.ID); err != nil || id == 0 {
				return false
			}
		}
		return true
	}, func() any { return f.fake.Comments("hubot/site") })
	time.Sleep(300 * time.Millisecond) // the losers' deletes
	byIssue := map[int][]int64{}
	for _, c := range f.fake.Comments("hubot/site") {
		byIssue[c.Issue] = append(byIssue[c.Issue], c.ID)
	}
	for number := 1; number <= rounds; number++ {
		id, _ := st.RepoComment(ctx, "hubot/site", number, "user:"+f.user.ID)
		if len(byIssue[number]) != 1 || byIssue[number][0] != id {
			t.Errorf("pull request #%d: comments %v, recorded %d; want one, recorded", number, byIssue[number], id)
		}
	}
}
