package builder_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/sandbox"
)

// pushRepo commits files (path → content; a content starting with "->"
// makes a symbolic link to the rest) to a fresh repository, pushes it to
// a bare repository with git push, and returns the bare one's URL.
func pushRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is missing: apt-get install git")
	}
	base := t.TempDir()
	work, bare := filepath.Join(base, "work"), filepath.Join(base, "repo.git")
	git := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	git(base, "init", "-q", "--bare", "-b", "main", bare)
	git(work, "init", "-q", "-b", "main")
	for name, content := range files {
		p := filepath.Join(work, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if target, ok := strings.CutPrefix(content, "->"); ok {
			err = os.Symlink(target, p)
		} else {
			err = os.WriteFile(p, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	git(work, "add", "-A")
	git(work, "commit", "-q", "-m", "hostile")
	git(work, "push", "-q", bare, "main")
	return "file://" + bare
}

// buildGit queues a build of the project's repository at main with the
// given build settings.
func (r *rig) buildGit(url string, settings apogee.BuildSettings) *apogee.Deployment {
	r.t.Helper()
	ctx := context.Background()
	p, err := r.store.ProjectByID(ctx, r.project.ID)
	if err != nil {
		r.t.Fatal(err)
	}
	p.Git = &apogee.GitSource{URL: url, Branch: "main"}
	p.Settings.Build = settings
	if err := r.store.UpdateProject(ctx, p); err != nil {
		r.t.Fatal(err)
	}
	d := &apogee.Deployment{ID: apogee.NewID(), ProjectID: p.ID, Target: apogee.TargetPreview, CreatedAt: time.Now(),
		Source: apogee.SourceGit, Branch: "main"}
	r.watch(d.ID)
	if err := r.store.QueueBuild(ctx, d); err != nil {
		r.t.Fatal(err)
	}
	r.b.Kick()
	return d
}

func ptr(s string) *string { return &s }

// TestHostileWorkspace: what the server reads from a workspace (lockfile,
// package.json, the project's folder, the output, node_modules for the
// cache) is read following no link and opening only regular files, each
// with a cap. Each case once stalled a worker, read a file outside the
// workspace, or took the server's memory.
func TestHostileWorkspace(t *testing.T) {
	r := newRig(t, sandbox.Limits{MemoryBytes: 256 << 20, CPUs: 1, Pids: 256, Wall: 30 * time.Second}, nil)
	outside := t.TempDir()
	fifo := filepath.Join(outside, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(outside, "huge")
	if f, err := os.Create(huge); err != nil {
		t.Fatal(err)
	} else {
		f.Truncate(768 << 20) // sparse: 768 MiB that take no disk
		f.Close()
	}
	secret := filepath.Join(outside, "secret")
	if err := os.MkdirAll(filepath.Join(secret, "node_modules"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(secret, "node_modules", "TOPSECRET"), []byte("host secret"), 0o600)
	skip := apogee.BuildSettings{InstallCommand: ptr("true")}
	site := `{"name":"site","private":true,"scripts":{"build":"mkdir -p dist && echo ok > dist/index.html"}}`

	tests := []struct {
		name     string
		files    map[string]string
		settings apogee.BuildSettings
		status   apogee.Status
		inError  string
		inLog    []string
	}{
		{
			// A FIFO nobody writes to: reading it blocked the worker.
			name:     "lockfile links to a FIFO",
			files:    map[string]string{"package.json": site, "package-lock.json": "->" + fifo},
			settings: skip,
			status:   apogee.StatusReady,
			inLog:    []string{"Not using the dependency cache: package-lock.json is a symbolic link"},
		},
		{
			// Reading it whole took the server from 76 to 863 MB.
			name:     "lockfile links to a huge file",
			files:    map[string]string{"package.json": site, "package-lock.json": "->" + huge},
			settings: skip,
			status:   apogee.StatusReady,
			inLog:    []string{"Not using the dependency cache: package-lock.json is a symbolic link"},
		},
		{
			name:    "package.json links to a FIFO",
			files:   map[string]string{"package.json": "->" + fifo, "index.html": "x"},
			status:  apogee.StatusError,
			inError: "package.json is a symbolic link (links are not followed); commit the file itself",
		},
		{
			name:    "Procfile links to a FIFO",
			files:   map[string]string{"Procfile": "->" + fifo, "package.json": site},
			status:  apogee.StatusError,
			inError: "Procfile is a symbolic link (links are not followed); commit the file itself",
		},
		{
			name:    "package.json links inside the repository",
			files:   map[string]string{"package.json": "->real.json", "real.json": site},
			status:  apogee.StatusError,
			inError: "package.json is a symbolic link",
		},
		{
			name:     "root directory is a link",
			files:    map[string]string{"app/package.json": site, "web": "->app"},
			settings: apogee.BuildSettings{RootDir: ptr("web"), InstallCommand: ptr("true")},
			status:   apogee.StatusError,
			inError:  `root directory "web" is a symbolic link`,
		},
		{
			name: "output with links, a FIFO and a socket",
			files: map[string]string{"package.json": `{"name":"site","private":true,"scripts":{"build":` + quoteJSON(
				"mkdir -p dist && echo ok > dist/index.html && ln -s /etc/passwd dist/passwd && ln -s index.html dist/again.html && mkfifo dist/pipe && "+
					`node -e "require('net').createServer().listen('dist/sock', () => process.exit(0))"`) + `}}`},
			settings: skip,
			status:   apogee.StatusReady,
			inLog: []string{"Skipping passwd: a symbolic link", "Skipping again.html: a symbolic link",
				"Skipping pipe: not a regular file", "Skipping sock: not a regular file", "Output: 1 files"},
		},
		{
			name: "output folder is a link",
			files: map[string]string{"package.json": `{"name":"site","private":true,"scripts":{"build":` + quoteJSON(
				"mkdir -p real && echo ok > real/index.html && ln -s real dist") + `}}`},
			settings: skip,
			status:   apogee.StatusError,
			inError:  `the output folder "dist" is, or passes through, a symbolic link`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			d, log := r.wait(r.buildGit(pushRepo(t, tt.files), tt.settings).ID, 2*time.Minute)
			if d.Status != tt.status || !strings.Contains(d.Error, tt.inError) {
				t.Fatalf("status %s error %q, want %s with %q; log:\n%s", d.Status, d.Error, tt.status, tt.inError, log)
			}
			for _, s := range tt.inLog {
				if !strings.Contains(log, s) {
					t.Errorf("log lacks %q:\n%s", s, log)
				}
			}
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if got := after.TotalAlloc - before.TotalAlloc; got > 256<<20 {
				t.Errorf("the build allocated %d MiB in the server", got>>20)
			}
		})
	}
}

// TestCacheSaveRefusesLinks: a build that turns node_modules into a link
// to a folder of the host does not get the server to move that folder
// into its cache (the next build with the same lockfile would restore it
// into the workspace).
func TestCacheSaveRefusesLinks(t *testing.T) {
	r := newRig(t, sandbox.Limits{MemoryBytes: 256 << 20, CPUs: 1, Pids: 256, Wall: 30 * time.Second}, nil)
	secret := filepath.Join(t.TempDir(), "victim")
	if err := os.MkdirAll(filepath.Join(secret, "node_modules"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(secret, "node_modules", "TOPSECRET"), []byte("host secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, build string }{
		{"node_modules is a link", "rm -rf node_modules && ln -s " + filepath.Join(secret, "node_modules") + " node_modules"},
		{"project folder is a link", "cd .. && mv app app.real && ln -s " + secret + " app"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			script := "mkdir -p dist node_modules && echo ok > dist/index.html && " + tt.build
			url := pushRepo(t, map[string]string{
				"app/package.json":      `{"name":"site","private":true,"scripts":{"build":` + quoteJSON(script) + `}}`,
				"app/package-lock.json": `{"lockfileVersion":3}`,
			})
			d, log := r.wait(r.buildGit(url, apogee.BuildSettings{RootDir: ptr("app"), InstallCommand: ptr("true"), OutputDir: ptr("dist")}).ID, 2*time.Minute)
			if d.Status != apogee.StatusError && d.Status != apogee.StatusReady {
				t.Fatalf("status %s: %s\n%s", d.Status, d.Error, log)
			}
			if _, err := os.Stat(filepath.Join(secret, "node_modules", "TOPSECRET")); err != nil {
				t.Fatalf("the host's folder was moved: %v\n%s", err, log)
			}
			matches, _ := filepath.Glob(filepath.Join(r.data, "builds", "cache", r.project.ID, "node_modules-*", "TOPSECRET"))
			if len(matches) > 0 {
				t.Fatalf("the host's folder is in the cache: %v", matches)
			}
		})
	}
}

// BenchmarkCancelBuild measures how long a canceled build holds its
// worker: from the cancel to the build's end being recorded (the target
// is under a second). The build is in its build step, the longest.
func BenchmarkCancelBuild(b *testing.B) {
	r := newRig(b, sandbox.Limits{}, nil)
	h := r.zipOf(map[string]string{"package.json": `{"scripts":{"build":"echo started; sleep 600"}}`})
	ctx := context.Background()
	var total time.Duration
	for b.Loop() {
		q := r.build(h, apogee.TargetPreview, false)
		r.line(q.ID, "started", time.Minute)
		start := time.Now()
		if _, err := r.store.EndBuild(ctx, q.ID, apogee.StatusCanceled, "canceled", time.Now()); err != nil {
			b.Fatal(err)
		}
		r.bus.Publish(ctx, apogee.Event{Type: apogee.EventBuildCanceled, DeploymentID: q.ID})
		if d, log := r.wait(q.ID, time.Minute); d.Status != apogee.StatusCanceled {
			b.Fatalf("status %s:\n%s", d.Status, log)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/cancel")
}
