package dashboard

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/api"
	"github.com/apogee-dev/apogee/internal/auth"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/logs"
	"github.com/apogee-dev/apogee/internal/platform"
	"github.com/apogee-dev/apogee/internal/secretbox"
	"github.com/apogee-dev/apogee/internal/sqlstore"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// env is a dashboard on a real SQLite store and the real API, served by
// httptest, with three users: alice and bob (ordinary) and an admin.
type env struct {
	t      testing.TB
	store  apogee.Store
	hub    *logs.Hub
	box    apogee.Sealer
	api    *api.API        // the REST API on the same services
	svc    apogee.Services // what the dashboard calls
	srv    *httptest.Server
	alice  *apogee.User
	bob    *apogee.User
	admin  *apogee.User
	signup string
}

const password = "correct horse"

func newEnv(t *testing.T, signup string) *env {
	t.Helper()
	return newEnvAt(t, signup, nil)
}

// newEnvAt is newEnv whose platform and dashboard read the time from now
// (nil: the clock).
func newEnvAt(t *testing.T, signup string, now func() time.Time) *env {
	t.Helper()
	return newEnvWith(t, signup, now, nil)
}

// newEnvWith is newEnvAt with changes to the dashboard's configuration.
func newEnvWith(t *testing.T, signup string, now func() time.Time, configure func(*Config)) *env {
	t.Helper()
	return newEnvOn(t, signup, now, nil, configure)
}

// newEnvOn is newEnvWith with changes to the platform's configuration
// too (plat may be nil). A store plat sets (a *sqlstore.Store on
// PostgreSQL, say) is the dashboard's too.
func newEnvOn(t testing.TB, signup string, now func() time.Time, plat func(*platform.Config), configure func(*Config)) *env {
	t.Helper()
	var store interface {
		apogee.Store
		Store
	}
	store, blobs, _ := testbed.Backends(t)
	log := testbed.Quiet
	bus := events.NewLocal(log)
	t.Cleanup(func() { bus.Close() })
	hub := logs.NewHub(0)
	box := secretbox.NewRandom()
	pcfg := platform.Config{Store: store, Blobs: blobs, Bus: bus, Logs: hub, Log: log, Box: box,
		GitSchemes: []string{"https", "file"}, Now: now}
	if plat != nil {
		plat(&pcfg)
		if st, ok := pcfg.Store.(*sqlstore.Store); ok {
			store = st
		}
	}
	svc, a := services(t, pcfg)
	cfg := Config{Store: store, Services: svc, Logs: hub, Signup: signup, Log: log, Now: now}
	if configure != nil {
		configure(&cfg)
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: store, hub: hub, box: box, api: a, svc: svc, signup: signup, srv: httptest.NewServer(d)}
	t.Cleanup(e.srv.Close)
	if signup != SignupOpen {
		e.alice = e.user("alice@example.com", false)
		e.bob = e.user("bob@example.com", false)
		e.admin = e.user("admin@example.com", true)
	}
	return e
}

// services are the platform's services of cfg, and the REST API on them.
func services(t testing.TB, cfg platform.Config) (apogee.Services, *api.API) {
	t.Helper()
	pl, err := platform.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	svc := pl.Services()
	return svc, api.New(api.Config{Services: svc, Logs: cfg.Store, Hub: cfg.Logs, Log: cfg.Log})
}

// as is ctx acting as u.
func as(u *apogee.User) context.Context { return apogee.NewContextWithUser(context.Background(), u) }

func (e *env) user(email string, admin bool) *apogee.User {
	e.t.Helper()
	hash, err := auth.HashPassword(password)
	if err != nil {
		e.t.Fatal(err)
	}
	u := &apogee.User{ID: apogee.NewID(), Email: email, Password: hash, Admin: admin, CreatedAt: time.Now()}
	if err := e.store.CreateUser(context.Background(), u); err != nil {
		e.t.Fatal(err)
	}
	return u
}

// browser is a client with its own cookie jar that does not follow
// redirects, so tests see them.
type browser struct {
	e    *env
	c    *http.Client
	csrf string // of the last page that had a form
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

type response struct {
	code     int
	body     string
	location string
	header   http.Header
}

func (b *browser) do(req *http.Request) response {
	b.e.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	// A template that fails while it runs leaves a page cut short after
	// the 200 went out: every whole page ends with its </html>.
	if res.StatusCode == http.StatusOK && strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") &&
		!strings.Contains(string(body), "</html>") {
		b.e.t.Fatalf("GET/POST %s: the page ends early (a template error?):\n%s", req.URL.Path, body[max(0, len(body)-300):])
	}
	if m := csrfRE.FindSubmatch(body); m != nil {
		b.csrf = string(m[1])
	}
	return response{code: res.StatusCode, body: string(body), location: res.Header.Get("Location"), header: res.Header}
}

func (b *browser) get(path string) response {
	b.e.t.Helper()
	req, _ := http.NewRequest("GET", b.e.srv.URL+path, nil)
	return b.do(req)
}

// post sends a form with the browser's CSRF token unless the form sets
// "csrf" itself (to "" to leave it out).
func (b *browser) post(path string, form url.Values) response {
	b.e.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf)
	} else if form.Get("csrf") == "" {
		form.Del("csrf")
	}
	req, _ := http.NewRequest("POST", b.e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// login signs in by the form and fails the test unless it worked.
func (b *browser) login(email string) {
	b.e.t.Helper()
	b.get("/login")
	res := b.post("/login", url.Values{"email": {email}, "password": {password}, "next": {"/"}})
	if res.code != http.StatusSeeOther || res.location != "/" {
		b.e.t.Fatalf("login %s = %d %q %.200s", email, res.code, res.location, res.body)
	}
	b.get("/") // a page with the session's CSRF token
}

func (e *env) signedIn(u *apogee.User) *browser {
	b := e.browser()
	b.login(u.Email)
	return b
}

func want(t testing.TB, what string, res response, code int, contains ...string) {
	t.Helper()
	if res.code != code {
		t.Fatalf("%s: status %d, want %d; body %.300s", what, res.code, code, res.body)
	}
	for _, c := range contains {
		if !strings.Contains(res.body, c) {
			t.Fatalf("%s: body does not contain %q: %.2000s", what, c, res.body)
		}
	}
}

// project makes a project of owner with a ready production deployment
// and a ready older one, and returns the project and both deployments
// (older first).
func (e *env) project(owner *apogee.User, name string) (*apogee.Project, *apogee.Deployment, *apogee.Deployment) {
	e.t.Helper()
	ctx := context.Background()
	p := &apogee.Project{ID: apogee.NewID(), Name: name, OwnerID: owner.ID, CreatedAt: time.Now().UTC()}
	if err := e.store.CreateProject(ctx, p); err != nil {
		e.t.Fatal(err)
	}
	var ds []*apogee.Deployment
	for i := range 2 {
		d := e.deploy(p, time.Now().UTC().Add(time.Duration(i-2)*time.Minute))
		ds = append(ds, d)
	}
	return p, ds[0], ds[1]
}

// deploy makes a ready production deployment of p (one with no files).
func (e *env) deploy(p *apogee.Project, at time.Time) *apogee.Deployment {
	e.t.Helper()
	ctx := context.Background()
	id := apogee.NewID()
	d := &apogee.Deployment{ID: id, ProjectID: p.ID, Status: apogee.StatusUploading, Target: apogee.TargetProduction,
		Host: apogee.DeploymentHost(p.Name, id), CreatedAt: at, Source: apogee.SourceUpload}
	if err := e.store.CreateDeployment(ctx, d, nil); err != nil {
		e.t.Fatal(err)
	}
	d, err := e.store.FinalizeDeployment(ctx, id, at.Add(time.Second), true)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// building queues a build of p and claims it, as a worker would.
func (e *env) building(p *apogee.Project) *apogee.Deployment {
	e.t.Helper()
	ctx := context.Background()
	id := apogee.NewID()
	d := &apogee.Deployment{ID: id, ProjectID: p.ID, Target: apogee.TargetProduction, Host: apogee.DeploymentHost(p.Name, id),
		CreatedAt: time.Now().UTC(), Source: apogee.SourceGit, Branch: "main"}
	if err := e.store.QueueBuild(ctx, d); err != nil {
		e.t.Fatal(err)
	}
	d, err := e.store.ClaimBuild(ctx, "test/1/1", time.Now().UTC())
	if err != nil || d.ID != id {
		e.t.Fatalf("claim: %v %v", d, err)
	}
	return d
}

func (e *env) production(name string) string {
	e.t.Helper()
	p, err := e.store.ProjectByName(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	return p.ProductionID
}

func TestLandingAndLogin(t *testing.T) {
	e := newEnv(t, SignupClosed)
	b := e.browser()
	want(t, "landing", b.get("/"), 200, "Your own deployment platform", "apogee deploy ./dist", `href="/login"`)
	want(t, "login page", b.get("/login"), 200, `<label for="email">`, `<label for="password">`, `id="email"`, `id="password"`)
	want(t, "unknown page", b.get("/nope"), 404, "Not found")

	res := b.post("/login", url.Values{"email": {"alice@example.com"}, "password": {"wrong password"}})
	want(t, "wrong password", res, 401, "wrong email or password")
	res = b.post("/login", url.Values{"email": {"nobody@example.com"}, "password": {password}})
	want(t, "unknown email", res, 401, "wrong email or password")
	if strings.Contains(res.body, "nobody@example.com</") || strings.Contains(res.body, "no such user") {
		t.Fatal("the answer hints that the email is unknown")
	}

	res = b.post("/login", url.Values{"email": {"Alice@Example.com"}, "password": {password}, "next": {"/account"}})
	if res.code != 303 || res.location != "/account" {
		t.Fatalf("login = %d %q", res.code, res.location)
	}
	var session *http.Cookie
	for _, c := range b.c.Jar.Cookies(mustURL(e.srv.URL)) {
		if c.Name == sessionCookie {
			session = c
		}
	}
	if session == nil || len(session.Value) != 43 {
		t.Fatalf("no session cookie after login: %v", b.c.Jar.Cookies(mustURL(e.srv.URL)))
	}
	setCookie := res.header.Values("Set-Cookie")
	var raw string
	for _, c := range setCookie {
		if strings.HasPrefix(c, sessionCookie+"=") {
			raw = c
		}
	}
	for _, attr := range []string{"HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(raw, attr) {
			t.Errorf("session cookie %q lacks %s", raw, attr)
		}
	}
	if strings.Contains(raw, "Secure") {
		t.Errorf("session cookie %q is Secure on plain HTTP", raw)
	}
	// Only the hash is stored.
	if _, err := e.store.SessionByHash(context.Background(), []byte(session.Value)); err == nil {
		t.Fatal("the session id itself is a key in the store")
	}
	if _, err := e.store.SessionByHash(context.Background(), hashID(session.Value)); err != nil {
		t.Fatalf("session not stored by hash: %v", err)
	}
	want(t, "projects", b.get("/"), 200, "Projects", "No projects yet", "alice@example.com", "Sign out")
	// A signed-in visitor of /login goes on.
	if res := b.get("/login?next=/account"); res.code != 303 || res.location != "/account" {
		t.Fatalf("login page when signed in = %d %q", res.code, res.location)
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestNextStaysOnSite(t *testing.T) {
	e := newEnv(t, SignupClosed)
	for _, next := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "", "x"} {
		b := e.browser()
		b.get("/login")
		res := b.post("/login", url.Values{"email": {"alice@example.com"}, "password": {password}, "next": {next}})
		if res.code != 303 || res.location != "/" {
			t.Errorf("next %q: redirect to %q, want /", next, res.location)
		}
	}
	if got := safeNext("/projects/web?x=1"); got != "/projects/web?x=1" {
		t.Errorf("safeNext kept %q", got)
	}
}

func TestNoSessionRedirectsToLogin(t *testing.T) {
	e := newEnv(t, SignupClosed)
	p, d, _ := e.project(e.alice, "web")
	b := e.browser()
	for _, path := range []string{"/projects/new", "/projects/" + p.Name, "/deployments/" + d.ID, "/deployments/" + d.ID + "/log", "/account"} {
		res := b.get(path)
		if res.code != 303 || res.location != "/login?next="+url.QueryEscape(path) {
			t.Errorf("GET %s signed out = %d %q", path, res.code, res.location)
		}
	}
	for _, path := range []string{"/logout", "/projects/new", "/projects/web/rollback", "/projects/web/promote", "/projects/web/deploy",
		"/projects/web/env", "/projects/web/env/delete", "/deployments/" + d.ID + "/cancel", "/account/tokens", "/account/password"} {
		want(t, "POST "+path+" signed out", b.post(path, url.Values{"csrf": {"x"}}), 403)
	}
	// A next that is a path and query survives the trip.
	b.get("/login?next=" + url.QueryEscape("/projects/web"))
	res := b.post("/login", url.Values{"email": {"alice@example.com"}, "password": {password}, "next": {"/projects/web"}})
	if res.location != "/projects/web" {
		t.Fatalf("after login: %q", res.location)
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t, SignupClosed)
	e.project(e.alice, "web")
	b := e.signedIn(e.alice)
	before := e.production("web")
	want(t, "no token", b.post("/projects/web/rollback", url.Values{"csrf": {""}}), 403, "reload the page")
	want(t, "bad token", b.post("/projects/web/rollback", url.Values{"csrf": {"AAAA" + b.csrf[4:]}}), 403)
	// Another session's token is no good either.
	other := e.signedIn(e.alice)
	want(t, "another session's token", b.post("/projects/web/rollback", url.Values{"csrf": {other.csrf}}), 403)
	if e.production("web") != before {
		t.Fatal("a POST without the CSRF token moved production")
	}
	// Cross-site POSTs stop at CrossOriginProtection, token or not.
	form := url.Values{"csrf": {b.csrf}}
	req, _ := http.NewRequest("POST", e.srv.URL+"/projects/web/rollback", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	want(t, "cross-site", b.do(req), 403)
	if e.production("web") != before {
		t.Fatal("a cross-site POST moved production")
	}
	// Sign-in form: double-submit token.
	fresh := e.browser()
	want(t, "login without its cookie", fresh.post("/login", url.Values{"email": {"alice@example.com"}, "password": {password}, "csrf": {"x"}}), 403)
	fresh.get("/login")
	want(t, "login without the field", fresh.post("/login", url.Values{"email": {"alice@example.com"}, "password": {password}, "csrf": {""}}), 403)
	// With the token it works.
	want(t, "rollback with token", b.post("/projects/web/rollback", nil), 303)
	if e.production("web") == before {
		t.Fatal("rollback with the token did not move production")
	}
}

func TestLoginRateLimit(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	e := newEnvAt(t, SignupClosed, func() time.Time { return time.Unix(0, now.Load()) })
	b := e.browser()
	b.get("/login")
	for i := range auth.DefaultPerPair {
		want(t, "failure", b.post("/login", url.Values{"email": {"alice@example.com"}, "password": {"nope" + string(rune('a'+i))}}), 401)
	}
	res := b.post("/login", url.Values{"email": {"alice@example.com"}, "password": {password}})
	want(t, "11th try, right password", res, 429, "too many failed sign-ins")
	if res.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// Another email from the same address is not held back.
	want(t, "bob", b.post("/login", url.Values{"email": {"bob@example.com"}, "password": {password}}), 303)
	// Once the window has passed alice may try again.
	now.Add(int64(auth.DefaultGuardWindow + time.Second))
	b2 := e.browser()
	b2.get("/login")
	want(t, "after the window", b2.post("/login", url.Values{"email": {"alice@example.com"}, "password": {password}}), 303)
}

func TestLogoutEndsSession(t *testing.T) {
	e := newEnv(t, SignupClosed)
	b := e.signedIn(e.alice)
	old := b.c.Jar.Cookies(mustURL(e.srv.URL))
	res := b.post("/logout", nil)
	if res.code != 303 || res.location != "/login" {
		t.Fatalf("logout = %d %q", res.code, res.location)
	}
	want(t, "after logout", b.get("/account"), 303)
	// Replaying the old cookie does not work: the session is gone.
	replay := e.browser()
	replay.c.Jar.SetCookies(mustURL(e.srv.URL), old)
	if res := replay.get("/account"); res.code != 303 {
		t.Fatalf("old session cookie still works: %d", res.code)
	}
}

func TestExpiredSession(t *testing.T) {
	e := newEnv(t, SignupClosed)
	b := e.signedIn(e.alice)
	e.srv.Config.Handler.(*Dashboard).now = func() time.Time { return time.Now().Add(DefaultSessionTTL + time.Minute) }
	if res := b.get("/account"); res.code != 303 {
		t.Fatalf("a 14-day-old session still works: %d", res.code)
	}
}

func TestOwnership(t *testing.T) {
	e := newEnv(t, SignupClosed)
	p, older, prod := e.project(e.alice, "web")
	alice, bob, admin := e.signedIn(e.alice), e.signedIn(e.bob), e.signedIn(e.admin)
	pages := []string{"/projects/" + p.Name, "/deployments/" + prod.ID}
	for _, path := range pages {
		want(t, "owner "+path, alice.get(path), 200, "web")
		want(t, "admin "+path, admin.get(path), 200, "web")
		want(t, "other user "+path, bob.get(path), 404, "Not found")
	}
	want(t, "other user's log", bob.get("/deployments/"+prod.ID+"/log"), 404)
	want(t, "missing project", alice.get("/projects/nope"), 404)
	want(t, "missing deployment", alice.get("/deployments/nope"), 404)
	// Bob's list does not show alice's project; alice's does.
	if res := bob.get("/"); strings.Contains(res.body, "/projects/web") {
		t.Fatal("bob's project list shows alice's project")
	}
	want(t, "alice's list", alice.get("/"), 200, `href="/projects/web"`, "Ready")
	// Bob cannot act on it: every action is the project's 404, and nothing moves.
	for _, path := range []string{"/projects/web/rollback", "/projects/web/deploy", "/projects/web/env", "/projects/web/env/delete"} {
		want(t, "bob POST "+path, bob.post(path, url.Values{"key": {"A"}, "value": {"b"}}), 404)
	}
	want(t, "bob promote", bob.post("/projects/web/promote", url.Values{"deployment_id": {older.ID}}), 404)
	want(t, "bob cancel", bob.post("/deployments/"+prod.ID+"/cancel", nil), 404)
	if e.production("web") != prod.ID {
		t.Fatal("another user moved production")
	}
	// The admin may act.
	want(t, "admin rollback", admin.post("/projects/web/rollback", nil), 303)
	if e.production("web") != older.ID {
		t.Fatal("the admin's rollback did not move production")
	}
}

func TestProjectPages(t *testing.T) {
	e := newEnv(t, SignupClosed)
	b := e.signedIn(e.alice)
	want(t, "new project form", b.get("/projects/new"), 200, `<label for="name">`, `<label for="git_url">`, `<label for="branch">`)

	// An empty project for CLI deploys.
	res := b.post("/projects/new", url.Values{"name": {"site"}, "kind": {"empty"}})
	if res.code != 303 || res.location != "/projects/site" {
		t.Fatalf("create = %d %q %.300s", res.code, res.location, res.body)
	}
	want(t, "empty project", b.get("/projects/site"), 200, "Project site created.", "No deployments yet", "apogee deploy ./dist --project site --prod")
	want(t, "empty project's git", b.get("/projects/site/settings/git"), 200, "git push http://localhost/git/site.git main", "Show webhook secret")
	// A taken or bad name comes back to the form with the reason.
	want(t, "taken", b.post("/projects/new", url.Values{"name": {"site"}, "kind": {"empty"}}), 409, "is taken", `value="site"`)
	want(t, "bad name", b.post("/projects/new", url.Values{"name": {"Bad Name"}, "kind": {"empty"}}), 400)
	want(t, "git without URL", b.post("/projects/new", url.Values{"name": {"gitty"}, "kind": {"git"}}), 400, "repository")

	// A Git project: deploy now queues a build of its branch.
	res = b.post("/projects/new", url.Values{"name": {"app"}, "kind": {"git"}, "git_url": {"https://git.example/acme/app.git"}, "branch": {"release"}})
	if res.code != 303 {
		t.Fatalf("create git project = %d %.300s", res.code, res.body)
	}
	want(t, "git project", b.get("/projects/app"), 200, "Deploy release now", "https://git.example/acme/app.git")
	page := b.get("/projects/app/settings/git")
	want(t, "git settings", page, 200, "https://git.example/acme/app.git", "GitHub webhook")
	p, _ := e.store.ProjectByName(context.Background(), "app")
	secret, err := p.OpenWebhookSecret(e.apiBox())
	if err != nil || secret == "" || !strings.Contains(page.body, secret) {
		t.Fatalf("webhook secret not shown to the owner (%v)", err)
	}
	res = b.post("/projects/app/deploy", nil)
	if res.code != 303 || !strings.HasPrefix(res.location, "/deployments/") {
		t.Fatalf("deploy now = %d %q %.300s", res.code, res.location, res.body)
	}
	id := strings.TrimPrefix(res.location, "/deployments/")
	d, err := e.store.DeploymentByID(context.Background(), id)
	if err != nil || d.Status != apogee.StatusQueued || d.Branch != "release" || d.Target != apogee.TargetProduction || d.CreatedBy != e.alice.ID {
		t.Fatalf("queued build = %+v, %v", d, err)
	}
	want(t, "queued build page", b.get(res.location), 200, "Queued", `data-log-src="/deployments/`+id+`/log?after=0"`, "Cancel build")
	want(t, "project shows the build", b.get("/projects/app"), 200, `data-deployment="`+id+`"`, "Queued")
	want(t, "cancel", b.post("/deployments/"+id+"/cancel", nil), 303)
	want(t, "canceled", b.get("/deployments/"+id), 200, "Canceled", "canceled by alice@example.com")
	// Deploy now on a project without Git says what to do instead.
	b.post("/projects/site/deploy", nil)
	want(t, "deploy without git", b.get("/projects/site"), 200, "has no Git repository")
}

func (e *env) apiBox() apogee.Sealer { return e.box }

func TestPromoteRollback(t *testing.T) {
	e := newEnv(t, SignupClosed)
	_, older, prod := e.project(e.alice, "web")
	b := e.signedIn(e.alice)
	page := b.get("/projects/web")
	want(t, "project page", page, 200, "Production", "Roll back", "Promote", older.ID, prod.ID)
	want(t, "rollback", b.post("/projects/web/rollback", nil), 303)
	if e.production("web") != older.ID {
		t.Fatal("rollback did not move production")
	}
	want(t, "after rollback", b.get("/projects/web"), 200, "Rolled back: production is deployment "+older.ID)
	want(t, "promote", b.post("/projects/web/promote", url.Values{"deployment_id": {prod.ID}}), 303)
	if e.production("web") != prod.ID {
		t.Fatal("promote did not move production")
	}
	// Nothing older to roll back to: the API's reason, on the page.
	b.post("/projects/web/rollback", nil)
	b.post("/projects/web/rollback", nil)
	want(t, "rollback past the start", b.get("/projects/web"), 200, `class="flash error"`)
	want(t, "promote unknown", b.post("/projects/web/promote", url.Values{"deployment_id": {"nope"}}), 303)
	want(t, "promote unknown message", b.get("/projects/web"), 200, "is not one of project")
}

func TestEnvVars(t *testing.T) {
	e := newEnv(t, SignupClosed)
	e.project(e.alice, "web")
	b := e.signedIn(e.alice)
	want(t, "set", b.post("/projects/web/env", url.Values{"key": {"API_URL"}, "value": {"https://api.example"}}), 303)
	want(t, "set secret", b.post("/projects/web/env", url.Values{"key": {"TOKEN"}, "value": {"s3cr3t-value"}, "secret": {"1"}}), 303)
	page := b.get("/projects/web/settings/environment")
	want(t, "env list", page, 200, "API_URL", "https://api.example", "TOKEN", "•••••• secret", `<label for="env-key">`)
	if strings.Contains(page.body, "s3cr3t-value") {
		t.Fatal("a secret value is shown")
	}
	want(t, "bad key", b.post("/projects/web/env", url.Values{"key": {"APOGEE_X"}, "value": {"1"}}), 303)
	want(t, "bad key message", b.get("/projects/web/settings/environment"), 200, `class="flash error"`)
	want(t, "remove", b.post("/projects/web/env/delete", url.Values{"key": {"TOKEN"}}), 303)
	page = b.get("/projects/web/settings/environment")
	want(t, "removed", page, 200, "TOKEN removed.")
	if strings.Contains(page.body, `<td class="mono">TOKEN</td>`) {
		t.Fatal("removed variable still listed")
	}
}

func TestDeploymentLogLive(t *testing.T) {
	e := newEnv(t, SignupClosed)
	p, _, _ := e.project(e.alice, "web")
	d := e.building(p)
	w := logs.NewWriter(d.ID, e.store, e.hub, logs.Options{})
	w.Systemf("cloning main")
	if err := w.Close(context.Background()); err != nil { // stored
		t.Fatal(err)
	}
	b := e.signedIn(e.alice)
	want(t, "building page", b.get("/deployments/"+d.ID), 200, "Building", "cloning main", `class="line system"`,
		`data-log-src="/deployments/`+d.ID+`/log?after=1"`)

	req, _ := http.NewRequest("GET", e.srv.URL+"/deployments/"+d.ID+"/log?after=1", nil)
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	w2 := logs.NewWriter(d.ID, e.store, e.hub, logs.Options{After: 1})
	io.WriteString(w2.Stream(apogee.StreamStderr), "npm warn deprecated\n")
	sc := bufio.NewScanner(res.Body)
	var got []string
	for sc.Scan() {
		got = append(got, sc.Text())
		if strings.HasPrefix(sc.Text(), "data: ") && strings.Contains(sc.Text(), "npm warn deprecated") {
			break
		}
	}
	text := strings.Join(got, "\n")
	if !strings.Contains(text, "id: 2") || !strings.Contains(text, "event: line") || !strings.Contains(text, `"stream":"stderr"`) || strings.Contains(text, "cloning main") {
		t.Fatalf("stream = %q", text)
	}
	w2.Close(context.Background())
	if _, err := e.store.FinishBuild(context.Background(), d.ID, nil, time.Now().UTC(), true); err != nil {
		t.Fatal(err)
	}
	e.hub.End(d.ID)
	for sc.Scan() {
		if sc.Text() == "event: end" {
			sc.Scan()
			if sc.Text() != `data: {"status":"ready"}` {
				t.Fatalf("end = %q", sc.Text())
			}
			break
		}
	}
	// Afterwards the log is kept, and the page no longer streams.
	page := b.get("/deployments/" + d.ID)
	want(t, "ended page", page, 200, "Ready", "cloning main", `class="line stderr"`, "npm warn deprecated")
	if strings.Contains(page.body, "data-log-src") {
		t.Fatal("an ended build's page still opens a stream")
	}
}

func TestTokens(t *testing.T) {
	e := newEnv(t, SignupClosed)
	b := e.signedIn(e.alice)
	want(t, "account", b.get("/account"), 200, "No tokens yet", `<label for="token-name">`, `<label for="current">`)
	res := b.post("/account/tokens", url.Values{"name": {"ci"}, "expires": {"30d"}})
	want(t, "token made", res, 200, "Copy it now")
	m := regexp.MustCompile(`apg_[A-Za-z0-9_-]{43}`).FindString(res.body)
	if m == "" {
		t.Fatal("the new token is not shown")
	}
	page := b.get("/account")
	want(t, "account again", page, 200, "ci")
	if strings.Contains(page.body, m) {
		t.Fatal("the token is shown a second time")
	}
	// The token works against the API, until revoked.
	call := func() int {
		req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/user", nil)
		req.Header.Set("Authorization", "Bearer "+m)
		rec := httptest.NewRecorder()
		e.api.ServeHTTP(rec, req)
		return rec.Code
	}
	if c := call(); c != 200 {
		t.Fatalf("new token: API answers %d", c)
	}
	ts, _ := e.store.ListTokens(context.Background(), e.alice.ID)
	if len(ts) != 1 || ts[0].ExpiresAt == nil {
		t.Fatalf("tokens = %+v", ts)
	}
	// Bob cannot revoke it.
	bob := e.signedIn(e.bob)
	want(t, "bob revokes alice's token", bob.post("/account/tokens/"+ts[0].ID+"/revoke", nil), 404)
	if c := call(); c != 200 {
		t.Fatal("another user revoked the token")
	}
	want(t, "revoke", b.post("/account/tokens/"+ts[0].ID+"/revoke", nil), 303)
	want(t, "revoked", b.get("/account"), 200, "Token revoked", "revoked")
	if c := call(); c != 401 {
		t.Fatalf("revoked token: API answers %d", c)
	}
	want(t, "bad expiry", b.post("/account/tokens", url.Values{"name": {"x"}, "expires": {"forever"}}), 400)
}

func TestPasswordChange(t *testing.T) {
	e := newEnv(t, SignupClosed)
	b := e.signedIn(e.alice)
	other := e.signedIn(e.alice) // another browser
	want(t, "wrong current", b.post("/account/password", url.Values{"current": {"nope"}, "new": {"new password 1"}, "new2": {"new password 1"}}), 400, "current password is wrong")
	want(t, "short", b.post("/account/password", url.Values{"current": {password}, "new": {"short"}, "new2": {"short"}}), 400, "at least 8")
	want(t, "differ", b.post("/account/password", url.Values{"current": {password}, "new": {"new password 1"}, "new2": {"new password 2"}}), 400, "differ")
	want(t, "change", b.post("/account/password", url.Values{"current": {password}, "new": {"new password 1"}, "new2": {"new password 1"}}), 303)
	want(t, "changed", b.get("/account"), 200, "Password changed.", "other sessions were signed out")
	if res := other.get("/account"); res.code != 303 {
		t.Fatalf("the other session survived the password change: %d", res.code)
	}
	fresh := e.browser()
	fresh.get("/login")
	want(t, "old password", fresh.post("/login", url.Values{"email": {"alice@example.com"}, "password": {password}}), 401)
	want(t, "new password", fresh.post("/login", url.Values{"email": {"alice@example.com"}, "password": {"new password 1"}}), 303)
}

func TestSignup(t *testing.T) {
	closed := newEnv(t, SignupClosed)
	b := closed.browser()
	want(t, "closed", b.get("/signup"), 404, "sign-up on this server is by invitation")
	if strings.Contains(b.get("/login").body, `href="/signup"`) {
		t.Fatal("a closed server links to sign-up")
	}

	e := newEnv(t, SignupOpen)
	first := e.browser()
	want(t, "signup form", first.get("/signup"), 200, `<label for="email">`, `<label for="password">`, `<label for="password2">`)
	res := first.post("/signup", url.Values{"email": {"First@Example.com"}, "password": {"first password"}, "password2": {"first password"}})
	if res.code != 303 || res.location != "/" {
		t.Fatalf("signup = %d %q %.300s", res.code, res.location, res.body)
	}
	want(t, "signed in", first.get("/"), 200, "first@example.com", "admin", "No projects yet")
	second := e.browser()
	second.get("/signup")
	want(t, "short password", second.post("/signup", url.Values{"email": {"s@example.com"}, "password": {"x"}, "password2": {"x"}}), 400)
	want(t, "taken", second.post("/signup", url.Values{"email": {"first@example.com"}, "password": {"second password"}, "password2": {"second password"}}), 409)
	want(t, "second", second.post("/signup", url.Values{"email": {"s@example.com"}, "password": {"second password"}, "password2": {"second password"}}), 303)
	u1, _ := e.store.UserByEmail(context.Background(), "first@example.com")
	u2, _ := e.store.UserByEmail(context.Background(), "s@example.com")
	if !u1.Admin || u2.Admin {
		t.Fatalf("admin flags: first %v, second %v; want only the first", u1.Admin, u2.Admin)
	}
	wantSignedUp(t, e.svc, u2, "signed up")
	if _, err := New(Config{Store: e.store, Services: e.svc, Signup: "maybe"}); err == nil {
		t.Fatal("a bad sign-up mode was accepted")
	}
}

// wantSignedUp fails unless u's audit log holds one entry: the sign-up
// that made the account, recorded as a sign-in with detail.
func wantSignedUp(t *testing.T, svc apogee.Services, u *apogee.User, detail string) {
	t.Helper()
	es, err := svc.Audit.Audit(as(u), apogee.AuditRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Action != "signin" || es[0].Target != u.Email || es[0].Detail != detail || es[0].ClientAddr == "" {
		t.Fatalf("%s's audit log = %+v; want one signin %q with the client's address", u.Email, es, detail)
	}
}

func TestStaticAndHeaders(t *testing.T) {
	e := newEnv(t, SignupClosed)
	b := e.browser()
	for _, f := range []string{"/static/app.css", "/static/app.js", "/static/favicon.svg"} {
		want(t, f, b.get(f), 200)
	}
	// Every block of the stylesheet is closed: an unclosed one swallows
	// every rule after it into a media query.
	css, err := staticFS.ReadFile("static/app.css")
	if err != nil {
		t.Fatal(err)
	}
	depth := 0
	for i, line := range strings.Split(string(css), "\n") {
		depth += strings.Count(line, "{") - strings.Count(line, "}")
		if depth < 0 {
			t.Fatalf("app.css line %d closes a block that is not open", i+1)
		}
	}
	if depth != 0 {
		t.Fatalf("app.css ends with %d block(s) open", depth)
	}
	res := b.get("/login")
	if csp := res.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Fatalf("CSP %q", csp)
	}
	if res.header.Get("X-Frame-Options") != "DENY" {
		t.Fatal("pages may be framed")
	}
}
