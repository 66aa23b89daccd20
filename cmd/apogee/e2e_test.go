package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apogee-dev/apogee/internal/testio"
)

// These tests build the real binary and drive it as a user would: the
// server as a process on a loopback port chosen by the kernel, the CLI as
// separate processes sharing one config folder.

var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "apogee-e2e-")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "apogee")
	build := exec.Command("go", "build", "-o", bin, "-ldflags", ldflags(), ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building apogee:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// ldflags stamps the binary as scripts/run.sh does: the checkout's
// commit and the build's date (`apogee version` prints them).
func ldflags() string {
	const pkg = "github.com/apogee-dev/apogee/internal/cli"
	flags := "-X " + pkg + ".Date=" + time.Now().UTC().Format(time.RFC3339)
	if out, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
		flags += " -X " + pkg + ".Commit=" + strings.TrimSpace(string(out))
	}
	return flags
}

type world struct {
	t       testing.TB
	data    string
	config  string
	srv     *exec.Cmd
	addr    string
	logs    *testio.Buffer
	env     []string // extra environment of the server
	metrics string   // URL of /metrics (--metrics-listen)
}

func newWorld(t testing.TB) *world {
	w := &world{t: t, data: t.TempDir(), config: t.TempDir()}
	t.Cleanup(func() {
		if w.srv != nil {
			w.stop()
		}
		if t.Failed() && w.logs != nil {
			t.Logf("server log:\n%s", w.logs.String())
		}
	})
	return w
}

// start runs `apogee server` and waits for its address: on 127.0.0.1:0
// the first time, on the same address after a restart (the CLI's config
// names it).
func (w *world) start() {
	w.t.Helper()
	listen := "127.0.0.1:0"
	if w.addr != "" {
		listen = w.addr
	}
	cmd := exec.Command(bin, "server", "--data", w.data, "--listen", listen, "--metrics-listen", "127.0.0.1:0", "--json")
	cmd.Env = append(append(os.Environ(), "APOGEE_LOG_LEVEL=debug"), w.env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		w.t.Fatal(err)
	}
	w.logs = &testio.Buffer{}
	cmd.Stderr = w.logs
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.srv = cmd
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		if s.Scan() {
			line <- s.Text()
		}
		io.Copy(io.Discard, out)
	}()
	select {
	case l := <-line:
		var v struct{ Addr, URL, Metrics string }
		if err := json.Unmarshal([]byte(l), &v); err != nil || v.Addr == "" || v.Metrics == "" {
			w.t.Fatalf("server's first line %q is not {\"addr\":…, \"metrics\":…}", l)
		}
		w.addr, w.metrics = v.Addr, v.Metrics
	case <-time.After(30 * time.Second):
		w.t.Fatalf("server did not start; log:\n%s", w.logs.String())
	}
}

// stop stops the server with SIGTERM, as a service manager would: it
// stops its apps' instances, which would outlive a kill -9 of it. After a
// minute it is killed.
func (w *world) stop() {
	w.srv.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { w.srv.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		w.t.Errorf("the server did not stop within a minute of SIGTERM")
		w.srv.Process.Kill()
		<-done
	}
	w.srv = nil
}

// kill9 kills the server the hard way.
func (w *world) kill9() {
	w.t.Helper()
	w.srv.Process.Signal(os.Kill)
	w.srv.Wait()
	w.srv = nil
}

func (w *world) server() string { return "http://" + w.addr }

// cli runs the CLI with the world's config folder and returns stdout and
// stderr; it fails the test if the exit status is not want.
func (w *world) cli(wantOK bool, args ...string) (string, string) {
	w.t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+w.config, "APOGEE_SERVER=", "APOGEE_TOKEN=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ok := err == nil; ok != wantOK {
		w.t.Fatalf("apogee %s: err %v, want ok=%v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, wantOK, stdout.String(), stderr.String())
	}
	return stdout.String(), stderr.String()
}

func (w *world) cliJSON(v any, args ...string) {
	w.t.Helper()
	out, _ := w.cli(true, append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		w.t.Fatalf("apogee %s --json printed %q: %v", strings.Join(args, " "), out, err)
	}
}

// get fetches path from the server with the given Host header.
func (w *world) get(host, path string) (int, string) {
	w.t.Helper()
	req, _ := http.NewRequest("GET", w.server()+path, nil)
	req.Host = host
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// eventually polls get until it returns body, for at most a second.
func (w *world) eventually(host, path, body string) {
	w.t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		code, got := w.get(host, path)
		if code == 200 && got == body {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%s%s = %d %q, want %q", host, path, code, got, body)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func writeSite(t testing.TB, dir string, n int, index string) {
	t.Helper()
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, "assets", fmt.Sprintf("%02d", i%10), fmt.Sprintf("file-%04d.txt", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(fmt.Sprintf("asset %d\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(index), 0o644); err != nil {
		t.Fatal(err)
	}
}

type deployOut struct {
	ID         string `json:"id"`
	URL        string `json:"url"`
	Status     string `json:"status"`
	Files      int    `json:"files"`
	Uploaded   int    `json:"uploaded"`
	Production bool   `json:"production"`
}

func TestEndToEnd(t *testing.T) {
	w := newWorld(t)
	w.cli(true, "admin", "create-user", "--data", w.data, "--email", "me@example.com", "--password", "correct horse", "--admin")
	w.cli(true, "admin", "create-user", "--data", w.data, "--email", "bob@example.com", "--password", "bob's password")
	_, errOut := w.cli(false, "admin", "create-user", "--data", w.data, "--email", "me@example.com", "--password", "another one")
	if !strings.Contains(errOut, "exists") {
		t.Fatalf("duplicate user error %q does not say it exists", errOut)
	}
	w.start()

	_, errOut = w.cli(false, "login", "--server", w.server(), "--email", "me@example.com", "--password", "wrong password")
	if !strings.Contains(errOut, "Wrong email or password") {
		t.Fatalf("bad login said %q", errOut)
	}
	w.cli(true, "login", "--server", w.server(), "--email", "me@example.com", "--password", "correct horse")
	w.cli(true, "projects", "create", "hello")
	_, errOut = w.cli(false, "projects", "create", "Bad_Name")
	if !strings.Contains(errOut, "lower-case") {
		t.Fatalf("bad project name said %q", errOut)
	}

	site := t.TempDir()
	writeSite(t, site, 1000, "<h1>v1</h1>")
	var d1 deployOut
	w.cliJSON(&d1, "deploy", site, "--project", "hello", "--prod")
	if d1.Status != "ready" || d1.Files != 1001 || d1.Uploaded != 1001 || !d1.Production {
		t.Fatalf("first deploy = %+v", d1)
	}
	w.eventually("hello.localhost", "/", "<h1>v1</h1>")
	w.eventually("hello.localhost", "/assets/07/file-0007.txt", "asset 7\n")
	d1Host := strings.TrimPrefix(strings.TrimSuffix(d1.URL, "/"), "http://")
	d1Host = d1Host[:strings.LastIndexByte(d1Host, ':')]
	w.eventually(d1Host, "/", "<h1>v1</h1>")

	// One changed file: one upload. In text mode the URL is the last line.
	writeSite(t, site, 0, "<h1>v2</h1>")
	out, _ := w.cli(true, "deploy", site, "--project", "hello", "--prod")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "http://hello--") {
		t.Fatalf("last line of deploy is %q, want the deployment URL", last)
	}
	w.eventually("hello.localhost", "/", "<h1>v2</h1>")
	writeSite(t, site, 0, "<h1>v3</h1>")
	var d3 deployOut
	w.cliJSON(&d3, "deploy", site, "--project", "hello", "--prod")
	if d3.Uploaded != 1 || d3.Files != 1001 {
		t.Fatalf("redeploy with one changed file: uploaded %d of %d, want 1 of 1001", d3.Uploaded, d3.Files)
	}
	w.eventually("hello.localhost", "/", "<h1>v3</h1>")

	var list struct {
		Deployments []struct {
			ID         string `json:"id"`
			Production bool   `json:"production"`
		} `json:"deployments"`
	}
	w.cliJSON(&list, "deployments", "list", "--project", "hello")
	if len(list.Deployments) != 3 || list.Deployments[0].ID != d3.ID || !list.Deployments[0].Production {
		t.Fatalf("deployments list = %+v", list)
	}

	// Rollback: v2 at once, every deployment keeps its URL.
	w.cli(true, "rollback", "--project", "hello")
	w.eventually("hello.localhost", "/", "<h1>v2</h1>")
	w.eventually(d1Host, "/", "<h1>v1</h1>")
	if code, _ := w.get("hello.localhost", "/nope.html"); code != 404 {
		t.Fatalf("missing file: %d, want 404", code)
	}
	if code, _ := w.get("nothing.localhost", "/"); code != 404 {
		t.Fatalf("unknown host: %d, want 404", code)
	}

	// Bob cannot see or touch hello.
	bob := &world{t: t, data: w.data, config: t.TempDir(), addr: w.addr}
	bob.cli(true, "login", "--server", w.server(), "--email", "bob@example.com", "--password", "bob's password")
	_, errOut = bob.cli(false, "rollback", "--project", "hello")
	if !strings.Contains(errOut, "not found") {
		t.Fatalf("bob's rollback said %q, want not found", errOut)
	}

	// An upload in flight when the server dies is never served; what was
	// ready and where production pointed survive kill -9.
	pending := startUpload(t, w)
	w.kill9()
	w.start()
	w.eventually("hello.localhost", "/", "<h1>v2</h1>")
	w.eventually(d1Host, "/", "<h1>v1</h1>")
	if code, _ := w.get(pending, "/"); code != 404 {
		t.Fatalf("an unfinished upload is served at %s after restart: %d", pending, code)
	}
	w.cliJSON(&list, "deployments", "list", "--project", "hello")
	if len(list.Deployments) != 4 {
		t.Fatalf("after restart %d deployments, want 4 (3 ready, 1 uploading)", len(list.Deployments))
	}

	// The metrics endpoint counts what happened, on --metrics-listen
	// only.
	if code, _ := w.get("localhost", "/metrics"); code != 404 {
		t.Fatalf("/metrics on the public listener = %d, want 404", code)
	}
	res, err := http.Get(w.metrics)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(metrics), "apogee_edge_requests_total") || !strings.Contains(string(metrics), "apogee_api_requests_total") {
		t.Fatalf("/metrics = %d, missing apogee series", res.StatusCode)
	}
}

// startUpload begins a deployment through the API and never finalizes it;
// it returns the host the deployment would have.
func startUpload(t *testing.T, w *world) string {
	t.Helper()
	body := `{"target":"production","files":[{"path":"index.html","sha256":"` + strings.Repeat("ab", 32) + `","size":3}]}`
	req, _ := http.NewRequestWithContext(context.Background(), "POST", w.server()+"/api/v1/projects/hello/deployments", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+w.token())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var d struct{ Host string }
	if err := json.NewDecoder(res.Body).Decode(&d); err != nil || res.StatusCode != 201 {
		t.Fatalf("start upload: %d %v", res.StatusCode, err)
	}
	return d.Host + ".localhost"
}

// TestKillAtAnyMoment kills the server at random moments of deploys and
// checks after each restart that production serves one whole deployment,
// the one it served before or the one being deployed, never a mix and
// never nothing.
func TestKillAtAnyMoment(t *testing.T) {
	w := newWorld(t)
	w.cli(true, "admin", "create-user", "--data", w.data, "--email", "me@example.com", "--password", "correct horse")
	w.start()
	w.cli(true, "login", "--server", w.server(), "--email", "me@example.com", "--password", "correct horse")
	w.cli(true, "projects", "create", "k")

	version := func(dir string, v int) {
		for i := 0; i < 200; i++ {
			p := filepath.Join(dir, fmt.Sprintf("f%03d.txt", i))
			if err := os.WriteFile(p, []byte(fmt.Sprintf("v%d", v)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		os.WriteFile(filepath.Join(dir, "index.html"), []byte(fmt.Sprintf("v%d", v)), 0o644)
	}
	site := t.TempDir()
	version(site, 0)
	w.cli(true, "deploy", site, "--project", "k", "--prod")
	served := "v0"
	w.eventually("k.localhost", "/", served)

	delays := []time.Duration{0, 20 * time.Millisecond, 60 * time.Millisecond, 150 * time.Millisecond, 400 * time.Millisecond}
	for i, delay := range delays {
		v := i + 1
		version(site, v)
		cmd := exec.Command(bin, "deploy", site, "--project", "k", "--prod")
		cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+w.config, "APOGEE_SERVER=", "APOGEE_TOKEN=")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		w.kill9()
		cmd.Wait()
		w.start()

		code, index := w.get("k.localhost", "/")
		if code != 200 || (index != served && index != fmt.Sprintf("v%d", v)) {
			t.Fatalf("kill after %v: production serves %d %q, want %q or v%d", delay, code, index, served, v)
		}
		for _, f := range []string{"/f000.txt", "/f099.txt", "/f199.txt"} {
			if code, body := w.get("k.localhost", f); code != 200 || body != index {
				t.Fatalf("kill after %v: %s is %d %q but index is %q: a mixed deployment", delay, f, code, body, index)
			}
		}
		served = index
	}
	// The platform still deploys after all that.
	version(site, 99)
	w.cli(true, "deploy", site, "--project", "k", "--prod")
	w.eventually("k.localhost", "/f123.txt", "v99")
}
