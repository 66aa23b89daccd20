package cli

import (
	"strings"
	"testing"
)

func TestProjectsUpdate(t *testing.T) {
	realAPI(t)

	got := oneJSON(t, run(t, "", "projects", "update", "web", "--spa", "--trailing-slash=false", "--hsts", "--json").ok(t).stdout)
	settings, _ := got["settings"].(map[string]any)
	serve, _ := settings["serve"].(map[string]any)
	if serve["spa"] != true || serve["trailing_slash"] != false || serve["hsts"] != true || serve["nosniff"] != nil {
		t.Fatalf("update --json settings.serve = %v", serve)
	}

	// Only the flags given change.
	r := run(t, "", "projects", "update", "web", "--nosniff", "--spa=false", "--trailing-slash=unset").ok(t)
	for _, want := range []string{"Updated project web", "SPA fallback", "off", "unset", "next deployment"} {
		if !strings.Contains(r.stdout+r.stderr, want) {
			t.Errorf("update output lacks %q:\n%s%s", want, r.stdout, r.stderr)
		}
	}
	got = oneJSON(t, run(t, "", "projects", "show", "web", "--json").ok(t).stdout)
	settings, _ = got["settings"].(map[string]any)
	serve, _ = settings["serve"].(map[string]any)
	if serve["spa"] != nil || serve["trailing_slash"] != nil || serve["hsts"] != true || serve["nosniff"] != true {
		t.Fatalf("after the second update settings.serve = %v", serve)
	}

	if r := run(t, "", "projects", "update", "web"); r.code == 0 || !strings.Contains(r.stderr, "Nothing to change") {
		t.Errorf("update without flags: code %d\n%s", r.code, r.stderr)
	}
	if r := run(t, "", "projects", "update", "web", "--trailing-slash=maybe"); r.code == 0 || !strings.Contains(r.stderr, "true, false or unset") {
		t.Errorf("bad --trailing-slash: code %d\n%s", r.code, r.stderr)
	}
	if r := run(t, "", "projects", "update", "nosuch", "--spa"); r.code == 0 || !strings.Contains(r.stderr, "not found") {
		t.Errorf("unknown project: code %d\n%s", r.code, r.stderr)
	}
}

func TestProjectsUpdateBuild(t *testing.T) {
	realAPI(t)

	got := oneJSON(t, run(t, "", "projects", "update", "web", "--build-command", "npm run build:prod",
		"--output-dir", "build", "--install-command", "", "--root-dir", "apps/web", "--json").ok(t).stdout)
	settings, _ := got["settings"].(map[string]any)
	build, _ := settings["build"].(map[string]any)
	if build["build_command"] != "npm run build:prod" || build["output_dir"] != "build" || build["install_command"] != "" || build["root_dir"] != "apps/web" {
		t.Fatalf("update --json settings.build = %v", build)
	}
	r := run(t, "", "projects", "update", "web", "--output-dir", "auto", "--root-dir", "auto").ok(t)
	for _, want := range []string{"Output folder", "auto (detected)", "npm run build:prod", "(none)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("update output lacks %q:\n%s", want, r.stdout)
		}
	}
	got = oneJSON(t, run(t, "", "projects", "show", "web", "--json").ok(t).stdout)
	settings, _ = got["settings"].(map[string]any)
	build, _ = settings["build"].(map[string]any)
	if _, ok := build["output_dir"]; ok || build["build_command"] != "npm run build:prod" {
		t.Fatalf("after going back to auto settings.build = %v", build)
	}
	if r := run(t, "", "projects", "update", "web", "--output-dir", "../../etc"); r.code == 0 || !strings.Contains(r.stderr, "output") {
		t.Errorf("an output folder outside the project: code %d\n%s", r.code, r.stderr)
	}

	// The Node.js of builds: checked without the registry, "auto" unsets.
	got = oneJSON(t, run(t, "", "projects", "update", "web", "--node-version", ">=22", "--json").ok(t).stdout)
	settings, _ = got["settings"].(map[string]any)
	if build, _ = settings["build"].(map[string]any); build["node_version"] != ">=22" {
		t.Fatalf("update --node-version: settings.build = %v", build)
	}
	if r := run(t, "", "projects", "update", "web", "--node-version", "banana"); r.code == 0 || !strings.Contains(r.stderr, "node_version") || !strings.Contains(r.stderr, "banana") {
		t.Errorf("a Node.js version that is none: code %d\n%s", r.code, r.stderr)
	}
	r = run(t, "", "projects", "update", "web", "--node-version", "auto").ok(t)
	if !strings.Contains(r.stdout, "Node.js") || !strings.Contains(r.stdout, "auto (detected)") {
		t.Errorf("update --node-version auto:\n%s", r.stdout)
	}
}
