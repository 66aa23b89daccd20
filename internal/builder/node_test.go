package builder_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/builder"
	"github.com/apogee-dev/apogee/internal/nodejs"
	"github.com/apogee-dev/apogee/internal/sandbox"
)

// TestNodeVersion builds with engines.node pinned to another major than
// the machine's Node.js: the build's node and npm run on the pinned one,
// fetched from the npm registry and mounted into the sandbox; the
// project's setting wins over the tree.
func TestNodeVersion(t *testing.T) {
	out, err := exec.Command("node", "--version").Output()
	if err != nil {
		t.Fatal("node is needed on the machine: apt-get install nodejs npm")
	}
	host := strings.TrimSpace(string(out))
	want := "22"
	if strings.HasPrefix(host, "v22.") {
		want = "24"
	}
	var dist *nodejs.Dist
	r := newRigWith(t, sandbox.Limits{}, nil, nil, func(c *builder.Config) {
		dist = &nodejs.Dist{Dir: filepath.Join(filepath.Dir(c.Dir), "node")}
		c.NodeJS = dist
	})
	// A real package from the registry (the lockfile names no registry:
	// npm's configuration does): npm on the fetched Node.js must trust
	// what the machine's npm trusts (its CA bundle, its config).
	files := map[string]string{
		"package.json": `{"name":"pinned","version":"1.0.0","private":true,"engines":{"node":"` + want + `"},"dependencies":{"is-number":"7.0.0"},` +
			`"scripts":{"build":"mkdir -p dist && node --version > dist/node.txt && npm --version && node -e \"require('is-number'); console.log('npm runs on', process.version)\""}}`,
		"package-lock.json": `{"name":"pinned","version":"1.0.0","lockfileVersion":3,"requires":true,"packages":{"":{"name":"pinned","version":"1.0.0","dependencies":{"is-number":"7.0.0"}},` +
			`"node_modules/is-number":{"version":"7.0.0","integrity":"sha512-41Cifkg6e8TylSpdtTpeLVMqvSBEVzTttHvERD741+pnZ8ANv0004MRL43QKPDlK9cGvNp6NZWZUBlbGXYxxng==","engines":{"node":">=0.12.0"}}}}`,
	}
	d, log := r.wait(r.build(r.zipOf(files), apogee.TargetPreview, false).ID, 5*time.Minute)
	if d.Status != apogee.StatusReady {
		t.Fatalf("build %s (%s):\n%s", d.Status, d.Error, log)
	}
	got := strings.TrimSpace(r.file(d, "node.txt"))
	if !strings.HasPrefix(got, "v"+want+".") || got == host {
		t.Fatalf("node --version in the build = %q, want v%s.x (the machine has %s)\n%s", got, want, host, log)
	}
	if line := "Node.js " + strings.TrimPrefix(got, "v") + " from engines.node " + want; !strings.Contains(log, line) {
		t.Errorf("the log does not say %q:\n%s", line, log)
	}
	if !regexp.MustCompile(`npm runs on v` + want + `\.`).MatchString(log) {
		t.Errorf("node under npm is not the pinned one:\n%s", log)
	}
	// The deployment records the release and the framework it built.
	if d.NodeVersion != strings.TrimPrefix(got, "v") || d.Framework != "other" {
		t.Errorf("recorded Node.js %q, framework %q; want %s, other", d.NodeVersion, d.Framework, strings.TrimPrefix(got, "v"))
	}

	// The project's setting wins over engines.node.
	setting := "^" + want
	r.project.Settings.Build.NodeVersion = &setting
	if err := r.store.UpdateProject(context.Background(), r.project); err != nil {
		t.Fatal(err)
	}
	d2, log2 := r.wait(r.build(r.zipOf(files), apogee.TargetPreview, false).ID, 5*time.Minute)
	if d2.Status != apogee.StatusReady || !strings.Contains(log2, "from the project's setting "+setting) {
		t.Fatalf("build %s (%s): the log does not name the setting:\n%s", d2.Status, d2.Error, log2)
	}
	if kept := dist.Installed(); len(kept.Releases) != 1 {
		t.Errorf("the server keeps %d versions, want the one fetched once", len(kept.Releases))
	}

	// A range no release fits fails the build and says where it was read.
	bad := map[string]string{"package.json": `{"name":"bad","engines":{"node":">=99"},"scripts":{"build":"true"}}`}
	r.project.Settings.Build.NodeVersion = nil
	if err := r.store.UpdateProject(context.Background(), r.project); err != nil {
		t.Fatal(err)
	}
	d3, log3 := r.wait(r.build(r.zipOf(bad), apogee.TargetPreview, false).ID, 2*time.Minute)
	if d3.Status != apogee.StatusError || !strings.Contains(d3.Error, "engines.node") || !strings.Contains(d3.Error, ">=99") {
		t.Fatalf("build %s (%s), want an error naming engines.node:\n%s", d3.Status, d3.Error, log3)
	}
	if d3.Framework != "other" || d3.NodeVersion != "" {
		t.Errorf("a build that found no Node.js recorded framework %q, Node.js %q; want other and none", d3.Framework, d3.NodeVersion)
	}
}
