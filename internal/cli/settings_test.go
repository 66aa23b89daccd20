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

	if r := run(t, "", "projects", "update", "web"); r.code == 0 || !strings.Contains(r.stderr, "nothing to change") {
		t.Errorf("update without flags: code %d\n%s", r.code, r.stderr)
	}
	if r := run(t, "", "projects", "update", "web", "--trailing-slash=maybe"); r.code == 0 || !strings.Contains(r.stderr, "true, false or unset") {
		t.Errorf("bad --trailing-slash: code %d\n%s", r.code, r.stderr)
	}
	if r := run(t, "", "projects", "update", "nosuch", "--spa"); r.code == 0 || !strings.Contains(r.stderr, "not found") {
		t.Errorf("unknown project: code %d\n%s", r.code, r.stderr)
	}
}
