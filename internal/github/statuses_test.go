package github_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/github/githubtest"
	"github.com/apogee-dev/apogee/internal/notify"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// A Git build of a GitHub repository sets its commit's status through
// the notifier's events: pending when it starts, then success or failure.
// A project of another host gets none.
func TestCommitStatuses(t *testing.T) {
	f := newFixture(t, nil)
	withRepo(f)
	f.connect(t)
	ctx := t.Context()
	bus := events.NewLocal(testbed.Quiet)
	t.Cleanup(func() { bus.Close() })
	n, err := notify.New(notify.Config{Store: f.store, Bus: bus, Reporters: []notify.Reporter{f.c.Statuses(f.store)},
		SiteURL: func(label string) string { return "https://" + label + ".apogee.example/" },
		BaseURL: func() string { return "https://apogee.example" }, Log: testbed.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })

	project := func(name, gitURL string) *apogee.Project {
		p := &apogee.Project{ID: apogee.NewID(), Name: name, OwnerID: f.user.ID, CreatedAt: time.Now().UTC(),
			Git: &apogee.GitSource{URL: gitURL, Branch: "main"}}
		if err := f.store.CreateProject(ctx, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	deploy := func(p *apogee.Project, target, commit string) *apogee.Deployment {
		id := apogee.NewID()
		d := &apogee.Deployment{ID: id, ProjectID: p.ID, Target: target, Host: apogee.DeploymentHost(p.Name, id),
			CreatedAt: time.Now().UTC(), Source: apogee.SourceGit, Branch: "main", Commit: commit}
		if err := f.store.QueueBuild(ctx, d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	publish := func(typ string, d *apogee.Deployment) {
		if err := bus.Publish(ctx, apogee.Event{Type: typ, DeploymentID: d.ID}); err != nil {
			t.Fatal(err)
		}
	}
	site, other := project("site", f.fake.URL+"/hubot/site.git"), project("other", "https://git.example/hubot/site.git")
	time.Sleep(100 * time.Millisecond) // the notifier has subscribed
	prod, preview, elsewhere := deploy(site, apogee.TargetProduction, "aaa111"), deploy(site, apogee.TargetPreview, "bbb222"), deploy(other, apogee.TargetProduction, "ccc333")
	publish(apogee.EventBuildStarted, elsewhere)
	publish(apogee.EventBuildStarted, prod)
	publish(apogee.EventDeploymentReady, prod)
	publish(apogee.EventBuildStarted, preview)
	publish(apogee.EventDeploymentFailed, preview)

	logURL := func(d *apogee.Deployment) string { return "https://apogee.example/deployments/" + d.ID }
	wantSt := []githubtest.Status{
		{SHA: "aaa111", State: "pending", Description: "Building", TargetURL: logURL(prod), Context: "Apogee"},
		{SHA: "aaa111", State: "success", Description: "Production ready", TargetURL: "https://" + prod.Host + ".apogee.example/", Context: "Apogee"},
		{SHA: "bbb222", State: "pending", Description: "Building", TargetURL: logURL(preview), Context: "Apogee"},
		{SHA: "bbb222", State: "failure", Description: "Build failed", TargetURL: logURL(preview), Context: "Apogee"},
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(f.fake.Statuses("hubot/site")) < len(wantSt) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := f.fake.Statuses("hubot/site"); !reflect.DeepEqual(got, wantSt) {
		t.Fatalf("statuses\n%+v\nwant\n%+v", got, wantSt)
	}
}
