package cli

import (
	"strings"
	"testing"

	"github.com/apogee-dev/apogee"
)

// envByKey runs `env ls --json` and returns the variables by key.
func envByKey(t *testing.T) map[string]map[string]any {
	t.Helper()
	v := oneJSON(t, run(t, "", "env", "ls", "--project", "web", "--json").ok(t).stdout)
	if v["project"] != "web" {
		t.Fatalf("env ls --json: %v", v)
	}
	out := map[string]map[string]any{}
	for _, e := range v["env"].([]any) {
		m := e.(map[string]any)
		out[m["key"].(string)] = m
	}
	return out
}

func TestEnvCommands(t *testing.T) {
	realAPI(t)
	if got := envByKey(t); len(got) != 0 {
		t.Fatalf("new project: %v", got)
	}

	v := oneJSON(t, run(t, "", "env", "set", "NODE_ENV=production", "API_URL=https://api.example.com/?a=b", "--project", "web", "--json").ok(t).stdout)
	set := v["env"].([]any)
	if v["project"] != "web" || len(set) != 2 || set[1].(map[string]any)["value"] != "https://api.example.com/?a=b" {
		t.Fatalf("env set --json: %v", v)
	}

	const secret = "sk_live_abcdef0123456789"
	r := run(t, "", "env", "set", "STRIPE_KEY="+secret, "--secret", "-p", "web", "--json").ok(t)
	if strings.Contains(r.stdout+r.stderr, secret) {
		t.Fatalf("env set --secret printed the value:\n%s%s", r.stdout, r.stderr)
	}
	if e := oneJSON(t, r.stdout)["env"].([]any)[0].(map[string]any); e["secret"] != true || e["value"] != nil {
		t.Fatalf("env set --secret --json: %v", e)
	}
	r = run(t, "", "env", "set", "OTHER_SECRET="+secret+"2", "--secret", "-p", "web").ok(t)
	if strings.Contains(r.stdout+r.stderr, secret) || !strings.Contains(r.stdout, "Set secret variable OTHER_SECRET in project web.") {
		t.Fatalf("env set --secret:\n%s%s", r.stdout, r.stderr)
	}

	// A lone KEY reads its value from stdin, all lines of it.
	pem := "-----BEGIN KEY-----\nabc\n-----END KEY-----"
	run(t, pem+"\n", "env", "set", "TLS_KEY", "--secret", "-p", "web").ok(t)
	run(t, "v=with=equals\n", "env", "set", "FROM_STDIN", "-p", "web").ok(t)

	got := envByKey(t)
	if len(got) != 6 {
		t.Fatalf("env ls --json: %v", got)
	}
	for _, k := range []string{"STRIPE_KEY", "OTHER_SECRET", "TLS_KEY"} {
		if _, has := got[k]["value"]; has || got[k]["secret"] != true {
			t.Errorf("env ls --json shows secret %s: %v", k, got[k])
		}
	}
	if got["NODE_ENV"]["value"] != "production" || got["FROM_STDIN"]["value"] != "v=with=equals" {
		t.Errorf("env ls --json values: %v", got)
	}

	r = run(t, "", "env", "ls", "-p", "web").ok(t)
	if strings.Contains(r.stdout, secret) || strings.Contains(r.stdout, "BEGIN KEY") ||
		!strings.Contains(r.stdout, "(secret)") || !strings.Contains(r.stdout, "production") || !strings.HasPrefix(r.stdout, "KEY") {
		t.Fatalf("env ls:\n%s", r.stdout)
	}

	v = oneJSON(t, run(t, "", "env", "rm", "NODE_ENV", "API_URL", "-p", "web", "--json").ok(t).stdout)
	if rm := v["removed"].([]any); len(rm) != 2 || rm[0] != "NODE_ENV" {
		t.Fatalf("env rm --json: %v", v)
	}
	r = run(t, "", "env", "rm", "NODE_ENV", "-p", "web")
	if r.code != 1 || !strings.Contains(r.stderr, "no environment variable NODE_ENV") || strings.Contains(r.stderr, "apogee projects list") {
		t.Fatalf("env rm of a missing variable: %+v", r)
	}
	if got := envByKey(t); len(got) != 4 {
		t.Fatalf("after rm: %v", got)
	}
}

func TestEnvCommandErrors(t *testing.T) {
	realAPI(t)
	for _, c := range []struct {
		name  string
		stdin string
		argv  []string
		code  string
		want  string
	}{
		{"bad key", "", []string{"env", "set", "MY-VAR=1", "-p", "web"}, apogee.EINVALID, `"-"`},
		{"reserved key", "", []string{"env", "set", "APOGEE_TOKEN=1", "-p", "web"}, apogee.EINVALID, "reserved"},
		{"one bad of two", "", []string{"env", "set", "GOOD=1", "9BAD=2", "-p", "web"}, apogee.EINVALID, "digit"},
		{"twice", "", []string{"env", "set", "A=1", "A=2", "-p", "web"}, apogee.EINVALID, "twice"},
		{"lone key among pairs", "", []string{"env", "set", "A=1", "B", "-p", "web"}, apogee.EINVALID, `"B" has no "="`},
		{"too large", strings.Repeat("x", apogee.MaxEnvValueLen+1), []string{"env", "set", "BIG", "-p", "web"}, apogee.ETOOLARGE, "limit"},
		{"no project", "", []string{"env", "ls"}, apogee.EINVALID, "no project given"},
		{"unknown project", "", []string{"env", "ls", "-p", "nope"}, apogee.ENOTFOUND, `project "nope" not found`},
		{"rm bad key", "", []string{"env", "rm", "A-B", "-p", "web"}, apogee.EINVALID, `"-"`},
		{"no args", "", []string{"env", "set", "-p", "web"}, apogee.EINVALID, "arg"},
		{"short secret", "", []string{"env", "set", "PIN=1234", "--secret", "-p", "web"}, apogee.EINVALID, "a secret needs at least 8"},
		{"one short secret of two", "", []string{"env", "set", "LONG=long enough", "PIN=12", "--secret", "-p", "web"}, apogee.EINVALID, "a secret needs at least 8"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, c.stdin, append(c.argv, "--json")...)
			e, _ := oneJSON(t, r.stdout)["error"].(map[string]any)
			if r.code != 1 || e["code"] != c.code || !strings.Contains(e["message"].(string), c.want) {
				t.Fatalf("%v: code %d, %s", c.argv, r.code, r.stdout)
			}
		})
	}
	// Nothing was set by any of them.
	if got := envByKey(t); len(got) != 0 {
		t.Fatalf("failed commands set %v", got)
	}
}
