package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apogee-dev/apogee/internal/nodejs"
)

// keptNode makes a Node.js folder holding releases vs as nodejs.Dist
// keeps them, and a Dist on it that cannot reach the registry (its npm
// is /bin/false): its lines are the kept releases'.
func keptNode(t *testing.T, vs ...string) *nodejs.Dist {
	t.Helper()
	dir := t.TempDir()
	for _, v := range vs {
		bin := filepath.Join(dir, v, "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bin, "node"), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return &nodejs.Dist{Dir: dir, NPM: "/bin/false"}
}

// TestNodeVersionSetting: the build settings offer the Node.js lines the
// server knows in a select; the one chosen is saved as the project's
// node_version, a value set with the CLI stays selectable, a bad one is
// refused with nothing changed, and "Detect" clears it.
func TestNodeVersionSetting(t *testing.T) {
	e := newEnvWith(t, SignupClosed, nil, func(c *Config) { c.NodeVersions = keptNode(t, "22.12.0", "20.19.0") })
	e.project(e.alice, "web")
	alice := e.signedIn(e.alice)
	page := "/projects/web/settings/build"
	want(t, "build settings", alice.get(page), 200, `<label for="b-node">Node.js version</label>`,
		`<option value="" selected>Detect`, `<option value="22.x">22.x (22.12.0, on the server)</option>`,
		`<option value="20.x">20.x (20.19.0, LTS, on the server)</option>`)

	nodeOf := func() string {
		t.Helper()
		p, err := e.store.ProjectByName(context.Background(), "web")
		if err != nil {
			t.Fatal(err)
		}
		return derefOr(p.Settings.Build.NodeVersion)
	}
	for _, c := range []struct{ value, saved, shows string }{
		{"22.x", "22.x", `<option value="22.x" selected>`},
		{">=20.6 <23", ">=20.6 <23", `<option value="&gt;=20.6 &lt;23" selected>&gt;=20.6 &lt;23 (set with the CLI)</option>`},
		{"", "", `<option value="" selected>Detect`},
	} {
		want(t, "save "+c.value, alice.post(page, url.Values{"node_version": {c.value}}), http.StatusSeeOther)
		if got := nodeOf(); got != c.saved {
			t.Fatalf("after saving %q node_version = %q", c.value, got)
		}
		want(t, "page after "+c.value, alice.get(page), 200, "Build settings saved", c.shows)
	}

	want(t, "set 20.x", alice.post(page, url.Values{"node_version": {"20.x"}}), http.StatusSeeOther)
	want(t, "bad version", alice.post(page, url.Values{"node_version": {"banana"}}), http.StatusSeeOther)
	if res := alice.get(page); !strings.Contains(res.body, `class="flash error"`) || nodeOf() != "20.x" {
		t.Fatalf("a bad version: node_version %q, page %.300s", nodeOf(), res.body)
	}
	want(t, "bob", e.signedIn(e.bob).post(page, url.Values{"node_version": {"22.x"}}), 404)
	if nodeOf() != "20.x" {
		t.Fatal("bob changed alice's Node.js version")
	}
}

// TestNodeVersionSettingSystemNode: a server that builds with its own
// Node.js offers only detection and says so.
func TestNodeVersionSettingSystemNode(t *testing.T) {
	e := newEnv(t, SignupClosed)
	e.project(e.alice, "web")
	res := e.signedIn(e.alice).get("/projects/web/settings/build")
	want(t, "build settings", res, 200, `<option value="" selected>Detect`, "This server builds with its own Node.js")
	_, sel, _ := strings.Cut(res.body, `id="b-node"`)
	sel, _, _ = strings.Cut(sel, "</select>")
	if n := strings.Count(sel, "<option"); n != 1 {
		t.Errorf("a server without a Node.js list offers %d choices, want detection only:\n%s", n, sel)
	}
}
