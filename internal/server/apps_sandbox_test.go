package server

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/client"
)

// kernelApp answers with the kernel its instance sees (/proc/version):
// the host's in bwrap, gVisor's own in runsc.
var kernelApp = map[string]string{
	"package.json": `{"name":"kernel","version":"1.0.0","private":true,"scripts":{"start":"node server.js"}}`,
	"server.js": `require('http').createServer((req, res) => res.end(require('fs').readFileSync('/proc/version', 'utf8')))` +
		`.listen(process.env.PORT)`,
}

// TestAppSandboxPerProject runs two apps at once on a server whose
// default app sandbox is bwrap and which lets projects choose runsc:
// one in each, proven by the kernel each instance sees through the
// edge. Switching a project's sandbox rolls a new release out in it;
// a sandbox no project may choose is refused and changes nothing.
func TestAppSandboxPerProject(t *testing.T) {
	needAppTools(t)
	if _, err := exec.LookPath("runsc"); err != nil {
		t.Fatal("runsc is missing: apt-get install runsc")
	}
	host, err := os.ReadFile("/proc/version")
	if err != nil {
		t.Fatal(err)
	}
	s, addr := startServer(t, Config{Data: t.TempDir(), BuildWorkers: 1, Sandbox: "bwrap", AppSandbox: "bwrap", AppSandboxes: []string{"runsc"}})
	token := userToken(t, s.Store(), "dev@example.com", "password", false)
	c := client.New(addr, token, client.WithTimeout(3*time.Minute))
	ctx := t.Context()

	kernel := func(project string) string {
		t.Helper()
		_, body, _ := request(t, addr, "GET", project+".localhost", "/", "")
		return body
	}
	for _, p := range []struct{ name, sandbox string }{{"plain", ""}, {"gvisor", "runsc"}} {
		if _, err := c.CreateProject(ctx, p.name); err != nil {
			t.Fatal(err)
		}
		if p.sandbox != "" {
			if _, err := c.UpdateProjectSettings(ctx, p.name, map[string]map[string]any{"app": {"sandbox": p.sandbox}}); err != nil {
				t.Fatal(err)
			}
		}
		if d, log := zipBuild(t, c, p.name, kernelApp); d.Status != apogee.StatusReady || !d.Production {
			t.Fatalf("%s: %s (%s):\n%s", p.name, d.Status, d.Error, log)
		}
	}
	// Production moved in the store; the edge learns it by an event.
	waitRouted(t, s, "plain.localhost")
	waitRouted(t, s, "gvisor.localhost")
	if got := kernel("plain"); got != string(host) {
		t.Errorf("the bwrap app sees kernel %q, want the host's %q", got, host)
	}
	if got := kernel("gvisor"); got == string(host) || !strings.HasPrefix(got, "Linux version") {
		t.Errorf("the runsc app sees kernel %q: the host's, or none", got)
	}
	// apps status says which sandbox each asks for.
	for _, p := range []struct{ name, sandbox string }{{"plain", ""}, {"gvisor", "runsc"}} {
		st, err := c.AppStatus(ctx, p.name)
		if err != nil {
			t.Fatal(err)
		}
		if st.Sandbox != p.sandbox {
			t.Errorf("apps status of %s: sandbox %q, want %q", p.name, st.Sandbox, p.sandbox)
		}
	}

	// Into gVisor: a new release, serving from its own sandbox.
	if _, err := c.UpdateProjectSettings(ctx, "plain", map[string]map[string]any{"app": {"sandbox": "runsc"}}); err != nil {
		t.Fatal(err)
	}
	if got := kernel("plain"); got == string(host) {
		t.Errorf("after choosing runsc the app still sees the host's kernel")
	}
	// And back to the default.
	if _, err := c.UpdateProjectSettings(ctx, "plain", map[string]map[string]any{"app": {"sandbox": nil}}); err != nil {
		t.Fatal(err)
	}
	if got := kernel("plain"); got != string(host) {
		t.Errorf("back on the default the app sees %q", got)
	}

	// No sandbox at all is never a project's choice.
	_, err = c.UpdateProjectSettings(ctx, "gvisor", map[string]map[string]any{"app": {"sandbox": "none"}})
	if apogee.ErrorCode(err) != apogee.EINVALID || !strings.Contains(err.Error(), "settings.app.sandbox") {
		t.Fatalf("sandbox none: %v", err)
	}
	p, err := c.GetProject(ctx, "gvisor")
	if err != nil {
		t.Fatal(err)
	}
	if sb := p.Settings.App.Sandbox; sb == nil || *sb != "runsc" {
		t.Errorf("the refused change changed the setting to %v", sb)
	}
}

// TestAppSandboxesFlag: --app-sandboxes takes bwrap and runsc, always
// with the default, and never "none".
func TestAppSandboxesFlag(t *testing.T) {
	for _, tc := range []struct {
		def  string
		list []string
		want []string
		err  string
	}{
		{"bwrap", nil, []string{"bwrap"}, ""},
		{"bwrap", []string{"runsc"}, []string{"bwrap", "runsc"}, ""},
		{"runsc", []string{"bwrap", "runsc", "bwrap"}, []string{"bwrap", "runsc"}, ""},
		{"none", nil, nil, ""},
		{"none", []string{"runsc"}, []string{"runsc"}, ""},
		{"bwrap", []string{"none"}, nil, "never to run without a sandbox"},
		{"bwrap", []string{"docker"}, nil, "must be bwrap or runsc"},
		{"off", []string{"runsc"}, nil, "--app-sandbox off"},
	} {
		c := Config{AppSandbox: tc.def, AppSandboxes: tc.list}
		err := c.normalizeAppSandboxes()
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %v: err %v, want %q", tc.def, tc.list, err, tc.err)
			}
			continue
		}
		if err != nil || strings.Join(c.AppSandboxes, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s %v: %v, %v; want %v", tc.def, tc.list, c.AppSandboxes, err, tc.want)
		}
	}
}

// TestAppSandboxNotAllowed: on a server that lets no project choose
// runsc, asking for it is refused with the sandboxes there are, and the
// project keeps its settings.
func TestAppSandboxNotAllowed(t *testing.T) {
	_, c, _, _ := appServer(t)
	ctx := t.Context()
	if _, err := c.CreateProject(ctx, "api"); err != nil {
		t.Fatal(err)
	}
	_, err := c.UpdateProjectSettings(ctx, "api", map[string]map[string]any{"app": {"sandbox": "runsc"}})
	if apogee.ErrorCode(err) != apogee.EINVALID || !strings.Contains(err.Error(), "it allows bwrap (--app-sandboxes)") {
		t.Fatalf("runsc on a bwrap-only server: %v", err)
	}
	p, err := c.GetProject(ctx, "api")
	if err != nil {
		t.Fatal(err)
	}
	if p.Settings.App.Sandbox != nil {
		t.Errorf("the refused change left sandbox %q", *p.Settings.App.Sandbox)
	}
}
