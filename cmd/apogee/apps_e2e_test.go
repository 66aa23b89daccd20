package main_test

import (
	"archive/zip"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// expressDir is the Express app the server's tests deploy too: a 10-line
// server and its real lockfile.
const expressDir = "../../internal/server/testdata/express"

// hammer sends GET / to host from a few goroutines until stopped and
// counts what came back: every answer must be 200 with a body of one
// release.
type hammer struct {
	stop   chan struct{}
	wg     sync.WaitGroup
	total  atomic.Int64
	mu     sync.Mutex
	bodies map[string]int
	fails  []string
}

func (w *world) hammer(host string) *hammer {
	h := &hammer{stop: make(chan struct{}), bodies: map[string]int{}}
	client := &http.Client{Timeout: 30 * time.Second}
	for range 4 {
		h.wg.Go(func() {
			for {
				select {
				case <-h.stop:
					return
				default:
				}
				req, _ := http.NewRequest("GET", w.server()+"/", nil)
				req.Host = host
				res, err := client.Do(req)
				h.total.Add(1)
				h.mu.Lock()
				if err != nil {
					h.fails = append(h.fails, err.Error())
				} else {
					b, _ := io.ReadAll(res.Body)
					res.Body.Close()
					if res.StatusCode != 200 {
						h.fails = append(h.fails, fmt.Sprintf("%d %s", res.StatusCode, b))
					} else {
						h.bodies[string(b)]++
					}
				}
				h.mu.Unlock()
			}
		})
	}
	return h
}

// done stops the load and fails the test on any failed request or a body
// not in want.
func (h *hammer) done(t *testing.T, what string, want ...string) {
	t.Helper()
	close(h.stop)
	h.wg.Wait()
	if len(h.fails) > 0 {
		t.Errorf("%s: %d of %d requests failed, first: %s", what, len(h.fails), h.total.Load(), h.fails[0])
	}
	for body, n := range h.bodies {
		ok := false
		for _, w := range want {
			ok = ok || body == w
		}
		if !ok {
			t.Errorf("%s: %d answers were %q, not from a release (%q)", what, n, body, want)
		}
	}
	t.Logf("%s: %d requests, 0 failed: %v", what, h.total.Load(), h.bodies)
}

// markerPIDs returns the processes whose environment holds marker.
func markerPIDs(marker string) map[string]bool {
	pids := map[string]bool{}
	envs, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, p := range envs {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), marker) {
			pids[filepath.Base(filepath.Dir(p))] = true
		}
	}
	return pids
}

type appStatus struct {
	Kind       string `json:"kind"`
	Production string `json:"production"`
	Instances  int    `json:"instances"`
	Releases   []struct {
		Version    int    `json:"version"`
		Production bool   `json:"production"`
		Warm       bool   `json:"warm"`
		Status     string `json:"status"`
	} `json:"releases"`
	Running []struct {
		ID          string  `json:"id"`
		Release     string  `json:"release"`
		State       string  `json:"state"`
		Healthy     bool    `json:"healthy"`
		MemoryBytes int64   `json:"memory_bytes"`
		Uptime      float64 `json:"uptime_seconds"`
	} `json:"running"`
}

// production returns the instances of the production release.
func (s appStatus) production() int {
	n := 0
	for _, in := range s.Running {
		if in.Release == s.Production && in.Healthy {
			n++
		}
	}
	return n
}

// TestAppEndToEnd drives a real Express app through the real binary and
// CLI: git push to the platform, apps status, scale and a rolling
// restart under load, a ZIP deploy, a variable set and a rollback under
// load (no request fails, every answer from one whole release), then
// kill -9 of the server: the next start kills the instances it left and
// serves the app again.
func TestAppEndToEnd(t *testing.T) {
	for _, tool := range []string{"git", "bwrap", "npm", "node", "slirp4netns"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: apt-get install git bubblewrap nodejs npm slirp4netns", tool)
		}
	}
	w := newWorld(t)
	w.cli(true, "admin", "create-user", "--data", w.data, "--email", "me@example.com", "--password", "correct horse")
	w.start()
	w.cli(true, "login", "--server", w.server(), "--email", "me@example.com", "--password", "correct horse")
	out, _ := w.cli(true, "projects", "create", "api", "--kind", "app", "--health-path", "/healthz")
	if !strings.Contains(out, "api.localhost") {
		t.Errorf("projects create: %s", out)
	}
	marker := "APOGEE_E2E_" + apogee.NewID()
	w.cli(true, "env", "set", "MARKER="+marker, "--project", "api")

	repo := t.TempDir()
	copyTree(t, expressDir, repo)
	git(t, repo, "init", "-q", "-b", "main")
	git(t, repo, "add", "-A")
	git(t, repo, "commit", "-q", "-m", "Express app")
	head := git(t, repo, "rev-parse", "HEAD")
	pushed := time.Now()
	git(t, repo, "push", "-q", "http://x:"+w.token()+"@"+w.addr+"/git/api.git", "main")
	b1 := w.waitForBuild("api", head)
	if !b1.Production {
		t.Fatalf("the pushed build is not production: %+v", b1)
	}
	w.eventually("api.localhost", "/", "hello from express")
	t.Logf("git push → serving: %v", time.Since(pushed).Round(time.Millisecond))

	var st appStatus
	w.cliJSON(&st, "apps", "status", "api")
	if st.Kind != "app" || st.Production != b1.ID || st.production() != 1 || st.Running[0].MemoryBytes == 0 {
		t.Fatalf("apps status after the first deploy: %+v", st)
	}
	out, _ = w.cli(true, "apps", "status", "api")
	for _, want := range []string{"RELEASE", "v1", "production", "INSTANCE", "ready", "ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("apps status lacks %q:\n%s", want, out)
		}
	}

	// Scale to 2 and restart, under load.
	load := w.hammer("api.localhost")
	w.cliJSON(&st, "apps", "scale", "api", "--instances", "2")
	if st.production() != 2 {
		t.Errorf("after scale: %+v", st)
	}
	before := map[string]bool{}
	for _, in := range st.Running {
		before[in.ID] = true
	}
	w.cliJSON(&st, "apps", "restart", "api")
	load.done(t, "scale and restart", "hello from express")
	if st.production() != 2 {
		t.Errorf("after restart: %+v", st)
	}
	for _, in := range st.Running {
		if in.Release == st.Production && before[in.ID] {
			t.Errorf("instance %s survived the restart", in.ID)
		}
	}

	// A ZIP of a changed app, a variable, a rollback: under load.
	load = w.hammer("api.localhost")
	zipPath := filepath.Join(t.TempDir(), "api.zip")
	writeAppZip(t, zipPath, expressDir, map[string]string{"hello from": "hi from"})
	var b2 buildOut
	w.cliJSON(&b2, "deploy", "--project", "api", "--zip", zipPath, "--prod")
	if b2.Status != "ready" || !b2.Production {
		t.Fatalf("the ZIP deploy: %+v\n%s", b2, w.logs.String())
	}
	w.eventually("api.localhost", "/", "hi from express")
	w.cli(true, "env", "set", "GREETING=world", "--project", "api")
	w.eventually("api.localhost", "/", "hi from world")
	rolled := time.Now()
	w.cli(true, "rollback", "--project", "api")
	w.eventually("api.localhost", "/", "hi from express")
	t.Logf("rollback to the warm release → serving: %v", time.Since(rolled).Round(time.Millisecond))
	load.done(t, "deploy, variable, rollback", "hello from express", "hi from express", "hi from world")
	w.cliJSON(&st, "apps", "status", "api")
	if st.production() != 2 || len(st.Releases) != 3 || !st.Releases[0].Warm || !st.Releases[1].Production {
		t.Errorf("after the rollback: %+v", st)
	}

	// A folder deploy of an app goes up as source (node_modules left
	// out) and is built on the server.
	src := t.TempDir()
	copyTree(t, expressDir, src)
	server, _ := os.ReadFile(filepath.Join(src, "server.js"))
	os.WriteFile(filepath.Join(src, "server.js"), []byte(strings.Replace(string(server), "hello from", "hey from", 1)), 0o644)
	os.MkdirAll(filepath.Join(src, "node_modules", "junk"), 0o755)
	os.WriteFile(filepath.Join(src, "node_modules", "junk", "index.js"), []byte("junk"), 0o644)
	out, errOut := w.cli(true, "deploy", src, "--project", "api", "--prod")
	if !strings.Contains(errOut, "Deploying the source of") || !strings.Contains(out, "api--") {
		t.Errorf("deploy of the app's folder:\n%s%s", out, errOut)
	}
	w.eventually("api.localhost", "/", "hey from world")

	// kill -9: the instances outlive the server until it starts again.
	old := markerPIDs(marker)
	if len(old) == 0 {
		t.Fatal("no process of the app's instances carries the marker")
	}
	w.kill9()
	if left := markerPIDs(marker); len(left) == 0 {
		t.Log("the instances died with the server")
	}
	restarted := time.Now()
	w.start()
	// The first request waits while the server brings the app back.
	if code, body := w.get("api.localhost", "/"); code != 200 || body != "hey from world" {
		t.Fatalf("the first request after the restart: %d %q", code, body)
	}
	t.Logf("restart after kill -9 → serving: %v", time.Since(restarted).Round(time.Millisecond))
	for pid := range markerPIDs(marker) {
		if old[pid] {
			t.Errorf("process %s of the killed server's instances is still running", pid)
		}
	}
	w.cliJSON(&st, "apps", "status", "api")
	if st.production() != 2 {
		t.Errorf("after the restart: %+v", st)
	}

	// SIGTERM: the server stops its instances before it exits.
	if len(markerPIDs(marker)) == 0 {
		t.Fatal("no process of the restarted server's instances carries the marker")
	}
	w.stop()
	if left := markerPIDs(marker); len(left) > 0 {
		t.Errorf("processes %v of the app outlived the server's SIGTERM", left)
	}
}

// writeAppZip zips the app in dir with each file's text changed by
// replace (old → new).
func writeAppZip(t *testing.T, path, dir string, replace map[string]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for o, n := range replace {
			s = strings.ReplaceAll(s, o, n)
		}
		zf, err := zw.Create(e.Name())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(zf, s)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}
