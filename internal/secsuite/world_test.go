package secsuite

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to make a schema per test

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/auth"
	"github.com/apogee-dev/apogee/internal/client"
	"github.com/apogee-dev/apogee/internal/github/githubtest"
	"github.com/apogee-dev/apogee/internal/resolver/resolvertest"
	"github.com/apogee-dev/apogee/internal/server"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// password is every principal's password, so that a self-service form
// (change your password) fits every caller.
const password = "secsuite-password-1"

// role is who a principal is to the victim, the owner of the projects
// the matrix attacks.
type role string

const (
	roleNone     role = "no one"        // no token, no session
	roleRevoked  role = "revoked"       // the owner's revoked token, ended session
	roleDisabled role = "disabled user" // a user an admin disabled, with their token and session
	roleOther    role = "another user"  // a user with projects of their own
	roleAdmin    role = "admin"
	roleOwner    role = "owner"
)

// principal is one caller: an API token and a browser (a cookie jar
// holding a dashboard session, and that session's CSRF token).
type principal struct {
	role    role
	user    *apogee.User // nil for no one
	token   string       // API token ("" for no one)
	browser *http.Client // never follows redirects
	csrf    string
}

// world is a real server (every role but builds, which would run the
// queued fixtures) with its principals.
type world struct {
	t     *testing.T
	srv   *server.Server
	data  string // the server's data folder
	base  string // http://127.0.0.1:PORT: the apex
	port  string // ":PORT"
	store apogee.Store
	zone  *resolvertest.Zone
	hooks *receiver
	hash  string // argon2id of password

	none, revoked, disabled, other, admin, owner *principal
	ownerAPI, adminAPI                           *client.Client

	otherProject string // the other user's own project (mixed requests)
	seq          atomic.Int64
	checks       atomic.Int64 // requests checked (refused, or permitted and checked)
}

func (w *world) principals() []*principal {
	return []*principal{w.none, w.revoked, w.disabled, w.other, w.admin, w.owner}
}

// unique returns a name no other call returns: prefix, a sequence number
// and random letters, so that it is found only where it was put.
func (w *world) unique(prefix string) string {
	return fmt.Sprintf("%s%d%s", prefix, w.seq.Add(1), strings.ToLower(apogee.NewID()[:6]))
}

// appKeyFile writes a GitHub App key for the world.
func appKeyFile(t *testing.T) string {
	pemKey, _ := githubtest.AppKey(t)
	name := filepath.Join(t.TempDir(), "app.pem")
	if err := os.WriteFile(name, pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

// startWorld runs a server on database ("" for SQLite in its data
// folder) and makes the principals through the server's own sign-in
// paths: the API's login and the dashboard's form.
func startWorld(t *testing.T, database string) *world {
	t.Helper()
	zone, dns := resolvertest.Start(t)
	w := &world{t: t, zone: zone, hooks: newReceiver(t)}
	cfg := server.Config{
		Data: t.TempDir(), Database: database, NodeDir: testbed.NodeDir(t),
		Listen: "127.0.0.1:0", Domain: "localhost", CacheMB: 16, MaxFileMB: 8,
		MetricsListen: "127.0.0.1:0", // never the public listener: TestMetricsNotPublic
		UploadTTL:     time.Hour, LogLevel: "warn", LogFormat: "text", ShutdownTTL: time.Second,
		DNSResolver: dns,
		// The authoritative DNS on, so that delegated zones can be added.
		DNSListen: "127.0.0.1:0", DNSNameservers: []string{"ns1.secsuite.test", "ns2.secsuite.test"},
		WebhooksAllowPrivate: true, // the fixtures' webhooks go to a receiver on loopback
		// Sign-in with GitHub on, so that its routes exist; GitHub itself
		// is never reached (nothing here gets past the OAuth state check).
		GitHubClientID: "secsuite", GitHubClientSecret: "secsuite-secret",
		GitHubURL: "https://github.invalid", GitHubAPIURL: "https://api.github.invalid",
		// The GitHub App on, so that its webhook verifies deliveries.
		GitHubAppID: 4242, GitHubAppKey: appKeyFile(t), GitHubAppWebhookSecret: appSecret,
	}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, slog.New(slog.NewTextHandler(&testLog{t: t}, &slog.HandlerOptions{Level: slog.LevelError})))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		srv.Close()
	})
	w.srv, w.store, w.data = srv, srv.Store(), cfg.Data
	w.base = "http://" + ln.Addr().String()
	w.port = ln.Addr().String()[strings.LastIndexByte(ln.Addr().String(), ':'):]
	if w.hash, err = auth.HashPassword(password); err != nil {
		t.Fatal(err)
	}

	w.none = &principal{role: roleNone, browser: newBrowser()}
	w.admin = w.signIn(roleAdmin, "admin@secsuite.example", true)
	w.owner = w.signIn(roleOwner, "owner@victim.example", false)
	w.other = w.signIn(roleOther, "other@attacker.example", false)
	w.disabled = w.signIn(roleDisabled, "disabled@secsuite.example", false)
	w.ownerAPI = client.New(w.base, w.owner.token)
	w.adminAPI = client.New(w.base, w.admin.token)

	// The owner's second token, revoked, and second session, signed out.
	w.revoked = w.signIn(roleRevoked, w.owner.user.Email, false)
	if err := w.ownerAPI.RevokeToken(ctx, w.tokenID(w.revoked.token)); err != nil {
		t.Fatal(err)
	}
	jar := w.revoked.browser.Jar
	kept := jar.Cookies(w.apex())
	if len(kept) == 0 {
		t.Fatal("the owner's second dashboard session has no cookie to keep")
	}
	w.send(w.revoked, request{method: "POST", path: "/logout", form: url.Values{}}, 303)
	fresh := newBrowser()
	fresh.Jar.SetCookies(w.apex(), kept)
	w.revoked.browser = fresh

	// Disabled after signing in: their token and session exist.
	yes := true
	if _, err := w.adminAPI.AdminUpdateUser(ctx, w.disabled.user.ID, apogee.UpdateUserRequest{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}

	// Room for every fixture: no plan limit gets in the way of a row.
	name, unl := "secsuite unlimited", apogee.Unlimited
	plan, err := w.adminAPI.AdminCreatePlan(ctx, apogee.PlanRequest{Name: &name, Projects: &unl,
		ConcurrentBuilds: &unl, BuildMinutes: &unl, StorageBytes: &unl, CustomDomains: &unl, DNSZones: &unl, DNSRecords: &unl,
		RequestLogDays: &unl, RequestLogRows: &unl, AuditLogDays: &unl})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*principal{w.owner, w.other} {
		if _, err := w.adminAPI.AdminUpdateUser(ctx, p.user.ID, apogee.UpdateUserRequest{Plan: &plan.ID}); err != nil {
			t.Fatal(err)
		}
	}

	// The other user's own project, with a deployment and a repository:
	// mixed requests name it in the path and the victim's things in the
	// rest.
	w.otherProject = w.unique("attacker")
	otherAPI := client.New(w.base, w.other.token)
	if _, err := otherAPI.CreateGitProject(ctx, w.otherProject, apogee.GitSource{URL: "https://git.invalid/attacker.git", Branch: "main"}); err != nil {
		t.Fatal(err)
	}
	deployFiles(t, otherAPI, w.otherProject, map[string]string{"index.html": "attacker's"}, true)
	return w
}

// apex is the dashboard's URL as browsers see it (requests go to
// 127.0.0.1 with this Host, and cookie jars file cookies under the Host).
func (w *world) apex() *url.URL {
	return &url.URL{Scheme: "http", Host: "localhost" + w.port, Path: "/"}
}

// signIn makes a user with the shared password and signs them in: an API
// token through POST /api/v1/auth/login and a dashboard session through
// the sign-in form, with the CSRF token of that session's pages. An
// email that exists already (the owner's second sign-in) is reused.
func (w *world) signIn(r role, email string, admin bool) *principal {
	t := w.t
	t.Helper()
	ctx := context.Background()
	u, err := w.store.UserByEmail(ctx, email)
	if err != nil {
		u = &apogee.User{ID: apogee.NewID(), Email: email, Password: w.hash, Admin: admin, CreatedAt: time.Now().UTC()}
		if err := w.store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	p := &principal{role: r, user: u, browser: newBrowser()}
	var tr apogee.TokenResponse
	res := w.send(&principal{role: roleNone, browser: newBrowser()}, request{method: "POST", path: "/api/v1/auth/login",
		json: apogee.LoginRequest{Email: email, Password: password, TokenName: string(r)}}, 200)
	if err := json.Unmarshal(res.body, &tr); err != nil {
		t.Fatal(err)
	}
	p.token = tr.Token

	page := w.send(p, request{method: "GET", path: "/login"}, 200)
	token := csrfOf(t, page.body)
	form := url.Values{"email": {email}, "password": {password}, "next": {"/"}, "csrf": {token}}
	w.send(p, request{method: "POST", path: "/login", form: form}, 303)
	page = w.send(p, request{method: "GET", path: "/account"}, 200)
	p.csrf = csrfOf(t, page.body)
	return p
}

// tokenID returns the id of the owner's token whose secret is secret.
func (w *world) tokenID(secret string) string {
	w.t.Helper()
	tok, err := w.store.TokenByHash(context.Background(), auth.HashToken(secret))
	if err != nil {
		w.t.Fatal(err)
	}
	return tok.ID
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page []byte) string {
	t.Helper()
	m := csrfRE.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the page:\n%.400s", page)
	}
	return string(m[1])
}

func newBrowser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// request is one HTTP request of a row. Its credentials come from the
// principal sending it: a Bearer token under /api/, HTTP Basic under
// /git/, the browser's session cookie (and the CSRF token in a form)
// elsewhere.
type request struct {
	method, path string
	json         any        // a JSON body
	form         url.Values // a form body; the caller's CSRF token is added unless it has one
	body         []byte     // a raw body (with contentType)
	contentType  string
	header       http.Header
	multipart    *multipartBody
	host         string // Host header; default the apex
	noAuth       bool   // send no credentials at all (capabilities: signed URLs, webhooks)
	stream       bool   // an endless stream (SSE): read up to its first blank line
}

// multipartBody is a dashboard form with a file: the caller's CSRF token
// first, the fields, then the file (the dashboard reads them in order).
type multipartBody struct {
	fields  url.Values
	file    string
	content []byte
}

// text is the request as a string, to tell whether a marker in the
// answer was in the request (an echo is no leak).
func (r request) text() string {
	var b strings.Builder
	b.WriteString(r.method + " " + r.path + "\n")
	if r.json != nil {
		j, _ := json.Marshal(r.json)
		b.Write(j)
	}
	b.WriteString(r.form.Encode())
	if u, err := url.QueryUnescape(r.form.Encode()); err == nil {
		b.WriteString(u)
	}
	b.Write(r.body)
	for k, vs := range r.header {
		b.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
	}
	return b.String()
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) String() string {
	return fmt.Sprintf("%d %s %.300q", r.status, r.header.Get("Location"), r.body)
}

// send sends req as p and fails the test unless the status is want.
func (w *world) send(p *principal, req request, want int) response {
	w.t.Helper()
	res := w.do(p, req)
	if res.status != want {
		w.t.Fatalf("%s as %s: %s, want %d", req.method+" "+req.path, p.role, res, want)
	}
	return res
}

func (w *world) do(p *principal, req request) response {
	w.t.Helper()
	var body io.Reader
	ct := req.contentType
	switch {
	case req.json != nil:
		j, err := json.Marshal(req.json)
		if err != nil {
			w.t.Fatal(err)
		}
		body, ct = bytes.NewReader(j), "application/json"
	case req.form != nil:
		form := url.Values{}
		for k, v := range req.form {
			form[k] = slices.Clone(v)
		}
		if !form.Has("csrf") && !req.noAuth {
			form.Set("csrf", p.csrf)
		}
		body, ct = strings.NewReader(form.Encode()), "application/x-www-form-urlencoded"
	case req.multipart != nil:
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		if !req.noAuth {
			mw.WriteField("csrf", p.csrf)
		}
		for k, vs := range req.multipart.fields {
			for _, v := range vs {
				mw.WriteField(k, v)
			}
		}
		fw, err := mw.CreateFormFile("file", req.multipart.file)
		if err != nil {
			w.t.Fatal(err)
		}
		fw.Write(req.multipart.content)
		mw.Close()
		body, ct = &buf, mw.FormDataContentType()
	case req.body != nil:
		body = bytes.NewReader(req.body)
	}
	hr, err := http.NewRequest(req.method, w.base+req.path, body)
	if err != nil {
		w.t.Fatal(err)
	}
	if ct != "" {
		hr.Header.Set("Content-Type", ct)
	}
	for k, vs := range req.header {
		hr.Header[k] = vs
	}
	if req.host != "" {
		hr.Host = req.host
	} else {
		hr.Host = "localhost" + w.port
	}
	hc := newBrowser()
	if !req.noAuth {
		hc = p.browser
		switch {
		case p.token == "":
		case strings.HasPrefix(req.path, "/api/"):
			hr.Header.Set("Authorization", "Bearer "+p.token)
		case strings.HasPrefix(req.path, "/git/"):
			hr.SetBasicAuth("x", p.token)
		}
	}
	res, err := hc.Do(hr)
	if err != nil {
		w.t.Fatalf("%s %s as %s: %v", req.method, req.path, p.role, err)
	}
	defer res.Body.Close()
	var b []byte
	if req.stream {
		// Up to the first event (or comment) of the stream, then hang up.
		br := bufio.NewReader(res.Body)
		for {
			line, err := br.ReadBytes('\n')
			b = append(b, line...)
			if err != nil || len(bytes.TrimSpace(line)) == 0 {
				break
			}
		}
		return response{status: res.StatusCode, header: res.Header, body: b}
	}
	b, err = io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		w.t.Fatalf("%s %s as %s: read the answer: %v", req.method, req.path, p.role, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// deployFiles uploads files to project as a deployment through the API,
// production or preview, and returns it ready.
func deployFiles(t *testing.T, c *client.Client, project string, files map[string]string, production bool) *apogee.DeploymentView {
	t.Helper()
	ctx := context.Background()
	var req apogee.CreateDeploymentRequest
	for path, content := range files {
		req.Files = append(req.Files, apogee.File{Path: path, SHA256: sha(content), Size: int64(len(content))})
	}
	if production {
		req.Target = apogee.TargetProduction
	}
	d, err := c.CreateDeployment(ctx, project, req)
	if err != nil {
		t.Fatal(err)
	}
	for _, content := range files {
		if err := c.UploadFile(ctx, d.ID, sha(content), strings.NewReader(content), int64(len(content))); err != nil {
			t.Fatal(err)
		}
	}
	if d, err = c.Finalize(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	return d
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// receiver is an HTTP server on loopback that the fixtures' webhooks
// point at; it counts the requests for each path, which the snapshot
// holds (a test delivery an attacker set off is a change).
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	hits map[string]int
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{hits: map[string]int{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.hits[req.URL.Path]++
		r.mu.Unlock()
		io.Copy(io.Discard, req.Body)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) count(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hits[path]
}

// testLog sends the server's error log to the test's, so that an
// internal error a request caused shows beside the row that failed.
type testLog struct{ t *testing.T }

func (l *testLog) Write(b []byte) (int, error) {
	l.t.Logf("server: %s", bytes.TrimSpace(b))
	return len(b), nil
}

// zipOf returns a ZIP archive of files.
func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		fw, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(fw, content)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
