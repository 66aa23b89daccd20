package cli

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/api/apitest"
	"github.com/apogee-dev/apogee/internal/auth"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/platform"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// adminAPI serves the real API over SQLite with an admin (root@…) and a
// user (ada@…, owner of project "web"); APOGEE_TOKEN is the admin's.
// It returns the admin's and the user's tokens.
func adminAPI(t *testing.T) (rootTok, adaTok string) {
	t.Helper()
	env(t)
	ctx := context.Background()
	st, bl, _ := testbed.Backends(t)
	log := testbed.Quiet
	srv := httptest.NewServer(apitest.New(t, platform.Config{Store: st, Blobs: bl, Bus: events.NewLocal(log), Log: log}))
	t.Cleanup(srv.Close)
	token := func(email string, admin bool) (*apogee.User, string) {
		u := &apogee.User{ID: apogee.NewID(), Email: email, Password: "x", Admin: admin, CreatedAt: time.Now()}
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		secret, hash := auth.NewToken()
		if err := st.CreateToken(ctx, &apogee.Token{ID: apogee.NewID(), UserID: u.ID, Name: "t", Hash: hash, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		return u, secret
	}
	_, rootTok = token("root@example.com", true)
	ada, adaTok := token(email, false)
	if err := st.CreateProject(ctx, &apogee.Project{Name: "web", OwnerID: ada.ID}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("APOGEE_SERVER", srv.URL)
	t.Setenv("APOGEE_TOKEN", rootTok)
	return rootTok, adaTok
}

func TestAdminPlansCommands(t *testing.T) {
	adminAPI(t)
	created := oneJSON(t, run(t, "", "admin", "plans", "create", "pro", "--projects", "100", "--storage", "10GiB",
		"--custom-domains", "unlimited", "--json").ok(t).stdout)
	limits := created["limits"].(map[string]any)
	if created["name"] != "pro" || limits["projects"] != 100.0 || limits["storage_bytes"] != float64(10<<30) ||
		limits["custom_domains"] != -1.0 || limits["build_minutes"] != 100.0 {
		t.Errorf("created: %v", created)
	}
	out := run(t, "", "admin", "plans", "list").ok(t).stdout
	for _, want := range []string{"NAME", "free  default", "pro", "10 GiB", "unlimited"} {
		if !strings.Contains(out, want) {
			t.Errorf("plans list lacks %q:\n%s", want, out)
		}
	}
	updated := oneJSON(t, run(t, "", "admin", "plans", "update", "pro", "--build-minutes", "-1", "--name", "business", "--json").ok(t).stdout)
	if updated["name"] != "business" || updated["limits"].(map[string]any)["build_minutes"] != -1.0 {
		t.Errorf("updated: %v", updated)
	}
	list := oneJSON(t, run(t, "", "admin", "plans", "list", "--json").ok(t).stdout)
	if n := len(list["plans"].([]any)); n != 2 {
		t.Errorf("%d plans listed, want 2", n)
	}

	// Bad input: the flag, the server's refusal, each with what to do.
	for _, tc := range []struct {
		argv []string
		says string
	}{
		{[]string{"admin", "plans", "create", "x", "--storage", "lots"}, "is not a size such as 500MiB"},
		{[]string{"admin", "plans", "create", "x", "--projects", "2.5"}, "is not a whole number"},
		{[]string{"admin", "plans", "update", "business"}, "Nothing to change"},
		{[]string{"admin", "plans", "update", "nosuch", "--projects", "1"}, "admin plans list"},
		{[]string{"admin", "plans", "delete", "free"}, "default"},
		{[]string{"admin", "plans", "create", "business"}, "exists already"},
	} {
		r := run(t, "", tc.argv...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.says) {
			t.Errorf("%v: exit %d, stderr %q does not say %q", tc.argv, r.code, r.stderr, tc.says)
		}
	}
	r := run(t, "", "admin", "plans", "delete", "business").ok(t)
	if !strings.Contains(r.stdout, "Deleted plan business") {
		t.Errorf("delete: %q", r.stdout)
	}
}

func TestAdminUsersCommands(t *testing.T) {
	rootTok, adaTok := adminAPI(t)
	run(t, "", "admin", "plans", "create", "pro", "--projects", "1").ok(t)

	out := run(t, "", "admin", "users", "list").ok(t).stdout
	for _, want := range []string{"ada@example.com", "root@example.com", "admin", "active", "1 / 10"} {
		if !strings.Contains(out, want) {
			t.Errorf("users list lacks %q:\n%s", want, out)
		}
	}
	u := oneJSON(t, run(t, "", "admin", "users", "set-plan", email, "pro", "--json").ok(t).stdout)
	if u["plan"].(map[string]any)["name"] != "pro" {
		t.Errorf("set-plan: %v", u)
	}
	// On pro (1 project) ada cannot make a second one; the CLI says why
	// and where to look.
	t.Setenv("APOGEE_TOKEN", adaTok)
	r := run(t, "", "projects", "create", "second")
	if r.code == 0 || !strings.Contains(r.stderr, `Your plan "pro" allows 1 project and you have 1`) || !strings.Contains(r.stderr, "apogee usage") {
		t.Errorf("project over the quota: exit %d\n%s", r.code, r.stderr)
	}
	j := oneJSON(t, run(t, "", "projects", "create", "second", "--json").stdout)
	if j["error"].(map[string]any)["code"] != apogee.EQUOTA {
		t.Errorf("--json error: %v", j)
	}
	usage := run(t, "", "usage").ok(t).stdout
	for _, want := range []string{"Plan:", "pro", "Projects:", "1 / 1", "Build minutes:", "Storage:",
		"Storage made of:", "ZIP uploads 0 B, dependency caches 0 B, build logs 0 B"} {
		if !strings.Contains(usage, want) {
			t.Errorf("usage lacks %q:\n%s", want, usage)
		}
	}
	uj := oneJSON(t, run(t, "", "usage", "--json").ok(t).stdout)
	if uj["usage"].(map[string]any)["projects"] != 1.0 || uj["usage"].(map[string]any)["storage"].(map[string]any)["caches_bytes"] != 0.0 {
		t.Errorf("usage --json: %v", uj)
	}
	who := run(t, "", "whoami").ok(t).stdout
	if !strings.Contains(who, "ada@example.com on ") || !strings.Contains(who, "pro") {
		t.Errorf("whoami: %q", who)
	}
	// Not an admin: refused with a hint.
	r = run(t, "", "admin", "users", "list")
	if r.code == 0 || !strings.Contains(r.stderr, "Only an admin") || !strings.Contains(r.stderr, "admin's token") {
		t.Errorf("non-admin: exit %d\n%s", r.code, r.stderr)
	}

	// Disable: ada's token stops at once, saying so; enable restores it.
	t.Setenv("APOGEE_TOKEN", rootTok)
	d := oneJSON(t, run(t, "", "admin", "users", "disable", email, "--json").ok(t).stdout)
	if d["disabled"] != true {
		t.Errorf("disable: %v", d)
	}
	if out := run(t, "", "admin", "users", "list").ok(t).stdout; !strings.Contains(out, "disabled") {
		t.Errorf("users list does not show the disabled user:\n%s", out)
	}
	t.Setenv("APOGEE_TOKEN", adaTok)
	if r := run(t, "", "whoami"); r.code == 0 || !strings.Contains(r.stderr, "account is disabled") {
		t.Errorf("whoami of a disabled user: exit %d\n%s", r.code, r.stderr)
	}
	t.Setenv("APOGEE_TOKEN", rootTok)
	run(t, "", "admin", "users", "enable", email).ok(t)
	back := oneJSON(t, run(t, "", "admin", "users", "set-plan", email, "--default", "--json").ok(t).stdout)
	if back["plan"].(map[string]any)["name"] != "free" || back["disabled"] != false {
		t.Errorf("enable and set-plan --default: %v", back)
	}
	if r := run(t, "", "admin", "users", "set-plan", email); r.code == 0 || !strings.Contains(r.stderr, "--default") {
		t.Errorf("set-plan without a plan: %q", r.stderr)
	}
	t.Setenv("APOGEE_TOKEN", adaTok)
	run(t, "", "whoami").ok(t)
}

func TestParseLimit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		size bool
		want int64
		bad  bool
	}{
		{"unlimited", false, -1, false}, {"-1", true, -1, false}, {"0", false, 0, false}, {"12", false, 12, false},
		{"1GiB", true, 1 << 30, false}, {"500MB", true, 500e6, false}, {"1.5g", true, 3 << 29, false}, {"2048", true, 2048, false},
		{"-2", false, 0, true}, {"1.5", false, 0, true}, {"10GiB", false, 0, true}, {"lots", true, 0, true},
	} {
		got, err := parseLimit("x", tc.in, tc.size)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("parseLimit(%q, %v) = %d, %v", tc.in, tc.size, got, err)
		}
	}
}

func TestAdminPlanAppLimitsCommands(t *testing.T) {
	adminAPI(t)
	created := oneJSON(t, run(t, "", "admin", "plans", "create", "apps", "--app-memory", "2GiB", "--app-cpus", "1.5",
		"--app-pids", "unlimited", "--app-instances", "10", "--releases-kept", "30", "--runtime-log-size", "1GiB",
		"--runtime-log-days", "30", "--json").ok(t).stdout)
	l := created["limits"].(map[string]any)
	for k, want := range map[string]float64{"app_memory_mb": 2048, "app_cpus": 1.5, "app_pids": -1, "app_instances": 10,
		"releases_kept": 30, "runtime_log_bytes": 1 << 30, "runtime_log_days": 30} {
		if l[k] != want {
			t.Errorf("%s = %v, want %v", k, l[k], want)
		}
	}
	run(t, "", "admin", "plans", "update", "apps", "--app-cpus", "unlimited", "--runtime-log-days", "-1").ok(t)
	out := run(t, "", "admin", "plans", "list").ok(t).stdout
	rows := map[string]string{} // by name: the app limits table comes last
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			rows[f[0]] = strings.Join(f, " ")
		}
	}
	for _, want := range []string{
		"apps 2 GiB unlimited unlimited 10 30 unlimited 1 GiB",
		"free 512 MiB 1 256 3 10 7 100 MiB",
	} {
		if got := rows[strings.Fields(want)[0]]; got != want {
			t.Errorf("plans list lacks %q:\n%s", want, out)
		}
	}
	for _, tc := range []struct {
		argv []string
		says string
	}{
		{[]string{"admin", "plans", "update", "apps", "--app-cpus", "lots"}, "not a number of CPUs"},
		{[]string{"admin", "plans", "update", "apps", "--app-cpus", "0.001"}, "from 0.01 to 1024"},
		{[]string{"admin", "plans", "update", "apps", "--app-instances", "2.5"}, "is not a whole number"},
		{[]string{"admin", "plans", "update", "apps", "--runtime-log-size", "big"}, "is not a size"},
	} {
		r := run(t, "", tc.argv...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.says) {
			t.Errorf("%v: exit %d, stderr %q does not say %q", tc.argv, r.code, r.stderr, tc.says)
		}
	}
}
