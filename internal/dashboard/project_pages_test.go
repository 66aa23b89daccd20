package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/logs"
)

// TestProjectTabs: a project is pages, each with its own URL and its
// tab marked current; another user's are 404s.
func TestProjectTabs(t *testing.T) {
	e := newEnv(t, SignupClosed)
	e.project(e.alice, "web")
	alice, bob := e.signedIn(e.alice), e.signedIn(e.bob)
	for _, c := range []struct{ path, current, shows string }{
		{"/projects/web", `<a href="/projects/web" aria-current="page">Deployments</a>`, "Deploy a ZIP"},
		{"/projects/web/logs", `<a href="/projects/web/logs" aria-current="page">Logs</a>`, "Build log"},
		{"/projects/web/settings", `<a href="/projects/web/settings" aria-current="page">General</a>`, "Type <span class=\"mono\">web</span> to confirm"},
		{"/projects/web/settings/build", `aria-current="page">Build</a>`, "Framework preset"},
		{"/projects/web/settings/serving", `aria-current="page">Serving</a>`, "Single-page app"},
		{"/projects/web/settings/domains", `aria-current="page">Domains</a>`, "No custom domains"},
		{"/projects/web/settings/git", `aria-current="page">Git</a>`, "git push http://localhost/git/web.git"},
		{"/projects/web/settings/environment", `aria-current="page">Environment</a>`, "No variables yet"},
		{"/projects/web/settings/notifications", `aria-current="page">Notifications</a>`, "No webhooks yet"},
	} {
		page := alice.get(c.path)
		want(t, c.path, page, 200, c.current, c.shows)
		if strings.Count(page.body, `aria-current="page"`) != map[bool]int{true: 3, false: 2}[strings.Contains(c.path, "/settings")] {
			t.Errorf("%s marks %d links current", c.path, strings.Count(page.body, `aria-current="page"`))
		}
		want(t, "bob "+c.path, bob.get(c.path), 404)
	}
	// A form returns to the page it is on.
	for _, c := range []struct {
		path string
		form url.Values
		to   string
	}{
		{"/projects/web/env", url.Values{"key": {"A"}, "value": {"1"}}, "/projects/web/settings/environment"},
		{"/projects/web/settings/build", url.Values{"build_command": {"make"}}, "/projects/web/settings/build"},
		{"/projects/web/settings/serve", url.Values{"trailing_slash": {"leave"}}, "/projects/web/settings/serving"},
		{"/projects/web/domains", url.Values{"domain": {""}}, "/projects/web/settings/domains"},
		{"/projects/web/rollback", nil, "/projects/web"},
	} {
		res := alice.post(c.path, c.form)
		if res.code != http.StatusSeeOther || res.location != c.to {
			t.Errorf("POST %s = %d to %q, want 303 to %s", c.path, res.code, res.location, c.to)
		}
	}
}

// TestRenameAndDeleteProject renames a project and deletes it, with its
// name typed to confirm, from the General settings.
func TestRenameAndDeleteProject(t *testing.T) {
	e := newEnv(t, SignupClosed)
	_, _, prod := e.project(e.alice, "web")
	e.project(e.alice, "blog")
	alice, bob := e.signedIn(e.alice), e.signedIn(e.bob)

	want(t, "bob renames", bob.post("/projects/web/rename", url.Values{"new_name": {"bobs"}}), 404)
	want(t, "bob deletes", bob.post("/projects/web/delete", url.Values{"confirm": {"web"}}), 404)
	want(t, "no csrf", alice.post("/projects/web/rename", url.Values{"csrf": {""}, "new_name": {"x"}}), 403)
	for _, c := range []struct{ name, msg string }{
		{"blog", "is taken"},
		{"Bad Name", "project name"},
		{"web", "has that name already"},
	} {
		res := alice.post("/projects/web/rename", url.Values{"new_name": {c.name}})
		if res.code != http.StatusSeeOther || res.location != "/projects/web/settings" {
			t.Fatalf("rename to %q = %d %q", c.name, res.code, res.location)
		}
		want(t, "rename to "+c.name, alice.get(res.location), 200, `class="flash error"`, c.msg)
	}

	res := alice.post("/projects/web/rename", url.Values{"new_name": {" site "}})
	if res.code != http.StatusSeeOther || res.location != "/projects/site/settings" {
		t.Fatalf("rename = %d %q", res.code, res.location)
	}
	want(t, "renamed", alice.get(res.location), 200, "Project renamed to site", `value="site"`)
	want(t, "old name", alice.get("/projects/web"), 404)
	if e.production("site") != prod.ID {
		t.Fatal("production did not follow the rename")
	}

	for _, typed := range []string{"", "web", "Site"} {
		want(t, "delete typed "+typed, alice.post("/projects/site/delete", url.Values{"confirm": {typed}}), http.StatusSeeOther)
		want(t, "refused delete", alice.get("/projects/site/settings"), 200, "type the project&#39;s name, site, to confirm")
	}
	if _, err := e.store.ProjectByName(context.Background(), "site"); err != nil {
		t.Fatalf("a refused delete removed the project: %v", err)
	}
	res = alice.post("/projects/site/delete", url.Values{"confirm": {"site"}})
	if res.code != http.StatusSeeOther || res.location != "/" {
		t.Fatalf("delete = %d %q", res.code, res.location)
	}
	want(t, "after delete", alice.get("/"), 200, "Project site deleted.")
	want(t, "deleted", alice.get("/projects/site"), 404)
}

// TestProjectLogsTab shows the newest deployment's build log, another by
// ?deployment=, and refuses one of another project.
func TestProjectLogsTab(t *testing.T) {
	e := newEnv(t, SignupClosed)
	p, older, _ := e.project(e.alice, "web")
	_, other, _ := e.project(e.alice, "blog")
	d := e.building(p)
	w := logs.NewWriter(d.ID, e.store, e.hub, logs.Options{})
	w.Systemf("cloning main")
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	alice := e.signedIn(e.alice)
	want(t, "logs tab", alice.get("/projects/web/logs"), 200, "cloning main", `data-log-src="/deployments/`+d.ID+`/log?after=`,
		`<option value="`+d.ID+`" selected>`)
	want(t, "an older one", alice.get("/projects/web/logs?deployment="+older.ID), 200, "no build, so no build log", `<option value="`+older.ID+`" selected>`)
	want(t, "another project's", alice.get("/projects/web/logs?deployment="+other.ID), 404)
	want(t, "bob", e.signedIn(e.bob).get("/projects/web/logs?deployment="+d.ID), 404)
}

// TestFrameworkLabels: the framework a build recorded is a label on the
// project's card, its page (heading and row) and the deployment's page,
// with the Node.js the build ran with; an upload of built files has
// none.
func TestFrameworkLabels(t *testing.T) {
	e := newEnv(t, SignupClosed)
	ctx := context.Background()
	p, upload, _ := e.project(e.alice, "web")
	d := e.building(p)
	if err := e.store.SetBuildInfo(ctx, d.ID, apogee.BuildInfo{Framework: "nextjs", NodeVersion: "22.12.0"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.FinishBuild(ctx, d.ID, nil, time.Now().UTC(), true); err != nil {
		t.Fatal(err)
	}
	e.project(e.alice, "plain") // uploads only
	alice := e.signedIn(e.alice)
	label := `<span class="framework" data-framework="nextjs"`
	home := alice.get("/")
	want(t, "home", home, 200, label, ">Next.js</span>")
	if n := strings.Count(home.body, `class="framework"`); n != 1 {
		t.Errorf("the home page shows %d framework labels, want 1 (the uploaded project has none)", n)
	}
	page := alice.get("/projects/web")
	want(t, "project page", page, 200, label+` title="Production was built with Next.js">Next.js</span>`)
	if n := strings.Count(page.body, label); n != 2 {
		t.Errorf("the project page shows %d labels, want 2 (heading and the built row)", n)
	}
	want(t, "deployment page", alice.get("/deployments/"+d.ID), 200, "<dt>Framework</dt>", label, `<dd id="node-version">22.12.0</dd>`)
	if res := alice.get("/deployments/" + upload.ID); strings.Contains(res.body, "<dt>Framework</dt>") || strings.Contains(res.body, "node-version") {
		t.Errorf("an uploaded deployment's page names a framework or Node.js")
	}
	want(t, "bob", e.signedIn(e.bob).get("/deployments/"+d.ID), 404)
}
