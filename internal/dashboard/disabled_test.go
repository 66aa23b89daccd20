package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// TestDisabledUser: disabling a user ends their open dashboard session at
// once (401 saying so, on pages and forms) and refuses their sign-in
// with the same words; enabling them lets the same session work again.
func TestDisabledUser(t *testing.T) {
	e := newEnv(t, SignupClosed)
	b := e.signedIn(e.alice)
	want(t, "projects before", b.get("/"), http.StatusOK)
	csrf := b.csrf

	at := time.Now()
	if err := e.store.SetUserDisabled(context.Background(), e.alice.ID, &at); err != nil {
		t.Fatal(err)
	}
	want(t, "page of a disabled user", b.get("/"), http.StatusUnauthorized, "account is disabled")
	want(t, "form of a disabled user", b.post("/projects/new", url.Values{"csrf": {csrf}, "name": {"late"}}), http.StatusUnauthorized, "account is disabled")
	if _, err := e.store.ProjectByName(context.Background(), "late"); err == nil {
		t.Error("a disabled user's form created a project")
	}
	other := e.browser()
	other.get("/login")
	want(t, "sign-in of a disabled user", other.post("/login", url.Values{"email": {e.alice.Email}, "password": {password}, "next": {"/"}}),
		http.StatusUnauthorized, "account is disabled")
	want(t, "another user is unaffected", e.signedIn(e.bob).get("/"), http.StatusOK)

	if err := e.store.SetUserDisabled(context.Background(), e.alice.ID, nil); err != nil {
		t.Fatal(err)
	}
	want(t, "enabled again", b.get("/"), http.StatusOK)
}

// TestAccountShowsPlanAndUsage: the Account page shows the user's plan
// and usage, and marks a reached limit in words.
func TestAccountShowsPlanAndUsage(t *testing.T) {
	e := newEnv(t, SignupClosed)
	b := e.signedIn(e.alice)
	want(t, "account on free", b.get("/account"), http.StatusOK, "Plan and usage", "<b>free</b>", "Projects</dt><dd>0 of 10</dd>", "Storage</dt><dd>0 B of 1 GiB<br><small class=\"muted\">files 0 B, compressed copies 0 B, ZIP uploads 0 B, dependency caches 0 B, build logs 0 B</small></dd>")
	one := &apogee.Plan{Name: "one", Limits: apogee.PlanLimits{Projects: 1, ConcurrentBuilds: -1, BuildMinutes: -1, StorageBytes: -1, CustomDomains: -1}}
	if err := e.store.CreatePlan(context.Background(), one); err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetUserPlan(context.Background(), e.alice.ID, one.ID); err != nil {
		t.Fatal(err)
	}
	e.project(e.alice, "web")
	res := b.get("/account")
	want(t, "account at the limit", res, http.StatusOK, "<b>one</b>", "1 of 1 <span class=\"badge error\">limit reached</span>", "Storage</dt><dd>")
	if strings.Count(res.body, "limit reached") != 1 {
		t.Errorf("limit reached shown %d times, want once (unlimited limits are never reached)", strings.Count(res.body, "limit reached"))
	}
	want(t, "bob sees his own", e.signedIn(e.bob).get("/account"), http.StatusOK, "<b>free</b>", "Projects</dt><dd>0 of 10</dd>")
}

// TestDeployNowOverQuota: the dashboard's deploy button goes through the
// API, so a build over the plan's minutes is refused there; the project
// page shows the plan's message and nothing is queued.
func TestDeployNowOverQuota(t *testing.T) {
	e := newEnv(t, SignupClosed)
	ctx := context.Background()
	b := e.signedIn(e.alice)
	p := &apogee.Project{ID: apogee.NewID(), Name: "app", OwnerID: e.alice.ID, CreatedAt: time.Now().UTC(),
		Git: &apogee.GitSource{URL: "https://git.example/acme/app.git", Branch: "main"}}
	if err := e.store.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	none := &apogee.Plan{Name: "nobuilds", Limits: apogee.PlanLimits{Projects: -1, ConcurrentBuilds: -1, BuildMinutes: 0, StorageBytes: -1, CustomDomains: -1}}
	if err := e.store.CreatePlan(ctx, none); err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetUserPlan(ctx, e.alice.ID, none.ID); err != nil {
		t.Fatal(err)
	}
	b.get("/projects/app")
	res := b.post("/projects/app/deploy", nil)
	if res.code != http.StatusSeeOther || res.location != "/projects/app" {
		t.Fatalf("deploy now over the quota = %d %q", res.code, res.location)
	}
	want(t, "project page after a refused build", b.get("/projects/app"), http.StatusOK,
		`your plan &#34;nobuilds&#34; allows 0 build minutes a month`)
	if ds, err := e.store.ListDeployments(ctx, p.ID, 0); err != nil || len(ds) != 0 {
		t.Errorf("a refused build was queued: %d, %v", len(ds), err)
	}
}
