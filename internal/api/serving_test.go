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
