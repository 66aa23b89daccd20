package server

import (
	"strings"
	"testing"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/client"
)

// deploymentLog returns the text of deployment id's log.
func deploymentLog(t *testing.T, c *client.Client, id string) string {
	t.Helper()
	page, err := c.Logs(t.Context(), id, 0)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, l := range page.Lines {
		b.WriteString(l.Text + "\n")
	}
	return b.String()
}

// TestReleaseCommandRunsOncePerRelease: a Procfile's release: command
// runs once for each release, before its instances start, with the
// release's variables; a rollback to a release that ran it (its
// instances stopped meanwhile) starts it again without running it again.
func TestReleaseCommandRunsOncePerRelease(t *testing.T) {
	_, c, addr, _ := appServer(t) // keeps one previous release warm
	ctx := t.Context()
	if _, err := c.CreateProject(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	app := func(name string) map[string]string {
		return map[string]string{
			"Procfile":  "web: node server.js\nrelease: echo migrating $APOGEE_RELEASE_ID",
			"server.js": `require('http').createServer((q, s) => s.end('` + name + `')).listen(process.env.PORT)`,
		}
	}
	var ids []string
	for _, name := range []string{"a", "b", "c"} {
		d, log := zipBuild(t, c, "web", app(name))
		if d.Status != apogee.StatusReady || !d.Production {
			t.Fatalf("deploy %s: %s (%s)\n%s", name, d.Status, d.Error, log)
		}
		serves(t, addr, "web.localhost", "/", name)
		ids = append(ids, d.ID)
		l := deploymentLog(t, c, d.ID)
		phase, ran, started := strings.Index(l, "Release phase: echo migrating"), strings.Index(l, "migrating "+d.ID+"\n"),
			strings.Index(l, "Starting 1 instance of release")
		if phase < 0 || ran < phase || started < ran {
			t.Errorf("deploy %s: the release command did not run, with its release's id, before the instances started:\n%s", name, l)
		}
	}
	// a is neither production nor warm: the rollback starts it again.
	if _, err := c.Rollback(ctx, "web", ids[0]); err != nil {
		t.Fatal(err)
	}
	serves(t, addr, "web.localhost", "/", "a")
	if l := deploymentLog(t, c, ids[0]); strings.Count(l, "Release phase:") != 1 {
		t.Errorf("after the rollback to a, its release command ran %d times:\n%s", strings.Count(l, "Release phase:"), l)
	}
	// A change of variables is a new release: its command runs.
	if _, err := c.SetEnv(ctx, "web", "GREETING", "hi", false); err != nil {
		t.Fatal(err)
	}
	ds, err := c.ListDeployments(ctx, "web", 1)
	if err != nil {
		t.Fatal(err)
	}
	if ds[0].Source != apogee.SourceEnv {
		t.Fatalf("the newest deployment after env set: %+v", ds[0].Deployment)
	}
	d, _ := followBuild(t, c, ds[0].ID)
	if l := deploymentLog(t, c, d.ID); d.Status != apogee.StatusReady || strings.Count(l, "Release phase:") != 1 {
		t.Errorf("the release of a variable (%s): its release command ran %d times:\n%s", d.Status, strings.Count(l, "Release phase:"), l)
	}
}
