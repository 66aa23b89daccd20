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

// viteTemplate returns a fresh copy of a Vite template as `npm create
// vite` makes it, with a package-lock.json added (`npm install
// --package-lock-only`) so that builds install exactly the same packages.
// Generating it asks the npm registry, so the result is cached on disk
// ($APOGEE_TEST_CACHE, else the user's cache folder) by create-vite
// release and template, and made once per machine.
func viteTemplate(t testing.TB, template string) string {
	t.Helper()
	if _, err := exec.LookPath("npm"); err != nil {
		t.Fatal("npm is missing: apt-get install nodejs npm")
	}
	cache := os.Getenv("APOGEE_TEST_CACHE")
	if cache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		cache = filepath.Join(dir, "apogee-test")
	}
	cached := filepath.Join(cache, "create-"+createVite+"-"+template)
	if _, err := os.Stat(filepath.Join(cached, "package-lock.json")); err != nil {
		if err := os.MkdirAll(cache, 0o755); err != nil {
			t.Fatal(err)
		}
		tmp, err := os.MkdirTemp(cache, "new-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(tmp)
		npm := func(dir string, args ...string) {
			cmd := exec.Command("npm", args...)
			cmd.Dir = dir
			cmd.Stdin = nil // no terminal: create-vite asks nothing
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("npm %v: %v\n%s", args, err, out)
			}
		}
		npm(tmp, "create", "-y", createVite, "app", "--", "--template", template)
		npm(filepath.Join(tmp, "app"), "install", "--package-lock-only", "--no-audit", "--no-fund")
		if err := os.Rename(filepath.Join(tmp, "app"), cached); err != nil && !os.IsExist(err) {
			if _, serr := os.Stat(filepath.Join(cached, "package-lock.json")); serr != nil { // not made meanwhile
				t.Fatal(err)
			}
		}
	}
	dir := filepath.Join(t.TempDir(), "app")
	copyTree(t, cached, dir)
	return dir
}
