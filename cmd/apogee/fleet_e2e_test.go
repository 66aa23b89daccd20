package main_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
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
	for _, roles := range []string{"api,edge", "builder", "edge"} {
		w := newWorld(t)
		w.env = []string{"APOGEE_ROLES=" + roles}
		nodes = append(nodes, w)
	}
	api, builder, edge := nodes[0], nodes[1], nodes[2]
	for _, w := range nodes {
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
		started := `msg="build started" component=builder deployment=` + d.ID
		if built := strings.Contains(w.logs.String(), started); built != (w == builder) {
			t.Errorf("the %s node built deployment %s: %v, want only the builder node to", name, d.ID, built)
		}
	}
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
