package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestFirstHourSmall: the binary names its commit; create-user without a
// terminal and without a password says what to pass; a typo of a
// subcommand fails with a suggestion.
func TestFirstHourSmall(t *testing.T) {
	w := newWorld(t)
	out, _ := w.cli(true, "--version")
	long, _ := w.cli(true, "version")
	if out != long || !regexp.MustCompile(`^apogee \S+ \(commit [0-9a-f]{12}, \d{4}-\d\d-\d\dT`).MatchString(out) {
		t.Errorf("--version %q, version %q: want the commit and its date", out, long)
	}
	_, errOut := w.cli(false, "admin", "create-user", "--data", w.data, "--email", "me@example.com")
	if !strings.Contains(errOut, "--password") || !strings.Contains(errOut, "--password-stdin") {
		t.Errorf("create-user without a password said %q", errOut)
	}
	_, errOut = w.cli(false, "projects", "craete", "web")
	if !strings.Contains(errOut, "apogee projects create") {
		t.Errorf("projects craete said %q", errOut)
	}
}

// TestDeploySourceVite deploys a real Vite template (vanilla-ts, made by
// npm create vite) from its folder, as a new user would: the source is
// uploaded without node_modules, local build output or ignored files,
// built on the server in the sandbox (npm ci from the registry, tsc and
// vite build) with the log streaming, and served built. The folder is
// linked, so the next deploy needs no --project and sends one file; a
// build that fails exits non-zero and leaves production alone.
func TestDeploySourceVite(t *testing.T) {
	for _, tool := range []string{"bwrap", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: apt-get install bubblewrap nodejs npm", tool)
		}
	}
	app := viteTemplate(t, "vanilla-ts")
	// What a local `npm install` and `npm run build` leave, and a secret.
	for path, content := range map[string]string{
		"node_modules/vite/package.json": `{"name":"vite"}`,
		"dist/index.html":                "stale local build",
		".env.local":                     "API_KEY=local-secret-1f9c",
	} {
		os.MkdirAll(filepath.Join(app, filepath.Dir(path)), 0o755)
		os.WriteFile(filepath.Join(app, path), []byte(content), 0o644)
	}

	w := newWorld(t)
	w.cli(true, "admin", "create-user", "--data", w.data, "--email", "me@example.com", "--password", "correct horse")
	w.start()
	w.cli(true, "login", "--server", w.server(), "--email", "me@example.com", "--password", "correct horse")
	w.cli(true, "projects", "create", "app")

	out, errOut := w.cli(true, "deploy", app, "--project", "app", "--prod")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.Contains(lines[len(lines)-1], "app--") {
		t.Errorf("the last stdout line %q is not the deployment's URL", lines[len(lines)-1])
	}
	for _, want := range []string{"(Vite", "the server builds it", "Writing the uploaded source folder", "npm ci", "vite", "built in", "Linked "} {
		if !strings.Contains(errOut, want) {
			t.Errorf("deploy's stderr lacks %q:\n%s", want, errOut)
		}
	}
	code, page := w.get("app.localhost", "/")
	asset := regexp.MustCompile(`/assets/index-[A-Za-z0-9_-]+\.js`).FindString(page)
	if code != 200 || asset == "" || strings.Contains(page, "/src/main.ts") {
		t.Fatalf("production serves %d, not the built page:\n%s", code, page)
	}
	if code, js := w.get("app.localhost", asset); code != 200 || !strings.Contains(js, "Count is") {
		t.Fatalf("%s = %d", asset, code)
	}
	for _, path := range []string{"/package.json", "/src/main.ts", "/.env.local", "/node_modules/vite/package.json"} {
		if code, _ := w.get("app.localhost", path); code != 404 {
			t.Errorf("%s = %d, want 404: the source is not served", path, code)
		}
	}

	// Linked: no --project; one changed file is one upload.
	counter := filepath.Join(app, "src", "counter.ts")
	src, _ := os.ReadFile(counter)
	os.WriteFile(counter, []byte(strings.Replace(string(src), "Count is", "Clicked", 1)), 0o644)
	_, errOut = w.cli(true, "deploy", app, "--prod")
	if !strings.Contains(errOut, "1 file sent") || !strings.Contains(errOut, "Restored node_modules") {
		t.Errorf("second deploy:\n%s", errOut)
	}
	_, page = w.get("app.localhost", "/")
	asset = regexp.MustCompile(`/assets/index-[A-Za-z0-9_-]+\.js`).FindString(page)
	if _, js := w.get("app.localhost", asset); !strings.Contains(js, "Clicked") {
		t.Error("production does not serve the change")
	}

	// A type error fails tsc: non-zero exit with the reason; production stays.
	main := filepath.Join(app, "src", "main.ts")
	src, _ = os.ReadFile(main)
	os.WriteFile(main, append(src, []byte("\nconst broken: number = 'not a number'\n")...), 0o644)
	_, errOut = w.cli(false, "deploy", app, "--prod")
	if !strings.Contains(errOut, "exited with code") || !strings.Contains(errOut, "apogee logs") {
		t.Errorf("failed build said:\n%s", errOut)
	}
	if _, now := w.get("app.localhost", "/"); !strings.Contains(now, asset) {
		t.Error("a failed build moved production")
	}
}
