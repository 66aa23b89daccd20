package api_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/platform"
)

// runtimeStandIn is the app runtime as the AppService sees it: it
// records what it is asked and answers with one instance. The real
// runtime is tested in internal/apphost and internal/server.
type runtimeStandIn struct {
	mu    sync.Mutex
	calls []string
}

func (r *runtimeStandIn) Instances(project string) ([]apogee.AppInstance, []string) {
	return []apogee.AppInstance{{ID: "inst1", Release: "r", State: "ready", Healthy: true, MemoryBytes: 40 << 20}}, nil
}

func (r *runtimeStandIn) SetScale(ctx context.Context, project string, s apogee.AppScale) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf("scale %s %d-%d@%d", project, s.Min, s.Max, s.Concurrency))
	return nil
}

func (r *runtimeStandIn) Scaling(project string) *apogee.AppScaling {
	return &apogee.AppScaling{State: "running", Desired: 1, Ready: 1, Decisions: []apogee.ScaleDecision{}}
}

func (r *runtimeStandIn) Restart(ctx context.Context, project string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, "restart "+project)
	return nil
}

// TestAppRoutes: status, scale and restart answer only the project's
// owner, check their input and the project's kind, and reach the
// runtime.
func TestAppRoutes(t *testing.T) {
	rt := &runtimeStandIn{}
	e := newEnvWith(t, func(c *platform.Config) { c.Apps = rt })
	alice, bob := e.user("alice@example.com"), e.user("bob@example.com")
	e.must(e.call("POST", "/api/v1/projects", alice, apogee.CreateProjectRequest{Name: "api",
		App: &apogee.AppSettings{StartCommand: ptr("node server.js"), HealthPath: ptr("/healthz")}}), 201, nil)
	routes := []struct{ method, path string }{
		{"GET", "/api/v1/projects/api/app"},
		{"POST", "/api/v1/projects/api/app/scale"},
		{"POST", "/api/v1/projects/api/app/restart"},
	}
	for _, r := range routes {
		e.wantErr(e.call(r.method, r.path, "", apogee.ScaleRequest{Instances: 2}), 401, apogee.EUNAUTHORIZED)
		e.wantErr(e.call(r.method, r.path, bob, apogee.ScaleRequest{Instances: 2}), 404, apogee.ENOTFOUND)
	}
	var st apogee.AppStatus
	e.must(e.call("GET", "/api/v1/projects/api/app", alice, nil), 200, &st)
	if st.Kind != "" || st.Instances != 1 || len(st.Releases) != 0 {
		t.Errorf("status before any deploy: %+v", st)
	}
	e.wantErr(e.call("POST", "/api/v1/projects/api/app/scale", alice, apogee.ScaleRequest{Instances: 2}), 409, apogee.ECONFLICT)

	// A static production: not an app.
	ctx := t.Context()
	p, err := e.store.ProjectByName(ctx, "api")
	if err != nil {
		t.Fatal(err)
	}
	deploy := func(app bool) *apogee.Deployment {
		d := &apogee.Deployment{ID: apogee.NewID(), ProjectID: p.ID, Target: apogee.TargetProduction, CreatedAt: time.Now()}
		if err := e.store.CreateDeployment(ctx, d, []apogee.File{{Path: "server.js", SHA256: sha("x"), Size: 1}}); err != nil {
			t.Fatal(err)
		}
		if app {
			if err := e.store.CreateRelease(ctx, &apogee.Release{DeploymentID: d.ID, ProjectID: p.ID, StartCommand: "node server.js", HealthPath: "/", BootTimeout: 60}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.store.FinalizeDeployment(ctx, d.ID, time.Now(), true); err != nil {
			t.Fatal(err)
		}
		return d
	}
	deploy(false)
	e.wantErr(e.call("POST", "/api/v1/projects/api/app/restart", alice, nil), 400, apogee.EINVALID)

	d := deploy(true)
	e.must(e.call("GET", "/api/v1/projects/api/app", alice, nil), 200, &st)
	if st.Kind != apogee.KindApp || st.Production != d.ID || len(st.Releases) != 1 || !st.Releases[0].Production ||
		st.Releases[0].Version != 1 || len(st.Running) != 1 || st.Running[0].ID != "inst1" {
		t.Errorf("status of the app: %+v", st)
	}
	for _, n := range []int{0, 11, -1} {
		e.wantErr(e.call("POST", "/api/v1/projects/api/app/scale", alice, apogee.ScaleRequest{Instances: n}), 400, apogee.EINVALID)
	}
	e.wantErr(e.call("POST", "/api/v1/projects/api/app/scale", alice, `{"instances":"two"}`), 400, apogee.EINVALID)
	// The default plan allows 3 instances an app.
	e.wantErr(e.call("POST", "/api/v1/projects/api/app/scale", alice, apogee.ScaleRequest{Instances: 4}), 402, apogee.EQUOTA)
	e.wantErr(e.call("PATCH", "/api/v1/projects/api", alice, map[string]any{"settings": map[string]any{"app": map[string]any{"instances": 4}}}), 402, apogee.EQUOTA)
	e.must(e.call("POST", "/api/v1/projects/api/app/scale", alice, apogee.ScaleRequest{Instances: 3}), 200, &st)
	if st.Instances != 3 {
		t.Errorf("instances after scale: %d", st.Instances)
	}
	e.must(e.call("POST", "/api/v1/projects/api/app/restart", alice, nil), 200, nil)
	// A change of settings.app.instances scales too.
	e.must(e.call("PATCH", "/api/v1/projects/api", alice, map[string]any{"settings": map[string]any{"app": map[string]any{"instances": 2}}}), 200, nil)
	// Autoscaling bounds: within the plan (3 here), min ≤ max, a
	// positive concurrency; flags not sent keep their value.
	for _, req := range []string{`{"min":0,"max":5}`, `{"max":4}`} {
		e.wantErr(e.call("POST", "/api/v1/projects/api/app/scale", alice, req), 402, apogee.EQUOTA)
	}
	for _, req := range []string{`{"min":3,"max":2}`, `{"concurrency":0}`, `{"min":-1}`, `{"pause_after":5}`, `{"pause_after":600,"stop_after":300}`, `{}`, `{"instances":2,"min":1}`} {
		e.wantErr(e.call("POST", "/api/v1/projects/api/app/scale", alice, req), 400, apogee.EINVALID)
	}
	e.must(e.call("POST", "/api/v1/projects/api/app/scale", alice, `{"min":0,"max":3,"concurrency":50}`), 200, &st)
	if want := (apogee.AppScale{Min: 0, Max: 3, Concurrency: 50, PauseAfter: 300, StopAfter: 3600}); st.Scale != want || st.Autoscale == nil {
		t.Errorf("scale after min 0 max 3: %+v, autoscale %+v", st.Scale, st.Autoscale)
	}
	e.must(e.call("POST", "/api/v1/projects/api/app/scale", alice, `{"min":2,"max":2}`), 200, &st)
	if want := (apogee.AppScale{Min: 2, Max: 2, Concurrency: 50, PauseAfter: 300, StopAfter: 3600}); st.Scale != want || st.Instances != 2 {
		t.Errorf("scale after min 2 max 2: %+v", st.Scale)
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if want := []string{"scale api 3-3@100", "restart api", "scale api 2-2@100", "scale api 0-3@50", "scale api 2-2@50"}; fmt.Sprint(rt.calls) != fmt.Sprint(want) {
		t.Errorf("runtime asked %v, want %v", rt.calls, want)
	}
}

func ptr[T any](v T) *T { return &v }
