package platform_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/apogee-dev/apogee"
)

// buildApp queues, claims and finishes a build of "web" as an app
// release with a manifest of one file.
func (w *world) buildApp(app apogee.AppBuild) (*apogee.Deployment, error) {
	w.t.Helper()
	sum := sha256.Sum256([]byte("server"))
	h := hex.EncodeToString(sum[:])
	if _, err := w.blobs.Put(w.t.Context(), h, bytes.NewReader([]byte("server")), 0); err != nil {
		w.t.Fatal(err)
	}
	up, err := w.svc.Builds.UploadZip(w.ctx, "web", bytes.NewReader(emptyZip))
	if err != nil {
		w.t.Fatal(err)
	}
	queued, err := w.svc.Builds.QueueBuild(w.ctx, "web", apogee.BuildRequest{UploadID: up.ID})
	if err != nil {
		w.t.Fatal(err)
	}
	q := w.pl.Queue()
	if _, err := q.ClaimBuild(w.t.Context(), "test/1"); err != nil {
		w.t.Fatal(err)
	}
	return q.FinishRelease(w.t.Context(), queued.ID, []apogee.File{{Path: "server.js", SHA256: h, Size: 6}}, app)
}

func (w *world) release(id string) *apogee.Release {
	w.t.Helper()
	r, err := w.store.Release(w.t.Context(), id)
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

func (w *world) update(section, patch string) error {
	_, err := w.svc.Projects.UpdateProject(w.ctx, "web", map[string]json.RawMessage{section: json.RawMessage(patch)})
	return err
}

// TestAppReleases: an app build records its release (the project's start
// command winning over the detected one, the variables sealed as
// stored) and goes live through the gate; a change of variables or of
// the start command or health check makes a new release of the same
// tree and rolls it out; a refused one leaves production where it was
// and says the change is saved; releases beyond the kept ones are
// pruned.
func TestAppReleases(t *testing.T) {
	g := &gate{}
	w := newWorld(t, g)
	for _, bad := range []string{`{"kind":"lambda"}`, `{"instances":0}`, `{"instances":11}`, `{"health_path":"healthz"}`,
		`{"boot_timeout":0}`, `{"start_command":""}`, `{"start_command":"a\nb"}`, `{"port":1}`} {
		if err := w.update("app", bad); apogee.ErrorCode(err) != apogee.EINVALID {
			t.Errorf("settings.app %s: %v, want invalid", bad, err)
		}
	}
	if _, err := w.svc.Env.SetEnv(w.ctx, "web", "DATABASE_URL", "postgres://db", true); err != nil {
		t.Fatal(err)
	}
	if err := w.update("app", `{"kind":"app","start_command":"node app.js","instances":2}`); err != nil {
		t.Fatal(err)
	}
	// An app's files are never uploaded to be served as they are.
	_, err := w.svc.Deployments.CreateDeployment(w.ctx, "web", apogee.CreateDeploymentRequest{Files: []apogee.File{{Path: "server.js", SHA256: strings.Repeat("a", 64), Size: 1}}})
	if apogee.ErrorCode(err) != apogee.EINVALID || !strings.Contains(apogee.ErrorMessage(err), "is an app") {
		w.t.Fatalf("an upload to an app: %v", err)
	}
	d, err := w.buildApp(apogee.AppBuild{StartCommand: "npm start", ReleaseCommand: "node migrate.js"})
	if err != nil {
		t.Fatal(err)
	}
	if w.production() != d.ID || g.asked[len(g.asked)-1] != d.ID {
		t.Fatalf("the app build is not production (%s) or the gate was not asked (%v)", w.production(), g.asked)
	}
	r1 := w.release(d.ID)
	if r1.Version != 1 || r1.StartCommand != "node app.js" || r1.ReleaseCommand != "node migrate.js" || r1.HealthPath != "/" ||
		r1.BootTimeout != 60 || len(r1.Env) != 1 || r1.Env[0].Key != "DATABASE_URL" || !r1.Env[0].Secret ||
		strings.Contains(r1.Env[0].Value, "postgres") {
		t.Fatalf("release = %+v", r1)
	}

	// A variable set: a new release of the same tree with it.
	if _, err := w.svc.Env.SetEnv(w.ctx, "web", "GREETING", "hi", false); err != nil {
		t.Fatal(err)
	}
	two := w.production()
	if two == d.ID {
		t.Fatal("setting a variable released nothing")
	}
	r2 := w.release(two)
	if r2.Version != 2 || len(r2.Env) != 2 || r2.Description != "set GREETING" || r2.StartCommand != "node app.js" || r2.ReleaseCommand != "node migrate.js" {
		t.Fatalf("release after a variable set = %+v", r2)
	}
	dep, err := w.svc.Deployments.Deployment(w.ctx, two)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := w.store.DeploymentFiles(t.Context(), two)
	if dep.Source != apogee.SourceEnv || dep.Status != apogee.StatusReady || len(files) != 1 || files[0].Path != "server.js" {
		t.Fatalf("the new release's deployment: %+v with %v", dep.Deployment, files)
	}

	// A health check change: another release, with it.
	if err := w.update("app", `{"health_path":"/healthz","boot_timeout":5}`); err != nil {
		t.Fatal(err)
	}
	r3 := w.release(w.production())
	if r3.Version != 3 || r3.HealthPath != "/healthz" || r3.BootTimeout != 5 || r3.Description != "settings changed" {
		t.Fatalf("release after a settings change = %+v", r3)
	}
	// Instances alone release nothing.
	if err := w.update("app", `{"instances":3}`); err != nil {
		t.Fatal(err)
	}
	if w.release(w.production()).Version != 3 {
		t.Fatal("a change of instances made a release")
	}

	// Refused by the gate: saved, but production stays.
	g.mu.Lock()
	g.refuse = apogee.Errorf(apogee.EINVALID, "release v4 did not become ready: GET / answered 500")
	g.mu.Unlock()
	_, err = w.svc.Env.SetEnv(w.ctx, "web", "BROKEN", "1", false)
	if apogee.ErrorCode(err) != apogee.EINVALID || !strings.Contains(apogee.ErrorMessage(err), "saved") ||
		!strings.Contains(apogee.ErrorMessage(err), "answered 500") {
		t.Fatalf("a refused release: %v", err)
	}
	if w.release(w.production()).Version != 3 {
		t.Fatal("a refused release moved production")
	}
	vars, _ := w.svc.Env.Env(w.ctx, "web")
	if len(vars) != 3 {
		t.Errorf("the variable was not saved: %+v", vars)
	}
	ds, _ := w.svc.Deployments.Deployments(w.ctx, "web", 1)
	if ds[0].Status != apogee.StatusError || !strings.Contains(ds[0].Error, "answered 500") {
		t.Errorf("the refused release's deployment is %s (%q)", ds[0].Status, ds[0].Error)
	}
	g.mu.Lock()
	g.refuse = nil
	g.mu.Unlock()

	// Releases beyond the kept ones are pruned, production never.
	for i := range apogee.DefaultReleasesKept {
		if _, err := w.svc.Env.SetEnv(w.ctx, "web", "N", fmt.Sprint(i), false); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := w.store.ListReleases(t.Context(), w.web.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	kept := 0
	for i, r := range rs {
		if r.PrunedAt == nil {
			kept++
		} else if i < apogee.DefaultReleasesKept {
			t.Errorf("v%d (of the newest %d) was pruned", r.Version, apogee.DefaultReleasesKept)
		}
	}
	if kept != apogee.DefaultReleasesKept || rs[0].DeploymentID != w.production() {
		t.Errorf("%d releases kept of %d, want %d", kept, len(rs), apogee.DefaultReleasesKept)
	}

	// A static project releases nothing on a variable change.
	if err := w.update("app", `{"kind":"static"}`); err != nil {
		t.Fatal(err)
	}
	before := w.production()
	if _, err := w.svc.Env.SetEnv(w.ctx, "web", "AFTER", "1", false); err != nil || w.production() != before {
		t.Fatalf("a variable set on a static project: %v, production %s → %s", err, before, w.production())
	}
}
