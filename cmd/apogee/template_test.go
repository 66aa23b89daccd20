package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// createVite is the create-vite release the tests generate templates
// with: pinned, so a new release cannot change a test's input.
const createVite = "vite@9.3.0" // npm create vite@9.3.0 runs create-vite 9.3.0

// testCache is where generated templates and npm artefacts are kept
// between runs: $APOGEE_TEST_CACHE, else the user's cache folder.
func testCache(t testing.TB) string {
	t.Helper()
	if cache := os.Getenv("APOGEE_TEST_CACHE"); cache != "" {
		return cache
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "apogee-test")
}

// npm runs npm in dir with no terminal (generators ask nothing) and
// fails t with its output when it fails.
func npm(t testing.TB, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("npm", args...)
	cmd.Dir = dir
	cmd.Stdin = nil
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm %v: %v\n%s", args, err, out)
	}
}

// generated returns a fresh copy of a project made by generate, which
// writes it into the folder it is given (empty, not yet made), with a
// package-lock.json added (`npm install --package-lock-only`) so that
// builds install exactly the same packages. Generating asks the npm
// registry, so the result is cached on disk (testCache) under key, made
// once per machine.
func generated(t testing.TB, key string, generate func(dir string)) string {
	t.Helper()
	if _, err := exec.LookPath("npm"); err != nil {
		t.Fatal("npm is missing: apt-get install nodejs npm")
	}
	cache := testCache(t)
	cached := filepath.Join(cache, key)
	if _, err := os.Stat(filepath.Join(cached, "package-lock.json")); err != nil {
		if err := os.MkdirAll(cache, 0o755); err != nil {
			t.Fatal(err)
		}
		tmp, err := os.MkdirTemp(cache, "new-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(tmp)
		app := filepath.Join(tmp, "app")
		generate(app)
		npm(t, app, "install", "--package-lock-only", "--no-audit", "--no-fund")
		if err := os.Rename(app, cached); err != nil && !os.IsExist(err) {
			if _, serr := os.Stat(filepath.Join(cached, "package-lock.json")); serr != nil { // not made meanwhile
				t.Fatal(err)
			}
		}
	}
	dir := filepath.Join(t.TempDir(), "app")
	copyTree(t, cached, dir)
	return dir
}

// viteTemplate returns a fresh copy of a Vite template as `npm create
// vite` makes it, with its lockfile (see generated).
func viteTemplate(t testing.TB, template string) string {
	t.Helper()
	return generated(t, "create-"+createVite+"-"+template, func(dir string) {
		npm(t, filepath.Dir(dir), "create", "-y", createVite, filepath.Base(dir), "--", "--template", template)
	})
}
