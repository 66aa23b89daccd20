package builder_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/builder"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/logs"
	"github.com/apogee-dev/apogee/internal/platform"
	"github.com/apogee-dev/apogee/internal/sandbox"
	"github.com/apogee-dev/apogee/internal/source"
	"github.com/apogee-dev/apogee/internal/testbed"
)

var quiet = testbed.Quiet

// rig is a builder on real backends: SQLite, file blobs, the bwrap
// sandbox, the in-process bus.
type rig struct {
	t       testing.TB
	store   apogee.Store
	queue   apogee.BuildQueue
	blobs   apogee.Blobs
	bus     *events.Local
	hub     *logs.Hub
	b       *builder.Builder
	project *apogee.Project
	data    string
	cancel  context.CancelFunc
	done    chan struct{}

	mu      sync.Mutex
	watched map[string]*logs.Subscription // live logs of builds, by deployment
}

type env map[string]string

func (e env) Resolve(context.Context, string) ([]string, []string, error) {
	var vars, secrets []string
	for k, v := range e {
		vars = append(vars, k+"="+v)
		if strings.HasPrefix(k, "SECRET_") {
			secrets = append(secrets, v)
		}
	}
	return vars, secrets, nil
}

func newRig(t testing.TB, limits sandbox.Limits, vars env) *rig {
	t.Helper()
	return newRigWith(t, limits, vars, nil)
}

// newRigWith is newRig with before run on the store and the project's
// owner before the builder starts.
func newRigWith(t testing.TB, limits sandbox.Limits, vars env, before func(st apogee.Store, owner *apogee.User), opts ...func(*builder.Config)) *rig {
	t.Helper()
	if _, err := exec.LookPath("bwrap"); err != nil {
		t.Fatal("bwrap is missing: apt-get install bubblewrap")
	}
	ctx := context.Background()
	st, bl, data := testbed.Backends(t)
	sb, err := sandbox.New("bwrap", sandbox.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, store: st, blobs: bl, bus: events.NewLocal(quiet), hub: logs.NewHub(0), data: data, done: make(chan struct{}),
		watched: map[string]*logs.Subscription{}}
	pl, err := platform.New(platform.Config{Store: st, Blobs: bl, Bus: r.bus, Logs: r.hub, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	r.queue = pl.Queue()
	u := &apogee.User{ID: apogee.NewID(), Email: "a@example.com", Password: "x", CreatedAt: time.Now()}
	r.project = &apogee.Project{ID: apogee.NewID(), Name: "web", OwnerID: u.ID, CreatedAt: time.Now()}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateProject(ctx, r.project); err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(st, u)
	}
	if limits == (sandbox.Limits{}) {
		limits = sandbox.Limits{MemoryBytes: 1 << 30, CPUs: 1, Pids: 512, Wall: 2 * time.Minute}
	}
	cfg := builder.Config{
		Store: st, Queue: r.queue, Blobs: bl, Bus: r.bus, Hub: r.hub, Sandbox: sb,
		Source:    &builder.Sources{Git: &source.Git{AllowFile: true}, Blobs: bl},
		Env:       vars,
		Dir:       filepath.Join(data, "builds"),
		Limits:    limits,
		DiskBytes: 64 << 20, // each build on a disk of its own
		Node:      "test-node",
		Poll:      50 * time.Millisecond,
		Heartbeat: 500 * time.Millisecond, // stale after 1.5 s: a loaded machine stalls a 200 ms beat past 3 beats
		Log:       quiet,
	}
	for _, o := range opts {
		o(&cfg)
	}
	r.b, err = builder.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	r.cancel = cancel
	go func() {
		defer close(r.done)
		r.b.Run(runCtx)
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// zipOf zips a tree given as path → content and stores it as a blob.
func (r *rig) zipOf(files map[string]string) string {
	r.t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		w, err := zw.Create(name)
		if err != nil {
			r.t.Fatal(err)
		}
		io.WriteString(w, content)
	}
	if err := zw.Close(); err != nil {
		r.t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	h := hex.EncodeToString(sum[:])
	if _, err := r.blobs.Put(context.Background(), h, bytes.NewReader(buf.Bytes()), 0); err != nil {
		r.t.Fatal(err)
	}
	return h
}

// build queues a build of a ZIP, watching its live log, and wakes the
// builder.
func (r *rig) build(blobHash string, target string, noCache bool) *apogee.Deployment {
	r.t.Helper()
	d := &apogee.Deployment{ID: apogee.NewID(), ProjectID: r.project.ID, Target: target, CreatedAt: time.Now(),
		Source: apogee.SourceZip, SourceBlob: blobHash, NoCache: noCache}
	r.watch(d.ID)
	if err := r.store.QueueBuild(context.Background(), d); err != nil {
		r.t.Fatal(err)
	}
	r.b.Kick()
	return d
}

// watch follows deployment id's live log from now on: the builder ends
// it after the build's last line and final status are stored.
func (r *rig) watch(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.watched[id] = r.hub.Subscribe(id)
}

// line waits until a line of watched build id contains s.
func (r *rig) line(id, s string, within time.Duration) {
	r.t.Helper()
	r.mu.Lock()
	sub := r.watched[id]
	r.mu.Unlock()
	timeout := time.After(within)
	for {
		select {
		case l, ok := <-sub.C:
			if !ok {
				r.t.Fatalf("build %s's log ended without %q:\n%s", id, s, r.log(id))
			}
			if strings.Contains(l.Text, s) {
				return
			}
		case <-timeout:
			r.t.Fatalf("build %s logged no %q within %v:\n%s", id, s, within, r.log(id))
		}
	}
}

// wait waits until watched build id ends (its live log does) and returns
// the deployment with its log.
func (r *rig) wait(id string, within time.Duration) (*apogee.Deployment, string) {
	r.t.Helper()
	r.mu.Lock()
	sub := r.watched[id]
	r.mu.Unlock()
	timeout := time.After(within)
	for ended := false; !ended; {
		select {
		case _, ok := <-sub.C:
			ended = !ok
		case <-timeout:
			r.t.Fatalf("build %s did not end within %v; log:\n%s", id, within, r.log(id))
		}
	}
	if !sub.Ended() {
		r.t.Fatalf("the test fell behind build %s's live log", id)
	}
	d, err := r.store.DeploymentByID(context.Background(), id)
	if err != nil {
		r.t.Fatal(err)
	}
	return d, r.log(id)
}

func (r *rig) log(id string) string {
	lines, err := r.store.Logs(context.Background(), id, 0, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("[" + l.Stream + "] " + l.Text + "\n")
	}
	return b.String()
}

func (r *rig) file(d *apogee.Deployment, path string) string {
	r.t.Helper()
	files, err := r.store.DeploymentFiles(context.Background(), d.ID)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, f := range files {
		if f.Path == path {
			b, err := r.blobs.Get(context.Background(), f.SHA256)
			if err != nil {
				r.t.Fatal(err)
			}
			return string(b)
		}
	}
	r.t.Fatalf("deployment has no %s", path)
	return ""
}

func TestBuildOutcomes(t *testing.T) {
	r := newRig(t, sandbox.Limits{MemoryBytes: 128 << 20, CPUs: 1, Pids: 256, Wall: 20 * time.Second},
		env{"GREETING": "hello", "SECRET_TOKEN": "s3cr3t-v4lue-123"})
	index := "<h1>built</h1>"
	tests := []struct {
		name      string
		build     string
		status    apogee.Status
		inError   string
		inLog     []string
		notInLog  []string
		wantIndex bool
	}{
		{
			name:      "builds and deploys",
			build:     "mkdir -p dist && cp index.html dist/ && echo greeting=$GREETING && echo token=$SECRET_TOKEN",
			status:    apogee.StatusReady,
			inLog:     []string{"[stdout] greeting=hello", "[stdout] token=" + logs.Mask, "Detected", "Ready: "},
			notInLog:  []string{"s3cr3t-v4lue-123"},
			wantIndex: true,
		},
		{
			// Netlify's deploy log lists the rules it skipped.
			name:      "skipped rules in the log",
			build:     `mkdir -p dist && cp index.html dist/ && printf '/a /b 200\n/c /d 999\n' > dist/_redirects`,
			status:    apogee.StatusReady,
			inLog:     []string{"[system] Warning: _redirects line 2: ", "Ready: "},
			wantIndex: true,
		},
		{
			// 2 GB written to the workspace once went unchecked.
			name:    "disk limit",
			build:   "dd if=/dev/zero of=big bs=1M count=100",
			status:  apogee.StatusError,
			inError: "exited with code 1: the build's disk limit 64 MiB reached",
			inLog:   []string{"No space left on device"},
		},
		{
			name:    "failing build",
			build:   "echo boom >&2; exit 3",
			status:  apogee.StatusError,
			inError: "exited with code 3",
			inLog:   []string{"[stderr] boom", "Build failed: "},
		},
		{
			name:    "missing output",
			build:   "echo nothing",
			status:  apogee.StatusError,
			inError: `output folder "dist" does not exist`,
		},
		{
			name:    "time limit",
			build:   "sleep 60",
			status:  apogee.StatusError,
			inError: "killed: time limit",
		},
		{
			name:    "memory limit",
			build:   `node -e "const a=[]; for(;;) a.push(Buffer.alloc(16<<20, 1))"`,
			status:  apogee.StatusError,
			inError: "killed: memory limit",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := r.zipOf(map[string]string{
				"package.json": `{"name":"site","private":true,"scripts":{"build":` + quoteJSON(tt.build) + `}}`,
				"index.html":   index,
			})
			q := r.build(h, apogee.TargetProduction, false)
			d, log := r.wait(q.ID, 90*time.Second)
			if d.Status != tt.status || !strings.Contains(d.Error, tt.inError) {
				t.Fatalf("status %s error %q, want %s with %q; log:\n%s", d.Status, d.Error, tt.status, tt.inError, log)
			}
			for _, s := range tt.inLog {
				if !strings.Contains(log, s) {
					t.Errorf("log lacks %q:\n%s", s, log)
				}
			}
			for _, s := range tt.notInLog {
				if strings.Contains(log, s) {
					t.Errorf("log contains %q:\n%s", s, log)
				}
			}
			lines := strings.Split(strings.TrimSpace(log), "\n")
			last := lines[len(lines)-1]
			if tt.status == apogee.StatusError && !strings.Contains(last, tt.inError) {
				t.Errorf("last log line %q does not give the reason %q", last, tt.inError)
			}
			p, _ := r.store.ProjectByID(context.Background(), r.project.ID)
			if tt.wantIndex {
				if got := r.file(d, "index.html"); got != index {
					t.Fatalf("index.html = %q", got)
				}
				if p.ProductionID != d.ID {
					t.Fatal("a production build did not move production")
				}
			} else if p.ProductionID == d.ID {
				t.Fatal("a failed build became production")
			}
		})
	}
}

func quoteJSON(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range s {
		switch c {
		case '"', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	b.WriteByte('"')
	return b.String()
}

// TestHostileBuild runs a build script that tries to read what it must
// not see and to write where it must not write; what it managed lands in
// its output, which the test reads.
func TestHostileBuild(t *testing.T) {
	t.Setenv("APOGEE_TEST_SERVER_SECRET", "server-env-secret-4711")
	r := newRig(t, sandbox.Limits{}, nil)
	secretFile := filepath.Join(r.data, "secret.txt")
	os.WriteFile(secretFile, []byte("data-folder-secret-0815"), 0o644)
	script := strings.Join([]string{
		"mkdir -p dist",
		"(cat " + secretFile + " || echo no-data) > dist/data.txt 2>&1",
		"(cat " + filepath.Join(r.data, "apogee.db") + " | head -c 100 || echo no-db) > dist/db.txt 2>&1",
		"(cat /proc/1/environ | tr '\\0' '\\n' || echo no-environ) > dist/environ.txt 2>&1",
		"(env) > dist/env.txt 2>&1",
		"(touch /usr/pwned && echo wrote-usr || echo no-usr) > dist/usr.txt 2>&1",
		"(touch " + filepath.Join(r.data, "pwned") + " && echo wrote-data || echo no-write-data) > dist/write.txt 2>&1",
		"(ls /root /work /var/lib 2>&1 || true) > dist/ls.txt",
		"echo '<p>hi</p>' > dist/index.html",
	}, "; ")
	h := r.zipOf(map[string]string{"package.json": `{"scripts":{"build":` + quoteJSON(script) + `}}`})
	d, log := r.wait(r.build(h, apogee.TargetPreview, false).ID, 60*time.Second)
	if d.Status != apogee.StatusReady {
		t.Fatalf("hostile build %s: %s\n%s", d.Status, d.Error, log)
	}
	for file, forbidden := range map[string]string{
		"data.txt":    "data-folder-secret-0815",
		"db.txt":      "SQLite format",
		"environ.txt": "APOGEE_TEST_SERVER_SECRET",
		"env.txt":     "server-env-secret-4711",
		"usr.txt":     "wrote-usr",
		"write.txt":   "wrote-data",
		"ls.txt":      "apogee.db",
	} {
		if got := r.file(d, file); strings.Contains(got, forbidden) {
			t.Errorf("%s: the build script got %q:\n%s", file, forbidden, got)
		}
	}
	if _, err := os.Stat(filepath.Join(r.data, "pwned")); err == nil {
		t.Error("the build wrote into the data folder")
	}
	if _, err := os.Stat("/usr/pwned"); err == nil {
		os.Remove("/usr/pwned")
		t.Error("the build wrote into /usr")
	}
}

func TestCancelBuild(t *testing.T) {
	r := newRig(t, sandbox.Limits{}, nil)
	h := r.zipOf(map[string]string{"package.json": `{"scripts":{"build":"echo started; sleep 60"}}`})
	q := r.build(h, apogee.TargetProduction, false)
	r.line(q.ID, "started", 30*time.Second)
	start := time.Now()
	if _, err := r.store.EndBuild(context.Background(), q.ID, apogee.StatusCanceled, "canceled by a@example.com", time.Now()); err != nil {
		t.Fatal(err)
	}
	r.bus.Publish(context.Background(), apogee.Event{Type: apogee.EventBuildCanceled, DeploymentID: q.ID})
	d, log := r.wait(q.ID, 10*time.Second)
	if d.Status != apogee.StatusCanceled {
		t.Fatalf("status %s after cancel:\n%s", d.Status, log)
	}
	// The worker stops the sandbox: the next build starts promptly.
	next := r.build(r.zipOf(map[string]string{"index.html": "x"}), apogee.TargetPreview, false)
	if d, log := r.wait(next.ID, 20*time.Second); d.Status != apogee.StatusReady {
		t.Fatalf("build after a cancel: %s\n%s", d.Status, log)
	}
	if time.Since(start) > 15*time.Second {
		t.Fatalf("cancel took %v", time.Since(start))
	}
}

func TestDependencyCache(t *testing.T) {
	r := newRig(t, sandbox.Limits{}, nil)
	// A real package from the npm registry, pinned by a real lockfile.
	files := map[string]string{
		"package.json": `{"name":"cache-test","version":"1.0.0","private":true,"dependencies":{"is-number":"7.0.0"},"scripts":{"build":"mkdir -p dist && node -e \"require('is-number'); require('fs').writeFileSync('dist/index.html', 'ok')\""}}`,
		"package-lock.json": `{"name":"cache-test","version":"1.0.0","lockfileVersion":3,"requires":true,"packages":{"":{"name":"cache-test","version":"1.0.0","dependencies":{"is-number":"7.0.0"}},` +
			`"node_modules/is-number":{"version":"7.0.0","resolved":"https://registry.npmjs.org/is-number/-/is-number-7.0.0.tgz","integrity":"sha512-41Cifkg6e8TylSpdtTpeLVMqvSBEVzTttHvERD741+pnZ8ANv0004MRL43QKPDlK9cGvNp6NZWZUBlbGXYxxng==","engines":{"node":">=0.12.0"}}}}`,
	}
	h := r.zipOf(files)
	first, log1 := r.wait(r.build(h, apogee.TargetPreview, false).ID, 3*time.Minute)
	if first.Status != apogee.StatusReady || !strings.Contains(log1, "Installing: npm ci") {
		t.Fatalf("first build %s (%s):\n%s", first.Status, first.Error, log1)
	}
	// The cache counts against its owner's storage, and so does the log.
	use, err := r.store.Usage(context.Background(), r.project.OwnerID, apogee.MonthStart(time.Now()), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if use.Storage.Caches < 1<<10 || use.Storage.Logs == 0 || !strings.Contains(log1, "Dependency cache: ") {
		t.Fatalf("storage after a cached build: %+v\n%s", use.Storage, log1)
	}
	second, log2 := r.wait(r.build(h, apogee.TargetPreview, false).ID, 3*time.Minute)
	if second.Status != apogee.StatusReady || !strings.Contains(log2, "Restored node_modules") || strings.Contains(log2, "Installing:") {
		t.Fatalf("second build did not use the cache (%s):\n%s", second.Status, log2)
	}
	third, log3 := r.wait(r.build(h, apogee.TargetPreview, true).ID, 3*time.Minute)
	if third.Status != apogee.StatusReady || !strings.Contains(log3, "Installing: npm ci") {
		t.Fatalf("--no-cache build skipped the install (%s):\n%s", third.Status, log3)
	}
}

// TestBuildTakeover: a build whose builder went away is started again
// from scratch, and its log says so: after a restart of the same node
// (a previous run's worker), and from another node whose heartbeat
// stopped (kill -9, its machine gone). Past MaxTakeovers it fails.
func TestBuildTakeover(t *testing.T) {
	for _, tt := range []struct {
		name, worker, says string
		heartbeat          time.Time // of the dead worker
		takeovers          int       // already
		want               apogee.Status
	}{
		{"a restart of this node", "test-node/previous-run/0", "the server that ran it restarted", time.Now(), 0, apogee.StatusReady},
		{"another node gone", "other-node/x/0", "the builder running it stopped answering", time.Now().Add(-time.Hour), 0, apogee.StatusReady},
		{"taken over too often", "other-node/x/0", "Build failed: the builder stopped answering", time.Now().Add(-time.Hour), builder.MaxTakeovers, apogee.StatusError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, sandbox.Limits{}, nil)
			r.cancel() // stop the rig's builder; play the builder that went away
			<-r.done
			ctx := context.Background()
			d := &apogee.Deployment{ID: apogee.NewID(), ProjectID: r.project.ID, Target: apogee.TargetProduction, CreatedAt: time.Now(),
				Source: apogee.SourceZip, SourceBlob: r.zipOf(map[string]string{"index.html": "<h1>taken over</h1>"})}
			if err := r.store.QueueBuild(ctx, d); err != nil {
				t.Fatal(err)
			}
			for i := range tt.takeovers + 1 {
				if i > 0 {
					if _, err := r.store.RequeueStaleBuilds(ctx, time.Now().Add(time.Hour), "", builder.MaxTakeovers); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := r.store.ClaimBuild(ctx, tt.worker, tt.heartbeat); err != nil {
					t.Fatal(err)
				}
			}
			r.watch(d.ID)
			sb, _ := sandbox.New("bwrap", sandbox.WithLogger(quiet))
			b, err := builder.New(builder.Config{Store: r.store, Queue: r.queue, Blobs: r.blobs, Bus: r.bus, Hub: r.hub, Sandbox: sb,
				Source: &builder.Sources{Git: &source.Git{}, Blobs: r.blobs}, Dir: filepath.Join(r.data, "builds"), Node: "test-node",
				Heartbeat: 100 * time.Millisecond, Log: quiet})
			if err != nil {
				t.Fatal(err)
			}
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); b.Run(runCtx) }()
			defer func() { cancel(); <-done }()
			got, log := r.wait(d.ID, time.Minute)
			if got.Status != tt.want || !strings.Contains(log, tt.says) {
				t.Fatalf("%s (%s), want %s with %q in the log:\n%s", got.Status, got.Error, tt.want, tt.says, log)
			}
			if tt.want == apogee.StatusReady && !strings.Contains(log, "starts again from scratch") {
				t.Errorf("the log does not say the build starts again:\n%s", log)
			}
		})
	}
}

// TestBuildMinutesBound: a build stops when its owner's build minutes of
// the month run out, with the plan's limit as the reason; the next build
// is refused at once.
func TestBuildMinutesBound(t *testing.T) {
	r := newRigWith(t, sandbox.Limits{MemoryBytes: 128 << 20, CPUs: 1, Pids: 256, Wall: time.Minute}, nil,
		func(st apogee.Store, owner *apogee.User) {
			ctx := context.Background()
			plan := &apogee.Plan{Name: "tiny", Limits: apogee.PlanLimits{Projects: 1, ConcurrentBuilds: 1, BuildMinutes: 1,
				StorageBytes: apogee.Unlimited, CustomDomains: 0}}
			if err := st.CreatePlan(ctx, plan); err != nil {
				t.Fatal(err)
			}
			if err := st.SetUserPlan(ctx, owner.ID, plan.ID); err != nil {
				t.Fatal(err)
			}
			// 58 of the month's 60 seconds spent by an earlier build.
			start := time.Now().UTC().Add(-58 * time.Second)
			if ms := apogee.MonthStart(time.Now()); start.Before(ms) {
				start = ms
			}
			p, err := st.ListProjects(ctx, owner.ID)
			if err != nil || len(p) != 1 {
				t.Fatal(p, err)
			}
			id := apogee.NewID()
			if err := st.QueueBuild(ctx, &apogee.Deployment{ID: id, ProjectID: p[0].ID, Target: apogee.TargetPreview,
				Host: apogee.DeploymentHost(p[0].Name, id), CreatedAt: start, Source: apogee.SourceGit, Branch: "main"}); err != nil {
				t.Fatal(err)
			}
			if _, err := st.ClaimBuild(ctx, "earlier/1", start); err != nil {
				t.Fatal(err)
			}
			if _, err := st.EndBuild(ctx, id, apogee.StatusError, "earlier", start.Add(58*time.Second)); err != nil {
				t.Fatal(err)
			}
		})
	h := r.zipOf(map[string]string{
		"package.json": `{"name":"site","private":true,"scripts":{"build":"sleep 50"}}`,
		"index.html":   "<h1>x</h1>",
	})
	started := time.Now()
	d, log := r.wait(r.build(h, apogee.TargetPreview, false).ID, 45*time.Second)
	if d.Status != apogee.StatusError || !strings.Contains(d.Error, `your plan "tiny" allows 1 build minute a month`) {
		t.Fatalf("status %s error %q; log:\n%s", d.Status, d.Error, log)
	}
	if took := time.Since(started); took > 30*time.Second {
		t.Errorf("the build ran %v with 2 s of build time left", took)
	}
	if !strings.Contains(log, `Your plan "tiny" has`) || !strings.Contains(log, "of build time left this month") {
		t.Errorf("the log does not warn of the time left:\n%s", log)
	}

	d, log = r.wait(r.build(h, apogee.TargetPreview, false).ID, 30*time.Second)
	if d.Status != apogee.StatusError || !strings.Contains(d.Error, "this month's are used up") {
		t.Fatalf("a build with no minutes left: status %s error %q; log:\n%s", d.Status, d.Error, log)
	}
}

// appTree is a small app: a Procfile with web and release processes, two
// production dependencies from the npm registry (mkdirp has a bin, so
// node_modules/.bin holds a link) and one devDependency, pinned by a
// real lockfile (npm install --package-lock-only).
var appTree = map[string]string{
	"Procfile":   "web: node server.js\nrelease: node migrate.js\n",
	"server.js":  `require('http').createServer((q, s) => s.end(String(require('is-number')(5)))).listen(process.env.PORT)`,
	"migrate.js": `console.log('migrated')`,
	"package.json": `{"name":"app-test","version":"1.0.0","private":true,"scripts":{"start":"node server.js"},` +
		`"dependencies":{"is-number":"7.0.0","mkdirp":"1.0.4"},"devDependencies":{"kind-of":"6.0.3"}}`,
	"package-lock.json": `{"name":"app-test","version":"1.0.0","lockfileVersion":3,"requires":true,"packages":{"":{"name":"app-test","version":"1.0.0","dependencies":{"is-number":"7.0.0","mkdirp":"1.0.4"},"devDependencies":{"kind-of":"6.0.3"}},` +
		`"node_modules/is-number":{"version":"7.0.0","integrity":"sha512-41Cifkg6e8TylSpdtTpeLVMqvSBEVzTttHvERD741+pnZ8ANv0004MRL43QKPDlK9cGvNp6NZWZUBlbGXYxxng==","license":"MIT","engines":{"node":">=0.12.0"}},` +
		`"node_modules/kind-of":{"version":"6.0.3","integrity":"sha512-dcS1ul+9tmeD95T+x28/ehLgd9mENa3LsvDTtzm3vyBEO7RPptvAD+t44WVXaUjTBRcrpFeFlC8WCruUR456hw==","dev":true,"license":"MIT","engines":{"node":">=0.10.0"}},` +
		`"node_modules/mkdirp":{"version":"1.0.4","integrity":"sha512-vVqVZQyf3WLx2Shd0qJ9xuvqgAyKPLAiqITEtqW0oIUjzo3PePDd6fW9iFz30ef7Ysp/oiWqbhszeGWW2T6Gzw==","license":"MIT","bin":{"mkdirp":"bin/cmd.js"},"engines":{"node":">=10"}}}}`,
}

// TestAppBuild builds an app into a release: production dependencies
// only, node_modules and its links in the manifest, the Procfile's
// commands in the release; a rebuild restores node_modules from the
// cache and stores no new file; a project set to static is not an app.
func TestAppBuild(t *testing.T) {
	r := newRig(t, sandbox.Limits{}, env{"GREETING": "hello"})
	h := r.zipOf(appTree)
	d, log := r.wait(r.build(h, apogee.TargetPreview, false).ID, 3*time.Minute)
	if d.Status != apogee.StatusReady {
		t.Fatalf("app build %s (%s):\n%s", d.Status, d.Error, log)
	}
	for _, want := range []string{"Detected a Node.js app (procfile-web): start `node server.js`", "Installing: npm ci --omit=dev",
		"Release command `node migrate.js` runs once"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	rel, err := r.store.Release(context.Background(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rel.StartCommand != "node server.js" || rel.ReleaseCommand != "node migrate.js" || rel.Version != 1 || rel.HealthPath != "/" || rel.BootTimeout != 60 {
		t.Errorf("release = %+v", rel)
	}
	files, err := r.store.DeploymentFiles(context.Background(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]apogee.File{}
	for _, f := range files {
		byPath[f.Path] = f
	}
	for _, p := range []string{"server.js", "Procfile", "node_modules/is-number/index.js", "node_modules/mkdirp/bin/cmd.js"} {
		if _, ok := byPath[p]; !ok {
			t.Errorf("the release lacks %s", p)
		}
	}
	if _, ok := byPath["node_modules/kind-of/index.js"]; ok {
		t.Error("the release holds a devDependency")
	}
	bin, ok := byPath["node_modules/.bin/mkdirp"]
	if !ok || fs.FileMode(bin.Mode)&fs.ModeSymlink == 0 || r.file(d, bin.Path) != "../mkdirp/bin/cmd.js" {
		t.Errorf("node_modules/.bin/mkdirp = %+v, want a link to ../mkdirp/bin/cmd.js", bin)
	}

	again, log2 := r.wait(r.build(h, apogee.TargetPreview, false).ID, 3*time.Minute)
	if again.Status != apogee.StatusReady || !strings.Contains(log2, "Restored node_modules") || strings.Contains(log2, "Installing:") ||
		!strings.Contains(log2, fmt.Sprintf("Output: %d files, 0 new", len(files))) {
		t.Fatalf("rebuild (%s) did not reuse the cache and the stored files:\n%s", again.Status, log2)
	}
	if rel2, err := r.store.Release(context.Background(), again.ID); err != nil || rel2.Version != 2 {
		t.Fatalf("second release = %+v, %v", rel2, err)
	}

	// Set to static, the same tree is a static build (which needs a
	// build script, so it fails saying so).
	static := apogee.KindStatic
	r.project.Settings.App.Kind = &static
	if err := r.store.UpdateProject(context.Background(), r.project); err != nil {
		t.Fatal(err)
	}
	st, log3 := r.wait(r.build(h, apogee.TargetPreview, false).ID, 3*time.Minute)
	if st.Status != apogee.StatusError || !strings.Contains(st.Error, "no \"build\" script") {
		t.Fatalf("static build of the app tree: %s (%s):\n%s", st.Status, st.Error, log3)
	}
	if _, err := r.store.Release(context.Background(), st.ID); !errors.Is(err, apogee.ErrNotFound) {
		t.Errorf("a static build has a release (%v)", err)
	}
}
