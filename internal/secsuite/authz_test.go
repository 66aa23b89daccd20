package secsuite

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/apogee-dev/apogee/internal/testbed"
)

// access is who may use a route.
type access int

const (
	// public: anyone, signed in or not (the sign-in page, the docs, the
	// OpenAPI document). Nobody's request may change or show the
	// victim's data.
	public access = iota
	// signedIn: any active user, acting on themselves (their account,
	// their tokens, their project list, a new project). Another user's
	// request succeeds and touches only their own records.
	signedIn
	// owner: the project's owner and admins. Everyone else gets 401, 403
	// or 404 (another user exactly 404: a project they may not see does
	// not exist for them), and the victim's data is unchanged.
	owner
	// personal: the owner only, acting on their own account (revoke one
	// of your tokens): an admin is another user here, and gets 404 too.
	personal
	// admin: admins only; a signed-in user who is not one gets 403 or 404.
	admin
	// capability: the request carries its own proof (a signed URL, a
	// webhook signature, a token in the URL); the row's forged requests,
	// sent as every principal, must all be refused and change nothing,
	// and its genuine request, sent by no one, must succeed.
	capability
)

func (a access) String() string {
	return [...]string{"public", "signedIn", "owner", "personal", "admin", "capability"}[a]
}

// permits reports whether a caller of role r may use a route of access a.
func (a access) permits(r role) bool {
	switch a {
	case public:
		return true
	case signedIn:
		return r == roleOwner || r == roleOther || r == roleAdmin
	case owner:
		return r == roleOwner || r == roleAdmin
	case personal:
		return r == roleOwner
	case admin:
		return r == roleAdmin
	}
	return false
}

// row is one route of the matrix.
type row struct {
	// route is the pattern exactly as the server registers it, e.g.
	// "GET /api/v1/projects/{name}" or "POST /projects/{name}/env".
	route string
	who   access
	// req is the request a permitted caller sends to succeed, naming the
	// victim's things through the fixture (f.Name(), f.Production(), …).
	// It is built again for each caller.
	req func(f *fixture) request
	// want is the status a permitted caller gets (0: any below 400).
	want int
	// changes: the permitted request changes the victim's data, and the
	// test checks it did, so that the refusals it sees for everyone
	// else are refusals of a request that works.
	changes bool
	// mixed: the request names the victim's things besides the project
	// (a deployment, a domain, a webhook, an upload): the other user
	// also sends it with their own project in the path, which must not
	// reach the victim's things either.
	mixed bool
	// forged are a capability row's requests without the proof, or with
	// a wrong one.
	forged []forgery
	// freshSession: the request ends the caller's session (sign out), so
	// each permitted caller sends it from a session of its own.
	freshSession bool
	// refuse are roles refused although the access permits them (a
	// disabled user's session is refused even on a public page that
	// reads it).
	refuse []role
	// reason says why a row is as it is where that is not plain.
	reason string
}

// forgery is a capability's request without its proof.
type forgery struct {
	what string
	req  func(f *fixture) request
	// anyStatus: the request may succeed for the sender's own things
	// (their project on the same repository); it must still leave the
	// victim's alone.
	anyStatus bool
	// want is the exact status, where another refusal would tell the
	// caller something (0: any refusal).
	want int
}

// TestAuthorizationMatrix runs the matrix against a real server on
// SQLite and on PostgreSQL.
func TestAuthorizationMatrix(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			database := ""
			if db == "postgres" {
				database = testbed.PostgresURL(t)
			}
			w := startWorld(t, database)
			checkCoverage(t, w, matrix())
			rows := matrix()
			for _, r := range rows {
				t.Run(r.route, func(t *testing.T) { w.run(t, r) })
			}
			t.Logf("%d routes, %d requests checked", len(rows), w.checks.Load())
		})
	}
}

// checkCoverage fails for every route the server serves without a row,
// and every row whose route the server no longer serves. The routes are
// the operations of the OpenAPI document the server serves and the
// patterns its apex registered (the API's, the dashboard's, git push,
// /healthz).
func checkCoverage(t *testing.T, w *world, rows []row) {
	t.Helper()
	routes := map[string]string{} // pattern → where it was found
	res := w.do(w.none, request{method: "GET", path: "/api/v1/openapi.json"})
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(res.body, &doc); err != nil || len(doc.Paths) == 0 {
		t.Fatalf("GET /api/v1/openapi.json: %s: %v", res, err)
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			switch method {
			case "get", "put", "post", "delete", "patch", "head", "options":
				routes[strings.ToUpper(method)+" "+path] = "the OpenAPI document"
			}
		}
	}
	for _, p := range w.srv.Routes() {
		if _, ok := routes[p]; !ok {
			routes[p] = "the server's routes (server.Server.Routes: the API, the dashboard, git push, /healthz)"
		}
	}
	have := map[string]bool{}
	for _, r := range rows {
		if have[r.route] {
			t.Errorf("route %q has two rows in routes_test.go; keep one", r.route)
		}
		have[r.route] = true
	}
	var missing []string
	for p, where := range routes {
		if !have[p] {
			missing = append(missing, fmt.Sprintf("  %q (found in %s)", p, where))
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%d route(s) have no row in the authorization matrix (internal/secsuite/routes_test.go):\n%s\n"+
			"Add a row for each: who may use it (public, signedIn, owner, personal, admin, capability) and the request "+
			"its permitted caller sends, e.g.\n"+
			"\t{route: \"POST /api/v1/projects/{name}/things\", who: owner, changes: true,\n"+
			"\t\treq: func(f *fixture) request { return request{method: \"POST\", path: \"/api/v1/projects/\" + f.Name() + \"/things\", json: map[string]any{\"x\": 1}} }},\n"+
			"See docs/security.md, \"Adding a route\".", len(missing), strings.Join(missing, "\n"))
	}
	var stale []string
	for _, r := range rows {
		if _, ok := routes[r.route]; !ok {
			stale = append(stale, fmt.Sprintf("  %q", r.route))
		}
	}
	if len(stale) > 0 {
		t.Errorf("%d row(s) of internal/secsuite/routes_test.go name a route the server does not serve (renamed or removed?):\n%s",
			len(stale), strings.Join(stale, "\n"))
	}
}

// run checks one row as every principal.
func (w *world) run(t *testing.T, r row) {
	if r.req == nil && (r.who != capability || r.reason == "") {
		t.Fatalf("row %s has no request (only a capability row with a reason may go without)", r.route)
	}
	// Everyone but the admin and the owner, against one fixture that
	// none of them may change.
	f := w.fixture(t)
	for _, p := range w.principals() {
		if p.role == roleAdmin || p.role == roleOwner {
			if r.who != capability && r.who.permits(p.role) {
				continue // on fixtures of their own, below
			}
		}
		if r.who == capability {
			for _, forge := range r.forged {
				status := refusedStatus(forge.anyStatus)
				if forge.want != 0 {
					status = exactStatus(forge.want)
				}
				w.check(t, f, p, "forged: "+forge.what, forge.req(f), status)
			}
			continue
		}
		req := r.req(f)
		switch {
		case slices.Contains(r.refuse, p.role):
			w.check(t, f, p, "", req, refusedStatus(false))
		case r.who.permits(p.role):
			w.allowedElsewhere(t, f, w.freshen(p, r), r, req)
		case (r.who == owner || r.who == personal) && (p.role == roleOther || p.role == roleAdmin):
			w.check(t, f, p, "", req, notFoundStatus)
		default:
			w.check(t, f, p, "", req, refusedStatus(false))
		}
		if r.mixed && p.role == roleOther {
			w.check(t, f, p, "mixed: their own project or account in the path, the victim's things in the rest", r.req(f.mixed()), mixedStatus(w))
		}
	}
	// The permitted callers whose request may change the victim's data,
	// each on a fixture of its own.
	switch r.who {
	case capability:
		if r.req != nil {
			w.allowed(t, w.none, r)
		}
	default:
		for _, p := range []*principal{w.admin, w.owner} {
			if r.who.permits(p.role) {
				w.allowed(t, w.freshen(p, r), r)
			}
		}
	}
}

// freshen returns p, or for a row that ends the caller's session a new
// sign-in of p's user (no one and the disabled user have none to end).
func (w *world) freshen(p *principal, r row) *principal {
	if !r.freshSession || p.user == nil || p.role == roleDisabled || p.role == roleRevoked {
		return p
	}
	return w.signIn(p.role, p.user.Email, p.user.Admin)
}

// statusCheck says whether a refused request's answer is a refusal, and
// what it should have been.
type statusCheck struct {
	ok   func(res response) bool
	want string
}

// refusedStatus: 401, 403 or 404, or a redirect to the sign-in page (a
// signed-out browser asking for a page); with any, every status passes.
func refusedStatus(any bool) statusCheck {
	return statusCheck{want: "it refused (401, 403, 404, or a redirect to /login)", ok: func(res response) bool {
		return any || slices.Contains([]int{401, 403, 404}, res.status) ||
			res.status == 303 && strings.HasPrefix(res.header.Get("Location"), "/login")
	}}
}

// exactStatus: that status and no other.
func exactStatus(want int) statusCheck {
	return statusCheck{want: fmt.Sprint(want), ok: func(res response) bool { return res.status == want }}
}

// notFoundStatus: exactly 404, the answer for a project (deployment,
// domain, token) that does not exist: another user may not learn it does.
var notFoundStatus = statusCheck{want: "404, as for one that does not exist", ok: func(res response) bool { return res.status == 404 }}

// mixedStatus: a refusal, or the dashboard's way of refusing an action on
// a page the caller may see (a message on that page: 303 back to it), or
// an invalid or conflicting request.
func mixedStatus(w *world) statusCheck {
	return statusCheck{want: "it refused (400, 401, 403, 404, 409, or 303 back to their own page)", ok: func(res response) bool {
		loc := res.header.Get("Location")
		return slices.Contains([]int{400, 401, 403, 404, 409}, res.status) ||
			res.status == 303 && (strings.HasPrefix(loc, "/login") || strings.HasPrefix(loc, "/projects/"+w.otherProject) || strings.HasPrefix(loc, "/admin/"))
	}}
}

// check sends req as p, not permitted to do what it asks, and fails
// unless the answer passes status, shows none of the victim's data, and
// the victim's data is unchanged.
func (w *world) check(t *testing.T, f *fixture, p *principal, what string, req request, status statusCheck) {
	t.Helper()
	w.checks.Add(1)
	before := f.snapshot()
	res := w.do(p, req)
	after := f.snapshot()
	label := fmt.Sprintf("as %s: %s %s", p.role, req.method, req.path)
	if what != "" {
		label += " (" + what + ")"
	}
	if !status.ok(res) {
		t.Errorf("%s: %s; want %s", label, res, status.want)
	}
	if leaks := f.leaks(req, res); len(leaks) > 0 && p.role != roleOwner { // the owner may see their own
		t.Errorf("%s: the answer shows the victim's %q: %s", label, leaks, res)
	}
	if before != after {
		t.Errorf("%s: the victim's data changed:\n%s", label, diff(before, after))
	}
}

// allowedElsewhere sends req as p, permitted to use the route on their
// own behalf (a public page, their own account), and fails unless it
// succeeds without showing or changing the victim's data.
func (w *world) allowedElsewhere(t *testing.T, f *fixture, p *principal, r row, req request) {
	t.Helper()
	w.checks.Add(1)
	before := f.snapshot()
	res := w.do(p, req)
	after := f.snapshot()
	label := fmt.Sprintf("as %s: %s %s", p.role, req.method, req.path)
	if !succeeded(r, res) {
		t.Errorf("%s: %s; want %s", label, res, wantText(r))
	}
	if leaks := f.leaks(req, res); len(leaks) > 0 {
		t.Errorf("%s: the answer shows the victim's %q: %s", label, leaks, res)
	}
	if before != after {
		t.Errorf("%s: the victim's data changed:\n%s", label, diff(before, after))
	}
}

// allowed sends the row's request as p (the owner or an admin, or no one
// with a capability) on a fixture of its own and fails unless it
// succeeds, and, for a row that changes, unless the victim's data
// changed.
func (w *world) allowed(t *testing.T, p *principal, r row) {
	t.Helper()
	w.checks.Add(1)
	f := w.fixture(t)
	req := r.req(f)
	before := f.snapshot()
	res := w.do(p, req)
	after := f.snapshot()
	label := fmt.Sprintf("as %s: %s %s", p.role, req.method, req.path)
	if !succeeded(r, res) {
		t.Errorf("%s: %s; want %s (the row's request must work for those it permits)", label, res, wantText(r))
	}
	// An admin acting for themselves (a token of their own) changes
	// nothing of the victim's.
	mine := r.who == signedIn && p.role != roleOwner
	if r.changes && !mine && before == after {
		t.Errorf("%s: %s; the row says it changes the victim's data, but nothing changed", label, res)
	}
}

func succeeded(r row, res response) bool {
	if r.want != 0 {
		return res.status == r.want
	}
	if res.status == 303 && strings.HasPrefix(res.header.Get("Location"), "/login") {
		return false
	}
	return res.status < 400
}

func wantText(r row) string {
	if r.want != 0 {
		return fmt.Sprint(r.want)
	}
	return "success (below 400, not a redirect to /login)"
}
