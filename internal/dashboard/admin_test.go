package dashboard

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// adminPages are the admin pages with what an admin sees on each, given
// the fixture of TestAdminPages.
func adminPages(e *env, web *apogee.Project, build *apogee.Deployment) []struct {
	path string
	want []string
} {
	// The day of the fixture's deployments, not of now: a run across
	// midnight (UTC) counts them on the day they were made.
	today := build.CreatedAt.UTC().Format("Jan 2")
	return []struct {
		path string
		want []string
	}{
		{"/admin", []string{
			"<h1>Overview</h1>", `aria-label="Admin"`,
			"Deployments, 30 days", // the card, then its value
			"Builds running", "Users", "Projects",
			"<title>" + today + ": 3 deployments</title>",
			"3 deployments from",
		}},
		{"/admin/projects", []string{
			`data-project="web"`, "alice@example.com", `href="http://web.localhost/"`,
			`<span class="badge building">Building</span>`, `href="/deployments/` + build.ID + `"`,
			`data-project="docs"`, "never deployed",
		}},
		{"/admin/deployments", []string{
			`data-deployment="` + build.ID + `"`, `<a href="/projects/web">web</a>`, "git · main",
			`<span class="tag prod">Production</span>`,
		}},
	}
}

func TestAdminPages(t *testing.T) {
	e := newEnv(t, SignupClosed)
	web, _, _ := e.project(e.alice, "web")
	build := e.building(web)
	docs := &apogee.Project{ID: apogee.NewID(), Name: "docs", OwnerID: e.bob.ID, CreatedAt: time.Now().UTC()}
	if err := e.store.CreateProject(t.Context(), docs); err != nil {
		t.Fatal(err)
	}
	admin, alice, nobody := e.signedIn(e.admin), e.signedIn(e.alice), e.browser()

	for _, p := range adminPages(e, web, build) {
		t.Run(p.path, func(t *testing.T) {
			want(t, "admin", admin.get(p.path), http.StatusOK, p.want...)
			want(t, "non-admin", alice.get(p.path), http.StatusForbidden, "for the admins of this server")
			res := nobody.get(p.path)
			if res.code != http.StatusSeeOther || res.location != "/login?next="+url.QueryEscape(p.path) {
				t.Fatalf("signed out: %d to %q, want the sign-in page coming back here", res.code, res.location)
			}
		})
	}

	// The figures are the fixture's: 3 deployments today, 1 building, 3
	// users, 2 projects.
	res := admin.get("/admin")
	for label, value := range map[string]string{"Deployments, 30 days": "3", "Builds running": "1", "Users": "3", "Projects": "2"} {
		re := regexp.MustCompile(`<span class="label">` + regexp.QuoteMeta(label) + `</span>\s*<span class="value">(?:<a [^>]*>)?([^<]*)<`)
		m := re.FindStringSubmatch(res.body)
		if m == nil || m[1] != value {
			t.Errorf("card %q shows %v, want %s", label, m, value)
		}
	}
	deploys, traffic, ok := strings.Cut(res.body, `id="platform-traffic"`)
	if !ok {
		t.Fatal("the overview has no traffic section")
	}
	if n := strings.Count(deploys, `<rect class="bar`); n != 30 {
		t.Errorf("the deployments chart has %d bars, want 30", n)
	}
	if n := strings.Count(traffic, `<rect class="bar`); n != 24 {
		t.Errorf("the traffic chart has %d bars, want 24 (hours)", n)
	}
	// Only an admin is shown the way in.
	want(t, "admin's nav", admin.get("/account"), http.StatusOK, `<a href="/admin">Admin</a>`)
	if res := alice.get("/account"); strings.Contains(res.body, `href="/admin"`) {
		t.Error("a non-admin's pages link to /admin")
	}
}

func TestAdminEmpty(t *testing.T) {
	e := newEnv(t, SignupClosed)
	admin := e.signedIn(e.admin)
	want(t, "overview", admin.get("/admin"), http.StatusOK, "No deployments from", "apogee deploy")
	want(t, "projects", admin.get("/admin/projects"), http.StatusOK, "No projects yet")
	want(t, "deployments", admin.get("/admin/deployments"), http.StatusOK, "No deployments yet")
}

func TestNewChart(t *testing.T) {
	days := []apogee.DayCount{{Day: "2026-03-01", Count: 0}, {Day: "2026-03-02", Count: 4}, {Day: "2026-03-03", Count: 1}}
	c := newChart(days)
	if c.Total != 5 || c.Max != 4 || c.Busiest != "Mar 2 (4)" || c.First != "Mar 1" || c.Mid != "Mar 2" || c.Last != "Mar 3" {
		t.Fatalf("chart %+v", c)
	}
	if !c.Bars[0].Zero || c.Bars[1].H != chartHeight-4 || c.Bars[1].Y != 4 || c.Bars[2].H != (chartHeight-4)/4 {
		t.Errorf("bars %+v: want an empty stub, the full height, a quarter", c.Bars)
	}
	if c.Bars[2].Label != "Mar 3: 1 deployment" || c.Bars[1].Label != "Mar 2: 4 deployments" {
		t.Errorf("labels %q, %q", c.Bars[1].Label, c.Bars[2].Label)
	}
	if got := thousands(1234567); got != "1,234,567" {
		t.Errorf("thousands = %s", got)
	}
}

func TestAdminUsersAndPlans(t *testing.T) {
	e := newEnv(t, SignupClosed)
	admin, alice, nobody := e.signedIn(e.admin), e.signedIn(e.alice), e.browser()
	ctx := t.Context()
	pro := &apogee.Plan{Name: "pro", Limits: apogee.PlanLimits{Projects: 50, ConcurrentBuilds: 4, BuildMinutes: 6000, StorageBytes: 10 << 30, CustomDomains: -1}}
	if err := e.store.CreatePlan(ctx, pro); err != nil {
		t.Fatal(err)
	}

	// The pages: admins only.
	for _, p := range []struct {
		path string
		want []string
	}{
		{"/admin/users", []string{`data-user="alice@example.com"`, `<label for="plan-` + e.alice.ID + `" class="sr-only">Plan of alice@example.com</label>`,
			`<option value="` + pro.ID + `">pro</option>`, `aria-label="Disable alice@example.com"`, `<span class="badge ready">Active</span>`}},
		{"/admin/plans", []string{`data-plan="pro"`, `data-plan="free"`, "unlimited", "10 GiB", `<label for="plan-name">Plan name</label>`}},
		{"/admin/plans/" + pro.ID, []string{"Edit plan pro", `value="10240"`, "Delete plan"}},
	} {
		want(t, "admin "+p.path, admin.get(p.path), http.StatusOK, p.want...)
		want(t, "non-admin "+p.path, alice.get(p.path), http.StatusForbidden, "for the admins of this server")
		if res := nobody.get(p.path); res.code != http.StatusSeeOther || !strings.HasPrefix(res.location, "/login?next=") {
			t.Errorf("signed out %s: %d to %q", p.path, res.code, res.location)
		}
	}
	want(t, "no such plan", admin.get("/admin/plans/nope"), http.StatusNotFound)

	// Every POST: admin only, with the session's CSRF token.
	posts := []struct {
		path string
		form url.Values
	}{
		{"/admin/users/" + e.bob.ID + "/disabled", url.Values{"disabled": {"1"}}},
		{"/admin/users/" + e.bob.ID + "/plan", url.Values{"plan": {pro.ID}}},
		{"/admin/plans", url.Values{"name": {"team"}, "projects": {"10"}, "concurrent_builds": {"2"}, "build_minutes": {"1000"}, "storage_mib": {"2048"}, "custom_domains": {"5"}}},
		{"/admin/plans/" + pro.ID, url.Values{"name": {"pro"}, "projects": {"60"}, "concurrent_builds": {"4"}, "build_minutes": {"-1"}, "storage_mib": {"-1"}, "custom_domains": {"-1"}}},
		{"/admin/plans/" + pro.ID + "/delete", url.Values{}},
	}
	unchanged := func(what string) {
		t.Helper()
		bob, _ := e.store.UserByID(ctx, e.bob.ID)
		plans, _ := e.store.ListPlans(ctx)
		p, _ := e.store.PlanByID(ctx, pro.ID)
		if bob.Disabled() || bob.PlanID != "" || len(plans) != 2 || p == nil || p.Limits.Projects != 50 {
			t.Fatalf("%s changed something: bob %+v, %d plans, pro %+v", what, bob, len(plans), p)
		}
	}
	for _, p := range posts {
		noCSRF := url.Values{"csrf": {""}}
		for k, v := range p.form {
			noCSRF[k] = v
		}
		want(t, "no CSRF "+p.path, admin.post(p.path, noCSRF), http.StatusForbidden)
		want(t, "non-admin "+p.path, alice.post(p.path, clone(p.form)), http.StatusForbidden)
		want(t, "signed out "+p.path, nobody.post(p.path, clone(p.form)), http.StatusForbidden)
	}
	unchanged("refused POSTs")

	// The admin disables bob: he can no longer sign in, and the page says so.
	bobB := e.signedIn(e.bob)
	res := admin.post(posts[0].path, clone(posts[0].form))
	if res.code != http.StatusSeeOther || res.location != "/admin/users" {
		t.Fatalf("disable: %d %q %s", res.code, res.location, res.body[strings.Index(res.body, "<main>"):])
	}
	want(t, "after disable", admin.get("/admin/users"), http.StatusOK, "bob@example.com is disabled", `<tr data-user="bob@example.com" class="disabled">`,
		`<span class="badge error">Disabled</span>`, `aria-label="Enable bob@example.com"`)
	if res := bobB.get("/"); res.code == http.StatusOK && strings.Contains(res.body, "bob@example.com") {
		t.Error("bob's session still works after he was disabled")
	}
	if res := e.browser().post("/login", url.Values{"email": {"bob@example.com"}, "password": {password}}); res.code == http.StatusSeeOther {
		t.Error("a disabled user signed in")
	}
	// Bad input: nothing changes, the page says what was wrong.
	want(t, "bad disabled value", admin.post(posts[0].path, url.Values{"disabled": {"maybe"}}), http.StatusSeeOther)
	want(t, "own account", admin.post("/admin/users/"+e.admin.ID+"/disabled", url.Values{"disabled": {"1"}}), http.StatusSeeOther)
	want(t, "flash", admin.get("/admin/users"), http.StatusOK, "you cannot disable your own account")
	want(t, "no such user", admin.post("/admin/users/nope/disabled", url.Values{"disabled": {"1"}}), http.StatusNotFound)
	want(t, "enable", admin.post(posts[0].path, url.Values{"disabled": {"0"}}), http.StatusSeeOther)
	if bob, _ := e.store.UserByID(ctx, e.bob.ID); bob.Disabled() {
		t.Error("bob is still disabled after enable")
	}

	// Plans: a user's plan, then create, edit and delete.
	want(t, "set plan", admin.post(posts[1].path, clone(posts[1].form)), http.StatusSeeOther)
	if bob, _ := e.store.UserByID(ctx, e.bob.ID); bob.PlanID != pro.ID {
		t.Errorf("bob's plan is %q, want pro", bob.PlanID)
	}
	want(t, "plan flash", admin.get("/admin/users"), http.StatusOK, "bob@example.com is on plan pro now.", `<option value="`+pro.ID+`" selected>pro</option>`)
	want(t, "create plan", admin.post(posts[2].path, clone(posts[2].form)), http.StatusSeeOther)
	want(t, "plans", admin.get("/admin/plans"), http.StatusOK, "Plan team created.", `data-plan="team"`, "2 GiB")
	bad := url.Values{"name": {"broken"}, "projects": {"ten"}, "concurrent_builds": {"1"}, "build_minutes": {"1"}, "storage_mib": {"1"}, "custom_domains": {"1"}}
	want(t, "bad limit", admin.post("/admin/plans", bad), http.StatusBadRequest, "Projects: enter a whole number", `value="broken"`)
	dup := url.Values{"name": {"team"}, "projects": {"1"}, "concurrent_builds": {"1"}, "build_minutes": {"1"}, "storage_mib": {"1"}, "custom_domains": {"1"}}
	want(t, "duplicate name", admin.post("/admin/plans", dup), http.StatusConflict, "team")
	if plans, _ := e.store.ListPlans(ctx); len(plans) != 3 {
		t.Errorf("%d plans after refused creates, want 3", len(plans))
	}
	want(t, "edit plan", admin.post(posts[3].path, clone(posts[3].form)), http.StatusSeeOther)
	if p, _ := e.store.PlanByID(ctx, pro.ID); p.Limits.Projects != 60 || p.Limits.StorageBytes != apogee.Unlimited {
		t.Errorf("pro after edit: %+v", p.Limits)
	}
	want(t, "delete plan in use", admin.post(posts[4].path, nil), http.StatusSeeOther)
	if p, _ := e.store.PlanByID(ctx, pro.ID); p == nil {
		t.Fatal("a plan with a user on it was deleted")
	}
	want(t, "back to default", admin.post(posts[1].path, url.Values{"plan": {""}}), http.StatusSeeOther)
	want(t, "delete plan", admin.post(posts[4].path, nil), http.StatusSeeOther)
	if _, err := e.store.PlanByID(ctx, pro.ID); err == nil {
		t.Error("plan pro was not deleted")
	}
}

// clone copies a form, which browser.post fills in with a CSRF token.
func clone(v url.Values) url.Values {
	c := url.Values{}
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

// TestAdminPlanAppLimits: the plans page shows each plan's app limits,
// and an admin edits them; a bad value changes nothing.
func TestAdminPlanAppLimits(t *testing.T) {
	e := newEnv(t, SignupClosed)
	admin := e.signedIn(e.admin)
	want(t, "plans", admin.get("/admin/plans"), http.StatusOK, `<tr data-plan-apps="free">`, "512 MiB", "7 days or 100 MiB",
		`name="app_memory_mb"`, `name="runtime_log_days"`)
	form := url.Values{"name": {"free"}, "projects": {"10"}, "concurrent_builds": {"1"}, "build_minutes": {"100"}, "storage_mib": {"1024"},
		"custom_domains": {"5"}, "app_memory_mb": {"1024"}, "app_cpus": {"0.5"}, "app_pids": {"-1"}, "app_instances": {"0"},
		"releases_kept": {"5"}, "runtime_log_mib": {"50"}, "runtime_log_days": {"3"}, "dns_zones": {"7"}, "dns_records": {"250"},
		"request_log_days": {"14"}, "request_log_rows": {"5000"}, "audit_log_days": {"30"}}
	want(t, "save", admin.post("/admin/plans/free", form), http.StatusSeeOther)
	p, err := e.store.PlanByID(t.Context(), "free")
	if err != nil {
		t.Fatal(err)
	}
	wantL := apogee.PlanLimits{Projects: 10, ConcurrentBuilds: 1, BuildMinutes: 100, StorageBytes: 1 << 30, CustomDomains: 5,
		AppMemoryMB: 1024, AppCPUs: 0.5, AppPids: -1, AppInstances: 0, ReleasesKept: 5, RuntimeLogBytes: 50 << 20, RuntimeLogDays: 3,
		DNSZones: 7, DNSRecords: 250, RequestLogDays: 14, RequestLogRows: 5000, AuditLogDays: 30}
	if p.Limits != wantL {
		t.Fatalf("saved %+v\nwant %+v", p.Limits, wantL)
	}
	want(t, "after save", admin.get("/admin/plans"), http.StatusOK, "1 GiB", "0.5", "3 days or 50 MiB")
	want(t, "edit form", admin.get("/admin/plans/free"), http.StatusOK, `name="app_cpus" type="number" min="-1" step="0.01" value="0.5"`)
	for field, bad := range map[string]string{"app_cpus": "half", "app_instances": "many", "runtime_log_mib": "-7"} {
		f := clone(form)
		f.Set(field, bad)
		want(t, "bad "+field, admin.post("/admin/plans/free", f), http.StatusBadRequest, "enter")
	}
	if p, _ := e.store.PlanByID(t.Context(), "free"); p.Limits != wantL {
		t.Errorf("refused edits changed the plan: %+v", p.Limits)
	}
}
