package server

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/apogee-dev/apogee"
)

// nodeApp is an app with no dependencies that answers with the version
// and the place of the Node.js it runs on, asking engines.node for want.
func nodeApp(want string) map[string]string {
	return map[string]string{
		"package.json": `{"name":"which-node","version":"1.0.0","private":true,"engines":{"node":"` + want + `"},` +
			`"scripts":{"start":"node server.js"}}`,
		"package-lock.json": `{"name":"which-node","version":"1.0.0","lockfileVersion":3,"requires":true,` +
			`"packages":{"":{"name":"which-node","version":"1.0.0","engines":{"node":"` + want + `"}}}}`,
		"server.js": `require('http').createServer((req, res) => res.end(req.url === '/where' ? process.execPath : process.version))` +
			`.listen(process.env.PORT)`,
	}
}

// TestAppRunsOnItsNode builds two releases of an app asking for two
// Node.js versions other than the machine's (the ones the tests' Node
// folder keeps, fetched once per machine): each is built with its
// version, records it, and its instances run it (node -v through the
// edge), mounted read-only from the server's Node folder. A rollback runs
// the older release on its own version again.
func TestAppRunsOnItsNode(t *testing.T) {
	out, err := exec.Command("node", "--version").Output()
	if err != nil {
		t.Fatal("node is needed on the machine: apt-get install nodejs npm")
	}
	host := strings.TrimSpace(string(out))
	_, c, addr, _ := appServer(t)
	ctx := t.Context()
	if _, err := c.CreateProject(ctx, "which"); err != nil {
		t.Fatal(err)
	}
	// 26.12.1 is the LTS the static builds' tests fetched; 22.23.5 the
	// last of 22 when this test was written.
	versions := []string{"26.12.1", "22.23.5"}
	var ids []string
	for _, v := range versions {
		if "v"+v == host {
			t.Fatalf("the machine's Node.js is %s: pick other versions for this test", host)
		}
		d, log := zipBuild(t, c, "which", nodeApp(v))
		if d.Status != apogee.StatusReady || !d.Production {
			t.Fatalf("the build asking for Node.js %s is %s (%s):\n%s", v, d.Status, d.Error, log)
		}
		if want := "Node.js " + v + " from engines.node " + v; !strings.Contains(log, want) {
			t.Errorf("the build log lacks %q:\n%s", want, log)
		}
		serves(t, addr, "which.localhost", "/", "v"+v)
		if _, where, _ := request(t, addr, "GET", "which.localhost", "/where", ""); where != "/run/apogee/node/bin/node" {
			t.Errorf("the instance runs %q, want the release's Node.js mounted at /run/apogee/node", where)
		}
		ids = append(ids, d.ID)
	}
	st, err := c.AppStatus(ctx, "which")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range st.Releases {
		got[r.DeploymentID] = r.NodeVersion
	}
	for i, id := range ids {
		if got[id] != versions[i] {
			t.Errorf("release %s records Node.js %q, want %s", id, got[id], versions[i])
		}
	}

	// The older release serves again on the Node.js it was built with.
	if _, err := c.Rollback(ctx, "which", ""); err != nil {
		t.Fatal(err)
	}
	serves(t, addr, "which.localhost", "/", "v"+versions[0])
}
