package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/auth"
	"github.com/apogee-dev/apogee/internal/platform"
	"github.com/apogee-dev/apogee/internal/traffic"
)

// admin makes an admin and returns a token of theirs.
func (e *env) admin(email string) string {
	e.t.Helper()
	h, err := auth.HashPassword("password-" + email)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.CreateUser(context.Background(), &apogee.User{ID: apogee.NewID(), Email: email, Password: h, Admin: true, CreatedAt: e.clock()}); err != nil {
		e.t.Fatal(err)
	}
	var tr apogee.TokenResponse
	e.must(e.call("POST", "/api/v1/auth/login", "", apogee.LoginRequest{Email: email, Password: "password-" + email}), 200, &tr)
	return tr.Token
}

// edgeCount is an api.EdgeCounter that answers what it holds (the
// server's real one, on Prometheus, is tested in internal/server).
type edgeCount apogee.EdgeTraffic

func (c edgeCount) EdgeTraffic(context.Context) (apogee.EdgeTraffic, error) {
	return apogee.EdgeTraffic(c), nil
}

func TestAdminRoutes(t *testing.T) {
	e := newEnvWith(t, func(c *platform.Config) { c.Edge = edgeCount{Requests: 12, Bytes: 3456} })
	root := e.admin("root@example.com")
	alice := e.user("alice@example.com")
	bob := e.user("bob@example.com")
	e.must(e.call("POST", "/api/v1/projects", alice, apogee.CreateProjectRequest{Name: "web"}), 201, nil)
	e.must(e.call("POST", "/api/v1/projects", bob, apogee.CreateProjectRequest{Name: "docs"}), 201, nil)
	d1 := e.deploy(alice, "web", "production", file{"index.html", "one"}, file{"a.css", "body{}"})
	d2 := e.deploy(alice, "web", "preview", file{"index.html", "two!"}, file{"a.css", "body{}"})

	// Who may ask: admins only.
	for _, path := range []string{"/api/v1/admin/figures", "/api/v1/admin/projects", "/api/v1/admin/deployments"} {
		e.wantErr(e.call("GET", path, "", nil), 401, apogee.EUNAUTHORIZED)
		e.wantErr(e.call("GET", path, alice, nil), 403, apogee.EFORBIDDEN)
	}

	var f apogee.AdminFigures
	e.must(e.call("GET", "/api/v1/admin/figures", root, nil), 200, &f)
	if f.Users != 3 || f.Projects != 2 || f.Deployments != 2 || f.BuildsRunning != 0 || f.BuildsQueued != 0 {
		t.Errorf("figures %+v, want 3 users, 2 projects, 2 deployments, no builds", f.SystemFigures)
	}
	// Three distinct files: "one", "two!" and "body{}" (shared, stored once).
	if want := int64(len("one") + len("two!") + len("body{}")); f.StoredBytes != want {
		t.Errorf("stored bytes %d, want %d", f.StoredBytes, want)
	}
	if f.Edge == nil || *f.Edge != (apogee.EdgeTraffic{Requests: 12, Bytes: 3456}) {
		t.Errorf("edge %+v, want what the edge counter said", f.Edge)
	}
	if f.Days != apogee.FigureDays || len(f.DeploymentsPerDay) != apogee.FigureDays {
		t.Fatalf("%d days of %d, want %d", len(f.DeploymentsPerDay), f.Days, apogee.FigureDays)
	}
	today := d2.CreatedAt.UTC().Format(apogee.DayLayout)
	last := f.DeploymentsPerDay[apogee.FigureDays-1]
	if last != (apogee.DayCount{Day: today, Count: 2}) {
		t.Errorf("last day %+v, want %s with 2", last, today)
	}
	first, _ := time.Parse(apogee.DayLayout, f.DeploymentsPerDay[0].Day)
	if got := first.AddDate(0, 0, apogee.FigureDays-1).Format(apogee.DayLayout); got != today {
		t.Errorf("days start at %s: %d days later is %s, not today %s", first, apogee.FigureDays-1, got, today)
	}
	for _, d := range f.DeploymentsPerDay[:apogee.FigureDays-1] {
		if d.Count != 0 {
			t.Errorf("day %s has %d deployments, want 0", d.Day, d.Count)
		}
	}

	// The platform's traffic of 24 hours, from the request records: none
	// yet, then web's 3 and docs' 1 (and an older one of web, left out).
	if tr := f.Traffic; tr == nil || tr.Requests != 0 || len(tr.Series) != 24 || len(tr.TopProjects) != 0 {
		t.Errorf("traffic before any request: %+v", tr)
	}
	now := e.clock()
	var recs []apogee.Request
	for i, r := range []struct {
		project, visitor string
		status           int
		ago              time.Duration
	}{{"web", "a", 200, time.Minute}, {"web", "b", 500, time.Hour}, {"web", "a", 200, time.Hour}, {"docs", "c", 200, time.Minute}, {"web", "d", 200, 30 * time.Hour}} {
		p, err := e.store.ProjectByName(context.Background(), r.project)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, apogee.Request{Time: now.Add(-r.ago), ProjectID: p.ID, DeploymentID: d1.ID, Method: "GET", Path: "/",
			Status: r.status, Bytes: int64(100 * (i + 1)), Visitor: r.visitor, Device: apogee.DeviceDesktop})
	}
	if err := e.store.AppendRequests(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	if err := traffic.Save(context.Background(), e.store, "test", recs); err != nil {
		t.Fatal(err)
	}
	e.must(e.call("GET", "/api/v1/admin/figures", root, nil), 200, &f)
	tr := f.Traffic
	if tr == nil || tr.Requests != 4 || tr.Visitors != 3 || tr.Bytes != 1000 || tr.Errors != 1 || len(tr.Series) != 24 ||
		len(tr.TopProjects) != 2 || tr.TopProjects[0] != (apogee.Count{Key: "web", Count: 3}) || tr.TopProjects[1] != (apogee.Count{Key: "docs", Count: 1}) {
		t.Fatalf("traffic %+v, want 4 requests of 3 visitors, 1,000 bytes, 1 error; web 3, docs 1", tr)
	}
	var sum, errs int64
	for _, p := range tr.Series {
		sum, errs = sum+p.Requests, errs+p.Errors
	}
	if last := tr.Series[23]; sum != 4 || errs != 1 || !last.Time.Equal(now.Truncate(time.Hour)) {
		t.Errorf("series sums %d requests and %d errors, last hour %+v; want 4 and 1, the current hour last", sum, errs, last)
	}

	var ps struct {
		Projects []apogee.AdminProjectView `json:"projects"`
	}
	e.must(e.call("GET", "/api/v1/admin/projects", root, nil), 200, &ps)
	if len(ps.Projects) != 2 {
		t.Fatalf("%d projects, want 2", len(ps.Projects))
	}
	docs, web := ps.Projects[0], ps.Projects[1]
	if docs.Name != "docs" || docs.OwnerEmail != "bob@example.com" || docs.LastDeployment != nil {
		t.Errorf("docs = %+v (last %+v), want bob's with no deployment", docs.Project, docs.LastDeployment)
	}
	if web.Name != "web" || web.OwnerEmail != "alice@example.com" || web.URL != "http://web.localhost/" ||
		web.ProductionID != d1.ID || web.LastDeployment == nil || web.LastDeployment.ID != d2.ID ||
		web.LastDeployment.Status != apogee.StatusReady || web.LastDeployment.Production {
		t.Errorf("web = %+v (last %+v), want alice's with d2 last and d1 in production", web.Project, web.LastDeployment)
	}
	if web.WebhookSecret != "" {
		t.Error("the admin list shows a project's webhook secret")
	}

	var ds struct {
		Deployments []apogee.DeploymentView `json:"deployments"`
	}
	e.must(e.call("GET", "/api/v1/admin/deployments", root, nil), 200, &ds)
	if len(ds.Deployments) != 2 || ds.Deployments[0].ID != d2.ID || ds.Deployments[1].ID != d1.ID ||
		ds.Deployments[1].Project != "web" || !ds.Deployments[1].Production || ds.Deployments[1].URL == "" {
		t.Errorf("deployments %+v, want d2 then d1 (production) of web", ds.Deployments)
	}
	e.must(e.call("GET", "/api/v1/admin/deployments?limit=1", root, nil), 200, &ds)
	if len(ds.Deployments) != 1 || ds.Deployments[0].ID != d2.ID {
		t.Errorf("limit=1 gave %+v, want d2", ds.Deployments)
	}
	for _, bad := range []string{"0", "1001", "x"} {
		e.wantErr(e.call("GET", "/api/v1/admin/deployments?limit="+bad, root, nil), 400, apogee.EINVALID)
	}
}

func TestAdminFiguresWithoutEdge(t *testing.T) {
	e := newEnv(t)
	root := e.admin("root@example.com")
	var f apogee.AdminFigures
	e.must(e.call("GET", "/api/v1/admin/figures", root, nil), 200, &f)
	if f.Edge != nil || f.Users != 1 || f.StoredBytes != 0 {
		t.Errorf("figures %+v, edge %+v: want one user, nothing stored, no edge", f.SystemFigures, f.Edge)
	}
}
