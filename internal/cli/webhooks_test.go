package cli

import (
	"strings"
	"testing"
)

func TestWebhooksCommands(t *testing.T) {
	realAPI(t) // its server sends webhooks only to public addresses

	r := run(t, "", "webhooks", "list", "--project", "web").ok(t)
	if !strings.Contains(r.stdout, "Project web has no webhooks.") || !strings.Contains(r.stderr, "apogee webhooks add URL --project web") {
		t.Fatalf("list of none:\n%s%s", r.stdout, r.stderr)
	}

	add := oneJSON(t, run(t, "", "webhooks", "add", "https://hooks.example.com/services/T0/B0/x", "--events", "deployment.error,deployment.ready", "-p", "web", "--json").ok(t).stdout)
	id, _ := add["id"].(string)
	secret, _ := add["secret"].(string)
	if id == "" || !strings.HasPrefix(secret, "whsec_") || add["project"] != "web" {
		t.Fatalf("add --json = %v", add)
	}
	if ev, _ := add["events"].([]any); len(ev) != 2 || ev[0] != "deployment.ready" {
		t.Fatalf("add --json events = %v", add["events"])
	}
	r = run(t, "", "webhooks", "add", "https://ci.example.com/hook", "--secret", "my-own-secret-0123", "-p", "web").ok(t)
	if !strings.Contains(r.stdout, "every deployment event") || !strings.Contains(r.stdout, "\nmy-own-secret-0123\n") {
		t.Fatalf("add:\n%s", r.stdout)
	}

	list := oneJSON(t, run(t, "", "webhooks", "list", "-p", "web", "--json").ok(t).stdout)
	hooks, _ := list["webhooks"].([]any)
	if len(hooks) != 2 || strings.Contains(run(t, "", "webhooks", "list", "-p", "web", "--json").stdout, "secret") {
		t.Fatalf("list --json = %v", list)
	}
	r = run(t, "", "webhooks", "ls", "-p", "web").ok(t)
	if !strings.HasPrefix(r.stdout, "ID") || !strings.Contains(r.stdout, "deployment.ready,deployment.error") || !strings.Contains(r.stdout, "never") {
		t.Fatalf("ls:\n%s", r.stdout)
	}

	// Bad input: refused before or by the server, with why.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"webhooks", "add", "ftp://example.com/", "-p", "web"}, "https://"},
		{[]string{"webhooks", "add", "http://127.0.0.1:9/", "-p", "web"}, "--webhooks-allow-private"},
		{[]string{"webhooks", "add", "https://example.com/", "--events", "push", "-p", "web"}, "unknown webhook event"},
		{[]string{"webhooks", "add", "https://example.com/", "--secret", "short", "-p", "web"}, "16 to 256"},
		{[]string{"webhooks", "remove", "nosuchhook", "-p", "web"}, "no webhook"},
		{[]string{"webhooks", "list", "-p", "nosuch"}, "not found"},
	} {
		r := run(t, "", c.args...)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want an error saying %q", c.args, r.code, r.stderr, c.want)
		}
	}

	// The test delivery cannot reach hooks.example.com from here: it
	// fails, exits 1 and says why; the failure is the webhook's last.
	r = run(t, "", "webhooks", "test", id, "-p", "web")
	if r.code != 1 || !strings.Contains(r.stderr, "The test delivery failed") {
		t.Fatalf("test: %+v", r)
	}
	if r = run(t, "", "webhooks", "ls", "-p", "web").ok(t); !strings.Contains(r.stdout, "failed") {
		t.Fatalf("ls after a failed test:\n%s", r.stdout)
	}

	v := oneJSON(t, run(t, "", "webhooks", "remove", id, "-p", "web", "--json").ok(t).stdout)
	if rm, _ := v["removed"].([]any); len(rm) != 1 || rm[0] != id {
		t.Fatalf("remove --json = %v", v)
	}
	if hooks, _ := oneJSON(t, run(t, "", "webhooks", "list", "-p", "web", "--json").ok(t).stdout)["webhooks"].([]any); len(hooks) != 1 {
		t.Fatalf("after remove: %v", hooks)
	}
}

// TestTeamWebhooksCommands: `apogee webhooks … --team acme` acts on the
// team's webhooks: the owner adds, lists and removes; a member lists and
// is refused a change; --project and --team together is a usage error.
func TestTeamWebhooksCommands(t *testing.T) {
	_, ada := inviteAPI(t) // root (APOGEE_TOKEN) owns the team; ada joins it as a member
	run(t, "", "teams", "create", "acme").ok(t)
	link := strings.TrimSpace(run(t, "", "teams", "invite", "acme", "--role", "member").ok(t).stdout)
	run(t, "", "--token", ada, "teams", "join", link).ok(t)

	r := run(t, "", "webhooks", "list", "--team", "acme").ok(t)
	if !strings.Contains(r.stdout, "Team acme has no webhooks.") || !strings.Contains(r.stderr, "apogee webhooks add URL --team acme") {
		t.Fatalf("list of none:\n%s%s", r.stdout, r.stderr)
	}
	r = run(t, "", "webhooks", "add", "https://ci.example.com/acme", "--team", "acme", "--events", "deployment.ready").ok(t)
	if !strings.Contains(r.stdout, "to team acme: deployment.ready") || !strings.Contains(r.stdout, "every project of team acme") ||
		!strings.Contains(r.stdout, "whsec_") || !strings.Contains(r.stderr, "--team acme") {
		t.Fatalf("add:\n%s%s", r.stdout, r.stderr)
	}
	list := oneJSON(t, run(t, "", "--token", ada, "webhooks", "list", "--team", "acme", "--json").ok(t).stdout)
	hooks, _ := list["webhooks"].([]any)
	if list["team"] != "acme" || len(hooks) != 1 {
		t.Fatalf("the member's list --json = %v", list)
	}
	h, _ := hooks[0].(map[string]any)
	id, _ := h["id"].(string)
	if h["team"] != "acme" || h["url"] != "https://ci.example.com/…" || h["secret"] != nil || id == "" {
		t.Fatalf("listed %v", h)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--token", ada, "webhooks", "add", "https://evil.example/", "--team", "acme"}, "owner"},
		{[]string{"--token", ada, "webhooks", "remove", id, "--team", "acme"}, "owner"},
		{[]string{"webhooks", "list", "--team", "acme", "--project", "web"}, "not both"},
		{[]string{"webhooks", "list", "--team", "nosuch"}, `"nosuch" not found`},
		{[]string{"webhooks", "remove", "nosuchhook", "--team", "acme"}, "no webhook"},
	} {
		r := run(t, "", c.args...)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want an error saying %q", c.args, r.code, r.stderr, c.want)
		}
	}

	out := oneJSON(t, run(t, "", "webhooks", "rm", id, "--team", "acme", "--json").ok(t).stdout)
	if out["team"] != "acme" {
		t.Errorf("rm --json = %v", out)
	}
	if r := run(t, "", "webhooks", "list", "--team", "acme").ok(t); !strings.Contains(r.stdout, "no webhooks") {
		t.Errorf("after rm:\n%s", r.stdout)
	}
}
