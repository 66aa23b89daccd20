package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/api"
	"github.com/apogee-dev/apogee/internal/api/apitest"
	"github.com/apogee-dev/apogee/internal/auth"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/platform"
	"github.com/apogee-dev/apogee/internal/testbed"
)

type env struct {
	t     *testing.T
	srv   *httptest.Server
	api   *api.API
	store apogee.Store
	blobs apogee.Blobs
	bus   *events.Local

	mu  sync.Mutex
	now time.Time // the API's clock: a millisecond passes at every reading
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(time.Millisecond)
	return e.now
}

func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

const maxFile = 1 << 20

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, nil)
}

// newEnvWith is newEnv with changes to the platform's configuration.
func newEnvWith(t *testing.T, configure func(*platform.Config)) *env {
	t.Helper()
	st, bl, _ := testbed.Backends(t)
	log := testbed.Quiet
	e := &env{t: t, store: st, blobs: bl, bus: events.NewLocal(log), now: time.Now().UTC()}
	cfg := platform.Config{
		Store: st, Blobs: bl, Bus: e.bus, MaxFileSize: maxFile, Log: log,
		SiteURL: func(l string) string { return "http://" + l + ".localhost/" },
		Now:     e.clock,
	}
	if configure != nil {
		configure(&cfg)
	}
	a := apitest.New(t, cfg)
	e.api = a
	e.srv = httptest.NewServer(a)
	t.Cleanup(e.srv.Close)
	return e
}

// user makes a user and returns a token of theirs.
func (e *env) user(email string) string {
	e.t.Helper()
	h, err := auth.HashPassword("password-" + email)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.CreateUser(context.Background(), &apogee.User{ID: apogee.NewID(), Email: email, Password: h, CreatedAt: e.clock()}); err != nil {
		e.t.Fatal(err)
	}
	var tr apogee.TokenResponse
	e.must(e.call("POST", "/api/v1/auth/login", "", apogee.LoginRequest{Email: email, Password: "password-" + email}), 200, &tr)
	return tr.Token
}

type resp struct {
	status int
	body   []byte
}

func (e *env) call(method, path, token string, body any) resp {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case string:
		r = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, r)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, b}
}

func (e *env) must(r resp, status int, v any) {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if v != nil {
		if err := json.Unmarshal(r.body, v); err != nil {
			e.t.Fatalf("decode %s: %v", r.body, err)
		}
	}
}

// wantErr checks the status and the JSON error code of r.
func (e *env) wantErr(r resp, status int, code string) apogee.ErrorBody {
	e.t.Helper()
	var b apogee.ErrorBody
	if r.status != status {
		e.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if err := json.Unmarshal(r.body, &b); err != nil || b.Error.Code != code || b.Error.Message == "" {
		e.t.Fatalf("error body %s, want code %q and a message", r.body, code)
	}
	return b
}

type file struct{ path, content string }

func manifest(files ...file) []apogee.File {
	var m []apogee.File
	for _, f := range files {
		sum := sha256.Sum256([]byte(f.content))
		m = append(m, apogee.File{Path: f.path, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(f.content))})
	}
	return m
}

// deploy runs the whole protocol and returns the ready deployment.
func (e *env) deploy(token, project, target string, files ...file) apogee.DeploymentView {
	e.t.Helper()
	var d apogee.DeploymentView
	e.must(e.call("POST", "/api/v1/projects/"+project+"/deployments", token,
		apogee.CreateDeploymentRequest{Files: manifest(files...), Target: target}), 201, &d)
	byHash := map[string]string{}
	for _, f := range files {
		byHash[manifest(f)[0].SHA256] = f.content
	}
	for _, h := range d.Missing {
		e.must(e.call("PUT", "/api/v1/deployments/"+d.ID+"/files/"+h, token, []byte(byHash[h])), 204, nil)
	}
	e.must(e.call("POST", "/api/v1/deployments/"+d.ID+"/finalize", token, nil), 200, &d)
	return d
}

func (e *env) production(project string) string {
	e.t.Helper()
	p, err := e.store.ProjectByName(context.Background(), project)
	if err != nil {
		e.t.Fatal(err)
	}
	return p.ProductionID
}

func TestDeployPromoteRollback(t *testing.T) {
	e := newEnv(t)
	tok := e.user("a@example.com")
	evs, _ := e.bus.Subscribe(t.Context())
	e.must(e.call("POST", "/api/v1/projects", tok, apogee.CreateProjectRequest{Name: "hello"}), 201, nil)

	d1 := e.deploy(tok, "hello", "production", file{"index.html", "one"}, file{"a/b.css", "body{}"})
	if d1.Status != apogee.StatusReady || !d1.Production || d1.Files != 2 || d1.URL != "http://"+d1.Host+".localhost/" {
		t.Fatalf("first deployment %+v", d1)
	}
	if got := <-evs; got.Type != apogee.EventDeploymentReady || got.Host != d1.Host {
		t.Fatalf("event %+v, want deployment.ready for %s", got, d1.Host)
	}
	if got := <-evs; got.Type != apogee.EventAliasChanged || got.Project != "hello" || got.DeploymentID != d1.ID {
		t.Fatalf("event %+v, want alias.changed to %s", got, d1.ID)
	}

	// A second deployment that shares a file only needs the new one.
	var d2 apogee.DeploymentView
	e.must(e.call("POST", "/api/v1/projects/hello/deployments", tok, apogee.CreateDeploymentRequest{
		Files: manifest(file{"index.html", "two"}, file{"a/b.css", "body{}"}), Target: "production"}), 201, &d2)
	if len(d2.Missing) != 1 || d2.Missing[0] != manifest(file{"x", "two"})[0].SHA256 {
		t.Fatalf("missing = %v, want only the changed file", d2.Missing)
	}
	e.must(e.call("PUT", "/api/v1/deployments/"+d2.ID+"/files/"+d2.Missing[0], tok, "two"), 204, nil)
	e.must(e.call("POST", "/api/v1/deployments/"+d2.ID+"/finalize", tok, nil), 200, &d2)
	if e.production("hello") != d2.ID {
		t.Fatal("production did not move to the second deployment")
	}

	preview := e.deploy(tok, "hello", "", file{"index.html", "preview"})
	if preview.Target != apogee.TargetPreview || preview.Production || e.production("hello") != d2.ID {
		t.Fatalf("a preview moved production: %+v", preview)
	}

	var rb apogee.DeploymentView
	e.must(e.call("POST", "/api/v1/projects/hello/rollback", tok, nil), 200, &rb)
	if rb.ID != d1.ID || !rb.Production || e.production("hello") != d1.ID {
		t.Fatalf("rollback went to %s, want %s", rb.ID, d1.ID)
	}
	e.wantErr(e.call("POST", "/api/v1/projects/hello/rollback", tok, nil), 409, apogee.ECONFLICT)

	e.must(e.call("POST", "/api/v1/projects/hello/promote", tok, apogee.PromoteRequest{DeploymentID: d2.ID}), 200, &rb)
	if e.production("hello") != d2.ID {
		t.Fatal("promote did not move production")
	}
	e.must(e.call("POST", "/api/v1/projects/hello/rollback", tok, apogee.PromoteRequest{DeploymentID: preview.ID}), 200, nil)
	if e.production("hello") != preview.ID {
		t.Fatal("rollback to an explicit deployment did not move production")
	}

	var list struct{ Deployments []apogee.DeploymentView }
	e.must(e.call("GET", "/api/v1/projects/hello/deployments", tok, nil), 200, &list)
	if len(list.Deployments) != 3 || list.Deployments[0].ID != preview.ID || !list.Deployments[0].Production {
		t.Fatalf("list = %+v", list.Deployments)
	}

	// A ready deployment never changes.
	e.wantErr(e.call("POST", "/api/v1/deployments/"+d1.ID+"/finalize", tok, nil), 409, apogee.ECONFLICT)
	e.wantErr(e.call("PUT", "/api/v1/deployments/"+d1.ID+"/files/"+d1.Missing[0], tok, "one"), 409, apogee.ECONFLICT)
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	tok := e.user("a@example.com")

	// Wrong password and unknown email look the same.
	bad1 := e.wantErr(e.call("POST", "/api/v1/auth/login", "", apogee.LoginRequest{Email: "a@example.com", Password: "nope-nope"}), 401, apogee.EUNAUTHORIZED)
	bad2 := e.wantErr(e.call("POST", "/api/v1/auth/login", "", apogee.LoginRequest{Email: "b@example.com", Password: "nope-nope"}), 401, apogee.EUNAUTHORIZED)
	if bad1.Error.Message != bad2.Error.Message {
		t.Fatalf("login errors differ: %q vs %q", bad1.Error.Message, bad2.Error.Message)
	}
	// Email is case-insensitive.
	e.must(e.call("POST", "/api/v1/auth/login", "", apogee.LoginRequest{Email: "A@Example.com", Password: "password-a@example.com"}), 200, nil)

	e.wantErr(e.call("GET", "/api/v1/user", "", nil), 401, apogee.EUNAUTHORIZED)
	e.wantErr(e.call("GET", "/api/v1/user", "apg_notatoken", nil), 401, apogee.EUNAUTHORIZED)
	var me apogee.User
	e.must(e.call("GET", "/api/v1/user", tok, nil), 200, &me)
	if me.Email != "a@example.com" {
		t.Fatalf("whoami = %+v", me)
	}
	if strings.Contains(string(e.call("GET", "/api/v1/user", tok, nil).body), "argon2") {
		t.Fatal("whoami leaks the password hash")
	}

	// Expiring tokens stop working when they expire.
	var short apogee.TokenResponse
	e.must(e.call("POST", "/api/v1/tokens", tok, apogee.CreateTokenRequest{Name: "ci", ExpiresIn: "1h"}), 201, &short)
	e.must(e.call("GET", "/api/v1/user", short.Token, nil), 200, nil)
	e.advance(2 * time.Hour)
	e.wantErr(e.call("GET", "/api/v1/user", short.Token, nil), 401, apogee.EUNAUTHORIZED)

	// Revoked tokens stop at once; tokens are stored hashed.
	var other apogee.TokenResponse
	e.must(e.call("POST", "/api/v1/tokens", tok, apogee.CreateTokenRequest{Name: "laptop"}), 201, &other)
	if tk, err := e.store.TokenByHash(context.Background(), auth.HashToken(other.Token)); err != nil || bytes.Contains(tk.Hash, []byte(other.Token)) {
		t.Fatalf("token not stored by hash: %v", err)
	}
	e.must(e.call("DELETE", "/api/v1/tokens/"+other.Detail.ID, tok, nil), 204, nil)
	e.wantErr(e.call("GET", "/api/v1/user", other.Token, nil), 401, apogee.EUNAUTHORIZED)
	e.wantErr(e.call("DELETE", "/api/v1/tokens/nosuchtoken", tok, nil), 404, apogee.ENOTFOUND)

	var list struct{ Tokens []apogee.Token }
	e.must(e.call("GET", "/api/v1/tokens", tok, nil), 200, &list)
	if len(list.Tokens) != 4 { // two logins, "ci" and "laptop"
		t.Fatalf("%d tokens, want 4", len(list.Tokens))
	}

	for _, tt := range []struct{ body, why string }{
		{`{"email":"a@example.com"}`, "no password"},
		{`{"email":"a@example.com","password":"x","extra":1}`, "unknown field"},
		{`{"email":`, "truncated"},
		{``, "empty"},
		{`{"email":1,"password":"x"}`, "wrong type"},
	} {
		e.wantErr(e.call("POST", "/api/v1/auth/login", "", tt.body), 400, apogee.EINVALID)
	}
	e.wantErr(e.call("POST", "/api/v1/tokens", tok, apogee.CreateTokenRequest{Name: "x", ExpiresIn: "soon"}), 400, apogee.EINVALID)
	e.wantErr(e.call("POST", "/api/v1/tokens", tok, apogee.CreateTokenRequest{Name: ""}), 400, apogee.EINVALID)
}

func TestOwnership(t *testing.T) {
	e := newEnv(t)
	alice := e.user("alice@example.com")
	bob := e.user("bob@example.com")
	e.must(e.call("POST", "/api/v1/projects", alice, apogee.CreateProjectRequest{Name: "site"}), 201, nil)
	d := e.deploy(alice, "site", "production", file{"index.html", "alice"})
	var pending apogee.DeploymentView
	e.must(e.call("POST", "/api/v1/projects/site/deployments", alice, apogee.CreateDeploymentRequest{Files: manifest(file{"x", "pending"})}), 201, &pending)

	for _, r := range []struct{ method, path string }{
		{"GET", "/api/v1/projects/site"},
		{"DELETE", "/api/v1/projects/site"},
		{"GET", "/api/v1/projects/site/deployments"},
		{"POST", "/api/v1/projects/site/rollback"},
		{"GET", "/api/v1/deployments/" + d.ID},
		{"POST", "/api/v1/deployments/" + pending.ID + "/finalize"},
	} {
		e.wantErr(e.call(r.method, r.path, bob, nil), 404, apogee.ENOTFOUND)
		e.wantErr(e.call(r.method, r.path, "", nil), 401, apogee.EUNAUTHORIZED)
	}
	e.wantErr(e.call("POST", "/api/v1/projects/site/deployments", bob, apogee.CreateDeploymentRequest{Files: manifest(file{"x", "y"})}), 404, apogee.ENOTFOUND)
	e.wantErr(e.call("POST", "/api/v1/projects/site/promote", bob, apogee.PromoteRequest{DeploymentID: d.ID}), 404, apogee.ENOTFOUND)
	e.wantErr(e.call("PUT", "/api/v1/deployments/"+pending.ID+"/files/"+pending.Missing[0], bob, "pending"), 404, apogee.ENOTFOUND)

	// Bob cannot promote Alice's deployment into his own project either.
	e.must(e.call("POST", "/api/v1/projects", bob, apogee.CreateProjectRequest{Name: "bobs"}), 201, nil)
	e.wantErr(e.call("POST", "/api/v1/projects/bobs/promote", bob, apogee.PromoteRequest{DeploymentID: d.ID}), 404, apogee.ENOTFOUND)

	var list struct{ Projects []apogee.ProjectView }
	e.must(e.call("GET", "/api/v1/projects", bob, nil), 200, &list)
	if len(list.Projects) != 1 || list.Projects[0].Name != "bobs" {
		t.Fatalf("bob sees %+v", list.Projects)
	}
	if e.production("site") != d.ID {
		t.Fatal("alias moved")
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	e := newEnv(t)
	tok := e.user("a@example.com")

	for _, name := range []string{"", "Hello", "-x", "x-", "a--b", "a_b", "a.b", strings.Repeat("a", 64), "ünï"} {
		e.wantErr(e.call("POST", "/api/v1/projects", tok, apogee.CreateProjectRequest{Name: name}), 400, apogee.EINVALID)
	}
	e.must(e.call("POST", "/api/v1/projects", tok, apogee.CreateProjectRequest{Name: strings.Repeat("a", 63)}), 201, nil)
	e.must(e.call("POST", "/api/v1/projects", tok, apogee.CreateProjectRequest{Name: "web"}), 201, nil)
	e.wantErr(e.call("POST", "/api/v1/projects", tok, apogee.CreateProjectRequest{Name: "web"}), 409, apogee.ECONFLICT)
	live := e.deploy(tok, "web", "production", file{"index.html", "live"})

	good := manifest(file{"index.html", "x"})[0]
	for _, tt := range []struct {
		name   string
		files  []apogee.File
		target string
		status int
		code   string
	}{
		{"empty", nil, "", 400, apogee.EINVALID},
		{"absolute", []apogee.File{{Path: "/etc/passwd", SHA256: good.SHA256, Size: 1}}, "", 400, apogee.EINVALID},
		{"dotdot", []apogee.File{{Path: "a/../../b", SHA256: good.SHA256, Size: 1}}, "", 400, apogee.EINVALID},
		{"dotdot only", []apogee.File{{Path: "..", SHA256: good.SHA256, Size: 1}}, "", 400, apogee.EINVALID},
		{"nul", []apogee.File{{Path: "a\x00b", SHA256: good.SHA256, Size: 1}}, "", 400, apogee.EINVALID},
		{"backslash", []apogee.File{{Path: `a\b`, SHA256: good.SHA256, Size: 1}}, "", 400, apogee.EINVALID},
		{"double slash", []apogee.File{{Path: "a//b", SHA256: good.SHA256, Size: 1}}, "", 400, apogee.EINVALID},
		{"bad hash", []apogee.File{{Path: "a", SHA256: "abc", Size: 1}}, "", 400, apogee.EINVALID},
		{"upper hash", []apogee.File{{Path: "a", SHA256: strings.ToUpper(good.SHA256), Size: 1}}, "", 400, apogee.EINVALID},
		{"duplicate path", []apogee.File{good, good}, "", 400, apogee.EINVALID},
		{"negative size", []apogee.File{{Path: "a", SHA256: good.SHA256, Size: -1}}, "", 400, apogee.EINVALID},
		{"too large", []apogee.File{{Path: "a", SHA256: good.SHA256, Size: maxFile + 1}}, "", 413, apogee.ETOOLARGE},
		{"bad target", []apogee.File{good}, "staging", 400, apogee.EINVALID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.wantErr(e.call("POST", "/api/v1/projects/web/deployments", tok, apogee.CreateDeploymentRequest{Files: tt.files, Target: tt.target}), tt.status, tt.code)
		})
	}
	e.wantErr(e.call("POST", "/api/v1/projects/nope/deployments", tok, apogee.CreateDeploymentRequest{Files: []apogee.File{good}}), 404, apogee.ENOTFOUND)
	ds, _ := e.store.ListDeployments(context.Background(), live.ProjectID, 0)
	if len(ds) != 1 {
		t.Fatalf("bad manifests left %d deployments, want only the live one", len(ds))
	}

	// Upload faults: wrong bytes, not in manifest, over the limit.
	big := strings.Repeat("z", maxFile+1)
	var d apogee.DeploymentView
	e.must(e.call("POST", "/api/v1/projects/web/deployments", tok, apogee.CreateDeploymentRequest{
		Files: manifest(file{"index.html", "new"}, file{"other.txt", "other"}), Target: "production"}), 201, &d)
	sort.Strings(d.Missing)
	newHash := manifest(file{"", "new"})[0].SHA256
	e.wantErr(e.call("PUT", "/api/v1/deployments/"+d.ID+"/files/"+newHash, tok, "NOT new"), 400, apogee.EINVALID)
	if m, _ := e.blobs.Missing(context.Background(), []string{newHash}); len(m) != 1 {
		t.Fatal("bytes that do not match their hash were stored")
	}
	e.wantErr(e.call("PUT", "/api/v1/deployments/"+d.ID+"/files/"+newHash, tok, big), 413, apogee.ETOOLARGE)
	e.wantErr(e.call("PUT", "/api/v1/deployments/"+d.ID+"/files/"+manifest(file{"", "stranger"})[0].SHA256, tok, "stranger"), 400, apogee.EINVALID)
	e.wantErr(e.call("PUT", "/api/v1/deployments/"+d.ID+"/files/xyz", tok, "x"), 400, apogee.EINVALID)
	e.wantErr(e.call("PUT", "/api/v1/deployments/nosuch/files/"+newHash, tok, "new"), 404, apogee.ENOTFOUND)

	// Finalizing with missing files names them and changes nothing.
	e.must(e.call("PUT", "/api/v1/deployments/"+d.ID+"/files/"+newHash, tok, "new"), 204, nil)
	b := e.wantErr(e.call("POST", "/api/v1/deployments/"+d.ID+"/finalize", tok, nil), 409, apogee.EMISSING)
	data, _ := json.Marshal(b.Error.Data)
	if !strings.Contains(string(data), manifest(file{"", "other"})[0].SHA256) {
		t.Fatalf("missing_files data %s does not name the missing hash", data)
	}
	got, _ := e.store.DeploymentByID(context.Background(), d.ID)
	if got.Status != apogee.StatusUploading || e.production("web") != live.ID {
		t.Fatalf("failed finalize changed state: status %s, production %s", got.Status, e.production("web"))
	}

	e.wantErr(e.call("GET", "/api/v1/deployments/nosuch", tok, nil), 404, apogee.ENOTFOUND)
	e.wantErr(e.call("POST", "/api/v1/projects/web/promote", tok, apogee.PromoteRequest{DeploymentID: d.ID}), 409, apogee.ECONFLICT)
	e.wantErr(e.call("POST", "/api/v1/projects/web/promote", tok, apogee.PromoteRequest{}), 400, apogee.EINVALID)
	e.wantErr(e.call("POST", "/api/v1/projects/web/promote", tok, apogee.PromoteRequest{DeploymentID: "nosuch"}), 404, apogee.ENOTFOUND)
	e.wantErr(e.call("GET", "/api/v1/projects/web/deployments?limit=0", tok, nil), 400, apogee.EINVALID)
	e.wantErr(e.call("GET", "/api/v1/nothing-here", tok, nil), 404, apogee.ENOTFOUND)
	if e.production("web") != live.ID {
		t.Fatal("bad input moved the alias")
	}
}

func TestDeleteProject(t *testing.T) {
	e := newEnv(t)
	tok := e.user("a@example.com")
	e.must(e.call("POST", "/api/v1/projects", tok, apogee.CreateProjectRequest{Name: "gone"}), 201, nil)
	d := e.deploy(tok, "gone", "production", file{"index.html", "x"})
	evs, _ := e.bus.Subscribe(t.Context())
	e.must(e.call("DELETE", "/api/v1/projects/gone", tok, nil), 204, nil)
	if ev := <-evs; ev.Type != apogee.EventProjectDeleted || ev.Project != "gone" {
		t.Fatalf("event %+v", ev)
	}
	e.wantErr(e.call("GET", "/api/v1/deployments/"+d.ID, tok, nil), 404, apogee.ENOTFOUND)
	e.wantErr(e.call("GET", "/api/v1/projects/gone", tok, nil), 404, apogee.ENOTFOUND)
}

// TestOpenAPICoversRoutes keeps the OpenAPI document in step with the
// routes: every documented operation answers something other than the
// catch-all "no API route".
func TestOpenAPICoversRoutes(t *testing.T) {
	e := newEnv(t)
	tok := e.user("a@example.com")
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	e.must(e.call("GET", "/api/v1/openapi.json", "", nil), 200, &doc)
	if len(doc.Paths) < 12 {
		t.Fatalf("only %d paths documented", len(doc.Paths))
	}
	// And every route is documented.
	for _, pattern := range api.Patterns(e.api) {
		method, path, ok := strings.Cut(pattern, " ")
		if !ok || path == "/api/" {
			continue
		}
		if _, ok := doc.Paths[path][strings.ToLower(method)]; !ok {
			t.Errorf("%s is routed but not in openapi.json", pattern)
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			p := strings.NewReplacer("{name}", "x", "{id}", "x", "{sha256}", strings.Repeat("a", 64)).Replace(path)
			r := e.call(strings.ToUpper(method), p, tok, nil)
			if strings.Contains(string(r.body), "no API route") {
				t.Errorf("%s %s is documented but not routed", method, path)
			}
		}
	}
}

// TestDeployRuleWarnings: a rule Netlify cannot process is skipped, not
// a refused deployment; finalize and GET name it with file and line.
func TestDeployRuleWarnings(t *testing.T) {
	e := newEnv(t)
	tok := e.user("a@example.com")
	e.must(e.call("POST", "/api/v1/projects", tok, apogee.CreateProjectRequest{Name: "site"}), 201, nil)
	d := e.deploy(tok, "site", "production", file{"index.html", "x"}, file{"_redirects", "/old /new 301\n/a /b 999\n"})
	if d.Status != apogee.StatusReady || len(d.Warnings) != 1 || d.Warnings[0].File != "_redirects" || d.Warnings[0].Line != 2 {
		t.Fatalf("finalize = %s with warnings %+v", d.Status, d.Warnings)
	}
	var got apogee.DeploymentView
	e.must(e.call("GET", "/api/v1/deployments/"+d.ID, tok, nil), 200, &got)
	if len(got.Warnings) != 1 || got.Warnings[0] != d.Warnings[0] {
		t.Fatalf("GET warnings %+v; want %+v", got.Warnings, d.Warnings)
	}
}
