package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/client/clienttest"
)

const (
	email    = "ada@example.com"
	password = "correct horse battery staple"
)

// env isolates a test: an empty config folder and no APOGEE_* variables.
// Tests that use it cannot run in parallel (t.Setenv).
func env(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv("HOME", dir)
	for _, k := range []string{"APOGEE_SERVER", "APOGEE_TOKEN", "APOGEE_PROJECT"} {
		t.Setenv(k, "")
	}
	return dir
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs the apogee command line with stdin and returns what it printed.
func run(t *testing.T, stdin string, argv ...string) result {
	t.Helper()
	root := New()
	var out, errb bytes.Buffer
	root.SetArgs(argv)
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetIn(strings.NewReader(stdin))
	code := Execute(t.Context(), root)
	return result{out.String(), errb.String(), code}
}

func (r result) ok(t *testing.T) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit code %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	return r
}

// oneJSON asserts that s is exactly one JSON object and decodes it.
func oneJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("stdout is not a JSON object: %v\n%s", err, s)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		t.Fatalf("stdout has more than one JSON value:\n%s", s)
	}
	return v
}

// loggedIn starts a test server, logs in to it and creates project "site".
func loggedIn(t *testing.T) *clienttest.Server {
	t.Helper()
	env(t)
	srv := clienttest.New(t)
	srv.AddUser(email, password)
	run(t, password+"\n", "login", "--server", srv.URL, "--email", email, "--password-stdin").ok(t)
	run(t, "", "projects", "create", "site").ok(t)
	return srv
}

func makeSite(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("d%d", i%5), fmt.Sprintf("f%03d.html", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(fmt.Sprintf("<p>%d</p>", i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoginWritesPrivateConfig(t *testing.T) {
	cfgHome := env(t)
	srv := clienttest.New(t)
	srv.AddUser(email, password)

	r := run(t, password+"\n", "login", "--server", srv.URL, "--email", email, "--password-stdin").ok(t)
	if !strings.Contains(r.stdout, "Logged in to "+srv.URL+" as "+email) {
		t.Fatalf("login said %q", r.stdout)
	}
	path := filepath.Join(cfgHome, "apogee", "config.json")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("config file mode %v, want 0600", st.Mode().Perm())
	}
	dst, _ := os.Stat(filepath.Dir(path))
	if dst.Mode().Perm() != 0o700 {
		t.Fatalf("config folder mode %v, want 0700", dst.Mode().Perm())
	}
	cfg, err := LoadConfig()
	if err != nil || cfg.Server != srv.URL || cfg.Token == "" || cfg.TokenID == "" || cfg.Email != email {
		t.Fatalf("config %+v, %v", cfg, err)
	}
	if strings.Contains(r.stdout+r.stderr, cfg.Token) {
		t.Fatal("login printed the token secret")
	}

	r = run(t, "", "whoami").ok(t)
	if !strings.Contains(r.stdout, email) {
		t.Fatalf("whoami said %q", r.stdout)
	}

	// Logout revokes the token on the server and forgets it.
	old := cfg.Token
	run(t, "", "logout").ok(t)
	cfg, _ = LoadConfig()
	if cfg.Token != "" || cfg.Server != srv.URL {
		t.Fatalf("after logout: %+v", cfg)
	}
	r = run(t, "", "whoami", "--token", old)
	if r.code != 1 || !strings.Contains(r.stderr, "Error: The API token is invalid, expired or revoked") ||
		!strings.Contains(r.stderr, "apogee login --server "+srv.URL) {
		t.Fatalf("revoked token: %+v", r)
	}
}

func TestLoginWrongPasswordAndNoTTY(t *testing.T) {
	env(t)
	srv := clienttest.New(t)
	srv.AddUser(email, password)
	r := run(t, "nope\n", "login", "--server", srv.URL, "--email", email, "--password-stdin")
	if r.code != 1 || !strings.Contains(r.stderr, "Error: Wrong email or password") {
		t.Fatalf("%+v", r)
	}
	r = run(t, "", "login", "--server", srv.URL)
	if r.code != 1 || !strings.Contains(r.stderr, "--email is required") {
		t.Fatalf("%+v", r)
	}
	r = run(t, "", "login")
	if r.code != 1 || !strings.Contains(r.stderr, "Run `apogee login --server http://localhost:8080`") {
		t.Fatalf("login without a server: %+v", r)
	}
}

func TestEnvAndFlagsOverrideConfig(t *testing.T) {
	srvA := loggedIn(t)
	srvB := clienttest.New(t)
	tokB := srvB.AddUser("bob@example.com", "pw")
	srvC := clienttest.New(t)
	tokC := srvC.AddUser("cy@example.com", "pw")

	if r := run(t, "", "whoami").ok(t); !strings.Contains(r.stdout, email+" on "+srvA.URL) {
		t.Fatalf("from the file: %q", r.stdout)
	}
	t.Setenv("APOGEE_SERVER", srvB.URL)
	t.Setenv("APOGEE_TOKEN", tokB)
	if r := run(t, "", "whoami").ok(t); !strings.Contains(r.stdout, "bob@example.com on "+srvB.URL) {
		t.Fatalf("from the environment: %q", r.stdout)
	}
	if r := run(t, "", "whoami", "--server", srvC.URL, "--token", tokC).ok(t); !strings.Contains(r.stdout, "cy@example.com on "+srvC.URL) {
		t.Fatalf("from flags: %q", r.stdout)
	}
	// The file's token is never sent to another server.
	t.Setenv("APOGEE_TOKEN", "")
	r := run(t, "", "whoami")
	if r.code != 1 || !strings.Contains(r.stderr, "Not logged in to "+srvB.URL) ||
		!strings.Contains(r.stderr, "Run `apogee login --server "+srvB.URL+"`, or set APOGEE_TOKEN") {
		t.Fatalf("file token with another server: %+v", r)
	}
}

func TestDeployURLIsLastLine(t *testing.T) {
	srv := loggedIn(t)
	dir := makeSite(t, 30)
	r := run(t, "", "deploy", dir, "--project", "site").ok(t)
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "http://site--") || !strings.Contains(last, ".localhost:") {
		t.Fatalf("last stdout line %q is not the deployment URL\nstdout:\n%s", last, r.stdout)
	}
	if !strings.Contains(r.stderr, "Uploading 30 files (") {
		t.Fatalf("stderr has no upload line:\n%s", r.stderr)
	}
	if srv.Puts() != 30 {
		t.Fatalf("server saw %d PUTs", srv.Puts())
	}

	// A redeploy of the same folder, to production, from APOGEE_PROJECT.
	t.Setenv("APOGEE_PROJECT", "site")
	r = run(t, "", "deploy", dir, "--prod").ok(t)
	if !strings.Contains(r.stderr, "Nothing to upload") || !strings.Contains(r.stderr, "Production: http://site.localhost:") {
		t.Fatalf("redeploy stderr:\n%s", r.stderr)
	}
	if srv.Puts() != 30 {
		t.Fatalf("redeploy uploaded again: %d PUTs", srv.Puts())
	}
}

// TestDeployListsSkippedRules: as Netlify's deploy does, a deployment
// with a rule that cannot be processed goes live without it and says
// which, with file and line, in the deploy output, inspect and --json.
func TestDeployListsSkippedRules(t *testing.T) {
	loggedIn(t)
	dir := makeSite(t, 1)
	if err := os.WriteFile(filepath.Join(dir, "_redirects"), []byte("/old /new 301\n/a /b 999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, "", "deploy", dir, "--project", "site").ok(t)
	if !strings.Contains(r.stderr, "1 rule of the routing files skipped:") || !strings.Contains(r.stderr, "Warning: _redirects line 2: ") {
		t.Fatalf("deploy stderr lacks the skipped rule:\n%s", r.stderr)
	}
	var res struct {
		ID           string               `json:"id"`
		RuleWarnings []apogee.RuleWarning `json:"rule_warnings"`
	}
	r = run(t, "", "deploy", dir, "--project", "site", "--json").ok(t)
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("deploy --json: %v\n%s", err, r.stdout)
	}
	if len(res.RuleWarnings) != 1 || res.RuleWarnings[0].File != "_redirects" || res.RuleWarnings[0].Line != 2 {
		t.Fatalf("deploy --json rule_warnings = %+v", res.RuleWarnings)
	}
	r = run(t, "", "inspect", res.ID).ok(t)
	if !strings.Contains(r.stderr+r.stdout, "Warning: _redirects line 2: ") {
		t.Fatalf("inspect lacks the skipped rule:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
}

func TestDeployErrors(t *testing.T) {
	loggedIn(t)
	dir := makeSite(t, 1)
	r := run(t, "", "deploy", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "Error: No project given") || !strings.Contains(r.stderr, "APOGEE_PROJECT") {
		t.Fatalf("no project: %+v", r)
	}
	r = run(t, "", "deploy", dir, "--project", "nope")
	if r.code != 1 || !strings.Contains(r.stderr, `Error: Project "nope" not found`+"\n") ||
		!strings.Contains(r.stderr, "Create it with `apogee projects create nope`.") {
		t.Fatalf("unknown project: %+v", r)
	}
	if r.stdout != "" {
		t.Fatalf("an error printed on stdout: %q", r.stdout)
	}
}

func TestErrorSuggestions(t *testing.T) {
	env(t)
	r := run(t, "", "projects", "list")
	if r.code != 1 || r.stderr != "Error: No Apogee server configured\nRun `apogee login --server http://localhost:8080` (your server's URL), or set APOGEE_SERVER.\n" {
		t.Fatalf("no server: %+v", r)
	}

	srv := clienttest.New(t)
	r = run(t, "", "projects", "list", "--server", srv.URL, "--token", "bad")
	if r.code != 1 || !strings.Contains(r.stderr, "Error: The API token is invalid, expired or revoked\n") ||
		!strings.Contains(r.stderr, "Run `apogee login --server "+srv.URL+"`, or set APOGEE_TOKEN") {
		t.Fatalf("bad token: %+v", r)
	}

	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	r = run(t, "", "whoami", "--server", "http://"+addr, "--token", "t")
	if r.code != 1 || !strings.Contains(r.stderr, "connection refused") || !strings.Contains(r.stderr, "Is the server running? Start it with `apogee server`.") {
		t.Fatalf("connection refused: %+v", r)
	}
	r = run(t, "", "whoami", "--server", "http://"+addr, "--token", "t", "--json")
	if v := oneJSON(t, r.stdout); r.code != 1 || v["error"].(map[string]any)["code"] != "unreachable" {
		t.Fatalf("connection refused, --json: %+v", r)
	}

	r = run(t, "", "projects", "show")
	if r.code != 1 || !strings.Contains(r.stderr, "Accepts 1 arg") || !strings.Contains(r.stderr, "apogee projects show --help") {
		t.Fatalf("missing argument: %+v", r)
	}
	r = run(t, "", "deploy", "--nope")
	if r.code != 1 || !strings.Contains(r.stderr, "Unknown flag: --nope") {
		t.Fatalf("unknown flag: %+v", r)
	}
}

func TestJSONOutputIsOneObject(t *testing.T) {
	env(t)
	srv := clienttest.New(t)
	srv.AddUser(email, password)

	v := oneJSON(t, run(t, password, "login", "--server", srv.URL, "--email", email, "--password-stdin", "--json").ok(t).stdout)
	if v["server"] != srv.URL || v["email"] != email {
		t.Fatalf("login: %v", v)
	}
	v = oneJSON(t, run(t, "", "whoami", "--json").ok(t).stdout)
	if v["email"] != email || v["server"] != srv.URL {
		t.Fatalf("whoami: %v", v)
	}
	v = oneJSON(t, run(t, "", "projects", "create", "site", "--json").ok(t).stdout)
	if v["name"] != "site" || v["url"] == "" {
		t.Fatalf("projects create: %v", v)
	}
	v = oneJSON(t, run(t, "", "projects", "list", "--json").ok(t).stdout)
	if ps := v["projects"].([]any); len(ps) != 1 {
		t.Fatalf("projects list: %v", v)
	}
	oneJSON(t, run(t, "", "projects", "show", "site", "--json").ok(t).stdout)

	dir := makeSite(t, 12)
	r := run(t, "", "deploy", dir, "--project", "site", "--json").ok(t)
	v = oneJSON(t, r.stdout)
	for _, k := range []string{"id", "url", "status", "files", "uploaded", "bytes", "project", "production"} {
		if _, ok := v[k]; !ok {
			t.Errorf("deploy --json lacks %q: %v", k, v)
		}
	}
	if len(v) != 8 || v["files"] != 12.0 || v["uploaded"] != 12.0 || v["status"] != "ready" || v["production"] != false {
		t.Fatalf("deploy --json: %v", v)
	}
	first := v["id"].(string)
	if strings.Contains(r.stderr, "Uploading") {
		t.Fatalf("--json printed progress: %q", r.stderr)
	}
	if err := os.WriteFile(filepath.Join(dir, "new.html"), []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	v = oneJSON(t, run(t, "", "deploy", dir, "--project", "site", "--prod", "--json").ok(t).stdout)
	if v["uploaded"] != 1.0 || v["production"] != true {
		t.Fatalf("second deploy: %v", v)
	}
	second := v["id"].(string)

	v = oneJSON(t, run(t, "", "deployments", "list", "--project", "site", "--limit", "1", "--json").ok(t).stdout)
	if ds := v["deployments"].([]any); len(ds) != 1 || ds[0].(map[string]any)["id"] != second {
		t.Fatalf("deployments list: %v", v)
	}
	v = oneJSON(t, run(t, "", "inspect", first, "--json").ok(t).stdout)
	if v["id"] != first || v["project"] != "site" {
		t.Fatalf("inspect: %v", v)
	}
	oneJSON(t, run(t, "", "deployments", "show", first, "--json").ok(t).stdout)

	// promote without --project finds the deployment's project.
	v = oneJSON(t, run(t, "", "promote", first, "--json").ok(t).stdout)
	if v["id"] != first || v["production"] != true || v["production_url"] == "" {
		t.Fatalf("promote: %v", v)
	}
	// Production is the oldest production-target deployment: nothing
	// earlier to roll back to.
	r = run(t, "", "rollback", "--project", "site", "--json")
	if v := oneJSON(t, r.stdout); r.code != 1 || v["error"].(map[string]any)["code"] != "conflict" {
		t.Fatalf("rollback with nothing earlier: %+v", r)
	}
	v = oneJSON(t, run(t, "", "promote", second, "--json").ok(t).stdout)
	if v["id"] != second || v["production"] != true {
		t.Fatalf("promote back: %v", v)
	}
	v = oneJSON(t, run(t, "", "rollback", "--project", "site", "--to", first, "--json").ok(t).stdout)
	if v["id"] != first {
		t.Fatalf("rollback --to: %v", v)
	}

	v = oneJSON(t, run(t, "", "tokens", "create", "ci", "--expires", "720h", "--json").ok(t).stdout)
	tokID := v["detail"].(map[string]any)["id"].(string)
	if v["token"] == "" {
		t.Fatalf("tokens create: %v", v)
	}
	v = oneJSON(t, run(t, "", "tokens", "list", "--json").ok(t).stdout)
	if ts := v["tokens"].([]any); len(ts) != 3 { // AddUser's, login's and ci
		t.Fatalf("tokens list: %v", v)
	}
	oneJSON(t, run(t, "", "tokens", "revoke", tokID, "--json").ok(t).stdout)

	// Errors are one JSON object on stdout too.
	r = run(t, "", "projects", "show", "nope", "--json")
	v = oneJSON(t, r.stdout)
	e := v["error"].(map[string]any)
	if r.code != 1 || e["code"] != "not_found" || !strings.HasPrefix(e["message"].(string), `project "nope" not found`) {
		t.Fatalf("error --json: %+v", r)
	}
	r = run(t, "", "projects", "delete", "site", "--json")
	if v := oneJSON(t, r.stdout); r.code != 1 || v["error"].(map[string]any)["code"] != "invalid" {
		t.Fatalf("delete without --yes: %+v", r)
	}
	oneJSON(t, run(t, "", "projects", "delete", "site", "--yes", "--json").ok(t).stdout)
	oneJSON(t, run(t, "", "logout", "--json").ok(t).stdout)
}

func TestHumanOutput(t *testing.T) {
	loggedIn(t)
	dir := makeSite(t, 3)
	run(t, "", "deploy", dir, "--project", "site", "--prod").ok(t)
	r := run(t, "", "projects", "list").ok(t)
	if !strings.HasPrefix(r.stdout, "NAME") || !strings.Contains(r.stdout, "site") {
		t.Fatalf("projects list:\n%s", r.stdout)
	}
	r = run(t, "", "deployments", "list", "--project", "site").ok(t)
	if !strings.Contains(r.stdout, "ready (production)") {
		t.Fatalf("deployments list:\n%s", r.stdout)
	}
	r = run(t, "", "rollback", "--project", "site")
	if r.code != 1 || !strings.Contains(r.stderr, "No earlier production deployment") || !strings.Contains(r.stderr, "--to ID") {
		t.Fatalf("rollback with nothing to go back to: %+v", r)
	}
	r = run(t, "", "tokens", "create", "ci").ok(t)
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "apg_") {
		t.Fatalf("tokens create stdout: %q", r.stdout)
	}
	if !strings.Contains(r.stderr, "not shown again") {
		t.Fatalf("tokens create stderr: %q", r.stderr)
	}
	r = run(t, "", "tokens", "create", "ci", "--expires", "soon")
	if r.code != 1 || !strings.Contains(r.stderr, "not a positive duration") {
		t.Fatalf("bad --expires: %+v", r)
	}
}

func TestNormalizeServer(t *testing.T) {
	for in, want := range map[string]string{
		"localhost:8080":             "http://localhost:8080",
		"http://localhost:8080/":     "http://localhost:8080",
		"127.0.0.1:8080":             "http://127.0.0.1:8080",
		"apogee.example.com":         "https://apogee.example.com",
		"https://apogee.example.com": "https://apogee.example.com",
		"":                           "",
	} {
		if got := normalizeServer(in); got != want {
			t.Errorf("normalizeServer(%q) = %q, want %q", in, got, want)
		}
	}
}
