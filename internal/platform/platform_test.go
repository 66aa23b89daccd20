package platform_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/platform"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// world is the platform on a real SQLite store and file blob store, with
// one user and a project of theirs.
type world struct {
	t     *testing.T
	pl    *platform.Platform
	svc   apogee.Services
	store apogee.Store
	blobs apogee.Blobs
	bus   *events.Local
	ctx   context.Context // acting as the project's owner
	web   *apogee.ProjectView
}

func newWorld(t *testing.T, gate platform.Gate) *world {
	t.Helper()
	st, bl, _ := testbed.Backends(t)
	w := &world{t: t, store: st, blobs: bl, bus: events.NewLocal(testbed.Quiet)}
	var err error
	w.pl, err = platform.New(platform.Config{Store: st, Blobs: bl, Bus: w.bus, Gate: gate, Log: testbed.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	w.svc = w.pl.Services()
	u := &apogee.User{ID: apogee.NewID(), Email: "owner@example.com", Password: "x", CreatedAt: time.Now()}
	if err := st.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	w.ctx = apogee.NewContextWithUser(t.Context(), u)
	if w.web, err = w.svc.Projects.CreateProject(w.ctx, apogee.CreateProjectRequest{Name: "web"}); err != nil {
		t.Fatal(err)
	}
	return w
}

// deploy uploads index.html with body to production and finalizes it.
func (w *world) deploy(body string) (*apogee.DeploymentView, error) {
	w.t.Helper()
	sum := sha256.Sum256([]byte(body))
	h := hex.EncodeToString(sum[:])
	d, err := w.svc.Deployments.CreateDeployment(w.ctx, "web", apogee.CreateDeploymentRequest{
		Target: apogee.TargetProduction, Files: []apogee.File{{Path: "index.html", SHA256: h, Size: int64(len(body))}}})
	if err != nil {
		w.t.Fatal(err)
	}
	if len(d.Missing) > 0 {
		if err := w.svc.Deployments.UploadFile(w.ctx, d.ID, h, bytes.NewReader([]byte(body)), int64(len(body))); err != nil {
			w.t.Fatal(err)
		}
	}
	return w.svc.Deployments.Finalize(w.ctx, d.ID)
}

func (w *world) production() string {
	w.t.Helper()
	p, err := w.store.ProjectByName(w.t.Context(), "web")
	if err != nil {
		w.t.Fatal(err)
	}
	return p.ProductionID
}

// gate refuses production moves while refuse is set and records what it
// was asked.
type gate struct {
	mu     sync.Mutex
	refuse error
	asked  []string // deployment ids
	files  []int    // manifest sizes
}

func (g *gate) BeforeProduction(ctx context.Context, p *apogee.Project, d *apogee.Deployment, files []apogee.File) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.asked = append(g.asked, d.ID)
	g.files = append(g.files, len(files))
	return g.refuse
}

// TestGate: every move of production asks the gate first, with the
// deployment and its manifest; a refusal leaves production where it was,
// fails a finalized upload with the gate's message and fails a promote or
// rollback with it.
func TestGate(t *testing.T) {
	g := &gate{}
	w := newWorld(t, g)
	one, err := w.deploy("one")
	if err != nil || !one.Production {
		t.Fatalf("first deploy: %+v %v", one, err)
	}
	two, err := w.deploy("two")
	if err != nil || !two.Production {
		t.Fatalf("second deploy: %+v %v", two, err)
	}
	if _, err := w.svc.Deployments.Rollback(w.ctx, "web", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Deployments.Promote(w.ctx, "web", two.ID); err != nil {
		t.Fatal(err)
	}
	if want := []string{one.ID, two.ID, one.ID, two.ID}; !equal(g.asked, want) || !equal(g.files, []int{1, 1, 1, 1}) {
		t.Fatalf("the gate was asked about %v with %v files; want %v, one file each", g.asked, g.files, want)
	}

	g.mu.Lock()
	g.refuse = apogee.Errorf(apogee.ECONFLICT, "instances did not become healthy")
	g.mu.Unlock()
	_, err = w.deploy("three")
	if apogee.ErrorCode(err) != apogee.ECONFLICT || apogee.ErrorMessage(err) != "instances did not become healthy" {
		t.Fatalf("finalize refused by the gate: %v", err)
	}
	if got := w.production(); got != two.ID {
		t.Fatalf("production after a refused finalize is %s, want %s", got, two.ID)
	}
	ds, err := w.svc.Deployments.Deployments(w.ctx, "web", 1)
	if err != nil {
		t.Fatal(err)
	}
	if three := ds[0]; three.Status != apogee.StatusError || three.Error != "instances did not become healthy" {
		t.Fatalf("the refused upload is %s (%q), want error with the gate's reason", three.Status, three.Error)
	}
	for name, move := range map[string]func() error{
		"promote":  func() error { _, err := w.svc.Deployments.Promote(w.ctx, "web", one.ID); return err },
		"rollback": func() error { _, err := w.svc.Deployments.Rollback(w.ctx, "web", ""); return err },
	} {
		if err := move(); apogee.ErrorCode(err) != apogee.ECONFLICT {
			t.Errorf("%s refused by the gate: %v", name, err)
		}
		if got := w.production(); got != two.ID {
			t.Errorf("production after a refused %s is %s, want %s", name, got, two.ID)
		}
	}
}

// TestFinishBuildMovesDomains: a production build goes live by the same
// path as an upload: production and the project's verified custom
// domains serve it, the route version moved, and every edge is told.
func TestFinishBuildMovesDomains(t *testing.T) {
	g := &gate{}
	w := newWorld(t, g)
	one, err := w.deploy("one")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.store.CreateDomain(t.Context(), &apogee.Domain{Name: "www.example.com", ProjectID: w.web.ID, Token: "t"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.store.VerifyDomain(t.Context(), w.web.ID, "www.example.com", time.Now()); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("two"))
	h := hex.EncodeToString(sum[:])
	if _, err := w.blobs.Put(t.Context(), h, bytes.NewReader([]byte("two")), 0); err != nil {
		t.Fatal(err)
	}
	b, err := w.svc.Builds.UploadZip(w.ctx, "web", bytes.NewReader(emptyZip))
	if err != nil {
		t.Fatal(err)
	}
	queued, err := w.svc.Builds.QueueBuild(w.ctx, "web", apogee.BuildRequest{UploadID: b.ID})
	if err != nil {
		t.Fatal(err)
	}
	q := w.pl.Queue()
	claimed, err := q.ClaimBuild(t.Context(), "test/1")
	if err != nil || claimed.ID != queued.ID {
		t.Fatalf("claim: %+v %v", claimed, err)
	}
	version, err := w.store.RouteVersion(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	evs, _ := w.bus.Subscribe(t.Context())
	ready, err := q.FinishBuild(t.Context(), claimed.ID, []apogee.File{{Path: "index.html", SHA256: h, Size: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if got := w.production(); got != ready.ID || got == one.ID {
		t.Fatalf("production after the build is %s, want %s", got, ready.ID)
	}
	if g.asked[len(g.asked)-1] != ready.ID {
		t.Errorf("the gate was not asked about the build (asked %v)", g.asked)
	}
	rs, err := w.store.ProjectRoutes(t.Context(), w.web.ID)
	if err != nil {
		t.Fatal(err)
	}
	routed := false
	for _, r := range rs {
		routed = routed || r.Host == "www.example.com" && r.DeploymentID == ready.ID
	}
	if !routed {
		t.Errorf("the custom domain does not route to the build: %+v", rs)
	}
	if v, _ := w.store.RouteVersion(t.Context()); v <= version {
		t.Errorf("route version %d after the build, was %d", v, version)
	}
	var types []string
	for len(types) < 3 {
		e := <-evs
		if e.ProjectID != w.web.ID || e.DeploymentID != ready.ID {
			t.Fatalf("event %+v names another project or deployment", e)
		}
		types = append(types, e.Type)
	}
	if want := []string{apogee.EventDeploymentReady, apogee.EventAliasChanged, apogee.EventBuildEnded}; !equal(types, want) {
		t.Errorf("events %v, want %v", types, want)
	}
}

// emptyZip is a ZIP with no entries (its end of central directory).
var emptyZip = []byte("PK\x05\x06" + string(make([]byte, 18)))

// TestActingUser: a method for a person needs one in its context, and
// another user's project is not found.
func TestActingUser(t *testing.T) {
	w := newWorld(t, nil)
	if _, err := w.svc.Projects.Project(t.Context(), "web"); apogee.ErrorCode(err) != apogee.EUNAUTHORIZED {
		t.Errorf("no user: %v, want unauthorized", err)
	}
	other := &apogee.User{ID: apogee.NewID(), Email: "other@example.com", Password: "x", CreatedAt: time.Now()}
	if err := w.store.CreateUser(t.Context(), other); err != nil {
		t.Fatal(err)
	}
	ctx := apogee.NewContextWithUser(t.Context(), other)
	_, err := w.svc.Projects.Project(ctx, "web")
	_, missing := w.svc.Projects.Project(ctx, "nosuch")
	if apogee.ErrorCode(err) != apogee.ENOTFOUND || apogee.ErrorMessage(err) != `project "web" not found` || apogee.ErrorCode(missing) != apogee.ENOTFOUND {
		t.Errorf("another user's project: %v (a missing one: %v)", err, missing)
	}
	now := time.Now()
	other.DisabledAt = &now
	if _, err := w.svc.Projects.Projects(ctx, ""); apogee.ErrorCode(err) != apogee.EUNAUTHORIZED {
		t.Errorf("a disabled user: %v", err)
	}
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
