package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// onPlan creates a plan with limits (the rest unlimited) and puts the
// user with email on it.
func (e *env) onPlan(email, name string, limits map[string]int64) {
	e.t.Helper()
	p := &apogee.Plan{Name: name, Limits: apogee.PlanLimits{Projects: -1, ConcurrentBuilds: -1, BuildMinutes: -1, StorageBytes: -1, CustomDomains: -1}}
	b, _ := json.Marshal(limits)
	if err := json.Unmarshal(b, &p.Limits); err != nil {
		e.t.Fatal(err)
	}
	ctx := context.Background()
	if err := e.store.CreatePlan(ctx, p); err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.SetUserPlan(ctx, e.userID(email), p.ID); err != nil {
		e.t.Fatal(err)
	}
}

// wantQuota checks a 402 quota_exceeded answer: its limit, and words its
// message must hold.
func (e *env) wantQuota(r resp, limit string, says ...string) {
	e.t.Helper()
	b := e.wantErr(r, 402, apogee.EQUOTA)
	data, _ := b.Error.Data.(map[string]any)
	if data["limit"] != limit {
		e.t.Errorf("quota error data %v, want limit %q", b.Error.Data, limit)
	}
	for _, s := range says {
		if !strings.Contains(b.Error.Message, s) {
			e.t.Errorf("quota message %q does not say %q", b.Error.Message, s)
		}
	}
}

// spendBuildTime records a finished build of project that took d.
func (e *env) spendBuildTime(project string, d time.Duration) {
	e.t.Helper()
	ctx := context.Background()
	p, err := e.store.ProjectByName(ctx, project)
	if err != nil {
		e.t.Fatal(err)
	}
	start := e.clock()
	id := apogee.NewID()
	must := func(err error) {
		if err != nil {
			e.t.Fatal(err)
		}
	}
	must(e.store.QueueBuild(ctx, &apogee.Deployment{ID: id, ProjectID: p.ID, Target: apogee.TargetPreview,
		Host: apogee.DeploymentHost(p.Name, id), CreatedAt: start, Source: apogee.SourceGit, Branch: "main"}))
	_, err = e.store.ClaimBuild(ctx, "test/1", start)
	must(err)
	_, err = e.store.EndBuild(ctx, id, apogee.StatusError, "test", start.Add(d))
	must(err)
}

func TestQuotaProjects(t *testing.T) {
	e := newAdminEnv(t) // owner has project "web"
	e.onPlan("owner@example.com", "one", map[string]int64{"projects": 1})
	e.wantQuota(e.call("POST", "/api/v1/projects", e.owner, apogee.CreateProjectRequest{Name: "second"}),
		apogee.LimitProjects, `your plan "one" allows 1 project and you have 1; delete one or ask an admin for a larger plan`)
	if _, err := e.store.ProjectByName(context.Background(), "second"); !errors.Is(err, apogee.ErrNotFound) {
		t.Errorf("a refused project was created: %v", err)
	}
	// The default plan (free: 10) lets the other user create one; after
	// deleting, the owner may create again.
	e.must(e.call("POST", "/api/v1/projects", e.other, apogee.CreateProjectRequest{Name: "others"}), 201, nil)
	e.must(e.call("DELETE", "/api/v1/projects/web", e.owner, nil), 204, nil)
	e.must(e.call("POST", "/api/v1/projects", e.owner, apogee.CreateProjectRequest{Name: "second"}), 201, nil)
}

func TestQuotaDomains(t *testing.T) {
	e := newAdminEnv(t)
	e.onPlan("owner@example.com", "nodomains", map[string]int64{"custom_domains": 0})
	e.wantQuota(e.call("POST", "/api/v1/projects/web/domains", e.owner, apogee.CreateDomainRequest{Name: "www.example.com"}),
		apogee.LimitCustomDomains, `allows 0 custom domains and your projects have 0`, "ask an admin")
	// An admin adding a domain to the owner's project spends the owner's quota.
	e.wantQuota(e.call("POST", "/api/v1/projects/web/domains", e.admin, apogee.CreateDomainRequest{Name: "www.example.com"}),
		apogee.LimitCustomDomains)
	if _, err := e.store.DomainByName(context.Background(), "www.example.com"); !errors.Is(err, apogee.ErrNotFound) {
		t.Errorf("a refused domain was added: %v", err)
	}
	e.must(e.call("PATCH", "/api/v1/admin/users/owner@example.com", e.admin, map[string]any{"plan": ""}), 200, nil)
	e.must(e.call("POST", "/api/v1/projects/web/domains", e.owner, apogee.CreateDomainRequest{Name: "www.example.com"}), 201, nil)
}

func TestQuotaStorage(t *testing.T) {
	e := newAdminEnv(t)
	e.onPlan("owner@example.com", "tiny", map[string]int64{"storage_bytes": 10})
	file := func(name string, size int) apogee.File {
		return apogee.File{Path: name, SHA256: sha(strings.Repeat(name, size)), Size: int64(size)}
	}
	deploy := func(files ...apogee.File) resp {
		return e.call("POST", "/api/v1/projects/web/deployments", e.owner, apogee.CreateDeploymentRequest{Files: files})
	}
	e.must(deploy(file("a", 8)), 201, nil)
	// A file already stored costs nothing again; a new one what it weighs.
	e.must(deploy(file("a", 8), file("b", 2)), 201, nil)
	e.wantQuota(deploy(file("a", 8), file("c", 1)), apogee.LimitStorageBytes,
		`your plan "tiny" allows 10 B of storage and you use 10 B; this deployment adds 1 B`)
	if n := len(e.deployments("web")); n != 2 {
		t.Errorf("%d deployments after a refused one, want 2", n)
	}
}

func TestQuotaBuildMinutes(t *testing.T) {
	e := newAdminEnv(t)
	e.must(e.call("POST", "/api/v1/projects", e.owner, apogee.CreateProjectRequest{Name: "app",
		Git: &apogee.GitSource{URL: "https://github.com/acme/app.git"}}), 201, nil)
	e.onPlan("owner@example.com", "short", map[string]int64{"build_minutes": 2})
	e.spendBuildTime("app", 61*time.Second) // 2 minutes, rounded up
	before := len(e.deployments("app"))
	for _, r := range []resp{
		e.call("POST", "/api/v1/projects/app/builds", e.owner, apogee.BuildRequest{}),
		e.call("POST", "/api/v1/projects/app/builds", e.admin, apogee.BuildRequest{Ref: "dev"}),
		e.call("POST", "/api/v1/projects/app/uploads", e.owner, nil),
	} {
		e.wantQuota(r, apogee.LimitBuildMinutes, `your plan "short" allows 2 build minutes a month and 2 were used this month`, "ask an admin")
	}
	if n := len(e.deployments("app")); n != before {
		t.Errorf("refused builds queued %d", n-before)
	}
	e.must(e.call("PATCH", "/api/v1/admin/plans/short", e.admin, map[string]any{"build_minutes": 3}), 200, nil)
	e.must(e.call("POST", "/api/v1/projects/app/builds", e.owner, apogee.BuildRequest{}), 201, nil)
}

// TestQuotaConcurrentBuildsNote: a build beyond the plan's concurrent
// builds is queued, and its log says why it waits.
func TestQuotaConcurrentBuildsNote(t *testing.T) {
	e := newAdminEnv(t)
	e.must(e.call("POST", "/api/v1/projects", e.owner, apogee.CreateProjectRequest{Name: "app",
		Git: &apogee.GitSource{URL: "https://github.com/acme/app.git"}}), 201, nil)
	var first, second apogee.DeploymentView
	e.must(e.call("POST", "/api/v1/projects/app/builds", e.owner, apogee.BuildRequest{}), 201, &first)
	logs := func(id string) []apogee.LogLine {
		var out struct{ Lines []apogee.LogLine }
		e.must(e.call("GET", "/api/v1/deployments/"+id+"/logs", e.owner, nil), 200, &out)
		return out.Lines
	}
	if l := logs(first.ID); len(l) != 0 {
		t.Errorf("a build that starts at once has a note: %+v", l)
	}
	if _, err := e.store.ClaimBuild(context.Background(), "test/1", e.clock()); err != nil {
		t.Fatal(err)
	}
	e.must(e.call("POST", "/api/v1/projects/app/builds", e.owner, apogee.BuildRequest{}), 201, &second)
	l := logs(second.ID)
	if len(l) != 1 || l[0].Seq != 1 || l[0].Stream != apogee.StreamSystem ||
		!strings.Contains(l[0].Text, `your plan "free" allows 1 build at a time and 1 is running; this build starts when one ends`) {
		t.Errorf("waiting build's log: %+v", l)
	}
}

func TestQuotaWebhook(t *testing.T) {
	e := newAdminEnv(t)
	var app, copy apogee.ProjectView
	e.must(e.call("POST", "/api/v1/projects", e.owner, apogee.CreateProjectRequest{Name: "app",
		Git: &apogee.GitSource{URL: "https://github.com/acme/web.git"}}), 201, &app)
	e.must(e.call("POST", "/api/v1/projects", e.other, apogee.CreateProjectRequest{Name: "copy",
		Git: &apogee.GitSource{URL: "https://github.com/acme/web.git"}}), 201, &copy)
	e.onPlan("owner@example.com", "nominutes", map[string]int64{"build_minutes": 0})
	push := payload(t, "github_push.json")
	const js = "application/json"

	e.wantQuota(e.hook("push", push, sign(app.WebhookSecret, push), js), apogee.LimitBuildMinutes, `allows 0 build minutes a month`)
	if n := len(e.deployments("app")); n != 0 {
		t.Errorf("a refused webhook queued %d builds", n)
	}
	// Two projects of one repository with the same secret would both be
	// signed; here each has its own, so the copy's owner builds alone.
	var out struct {
		Deployments []apogee.DeploymentView
		Refused     []map[string]string
	}
	e.must(e.hook("push", push, sign(copy.WebhookSecret, push), js), 202, &out)
	if len(out.Deployments) != 1 || out.Deployments[0].Project != "copy" {
		t.Errorf("webhook for the copy: %+v", out)
	}

	// A disabled owner's webhook queues nothing (403), whatever the plan.
	e.must(e.call("PATCH", "/api/v1/admin/users/other@example.com", e.admin, map[string]any{"disabled": true}), 200, nil)
	b := e.wantErr(e.hook("push", push, sign(copy.WebhookSecret, push), js), 403, apogee.EFORBIDDEN)
	if !strings.Contains(b.Error.Message, "disabled") {
		t.Errorf("disabled owner's webhook: %q", b.Error.Message)
	}
	if n := len(e.deployments("copy")); n != 1 {
		t.Errorf("disabled owner's webhook queued: %d builds", n)
	}
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
