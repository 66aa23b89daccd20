package api_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/api/apitest"
	"github.com/apogee-dev/apogee/internal/blob"
	"github.com/apogee-dev/apogee/internal/envvars"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/platform"
	"github.com/apogee-dev/apogee/internal/secretbox"
	"github.com/apogee-dev/apogee/internal/sqlstore"
	"github.com/apogee-dev/apogee/internal/testio"
)

// secretWorld is a data folder (SQLite store, blobs) that API servers
// with a given key can be started on, one after the other, like a server
// restarted with the same or another --secret-key. Everything the API
// logs, at every level, goes to logs.
type secretWorld struct {
	t     *testing.T
	store *sqlstore.Store
	blobs apogee.Blobs
	logs  *testio.Buffer
}

func newSecretWorld(t *testing.T) *secretWorld {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlstore.Open(t.Context(), "sqlite://"+filepath.Join(dir, "apogee.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	bl, err := blob.Open(t.Context(), "file://"+filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bl.Close() })
	return &secretWorld{t: t, store: st, blobs: bl, logs: &testio.Buffer{}}
}

// start runs an API with a box of key on the world's data.
func (w *secretWorld) start(key []byte) *env {
	w.t.Helper()
	box, err := secretbox.New(key)
	if err != nil {
		w.t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := &env{t: w.t, store: w.store, blobs: w.blobs, bus: events.NewLocal(log), now: time.Now().UTC()}
	e.srv = httptest.NewServer(apitest.New(w.t, platform.Config{
		Store: w.store, Blobs: w.blobs, Bus: e.bus, Box: box, Log: log, Now: e.clock,
	}))
	w.t.Cleanup(e.srv.Close)
	return e
}

func key(b byte) []byte { return bytes.Repeat([]byte{b}, secretbox.KeySize) }

type envList struct {
	Env []map[string]any `json:"env"`
}

func (e *env) listEnv(token, project string) map[string]map[string]any {
	e.t.Helper()
	var l envList
	e.must(e.call("GET", "/api/v1/projects/"+project+"/env", token, nil), 200, &l)
	out := map[string]map[string]any{}
	for _, v := range l.Env {
		out[v["key"].(string)] = v
	}
	return out
}

func setBody(value string, secret bool) map[string]any {
	return map[string]any{"value": value, "secret": secret}
}

func TestEnvVars(t *testing.T) {
	w := newSecretWorld(t)
	e := w.start(key(1))
	tok := e.user("a@example.com")
	e.must(e.call("POST", "/api/v1/projects", tok, apogee.CreateProjectRequest{Name: "web"}), 201, nil)

	if l := e.listEnv(tok, "web"); len(l) != 0 {
		t.Fatalf("new project has variables: %v", l)
	}
	var v map[string]any
	e.must(e.call("PUT", "/api/v1/projects/web/env/NODE_ENV", tok, setBody("production", false)), 200, &v)
	if v["key"] != "NODE_ENV" || v["value"] != "production" || v["secret"] != false || v["updated_at"] == nil {
		t.Fatalf("PUT answer %v", v)
	}
	r := e.call("PUT", "/api/v1/projects/web/env/STRIPE_KEY", tok, setBody("sk_live_0123456789", true))
	v = nil
	e.must(r, 200, &v)
	if _, has := v["value"]; has || v["secret"] != true || strings.Contains(string(r.body), "sk_live") {
		t.Fatalf("PUT of a secret answered its value: %s", r.body)
	}
	v = nil
	e.must(e.call("PUT", "/api/v1/projects/web/env/EMPTY", tok, setBody("", false)), 200, &v)
	if val, has := v["value"]; !has || val != "" {
		t.Fatalf("an empty non-secret value is shown as %v", v)
	}

	r = e.call("GET", "/api/v1/projects/web/env", tok, nil)
	if strings.Contains(string(r.body), "sk_live") {
		t.Fatalf("list shows a secret value: %s", r.body)
	}
	var l envList
	e.must(r, 200, &l)
	var keys []string
	for _, v := range l.Env {
		keys = append(keys, v["key"].(string))
	}
	if strings.Join(keys, ",") != "EMPTY,NODE_ENV,STRIPE_KEY" {
		t.Fatalf("list order %v", keys)
	}
	vars := e.listEnv(tok, "web")
	if _, has := vars["STRIPE_KEY"]["value"]; has || vars["STRIPE_KEY"]["secret"] != true {
		t.Fatalf("secret in list: %v", vars["STRIPE_KEY"])
	}
	if vars["NODE_ENV"]["value"] != "production" {
		t.Fatalf("non-secret in list: %v", vars["NODE_ENV"])
	}

	// Replacing a secret with a plain value shows the new value only.
	e.must(e.call("PUT", "/api/v1/projects/web/env/STRIPE_KEY", tok, setBody("sk_test_visible", false)), 200, nil)
	if got := e.listEnv(tok, "web")["STRIPE_KEY"]; got["value"] != "sk_test_visible" || got["secret"] != false {
		t.Fatalf("after replacing: %v", got)
	}

	e.must(e.call("DELETE", "/api/v1/projects/web/env/EMPTY", tok, nil), 204, nil)
	b := e.wantErr(e.call("DELETE", "/api/v1/projects/web/env/EMPTY", tok, nil), 404, apogee.ENOTFOUND)
	if !strings.Contains(b.Error.Message, "EMPTY") {
		t.Fatalf("delete twice: %q", b.Error.Message)
	}
	if l := e.listEnv(tok, "web"); len(l) != 2 {
		t.Fatalf("after delete: %v", l)
	}

	// Deleting the project deletes its variables; a new project of the
	// same name starts empty.
	e.must(e.call("DELETE", "/api/v1/projects/web", tok, nil), 204, nil)
	e.must(e.call("POST", "/api/v1/projects", tok, apogee.CreateProjectRequest{Name: "web"}), 201, nil)
	if l := e.listEnv(tok, "web"); len(l) != 0 {
		t.Fatalf("a new project inherited variables: %v", l)
	}
}

func TestEnvOwnership(t *testing.T) {
	w := newSecretWorld(t)
	e := w.start(key(1))
	alice := e.user("alice@example.com")
	bob := e.user("bob@example.com")
	e.must(e.call("POST", "/api/v1/projects", alice, apogee.CreateProjectRequest{Name: "web"}), 201, nil)
	e.must(e.call("PUT", "/api/v1/projects/web/env/TOKEN", alice, setBody("alice-secret", true)), 200, nil)

	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/projects/web/env", nil},
		{"PUT", "/api/v1/projects/web/env/TOKEN", setBody("bob", false)},
		{"PUT", "/api/v1/projects/web/env/NEW", setBody("bob", false)},
		{"DELETE", "/api/v1/projects/web/env/TOKEN", nil},
		{"GET", "/api/v1/projects/web", nil},
	} {
		r := e.call(c.method, c.path, bob, c.body)
		b := e.wantErr(r, 404, apogee.ENOTFOUND)
		if b.Error.Message != `project "web" not found` {
			t.Errorf("%s %s as another user: %q", c.method, c.path, b.Error.Message)
		}
	}
	// The same answer as for a project that does not exist.
	e.wantErr(e.call("GET", "/api/v1/projects/nope/env", bob, nil), 404, apogee.ENOTFOUND)
	e.wantErr(e.call("GET", "/api/v1/projects/web/env", "", nil), 401, apogee.EUNAUTHORIZED)

	vars := e.listEnv(alice, "web")
	if len(vars) != 1 || vars["TOKEN"]["secret"] != true {
		t.Fatalf("bob changed alice's variables: %v", vars)
	}
}

func TestEnvBadInput(t *testing.T) {
	w := newSecretWorld(t)
	e := w.start(key(1))
	tok := e.user("a@example.com")
	e.must(e.call("POST", "/api/v1/projects", tok, apogee.CreateProjectRequest{Name: "web"}), 201, nil)

	for _, c := range []struct {
		name, key string
		body      any
		status    int
		code      string
	}{
		{"dash in key", "MY-VAR", setBody("v", false), 400, apogee.EINVALID},
		{"leading digit", "9LIVES", setBody("v", false), 400, apogee.EINVALID},
		{"reserved prefix", "APOGEE_TOKEN", setBody("v", false), 400, apogee.EINVALID},
		{"reserved prefix lower case", "apogee_token", setBody("v", false), 400, apogee.EINVALID},
		{"key too long", strings.Repeat("K", 257), setBody("v", false), 400, apogee.EINVALID},
		{"escaped space", "A%20B", setBody("v", false), 400, apogee.EINVALID},
		{"no value", "K", map[string]any{"secret": true}, 400, apogee.EINVALID},
		{"value not a string", "K", map[string]any{"value": 5}, 400, apogee.EINVALID},
		{"secret of 2 characters", "K", setBody("ab", true), 400, apogee.EINVALID},
		{"secret of 7 characters", "K", setBody("1234567", true), 400, apogee.EINVALID},
		{"unknown field", "K", map[string]any{"value": "v", "sekret": true}, 400, apogee.EINVALID},
		{"empty body", "K", nil, 400, apogee.EINVALID},
		{"NUL in value", "K", setBody("a\x00b", false), 400, apogee.EINVALID},
		{"value over 64 KiB", "K", setBody(strings.Repeat("x", apogee.MaxEnvValueLen+1), true), 413, apogee.ETOOLARGE},
		{"body over 1 MiB", "K", setBody(strings.Repeat("x", 2<<20), true), 413, apogee.ETOOLARGE},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			e.wantErr(e.call("PUT", "/api/v1/projects/web/env/"+c.key, tok, c.body), c.status, c.code)
		})
	}
	e.t = t
	e.wantErr(e.call("DELETE", "/api/v1/projects/web/env/BAD-KEY", tok, nil), 400, apogee.EINVALID)
	// A value of exactly 64 KiB is fine.
	e.must(e.call("PUT", "/api/v1/projects/web/env/BIG", tok, setBody(strings.Repeat("x", apogee.MaxEnvValueLen), false)), 200, nil)
	if l := e.listEnv(tok, "web"); len(l) != 1 {
		t.Fatalf("bad requests changed the variables: %v", l)
	}
}

func TestEnvLimit(t *testing.T) {
	w := newSecretWorld(t)
	e := w.start(key(1))
	tok := e.user("a@example.com")
	e.must(e.call("POST", "/api/v1/projects", tok, apogee.CreateProjectRequest{Name: "web"}), 201, nil)
	p, err := w.store.ProjectByName(t.Context(), "web")
	if err != nil {
		t.Fatal(err)
	}
	for i := range apogee.MaxEnvVars {
		if err := w.store.SetEnv(t.Context(), p.ID, &apogee.EnvVar{Key: fmt.Sprintf("K%03d", i), Value: "v1:x"}); err != nil {
			t.Fatal(err)
		}
	}
	b := e.wantErr(e.call("PUT", "/api/v1/projects/web/env/ONE_MORE", tok, setBody("v", false)), 413, apogee.ETOOLARGE)
	if !strings.Contains(b.Error.Message, "500") {
		t.Fatalf("limit message %q", b.Error.Message)
	}
	// Replacing one at the limit is fine.
	e.must(e.call("PUT", "/api/v1/projects/web/env/K000", tok, setBody("v", false)), 200, nil)
}

// TestSecretsSealedAtRest reads what the store holds: no value, secret
// or not, and no webhook secret is there in plain text, and nothing the
// API logged carries one.
func TestSecretsSealedAtRest(t *testing.T) {
	w := newSecretWorld(t)
	e := w.start(key(1))
	tok := e.user("a@example.com")
	var created apogee.ProjectView
	e.must(e.call("POST", "/api/v1/projects", tok, apogee.CreateProjectRequest{Name: "web"}), 201, &created)
	values := map[string]string{
		"DATABASE_URL": "postgres://app:correct-horse@db.internal/app",
		"PUBLIC_NAME":  "my-public-site-name",
	}
	e.must(e.call("PUT", "/api/v1/projects/web/env/DATABASE_URL", tok, setBody(values["DATABASE_URL"], true)), 200, nil)
	e.must(e.call("PUT", "/api/v1/projects/web/env/PUBLIC_NAME", tok, setBody(values["PUBLIC_NAME"], false)), 200, nil)
	e.listEnv(tok, "web")

	p, err := w.store.ProjectByName(t.Context(), "web")
	if err != nil {
		t.Fatal(err)
	}
	stored, err := w.store.ListEnv(t.Context(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 2 {
		t.Fatalf("stored %d variables", len(stored))
	}
	for _, v := range stored {
		if !secretbox.IsSealed(v.Value) || strings.Contains(v.Value, values[v.Key]) || strings.Contains(v.Value, "correct-horse") {
			t.Errorf("stored value of %s holds plaintext: %q", v.Key, v.Value)
		}
	}
	if created.WebhookSecret == "" || !secretbox.IsSealed(p.WebhookSecret) || strings.Contains(p.WebhookSecret, created.WebhookSecret) {
		t.Errorf("webhook secret stored as %q (plain %q)", p.WebhookSecret, created.WebhookSecret)
	}

	// The builder's view: the right values, secrets listed for masking.
	vars, secrets, err := envvars.New(w.store, mustBox(t, key(1)), nil).Resolve(t.Context(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(vars, "|") != "DATABASE_URL="+values["DATABASE_URL"]+"|PUBLIC_NAME="+values["PUBLIC_NAME"] ||
		len(secrets) != 1 || secrets[0] != values["DATABASE_URL"] {
		t.Fatalf("Resolve = %q, %q", vars, secrets)
	}

	logged := w.logs.String()
	if !strings.Contains(logged, "env var set") {
		t.Fatalf("the API did not log the change:\n%s", logged)
	}
	for _, s := range []string{values["DATABASE_URL"], "correct-horse", values["PUBLIC_NAME"], created.WebhookSecret} {
		if strings.Contains(logged, s) {
			t.Errorf("the log holds a value %q:\n%s", s, logged)
		}
	}
}

func mustBox(t *testing.T, k []byte) *secretbox.Box {
	t.Helper()
	b, err := secretbox.New(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWebhookSecret(t *testing.T) {
	w := newSecretWorld(t)
	e := w.start(key(1))
	alice := e.user("alice@example.com")
	bob := e.user("bob@example.com")

	var created apogee.ProjectView
	r := e.call("POST", "/api/v1/projects", alice, apogee.CreateProjectRequest{Name: "web"})
	e.must(r, 201, &created)
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(created.WebhookSecret) {
		t.Fatalf("created project's webhook_secret = %q", created.WebhookSecret)
	}
	var got map[string]any
	e.must(e.call("GET", "/api/v1/projects/web", alice, nil), 200, &got)
	if got["webhook_secret"] != created.WebhookSecret {
		t.Fatalf("owner's GET: webhook_secret = %v; want the one given at creation", got["webhook_secret"])
	}
	// Lists show no secrets; other users see no project.
	r = e.call("GET", "/api/v1/projects", alice, nil)
	if strings.Contains(string(r.body), created.WebhookSecret) || strings.Contains(string(r.body), "webhook_secret") {
		t.Fatalf("project list shows the webhook secret: %s", r.body)
	}
	e.wantErr(e.call("GET", "/api/v1/projects/web", bob, nil), 404, apogee.ENOTFOUND)

	// Each project has its own.
	var other apogee.ProjectView
	e.must(e.call("POST", "/api/v1/projects", alice, apogee.CreateProjectRequest{Name: "blog"}), 201, &other)
	if other.WebhookSecret == created.WebhookSecret {
		t.Fatal("two projects share a webhook secret")
	}

	// What the webhook handler will use.
	p, err := w.store.ProjectByName(t.Context(), "web")
	if err != nil {
		t.Fatal(err)
	}
	if s, err := p.OpenWebhookSecret(mustBox(t, key(1))); err != nil || s != created.WebhookSecret {
		t.Fatalf("OpenWebhookSecret = %q, %v", s, err)
	}
	// A project made before webhook secrets existed has none, and shows none.
	if err := w.store.CreateProject(t.Context(), &apogee.Project{Name: "old", OwnerID: p.OwnerID}); err != nil {
		t.Fatal(err)
	}
	got = nil
	e.must(e.call("GET", "/api/v1/projects/old", alice, nil), 200, &got)
	if _, has := got["webhook_secret"]; has {
		t.Fatalf("a project without a webhook secret shows %v", got["webhook_secret"])
	}
}

// TestWrongKeyAtRestart restarts the API on the same data with the same
// key (everything opens) and with another key: listing secrets still
// works (they are never opened), but every value that must be opened
// fails with a clear message, and no value or key reaches the log.
func TestWrongKeyAtRestart(t *testing.T) {
	w := newSecretWorld(t)
	e := w.start(key(1))
	tok := e.user("a@example.com")
	var created apogee.ProjectView
	e.must(e.call("POST", "/api/v1/projects", tok, apogee.CreateProjectRequest{Name: "web"}), 201, &created)
	e.must(e.call("PUT", "/api/v1/projects/web/env/SECRET", tok, setBody("s3cr3t-value", true)), 200, nil)

	same := w.start(key(1))
	var got apogee.ProjectView
	same.must(same.call("GET", "/api/v1/projects/web", tok, nil), 200, &got)
	if got.WebhookSecret != created.WebhookSecret {
		t.Fatal("after a restart with the same key the webhook secret differs")
	}

	wrong := w.start(key(2))
	if l := wrong.listEnv(tok, "web"); len(l) != 1 || l["SECRET"]["secret"] != true {
		t.Fatalf("listing secrets with another key: %v", l)
	}
	b := wrong.wantErr(wrong.call("GET", "/api/v1/projects/web", tok, nil), 500, apogee.EINTERNAL)
	if !strings.Contains(b.Error.Message, "secret key") {
		t.Fatalf("GET project with another key: %q", b.Error.Message)
	}
	// A non-secret value has to be opened to be listed.
	e.must(e.call("PUT", "/api/v1/projects/web/env/PLAIN", tok, setBody("plain-value", false)), 200, nil)
	b = wrong.wantErr(wrong.call("GET", "/api/v1/projects/web/env", tok, nil), 500, apogee.EINTERNAL)
	if !strings.Contains(b.Error.Message, "PLAIN") || !strings.Contains(b.Error.Message, "--secret-key") {
		t.Fatalf("list with another key: %q", b.Error.Message)
	}
	p, err := w.store.ProjectByName(t.Context(), "web")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := envvars.New(w.store, mustBox(t, key(2)), nil).Resolve(context.Background(), p.ID); apogee.ErrorCode(err) != apogee.EINTERNAL {
		t.Fatalf("Resolve with another key: %v", err)
	}
	// Setting and removing need no old key: the way out of a lost key.
	wrong.must(wrong.call("PUT", "/api/v1/projects/web/env/PLAIN", tok, setBody("again", false)), 200, nil)
	wrong.must(wrong.call("DELETE", "/api/v1/projects/web/env/SECRET", tok, nil), 204, nil)
	if l := wrong.listEnv(tok, "web"); l["PLAIN"]["value"] != "again" {
		t.Fatalf("after replacing with the new key: %v", l)
	}

	logged := w.logs.String()
	if !strings.Contains(logged, "cannot be decrypted") {
		t.Fatalf("the internal error was not logged:\n%s", logged)
	}
	for _, s := range []string{"s3cr3t-value", "plain-value", created.WebhookSecret} {
		if strings.Contains(logged, s) {
			t.Errorf("the log holds %q", s)
		}
	}
}
