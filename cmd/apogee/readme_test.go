package main_test

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apogee-dev/apogee/internal/testbed"
)

// readmeMarker, on the line before a fenced block of README.md, marks the
// block as one a new user runs as it is: TestReadme runs every marked
// block, in order, as one script.
const readmeMarker = "<!-- readme-test: run -->"

// runnableBlocks returns the marked code blocks of a Markdown file.
func runnableBlocks(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	var cur *strings.Builder
	marked := false
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		line := s.Text()
		switch {
		case cur != nil && strings.HasPrefix(line, "```"):
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		case marked && strings.HasPrefix(line, "```"):
			cur = &strings.Builder{}
			marked = false
		default:
			marked = strings.TrimSpace(line) == readmeMarker
		}
	}
	if cur != nil {
		t.Fatalf("%s: a marked block is never closed", path)
	}
	return blocks
}

// TestReadme runs the README's Quick start as a new user would: its
// marked blocks, verbatim and in order, in one bash, from the checkout,
// against a fresh data folder and a free port given through the
// variables the README sets with their defaults (APOGEE_DATA,
// APOGEE_LISTEN, APOGEE_SERVER; PREFIX for where scripts/run.sh installs
// apogee) and a fresh home. So the README, scripts/run.sh and the CLI
// cannot drift apart again: one server, one data folder, the account in
// the database that server uses, the sites it deploys served.
func TestReadme(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "npm", "bwrap"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: apt-get install bash curl nodejs npm bubblewrap", tool)
		}
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	blocks := runnableBlocks(t, filepath.Join(repo, "README.md"))
	if len(blocks) < 2 {
		t.Fatalf("README.md has %d blocks marked %q; the Quick start should", len(blocks), readmeMarker)
	}
	script := "set -euo pipefail\n" + strings.Join(blocks, "")
	if !strings.Contains(script, "bash scripts/run.sh") {
		t.Fatal("the README's marked blocks do not start the server with scripts/run.sh")
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	tmp := t.TempDir()
	data := filepath.Join(tmp, "data")
	t.Cleanup(func() { stopRunSh(t, data) })

	env := []string{
		"HOME=" + filepath.Join(tmp, "home"),
		"PATH=" + filepath.Join(tmp, "prefix", "bin") + ":" + os.Getenv("PATH"),
		"PREFIX=" + filepath.Join(tmp, "prefix"),
		"APOGEE_DATA=" + data,
		"APOGEE_LISTEN=127.0.0.1:" + port,
		"APOGEE_SERVER=http://localhost:" + port,
		"npm_config_update_notifier=false",
		"LANG=C.UTF-8",
	}
	// The new home must not cost a cold Go build or npm downloads.
	for _, k := range []string{"GOENV", "GOCACHE", "GOMODCACHE", "GOPATH", "GOTOOLCHAIN"} {
		if v, err := exec.Command("go", "env", k).Output(); err == nil && len(bytes.TrimSpace(v)) > 0 {
			env = append(env, k+"="+string(bytes.TrimSpace(v)))
		}
	}
	// Nor a download of the builds' Node.js: the server keeps them in the
	// folder every test server shares.
	env = append(env, "APOGEE_NODE_DIR="+testbed.NodeDir(t))
	if v, err := exec.Command("npm", "config", "get", "cache").Output(); err == nil {
		env = append(env, "npm_config_cache="+string(bytes.TrimSpace(v)))
	}
	if err := os.MkdirAll(filepath.Join(tmp, "home"), 0o755); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir = repo
	cmd.Env = env
	cmd.Stdin = nil
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		log, _ := os.ReadFile(filepath.Join(data, "server.log"))
		t.Fatalf("the README's Quick start failed after %v: %v\n--- script:\n%s\n--- output:\n%s\n--- server log:\n%s",
			time.Since(start).Round(time.Second), err, script, out.String(), tail(string(log), 60))
	}
	t.Logf("the Quick start ran in %v; it printed:\n%s", time.Since(start).Round(time.Second), out.String())
	got := out.String()
	for _, want := range []string{"Created admin me@example.com", "Logged in to http://localhost:" + port, "<h1>Hello</h1>", "the server builds it"} {
		if !strings.Contains(got, want) {
			t.Errorf("the Quick start's output lacks %q:\n%s", want, got)
		}
	}

	// What it left: production of hello rolled back to the first
	// deployment, my-app built and served.
	w := &world{t: t, addr: "127.0.0.1:" + port}
	if code, page := w.get("hello.localhost", "/"); code != 200 || page != "<h1>Hello</h1>\n" {
		t.Errorf("hello serves %d %q after the rollback", code, page)
	}
	if code, page := w.get("my-app.localhost", "/"); code != 200 || !strings.Contains(page, "/assets/index-") || strings.Contains(page, "/src/main.ts") {
		t.Errorf("my-app serves %d, not the built app:\n%s", code, page)
	}
	if _, err := os.Stat(filepath.Join(tmp, "home", "sites", "hello", ".apogee", "project.json")); err != nil {
		t.Errorf("the deployed folder is not linked: %v", err)
	}
}

// stopRunSh stops the server scripts/run.sh started for data.
func stopRunSh(t *testing.T, data string) {
	b, err := os.ReadFile(filepath.Join(data, "server.pid"))
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return
	}
	p.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Second)
	for p.Signal(syscall.Signal(0)) == nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	p.Signal(syscall.SIGKILL)
	if t.Failed() {
		if log, err := os.ReadFile(filepath.Join(data, "server.log")); err == nil {
			t.Logf("server log (end):\n%s", tail(string(log), 40))
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
