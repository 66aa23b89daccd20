package dashboard

import (
	"archive/zip"
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/logs"
	"github.com/apogee-dev/apogee/internal/platform"
	"github.com/apogee-dev/apogee/internal/resolver"
	"github.com/apogee-dev/apogee/internal/resolver/resolvertest"
	"github.com/apogee-dev/apogee/internal/secretbox"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// newPagesEnv is newEnv with the platform domain apogee.test, a DNS
// server the test controls and a ZIP limit of maxZip bytes.
func newPagesEnv(t *testing.T, maxZip int64) (*env, *resolvertest.Zone) {
	t.Helper()
	store, blobs, _ := testbed.Backends(t)
	log := testbed.Quiet
	bus := events.NewLocal(log)
	t.Cleanup(func() { bus.Close() })
	zone, addr := resolvertest.Start(t)
	res, err := resolver.New(addr)
	if err != nil {
		t.Fatal(err)
	}
	hub := logs.NewHub(0)
	box := secretbox.NewRandom()
	svc, a := services(t, platform.Config{Store: store, Blobs: blobs, Bus: bus, Logs: hub, Log: log, Box: box,
		Domain: "apogee.test", Resolver: res, MaxZipSize: maxZip, GitSchemes: []string{"https", "file"}})
	d, err := New(Config{Store: store, Services: svc, Logs: hub, Log: log, MaxZipSize: maxZip})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: store, hub: hub, box: box, api: a, svc: svc, srv: httptest.NewServer(d)}
	t.Cleanup(e.srv.Close)
	e.alice = e.user("alice@example.com", false)
	e.bob = e.user("bob@example.com", false)
	e.admin = e.user("admin@example.com", true)
	return e, zone
}

func (e *env) settings(name string) apogee.ProjectSettings {
	e.t.Helper()
	p, err := e.store.ProjectByName(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	return p.Settings
}

func derefAll(b apogee.BuildSettings) [5]string {
	return [5]string{derefOr(b.Framework), derefOr(b.InstallCommand), derefOr(b.BuildCommand), derefOr(b.OutputDir), derefOr(b.RootDir)}
}

// TestBuildAndServeSettings edits a project's build and serve settings
// by the project page's forms.
func TestBuildAndServeSettings(t *testing.T) {
	e, _ := newPagesEnv(t, 0)
	e.project(e.alice, "web")
	alice, bob, anon := e.signedIn(e.alice), e.signedIn(e.bob), e.browser()

	want(t, "build settings page", alice.get("/projects/web/settings/build"), 200, `<label for="b-framework">Framework preset</label>`,
		`<option value="vite">Vite</option>`, `<label for="b-output">Output folder</label>`)
	want(t, "serving settings page", alice.get("/projects/web/settings/serving"), 200, `<label class="choice" for="s-spa">`)
	want(t, "domains settings page", alice.get("/projects/web/settings/domains"), 200, "No custom domains")

	form := url.Values{"framework": {"vite"}, "install_command": {""}, "build_command": {"npm run build:site"},
		"output_dir": {" public "}, "root_dir": {"apps/web"}}
	res := alice.post("/projects/web/settings/build", form)
	want(t, "save build settings", res, http.StatusSeeOther)
	saved := [5]string{"vite", "", "npm run build:site", "public", "apps/web"}
	if got := derefAll(e.settings("web").Build); got != saved {
		t.Fatalf("build settings = %q, want %q", got, saved)
	}
	if e.settings("web").Build.InstallCommand != nil {
		t.Fatal("an empty install command must mean detect (null), not an empty command")
	}
	want(t, "page after save", alice.get("/projects/web/settings/build"), 200, "Build settings saved", `<option value="vite" selected>`,
		`value="npm run build:site"`, `value="apps/web"`)

	// Refused by the API: a message on the page and nothing changed.
	for _, c := range []struct{ field, value, msg string }{
		{"framework", "rails", "is not a preset"},
		{"output_dir", "../etc", "must be a relative path"},
		{"root_dir", "/abs", "must be a relative path"},
	} {
		bad := url.Values{}
		for k, v := range form {
			bad[k] = v
		}
		bad.Set(c.field, c.value)
		want(t, "bad "+c.field, alice.post("/projects/web/settings/build", bad), http.StatusSeeOther)
		want(t, "bad "+c.field+" message", alice.get("/projects/web/settings/build"), 200, c.msg)
		if got := derefAll(e.settings("web").Build); got != saved {
			t.Fatalf("bad %s changed the settings to %q", c.field, got)
		}
	}

	// Clearing a field goes back to detection.
	form.Set("framework", "")
	want(t, "clear framework", alice.post("/projects/web/settings/build", form), http.StatusSeeOther)
	if f := e.settings("web").Build.Framework; f != nil {
		t.Fatalf("framework = %q after clearing, want detect (nil)", *f)
	}

	res = alice.post("/projects/web/settings/serve", url.Values{"spa": {"1"}, "hsts": {"1"}, "trailing_slash": {"add"}})
	want(t, "save serve settings", res, http.StatusSeeOther)
	serve := e.settings("web").Serve
	if !serve.SPA || !serve.HSTS || serve.CleanURLs || serve.NoSniff || serve.TrailingSlash == nil || !*serve.TrailingSlash {
		t.Fatalf("serve settings = %+v", serve)
	}
	want(t, "page after serve", alice.get("/projects/web/settings/serving"), 200, `id="s-spa" name="spa" value="1" checked`, `<option value="add" selected>`)
	want(t, "bad trailing slash", alice.post("/projects/web/settings/serve", url.Values{"trailing_slash": {"sideways"}}), http.StatusSeeOther)
	want(t, "bad trailing slash message", alice.get("/projects/web/settings/serving"), 200, "trailing slash must be leave, add or remove")
	if got := e.settings("web").Serve; !got.SPA || got.TrailingSlash == nil {
		t.Fatalf("a refused form changed the serve settings: %+v", got)
	}
	res = alice.post("/projects/web/settings/serve", url.Values{"clean_urls": {"1"}, "trailing_slash": {"leave"}})
	want(t, "unset serve settings", res, http.StatusSeeOther)
	if got := e.settings("web").Serve; got.SPA || !got.CleanURLs || got.TrailingSlash != nil {
		t.Fatalf("serve settings after unchecking = %+v", got)
	}

	// Who may: another user sees a 404 and changes nothing; signed out
	// and without the CSRF token the form is refused.
	before := e.settings("web")
	for _, path := range []string{"/projects/web/settings/build", "/projects/web/settings/serve"} {
		want(t, "bob "+path, bob.post(path, url.Values{"framework": {"astro"}, "spa": {"1"}}), 404)
		want(t, "signed out "+path, anon.post(path, url.Values{"framework": {"astro"}, "spa": {"1"}}), 403)
		want(t, "no csrf "+path, alice.post(path, url.Values{"csrf": {""}, "framework": {"astro"}, "spa": {"1"}}), 403)
	}
	if after := e.settings("web"); derefAll(after.Build) != derefAll(before.Build) || after.Serve.SPA != before.Serve.SPA {
		t.Fatalf("refused forms changed the settings: %+v → %+v", before, after)
	}
	want(t, "admin", e.signedIn(e.admin).post("/projects/web/settings/serve", url.Values{"nosniff": {"1"}}), http.StatusSeeOther)
	if !e.settings("web").Serve.NoSniff {
		t.Fatal("an admin's change was not saved")
	}
}

// TestDomains adds a custom domain by the project page, sees its DNS
// records, verifies it against a real DNS server and removes it.
func TestDomains(t *testing.T) {
	e, zone := newPagesEnv(t, 0)
	e.project(e.alice, "web")
	e.project(e.alice, "blog")
	alice, bob, anon := e.signedIn(e.alice), e.signedIn(e.bob), e.browser()

	want(t, "add", alice.post("/projects/web/domains", url.Values{"domain": {"WWW.Example.com"}}), http.StatusSeeOther)
	d, err := e.store.DomainByName(context.Background(), "www.example.com")
	if err != nil {
		t.Fatal(err)
	}
	page := alice.get("/projects/web/settings/domains")
	want(t, "page with domain", page, 200, "Domain www.example.com added", "www.example.com", "Not verified",
		"_apogee.www.example.com", d.Token, "CNAME", "web.apogee.test", `<button type="submit" class="small">Verify</button>`)

	for _, c := range []struct{ domain, msg string }{
		{"", "enter a domain name"},
		{"localhost", ""},
		{"www.apogee.test", "the platform&#39;s own domain"},
		// Alice claims a name in one of her projects at most.
		{"www.example.com", "already added to project"},
	} {
		want(t, "add "+c.domain, alice.post("/projects/blog/domains", url.Values{"domain": {c.domain}}), http.StatusSeeOther)
		res := alice.get("/projects/blog/settings/domains")
		want(t, "message for "+c.domain, res, 200, `class="flash error"`, c.msg)
	}
	if ds, _ := e.store.ListDomains(context.Background(), mustProject(t, e, "blog").ID); len(ds) != 0 {
		t.Fatalf("refused domains were added: %v", ds)
	}

	// Verify before the record exists: the API's 409 message; then with it.
	want(t, "verify early", alice.post("/projects/web/domains/verify", url.Values{"domain": {"www.example.com"}}), http.StatusSeeOther)
	want(t, "verify early message", alice.get("/projects/web/settings/domains"), 200, `class="flash error"`, "_apogee.www.example.com")
	// The domain through another of alice's projects' path: not here.
	want(t, "verify by blog", alice.post("/projects/blog/domains/verify", url.Values{"domain": {"www.example.com"}}), http.StatusSeeOther)
	want(t, "verify by blog message", alice.get("/projects/blog/settings/domains"), 200, "is not a domain of project blog")
	// Bob, signed out, no CSRF: refused and still unverified.
	want(t, "bob verify", bob.post("/projects/web/domains/verify", url.Values{"domain": {"www.example.com"}}), 404)
	want(t, "bob add", bob.post("/projects/web/domains", url.Values{"domain": {"bob.example.com"}}), 404)
	want(t, "bob remove", bob.post("/projects/web/domains/remove", url.Values{"domain": {"www.example.com"}}), 404)
	want(t, "signed out add", anon.post("/projects/web/domains", url.Values{"domain": {"x.example.com"}}), 403)
	want(t, "no csrf add", alice.post("/projects/web/domains", url.Values{"csrf": {""}, "domain": {"x.example.com"}}), 403)
	want(t, "no csrf remove", alice.post("/projects/web/domains/remove", url.Values{"csrf": {""}, "domain": {"www.example.com"}}), 403)
	zone.Set("_apogee.www.example.com", d.Token)
	want(t, "no csrf verify", alice.post("/projects/web/domains/verify", url.Values{"csrf": {""}, "domain": {"www.example.com"}}), 403)
	if d, _ := e.store.DomainByName(context.Background(), "www.example.com"); d.Verified() {
		t.Fatal("a refused form verified the domain")
	}
	if _, err := e.store.DomainByName(context.Background(), "x.example.com"); err == nil {
		t.Fatal("a refused form added a domain")
	}

	want(t, "verify", alice.post("/projects/web/domains/verify", url.Values{"domain": {"www.example.com"}}), http.StatusSeeOther)
	want(t, "verified", alice.get("/projects/web/settings/domains"), 200, "is verified", `<span class="badge ready">Verified</span>`)
	if d, _ := e.store.DomainByName(context.Background(), "www.example.com"); !d.Verified() {
		t.Fatal("the domain is not verified in the store")
	}

	want(t, "remove", alice.post("/projects/web/domains/remove", url.Values{"domain": {"www.example.com"}}), http.StatusSeeOther)
	want(t, "removed", alice.get("/projects/web/settings/domains"), 200, "Domain www.example.com removed", "No custom domains")
	if _, err := e.store.DomainByName(context.Background(), "www.example.com"); err == nil {
		t.Fatal("the domain is still there")
	}
}

func mustProject(t *testing.T, e *env, name string) *apogee.Project {
	t.Helper()
	p, err := e.store.ProjectByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// zipOf returns a ZIP holding the files.
func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// postFile sends a multipart form as a browser does: the fields in
// order (the CSRF token first unless fields sets "csrf"), then the file
// (none when filename is "").
func (b *browser) postFile(path string, fields [][2]string, filename string, content []byte) response {
	b.e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	hasCSRF := false
	for _, f := range fields {
		hasCSRF = hasCSRF || f[0] == "csrf"
	}
	if !hasCSRF {
		mw.WriteField("csrf", b.csrf)
	}
	for _, f := range fields {
		if f[0] == "csrf" && f[1] == "" {
			continue
		}
		mw.WriteField(f[0], f[1])
	}
	fw, _ := mw.CreateFormFile("file", filename)
	fw.Write(content)
	mw.Close()
	req, _ := http.NewRequest("POST", b.e.srv.URL+path, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(req)
}

// TestZipUploads creates a project from a ZIP uploaded by the browser
// and deploys a new ZIP from the project page; refused uploads change
// nothing.
func TestZipUploads(t *testing.T) {
	const limit = 64 << 10
	e, _ := newPagesEnv(t, limit)
	alice, bob, anon := e.signedIn(e.alice), e.signedIn(e.bob), e.browser()
	site := zipOf(t, map[string]string{"index.html": "<h1>hello</h1>"})

	want(t, "new project page", alice.get("/projects/new?kind=zip"), 200, `<label for="zip">ZIP file`,
		`id="kind-zip" name="kind" value="zip" checked`, `enctype="multipart/form-data"`, `data-max="65536"`)

	noProject := func(name string) {
		t.Helper()
		if _, err := e.store.ProjectByName(context.Background(), name); err == nil {
			t.Fatalf("a refused form left project %s behind", name)
		}
	}
	big := make([]byte, limit+1)
	copy(big, site)
	for _, c := range []struct {
		what     string
		fields   [][2]string
		filename string
		content  []byte
		code     int
		msg      string
	}{
		{"no file", [][2]string{{"name", "nofile"}, {"kind", "zip"}}, "", nil, 400, "choose a .zip file"},
		{"not a zip", [][2]string{{"name", "notzip"}, {"kind", "zip"}}, "site.zip", []byte("hello, not a zip"), 400, "not a ZIP file"},
		{"too large", [][2]string{{"name", "toolarge"}, {"kind", "zip"}}, "site.zip", big, 413, "larger than the limit of 64 KiB"},
		{"far too large", [][2]string{{"name", "fartoolarge"}, {"kind", "zip"}}, "site.zip", make([]byte, limit+maxForm), 413, "larger than the limit of 64 KiB"},
		{"bad name", [][2]string{{"name", "Bad Name"}, {"kind", "zip"}}, "site.zip", site, 400, "name"},
		{"no csrf", [][2]string{{"csrf", ""}, {"name", "nocsrf"}, {"kind", "zip"}}, "site.zip", site, 403, "reload the page"},
	} {
		res := alice.postFile("/projects/new", c.fields, c.filename, c.content)
		want(t, c.what, res, c.code, c.msg)
		noProject(c.fields[len(c.fields)-2][1])
	}
	want(t, "signed out", anon.postFile("/projects/new", [][2]string{{"name", "anon"}, {"kind", "zip"}}, "site.zip", site), 403)
	noProject("anon")

	res := alice.postFile("/projects/new", [][2]string{{"name", "zipped"}, {"kind", "zip"}}, "site.zip", site)
	want(t, "create from zip", res, http.StatusSeeOther)
	if !strings.HasPrefix(res.location, "/deployments/") {
		t.Fatalf("create from zip went to %q", res.location)
	}
	id := strings.TrimPrefix(res.location, "/deployments/")
	dep, err := e.store.DeploymentByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if dep.Status != apogee.StatusQueued || dep.Source != apogee.SourceZip || dep.Target != apogee.TargetProduction || dep.SourceBlob == "" {
		t.Fatalf("deployment = %+v", dep)
	}
	mustProject(t, e, "zipped")
	want(t, "deployment page", alice.get(res.location), 200, "its ZIP is building", "Queued")

	// The project page's ZIP deploy: a preview; other users and refused files change nothing.
	count := func() int {
		list, err := e.svc.Deployments.Deployments(as(e.alice), "zipped", 20)
		if err != nil {
			t.Fatal(err)
		}
		return len(list)
	}
	want(t, "project page", alice.get("/projects/zipped"), 200, `<label for="zip-file">ZIP file</label>`, `action="/projects/zipped/zip"`)
	want(t, "bob zip", bob.postFile("/projects/zipped/zip", [][2]string{{"target", "preview"}}, "site.zip", site), 404)
	want(t, "anon zip", anon.postFile("/projects/zipped/zip", nil, "site.zip", site), 403)
	want(t, "no csrf zip", alice.postFile("/projects/zipped/zip", [][2]string{{"csrf", ""}}, "site.zip", site), 403)
	want(t, "not a zip", alice.postFile("/projects/zipped/zip", nil, "x.zip", []byte("nope")), http.StatusSeeOther)
	want(t, "not a zip message", alice.get("/projects/zipped"), 200, "not a ZIP file")
	want(t, "too large", alice.postFile("/projects/zipped/zip", nil, "x.zip", big), http.StatusSeeOther)
	want(t, "too large message", alice.get("/projects/zipped"), 200, "larger than the limit")
	if n := count(); n != 1 {
		t.Fatalf("%d deployments after refused uploads, want 1", n)
	}
	res = alice.postFile("/projects/zipped/zip", [][2]string{{"target", "preview"}}, "site.zip", site)
	want(t, "zip deploy", res, http.StatusSeeOther)
	dep, err = e.store.DeploymentByID(context.Background(), strings.TrimPrefix(res.location, "/deployments/"))
	if err != nil || dep.Target != apogee.TargetPreview || dep.Source != apogee.SourceZip {
		t.Fatalf("zip deploy = %+v, %v", dep, err)
	}
	if n := count(); n != 2 {
		t.Fatalf("%d deployments after a ZIP deploy, want 2", n)
	}

	// An ordinary form (no file) still creates empty and Git projects.
	alice.get("/projects/new")
	want(t, "empty project", alice.post("/projects/new", url.Values{"name": {"plain"}, "kind": {"empty"}}), http.StatusSeeOther)
	mustProject(t, e, "plain")
}

// TestRedeploy builds a Git deployment's commit again from the project page.
func TestRedeploy(t *testing.T) {
	e, _ := newPagesEnv(t, 0)
	ctx := context.Background()
	alice, bob, anon := e.signedIn(e.alice), e.signedIn(e.bob), e.browser()
	want(t, "git project", alice.post("/projects/new", url.Values{"name": {"app"}, "kind": {"git"},
		"git_url": {"https://git.example/acme/app.git"}, "branch": {"main"}}), http.StatusSeeOther)
	p := mustProject(t, e, "app")
	// Import queued the first build; alice cancels it.
	first, err := e.store.ListDeployments(ctx, p.ID, 0)
	if err != nil || len(first) != 1 {
		t.Fatalf("deployments after import %v, %v", first, err)
	}
	if _, err := e.svc.Builds.Cancel(apogee.NewContextWithUser(ctx, e.alice), first[0].ID); err != nil {
		t.Fatal(err)
	}
	const commit = "4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39"
	id := apogee.NewID()
	if err := e.store.QueueBuild(ctx, &apogee.Deployment{ID: id, ProjectID: p.ID, Target: apogee.TargetPreview,
		Host: apogee.DeploymentHost("app", id), CreatedAt: time.Now().UTC(), Source: apogee.SourceGit, Branch: "feature", Commit: commit}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.ClaimBuild(ctx, "test/1/1", time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	// The builder records the commit it fetched; lists show it, escaped.
	if err := e.store.SetBuildCommit(ctx, id, apogee.CommitInfo{SHA: commit, Message: "Fix the <b>header</b>", Author: "Ada Lovelace",
		URL: "https://github.com/acme/app/commit/" + commit}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.FinishBuild(ctx, id, nil, time.Now().UTC(), false); err != nil {
		t.Fatal(err)
	}
	for _, page := range []string{"/projects/app", "/deployments/" + id} {
		want(t, "commit on "+page, alice.get(page), 200, "Fix the &lt;b&gt;header&lt;/b&gt;", "Ada Lovelace",
			`href="https://github.com/acme/app/commit/`+commit+`"`)
	}
	_, upload, _ := e.project(e.alice, "site") // an uploaded deployment of another project
	count := func() int {
		ds, err := e.store.ListDeployments(ctx, p.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(ds)
	}
	want(t, "project page", alice.get("/projects/app"), 200, `action="/projects/app/redeploy"`, `aria-label="Redeploy 4f2a9c1"`)

	want(t, "bob", bob.post("/projects/app/redeploy", url.Values{"deployment_id": {id}}), 404)
	want(t, "signed out", anon.post("/projects/app/redeploy", url.Values{"deployment_id": {id}}), 403)
	want(t, "no csrf", alice.post("/projects/app/redeploy", url.Values{"csrf": {""}, "deployment_id": {id}}), 403)
	for _, c := range []struct{ id, msg string }{
		{"", "names no deployment"},
		{upload.ID, "is not a deployment of project app"},
		{"nosuchdeploy", "not found"},
	} {
		want(t, "redeploy "+c.id, alice.post("/projects/app/redeploy", url.Values{"deployment_id": {c.id}}), http.StatusSeeOther)
		want(t, "message for "+c.id, alice.get("/projects/app"), 200, `class="flash error"`, c.msg)
	}
	want(t, "upload through its own project", alice.post("/projects/site/redeploy", url.Values{"deployment_id": {upload.ID}}), http.StatusSeeOther)
	want(t, "upload message", alice.get("/projects/site"), 200, "was not built from a Git commit")
	if n := count(); n != 2 { // the canceled first build and the feature build
		t.Fatalf("%d deployments after refused redeploys, want 2", n)
	}

	res := alice.post("/projects/app/redeploy", url.Values{"deployment_id": {id}})
	want(t, "redeploy", res, http.StatusSeeOther)
	d, err := e.store.DeploymentByID(ctx, strings.TrimPrefix(res.location, "/deployments/"))
	if err != nil || d.Status != apogee.StatusQueued || d.Target != apogee.TargetPreview || d.Source != apogee.SourceGit || d.Commit != commit || d.Branch != "feature" || d.ID == id {
		t.Fatalf("redeploy made %+v, %v", d, err)
	}
	if n := count(); n != 3 {
		t.Fatalf("%d deployments after a redeploy, want 3", n)
	}
}

// TestDocsPages serves the documentation signed out and signed in; an
// unknown page is a 404 that points at the index.
func TestDocsPages(t *testing.T) {
	e, _ := newPagesEnv(t, 0)
	for _, b := range []*browser{e.browser(), e.signedIn(e.alice)} {
		want(t, "index", b.get("/docs"), 200, "Apogee documentation", `href="/docs/quick-start"`, `href="/docs/cli"`)
		res := b.get("/docs/cli")
		want(t, "cli", res, 200, `<h2 id="apogee-deploy">`, `href="#apogee-deploy"`, `aria-current="page">CLI reference</a>`)
		want(t, "unknown", b.get("/docs/nope"), 404, "/docs")
	}
	want(t, "signed in header", e.signedIn(e.alice).get("/docs/api"), 200, "alice@example.com", "Sign out")
}

// TestDeploymentRuleWarnings lists the rules a deployment was made
// without, with file and line, on its page.
func TestDeploymentRuleWarnings(t *testing.T) {
	e, _ := newPagesEnv(t, 0)
	ctx := context.Background()
	alice := e.signedIn(e.alice)
	p, plain, _ := e.project(e.alice, "site")
	id := apogee.NewID()
	d := &apogee.Deployment{ID: id, ProjectID: p.ID, Status: apogee.StatusUploading, Target: apogee.TargetPreview,
		Host: apogee.DeploymentHost(p.Name, id), CreatedAt: time.Now().UTC(), Source: apogee.SourceUpload}
	if err := e.store.CreateDeployment(ctx, d, nil); err != nil {
		t.Fatal(err)
	}
	ws := []apogee.RuleWarning{
		{File: "_redirects", Line: 2, Message: "status 999 is not a redirect or error status: <skipped>"},
		{File: "vercel.json", Rule: "rewrites[1]", Message: "Role conditions need Netlify Identity"},
	}
	if err := e.store.SetDeploymentWarnings(ctx, id, ws); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.FinalizeDeployment(ctx, id, time.Now().UTC(), false); err != nil {
		t.Fatal(err)
	}
	want(t, "deployment with warnings", alice.get("/deployments/"+id), 200, `id="rule-warnings"`,
		`_redirects line 2</span>: status 999 is not a redirect or error status: &lt;skipped&gt;`,
		`vercel.json rewrites[1]</span>: Role conditions`)
	res := alice.get("/deployments/" + plain.ID)
	want(t, "deployment without warnings", res, 200)
	if strings.Contains(res.body, "rule-warnings") {
		t.Errorf("a deployment without warnings shows the section")
	}
}
