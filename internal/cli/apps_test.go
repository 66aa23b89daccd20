package cli

import (
	"strings"
	"testing"
)

// TestAppSettingsAndCommands: app settings on create and update (only the
// flags given change, "auto" resets), apps status of a project with no
// release, and the errors of apps scale and restart, each saying what to
// do. Releases and instances are tested end to end in cmd/apogee.
func TestAppSettingsAndCommands(t *testing.T) {
	realAPI(t)

	got := oneJSON(t, run(t, "", "projects", "create", "api", "--kind", "app", "--start-command", "node server.js",
		"--health-path", "/healthz", "--json").ok(t).stdout)
	app, _ := got["settings"].(map[string]any)["app"].(map[string]any)
	if app["kind"] != "app" || app["start_command"] != "node server.js" || app["health_path"] != "/healthz" || app["instances"] != nil {
		t.Fatalf("create --json settings.app = %v", app)
	}
	if r := run(t, "", "projects", "create", "bad", "--kind", "lambda"); r.code == 0 || !strings.Contains(r.stderr, "static, app or auto") {
		t.Errorf("create --kind lambda: code %d\n%s", r.code, r.stderr)
	}

	r := run(t, "", "projects", "update", "api", "--start-command", "auto", "--boot-timeout", "30", "--instances", "2").ok(t)
	for _, want := range []string{"Start command", "auto (detected)", "Health path", "/healthz", "30s", "App settings apply now"} {
		if !strings.Contains(r.stdout+r.stderr, want) {
			t.Errorf("update output lacks %q:\n%s%s", want, r.stdout, r.stderr)
		}
	}
	got = oneJSON(t, run(t, "", "projects", "show", "api", "--json").ok(t).stdout)
	app, _ = got["settings"].(map[string]any)["app"].(map[string]any)
	if app["start_command"] != nil || app["boot_timeout"] != float64(30) || app["instances"] != float64(2) || app["kind"] != "app" {
		t.Fatalf("after update settings.app = %v", app)
	}
	if r := run(t, "", "projects", "update", "api", "--instances", "11"); r.code == 0 || !strings.Contains(r.stderr, "1 to 10") {
		t.Errorf("update --instances 11: code %d\n%s", r.code, r.stderr)
	}
	// The sandbox: a kind the CLI does not know, and one this server (which
	// runs no apps) lets no project choose.
	if r := run(t, "", "projects", "update", "api", "--app-sandbox", "docker"); r.code == 0 || !strings.Contains(r.stderr, "--app-sandbox is bwrap, runsc or default") {
		t.Errorf("update --app-sandbox docker: code %d\n%s", r.code, r.stderr)
	}
	if r := run(t, "", "projects", "update", "api", "--app-sandbox", "runsc"); r.code == 0 || !strings.Contains(r.stderr, "lets no app choose its sandbox") {
		t.Errorf("update --app-sandbox runsc: code %d\n%s", r.code, r.stderr)
	}
	if r := run(t, "", "projects", "update", "api", "--app-sandbox", "default").ok(t); !strings.Contains(r.stdout, "Sandbox") {
		t.Errorf("update --app-sandbox default shows no sandbox:\n%s", r.stdout)
	}
	if r := run(t, "", "projects", "show", "api").ok(t); !strings.Contains(r.stdout, "the server's (default)") {
		t.Errorf("projects show lacks the sandbox:\n%s", r.stdout)
	}

	st := oneJSON(t, run(t, "", "apps", "status", "api", "--json").ok(t).stdout)
	if st["project"] != "api" || st["instances"] != float64(2) || len(st["releases"].([]any)) != 0 || len(st["running"].([]any)) != 0 {
		t.Fatalf("apps status --json = %v", st)
	}
	if sb, ok := st["sandbox"]; !ok || sb != "" {
		t.Errorf("apps status --json sandbox = %v (present %v), want \"\" (the server's default)", sb, ok)
	}
	r = run(t, "", "apps", "status", "api").ok(t)
	if !strings.Contains(r.stdout, "the server's (default)") {
		t.Errorf("apps status lacks the sandbox:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "No instances run.") || !strings.Contains(r.stderr, "apogee deploy --project api") {
		t.Errorf("apps status of an app never deployed:\n%s%s", r.stdout, r.stderr)
	}
	for _, tt := range []struct {
		argv []string
		want string
	}{
		{[]string{"apps", "scale", "api"}, "--instances N"},
		{[]string{"apps", "scale", "api", "--instances", "0"}, "1 to 10"},
		{[]string{"apps", "scale", "api", "--instances", "3"}, "Deploy the app first"},
		{[]string{"apps", "restart", "api"}, "Deploy the app first"},
		{[]string{"apps", "status", "nosuch"}, "apogee projects list"},
		{[]string{"apps", "restart", "web"}, "Deploy the app first"},
	} {
		if r := run(t, "", tt.argv...); r.code == 0 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%s: code %d, want an error saying %q:\n%s", strings.Join(tt.argv, " "), r.code, tt.want, r.stderr)
		}
	}
}
