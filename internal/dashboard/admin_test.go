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
	today := time.Now().UTC().Format("Jan 2")
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
	if n := strings.Count(res.body, `<rect class="bar`); n != 30 {
		t.Errorf("the chart has %d bars, want 30", n)
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
