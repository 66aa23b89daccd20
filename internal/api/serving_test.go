package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/apogee-dev/apogee"
)

// An invalid vercel.json fails finalize: the deployment ends in status
// error with a reason naming the file and rule, and production stays.
func TestFinalizeInvalidConfig(t *testing.T) {
	e := newEnv(t)
	tok := e.user("a@example.com")
	e.must(e.call("POST", "/api/v1/projects", tok, apogee.CreateProjectRequest{Name: "web"}), 201, nil)
	live := e.deploy(tok, "web", apogee.TargetProduction, file{"index.html", "v1"})
	events, err := e.bus.Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	files := []file{
		{"index.html", "v2"},
		{"vercel.json", `{"redirects": [{"source": "/old", "destination": "/new"}, {"source": "/(?!uk/)x", "destination": "/y"}]}`},
	}
	var d apogee.DeploymentView
	e.must(e.call("POST", "/api/v1/projects/web/deployments", tok,
		apogee.CreateDeploymentRequest{Files: manifest(files...), Target: apogee.TargetProduction}), 201, &d)
	for _, f := range files {
		e.must(e.call("PUT", "/api/v1/deployments/"+d.ID+"/files/"+manifest(f)[0].SHA256, tok, []byte(f.content)), 204, nil)
	}
	b := e.wantErr(e.call("POST", "/api/v1/deployments/"+d.ID+"/finalize", tok, nil), 400, apogee.EINVALID)
	if !strings.Contains(b.Error.Message, "vercel.json") || !strings.Contains(b.Error.Message, "redirects[1]") {
		t.Errorf("finalize error %q does not name the file and the rule", b.Error.Message)
	}

	var got apogee.DeploymentView
	e.must(e.call("GET", "/api/v1/deployments/"+d.ID, tok, nil), 200, &got)
	if got.Status != apogee.StatusError || got.Error != b.Error.Message {
		t.Errorf("deployment after failed finalize: status %q, error %q; want error with %q", got.Status, got.Error, b.Error.Message)
	}
	if p := e.production("web"); p != live.ID {
		t.Errorf("production moved to %s after a failed finalize; want %s", p, live.ID)
	}
	e.wantErr(e.call("POST", "/api/v1/deployments/"+d.ID+"/finalize", tok, nil), 409, apogee.ECONFLICT)
	// The failure is told on the bus (notifications), and nothing else is.
	var told []string
	for len(events) > 0 {
		ev := <-events
		told = append(told, ev.Type+" "+ev.DeploymentID)
	}
	if len(told) != 1 || told[0] != apogee.EventDeploymentFailed+" "+d.ID {
		t.Errorf("events after the failed finalize: %q; want one %s of %s", told, apogee.EventDeploymentFailed, d.ID)
	}
}

// Finalize snapshots the project's serve settings and makes variants of
// compressible files once per content hash.
func TestFinalizePrepares(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tok := e.user("a@example.com")
	e.must(e.call("POST", "/api/v1/projects", tok, apogee.CreateProjectRequest{Name: "web"}), 201, nil)
	p, err := e.store.ProjectByName(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	p.Settings.Serve = apogee.ServeSettings{SPA: true, NoSniff: true}
	if err := e.store.UpdateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	js := strings.Repeat("export const answer = 42;\n", 100)
	d := e.deploy(tok, "web", apogee.TargetProduction, file{"index.html", "<h1>hi</h1>"}, file{"app.js", js})
	serve, err := e.store.DeploymentServe(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if serve != p.Settings.Serve {
		t.Errorf("serve snapshot %+v; want %+v", serve, p.Settings.Serve)
	}
	vs, err := e.store.DeploymentVariants(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 {
		t.Fatalf("variants %+v; want br and gzip of app.js", vs)
	}
	for _, v := range vs {
		if missing, _ := e.blobs.Missing(ctx, []string{v.VariantSHA256}); len(missing) != 0 {
			t.Errorf("%s variant blob is not stored", v.Encoding)
		}
	}

	// Settings changed later apply to the next deployment only.
	p.Settings.Serve = apogee.ServeSettings{}
	if err := e.store.UpdateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	if serve, _ := e.store.DeploymentServe(ctx, d.ID); !serve.SPA {
		t.Error("a project settings change reached a finalized deployment")
	}
}

func TestUpdateProjectSettings(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tok := e.user("a@example.com")
	other := e.user("b@example.com")
	e.must(e.call("POST", "/api/v1/projects", tok, apogee.CreateProjectRequest{Name: "web"}), 201, nil)
	before := e.deploy(tok, "web", apogee.TargetProduction, file{"index.html", "v1"})

	var p apogee.ProjectView
	e.must(e.call("PATCH", "/api/v1/projects/web", tok,
		`{"settings": {"serve": {"spa": true, "trailing_slash": false, "hsts": true}}}`), 200, &p)
	no := false
	want := apogee.ServeSettings{SPA: true, TrailingSlash: &no, HSTS: true}
	if !equalServe(p.Settings.Serve, want) {
		t.Fatalf("after patch: %+v; want %+v", p.Settings.Serve, want)
	}
	// A merge: keys left out stay, null resets one.
	p = apogee.ProjectView{}
	e.must(e.call("PATCH", "/api/v1/projects/web", tok,
		`{"settings": {"serve": {"nosniff": true, "trailing_slash": null, "hsts": false}}}`), 200, &p)
	want = apogee.ServeSettings{SPA: true, NoSniff: true}
	if !equalServe(p.Settings.Serve, want) {
		t.Fatalf("after merge: %+v; want %+v", p.Settings.Serve, want)
	}
	p = apogee.ProjectView{}
	e.must(e.call("GET", "/api/v1/projects/web", tok, nil), 200, &p)
	if !equalServe(p.Settings.Serve, want) {
		t.Fatalf("GET after merge: %+v; want %+v", p.Settings.Serve, want)
	}
	p = apogee.ProjectView{}
	e.must(e.call("PATCH", "/api/v1/projects/web", tok,
		`{"settings": {"build": {"output_dir": "dist", "build_command": "npm run build"}}}`), 200, &p)
	if p.Settings.Build.OutputDir == nil || *p.Settings.Build.OutputDir != "dist" || !equalServe(p.Settings.Serve, want) {
		t.Fatalf("build patch: %+v", p.Settings)
	}

	for _, tt := range []struct{ body, msg string }{
		{`{"settings": {"serve": {"spaa": true}}}`, `settings.serve has no field "spaa"`},
		{`{"settings": {"serve": {"spa": "yes"}}}`, `settings.serve.spa must be a bool`},
		{`{"settings": {"serve": [1]}}`, `settings.serve must be an object`},
		{`{"settings": {"deploy": {}}}`, `no section "deploy"`},
		{`{"settings": {"build": {"root_dir": "../x"}}}`, `settings.build.root_dir`},
		{`{"settings": {"build": {"build_command": "a\nb"}}}`, `settings.build.build_command`},
		{`{"nmae": "x"}`, `unknown field "nmae"`},
		{`{}`, `send {"settings"`},
	} {
		b := e.wantErr(e.call("PATCH", "/api/v1/projects/web", tok, tt.body), 400, apogee.EINVALID)
		if !strings.Contains(b.Error.Message, tt.msg) {
			t.Errorf("PATCH %s: %q; want it to say %q", tt.body, b.Error.Message, tt.msg)
		}
	}
	e.wantErr(e.call("PATCH", "/api/v1/projects/web", other, `{"settings": {"serve": {"spa": false}}}`), 404, apogee.ENOTFOUND)
	p = apogee.ProjectView{}
	e.must(e.call("GET", "/api/v1/projects/web", tok, nil), 200, &p)
	if !equalServe(p.Settings.Serve, want) {
		t.Fatalf("refused patches changed settings: %+v", p.Settings.Serve)
	}

	// The deployment made before keeps its snapshot; the next one gets
	// the new settings.
	if s, _ := e.store.DeploymentServe(ctx, before.ID); !equalServe(s, apogee.ServeSettings{}) {
		t.Errorf("earlier deployment's settings changed: %+v", s)
	}
	after := e.deploy(tok, "web", apogee.TargetProduction, file{"index.html", "v2"})
	if s, _ := e.store.DeploymentServe(ctx, after.ID); !equalServe(s, want) {
		t.Errorf("next deployment's settings: %+v; want %+v", s, want)
	}
	// null resets a whole section.
	p = apogee.ProjectView{}
	e.must(e.call("PATCH", "/api/v1/projects/web", tok, `{"settings": {"serve": null}}`), 200, &p)
	if !equalServe(p.Settings.Serve, apogee.ServeSettings{}) {
		t.Errorf("after null: %+v", p.Settings.Serve)
	}
}

func equalServe(a, b apogee.ServeSettings) bool {
	ta, tb := a.TrailingSlash, b.TrailingSlash
	a.TrailingSlash, b.TrailingSlash = nil, nil
	return a == b && (ta == nil) == (tb == nil) && (ta == nil || *ta == *tb)
}
