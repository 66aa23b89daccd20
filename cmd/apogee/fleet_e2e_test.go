package main_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/events/natstest"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// TestFleetOfProcesses is issue 16's fleet with real apogee processes on
// loopback: three nodes (api+edge, builder, edge) sharing PostgreSQL, an
// S3 server (gofakes3, the S3 protocol over HTTP) and a bus, NATS with
// JetStream and Kafka in turn. A deployment made through the first node is
// served by both edges; a git push to the first node is built by the
// builder (the only node with build workers) and served by both edges.
func TestFleetOfProcesses(t *testing.T) {
	for _, bus := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"nats", func(t *testing.T) string {
			return natstest.StartJetStream(t).URL() + "?subject=apogee.e2e." + apogee.NewID()
		}},
		{"kafka", func(t *testing.T) string {
			c, err := kfake.NewCluster(kfake.NumBrokers(1))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			return "kafka://" + c.ListenAddrs()[0] + "?topic=apogee-e2e-" + apogee.NewID()
		}},
	} {
		t.Run(bus.name, func(t *testing.T) { testFleet(t, bus.url(t)) })
	}
}

func testFleet(t *testing.T, events string) {
	backend := s3mem.New()
	if err := backend.CreateBucket("apogee"); err != nil {
		t.Fatal(err)
	}
	s3 := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(s3.Close)
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "apogee-test", "AWS_SECRET_ACCESS_KEY": "apogee-test-secret", "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED": "true",
		// What every node shares; the CLI's admin command reads the database too.
		"APOGEE_DATABASE":   testbed.PostgresURL(t),
		"APOGEE_BLOBS":      "s3://apogee?endpoint=" + s3.URL + "&region=us-east-1&use_path_style=true",
		"APOGEE_SECRET_KEY": strings.Repeat("cd", 32),
		"APOGEE_EVENTS":     events,
	} {
		t.Setenv(k, v)
	}
	var nodes []*world
	for _, roles := range []string{"api,edge", "builder", "edge", "builder"} {
		w := newWorld(t)
		w.env = []string{"APOGEE_ROLES=" + roles}
		nodes = append(nodes, w)
	}
	api, builder, edge, builder2 := nodes[0], nodes[1], nodes[2], nodes[3]
	for _, w := range nodes[:3] {
		w.config = api.config // one CLI, talking to the api node
		w.start()
	}
	api.cli(true, "admin", "create-user", "--email", "me@example.com", "--password", "correct horse", "--admin")
	api.cli(true, "login", "--server", api.server(), "--email", "me@example.com", "--password", "correct horse")

	// Deploy through the api node: both edges serve it.
	api.cli(true, "projects", "create", "hello")
	site := t.TempDir()
	writeSite(t, site, 20, "<h1>fleet</h1>")
	api.cli(true, "deploy", site, "--project", "hello", "--prod")
	for _, w := range []*world{api, edge} {
		within(t, w, 10*time.Second, "hello.localhost", "<h1>fleet</h1>")
	}
	if code, _ := builder.get("hello.localhost", "/"); code != http.StatusMisdirectedRequest {
		t.Errorf("the builder node answers a site's host with %d, want 421", code)
	}

	// git push to the api node: built by the builder node, served by both edges.
	api.cli(true, "projects", "create", "pushed")
	repo := t.TempDir()
	git(t, repo, "init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(repo, "index.html"), []byte("<h1>pushed</h1>"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, repo, "add", ".")
	git(t, repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "first")
	head := strings.TrimSpace(git(t, repo, "rev-parse", "HEAD"))
	git(t, repo, "push", "-q", "http://x:"+api.token()+"@"+api.addr+"/git/pushed.git", "main")
	d := api.waitForBuild("pushed", head)
	if !d.Production {
		t.Fatalf("the pushed build is not production: %+v", d)
	}
	for _, w := range []*world{api, edge} {
		within(t, w, 10*time.Second, "pushed.localhost", "<h1>pushed</h1>")
	}
	for name, w := range map[string]*world{"builder": builder, "api": api, "edge": edge} {
		if built := strings.Contains(w.logs.String(), buildStarted(d.ID)); built != (w == builder) {
			t.Errorf("the %s node built deployment %s: %v, want only the builder node to", name, d.ID, built)
		}
	}

	// kill -9 of the builder mid-build: another builder takes the build
	// over once its heartbeat lapses, builds it anew and says so.
	builder2.config = api.config
	builder2.start()
	api.cli(true, "projects", "create", "slow")
	api.cli(true, "projects", "update", "slow", "--output-dir", "dist")
	slow := t.TempDir()
	git(t, slow, "init", "-q", "-b", "main")
	pkg := `{"name": "slow", "private": true, "scripts": {"build": "sleep 6 && mkdir -p dist && echo '<h1>slow</h1>' > dist/index.html"}}`
	if err := os.WriteFile(filepath.Join(slow, "package.json"), []byte(pkg), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, slow, "add", ".")
	git(t, slow, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "slow")
	head = strings.TrimSpace(git(t, slow, "rev-parse", "HEAD"))
	// git push waits for its build to end (it reports it): in the background.
	push := exec.Command("git", "-C", slow, "push", "-q", "http://x:"+api.token()+"@"+api.addr+"/git/slow.git", "main")
	if err := push.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { push.Wait() })
	var id string
	for deadline := time.Now().Add(30 * time.Second); id == ""; {
		var list struct {
			Deployments []buildOut `json:"deployments"`
		}
		api.cliJSON(&list, "deployments", "list", "--project", "slow")
		if len(list.Deployments) > 0 {
			id = list.Deployments[0].ID
		} else if time.Now().After(deadline) {
			t.Fatal("the push queued no build within 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var victim, survivor *world
	deadline := time.Now().Add(30 * time.Second)
	for victim == nil {
		for _, pair := range [][2]*world{{builder, builder2}, {builder2, builder}} {
			if strings.Contains(pair[0].logs.String(), buildStarted(id)) {
				victim, survivor = pair[0], pair[1]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no builder started deployment %s within 30 s", id)
		}
		time.Sleep(20 * time.Millisecond)
	}
	victim.kill9()
	killed := time.Now()
	// The killed builder leaves its build's workspace disk mounted (a
	// restart of it would clean up; this one is gone for good).
	t.Cleanup(func() { unmountUnder(t, victim.data) })
	d = api.waitForBuild("slow", head)
	t.Logf("kill -9 of the builder → built by the other: %v", time.Since(killed).Round(100*time.Millisecond))
	if !strings.Contains(survivor.logs.String(), buildStarted(id)) {
		log, _ := api.cli(true, "logs", id)
		t.Fatalf("the surviving builder did not take deployment %s over; its log:\n%s", id, log)
	}
	if log, _ := api.cli(true, "logs", "--json", id); !strings.Contains(log, "stopped answering") {
		t.Errorf("the log of %s does not say the build was taken over:\n%s", id, log)
	}
	for _, w := range []*world{api, edge} {
		within(t, w, 10*time.Second, "slow.localhost", "<h1>slow</h1>\n")
	}
}

func buildStarted(id string) string {
	return `msg="build started" component=builder deployment=` + id
}

// within polls w's edge until host serves body, for at most d.
func within(t *testing.T, w *world, d time.Duration, host, body string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		code, got := w.get(host, "/")
		if code == 200 && got == body {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s on %s = %d %q after %v, want %q", host, w.addr, code, got, d, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// unmountUnder unmounts whatever is mounted below dir.
func unmountUnder(t *testing.T, dir string) {
	mounts, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Errorf("read mounts: %v", err)
		return
	}
	for _, line := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			if err := syscall.Unmount(f[1], syscall.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", f[1], err)
			}
		}
	}
}
