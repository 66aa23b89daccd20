package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/apogee-dev/apogee"
)

// adminEnv is an API with an admin, a user (owner of a project) and
// another user, each with a token.
type adminEnv struct {
	*env
	admin, owner, other          string // tokens
	adminID, ownerID, otherEmail string
}

func newAdminEnv(t *testing.T) *adminEnv {
	e := &adminEnv{env: newEnv(t)}
	e.admin = e.user("root@example.com")
	e.owner = e.user("owner@example.com")
	e.other = e.user("other@example.com")
	e.otherEmail = "other@example.com"
	e.adminID = e.userID("root@example.com")
	e.ownerID = e.userID("owner@example.com")
	if err := e.store.SetUserAdmin(context.Background(), e.adminID, true); err != nil {
		t.Fatal(err)
	}
	e.must(e.call("POST", "/api/v1/projects", e.owner, apogee.CreateProjectRequest{Name: "web"}), 201, nil)
	return e
}

func (e *env) userID(email string) string {
	e.t.Helper()
	u, err := e.store.UserByEmail(context.Background(), email)
	if err != nil {
		e.t.Fatal(err)
	}
	return u.ID
}

// TestAdminRoutesWhoMayCall: every admin route answers 401 without a
// token, 403 to users who are not admins, and works for an admin.
func TestAdminRoutesWhoMayCall(t *testing.T) {
	e := newAdminEnv(t)
	pro := apogee.Plan{}
	e.must(e.call("POST", "/api/v1/admin/plans", e.admin, map[string]any{"name": "pro", "projects": 100}), 201, &pro)
	routes := []struct {
		method, path string
		body         any
		ok           int
	}{
		{"GET", "/api/v1/admin/users", nil, 200},
		{"PATCH", "/api/v1/admin/users/" + e.ownerID, map[string]any{"plan": "pro"}, 200},
		{"GET", "/api/v1/admin/plans", nil, 200},
		{"POST", "/api/v1/admin/plans", map[string]any{"name": "team"}, 201},
		{"PATCH", "/api/v1/admin/plans/" + pro.ID, map[string]any{"build_minutes": -1}, 200},
		{"DELETE", "/api/v1/admin/plans/team", nil, 204},
	}
	for _, r := range routes {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			e.t = t
			b := e.wantErr(e.call(r.method, r.path, "", r.body), 401, apogee.EUNAUTHORIZED)
			if !strings.Contains(b.Error.Message, "token") {
				t.Errorf("401 message %q does not say what to send", b.Error.Message)
			}
			for _, tok := range []string{e.owner, e.other} {
				b = e.wantErr(e.call(r.method, r.path, tok, r.body), 403, apogee.EFORBIDDEN)
				if !strings.Contains(b.Error.Message, "only an admin") {
					t.Errorf("403 message %q does not say why", b.Error.Message)
				}
			}
			e.must(e.call(r.method, r.path, e.admin, r.body), r.ok, nil)
		})
	}
}

func TestAdminUsersAndPlans(t *testing.T) {
	e := newAdminEnv(t)

	var list struct{ Users []apogee.UserView }
	e.must(e.call("GET", "/api/v1/admin/users", e.admin, nil), 200, &list)
	var got []string
	for _, u := range list.Users {
		got = append(got, fmt.Sprintf("%s %s %d %v", u.Email, u.Plan.Name, u.Usage.Projects, u.Disabled))
	}
	want := []string{"other@example.com free 0 false", "owner@example.com free 1 false", "root@example.com free 0 false"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("users:\n got  %q\n want %q", got, want)
	}

	// Plans: limits left out of a POST are the default plan's; -1 is
	// unlimited.
	var pro apogee.Plan
	e.must(e.call("POST", "/api/v1/admin/plans", e.admin, map[string]any{"name": "pro", "projects": -1, "storage_bytes": 10 << 30}), 201, &pro)
	wantLimits := apogee.PlanLimits{Projects: -1, ConcurrentBuilds: 1, BuildMinutes: 100, StorageBytes: 10 << 30, CustomDomains: 5,
		AppMemoryMB: 512, AppCPUs: 1, AppPids: 256, AppInstances: 3, ReleasesKept: 10, RuntimeLogBytes: 100 << 20, RuntimeLogDays: 7, DNSZones: 3, DNSRecords: 100,
		RequestLogDays: 7, RequestLogRows: 1_000_000, AuditLogDays: 90}
	if pro.Limits != wantLimits || pro.Default {
		t.Errorf("created plan %+v, want limits %+v, not default", pro, wantLimits)
	}
	for _, bad := range []struct {
		method, path string
		body         any
		status       int
		code, says   string
	}{
		{"POST", "/api/v1/admin/plans", map[string]any{"name": "pro"}, 409, apogee.ECONFLICT, "exists already"},
		{"POST", "/api/v1/admin/plans", map[string]any{"projects": 3}, 400, apogee.EINVALID, "name"},
		{"POST", "/api/v1/admin/plans", map[string]any{"name": "x", "projects": -2}, 400, apogee.EINVALID, "-1 for unlimited"},
		{"POST", "/api/v1/admin/plans", map[string]any{"name": "x", "projects": "many"}, 400, apogee.EINVALID, "projects"},
		{"PATCH", "/api/v1/admin/plans/free", map[string]any{"default": false}, 400, apogee.EINVALID, "make another plan the default"},
		{"PATCH", "/api/v1/admin/plans/nosuch", map[string]any{"projects": 1}, 404, apogee.ENOTFOUND, `plan "nosuch" not found`},
		{"DELETE", "/api/v1/admin/plans/free", nil, 409, apogee.ECONFLICT, "default"},
		{"PATCH", "/api/v1/admin/users/nosuch", map[string]any{"plan": "pro"}, 404, apogee.ENOTFOUND, `user "nosuch" not found`},
		{"PATCH", "/api/v1/admin/users/" + e.ownerID, map[string]any{"plan": "nosuch"}, 404, apogee.ENOTFOUND, "plan"},
		{"PATCH", "/api/v1/admin/users/" + e.ownerID, map[string]any{}, 400, apogee.EINVALID, "at least one"},
		{"PATCH", "/api/v1/admin/users/" + e.adminID, map[string]any{"disabled": true}, 400, apogee.EINVALID, "your own"},
		{"PATCH", "/api/v1/admin/users/" + e.adminID, map[string]any{"admin": false, "plan": "pro"}, 400, apogee.EINVALID, "your own"},
	} {
		b := e.wantErr(e.call(bad.method, bad.path, e.admin, bad.body), bad.status, bad.code)
		if !strings.Contains(b.Error.Message, bad.says) {
			t.Errorf("%s %s %v: message %q does not say %q", bad.method, bad.path, bad.body, b.Error.Message, bad.says)
		}
	}
	// The refused PATCH changed nothing (its plan was valid).
	p, err := e.store.UserPlan(context.Background(), e.adminID)
	if err != nil || p.Name != "free" {
		t.Errorf("admin's plan after a refused PATCH: %v %v", p, err)
	}

	// Put the owner on pro by email and plan name; the plan is in use.
	var uv apogee.UserView
	e.must(e.call("PATCH", "/api/v1/admin/users/owner@example.com", e.admin, map[string]any{"plan": "pro", "admin": true}), 200, &uv)
	if uv.Plan.ID != pro.ID || uv.PlanID != pro.ID || !uv.Admin {
		t.Errorf("after PATCH: %+v plan %+v", uv.User, uv.Plan)
	}
	e.wantErr(e.call("DELETE", "/api/v1/admin/plans/"+pro.ID, e.admin, nil), 409, apogee.ECONFLICT)
	e.must(e.call("PATCH", "/api/v1/admin/plans/pro", e.admin, map[string]any{"name": "business", "default": true}), 200, &pro)
	if pro.Name != "business" || !pro.Default || pro.Users != 1 {
		t.Errorf("after PATCH: %+v", pro)
	}
	// A user without a plan of their own follows the default.
	var me apogee.UserView
	e.must(e.call("GET", "/api/v1/user", e.other, nil), 200, &me)
	if me.Plan.Name != "business" || me.Email != "other@example.com" {
		t.Errorf("GET /user: %+v plan %+v", me.User, me.Plan)
	}
	uv = apogee.UserView{}
	e.must(e.call("PATCH", "/api/v1/admin/users/"+e.ownerID, e.admin, map[string]any{"plan": ""}), 200, &uv)
	if uv.PlanID != "" || uv.Plan.Name != "business" {
		t.Errorf("back on the default: %+v plan %+v", uv.User, uv.Plan)
	}
	e.must(e.call("PATCH", "/api/v1/admin/plans/free", e.admin, map[string]any{"default": true}), 200, nil)
	e.must(e.call("DELETE", "/api/v1/admin/plans/business", e.admin, nil), 204, nil)
	var plans struct{ Plans []apogee.Plan }
	e.must(e.call("GET", "/api/v1/admin/plans", e.admin, nil), 200, &plans)
	if len(plans.Plans) != 1 || plans.Plans[0].Name != "free" {
		t.Errorf("plans after delete: %+v", plans.Plans)
	}
}

// TestUsageRoute: GET /api/v1/usage and /user show the caller's plan,
// limits and usage; no token → 401.
func TestUsageRoute(t *testing.T) {
	e := newAdminEnv(t)
	e.wantErr(e.call("GET", "/api/v1/usage", "", nil), 401, apogee.EUNAUTHORIZED)
	var pv apogee.PlanView
	e.must(e.call("GET", "/api/v1/usage", e.owner, nil), 200, &pv)
	if pv.Plan.Name != "free" || pv.Plan.Limits.Projects != 10 || pv.Usage.Projects != 1 || pv.Month.Day() != 1 {
		t.Errorf("owner's usage: %+v %+v %v", pv.Plan, pv.Usage, pv.Month)
	}
	e.must(e.call("GET", "/api/v1/usage", e.other, nil), 200, &pv)
	if pv.Usage.Projects != 0 {
		t.Errorf("other's usage counts the owner's project: %+v", pv.Usage)
	}
	var me apogee.UserView
	e.must(e.call("GET", "/api/v1/user", e.owner, nil), 200, &me)
	if me.Usage.Projects != 1 || me.Plan.Limits.ConcurrentBuilds != 1 {
		t.Errorf("GET /user: %+v %+v", me.Plan, me.Usage)
	}
}

// TestDisabledUser: a disabled user's tokens stop at once with a 401
// that says so, they cannot log in, and enabling them restores both.
func TestDisabledUser(t *testing.T) {
	e := newAdminEnv(t)
	e.must(e.call("GET", "/api/v1/projects", e.owner, nil), 200, nil)
	var uv apogee.UserView
	e.must(e.call("PATCH", "/api/v1/admin/users/"+e.ownerID, e.admin, map[string]any{"disabled": true}), 200, &uv)
	if !uv.Disabled || uv.DisabledAt == nil {
		t.Fatalf("after disabling: %+v", uv)
	}
	for _, path := range []string{"/api/v1/projects", "/api/v1/user", "/api/v1/projects/web"} {
		b := e.wantErr(e.call("GET", path, e.owner, nil), 401, apogee.EUNAUTHORIZED)
		if !strings.Contains(b.Error.Message, "disabled") {
			t.Errorf("GET %s: %q does not say the account is disabled", path, b.Error.Message)
		}
	}
	b := e.wantErr(e.call("POST", "/api/v1/auth/login", "", apogee.LoginRequest{Email: "owner@example.com", Password: "password-owner@example.com"}), 401, apogee.EUNAUTHORIZED)
	if !strings.Contains(b.Error.Message, "disabled") {
		t.Errorf("login: %q", b.Error.Message)
	}
	// A wrong password still says only that: no hint the account exists.
	b = e.wantErr(e.call("POST", "/api/v1/auth/login", "", apogee.LoginRequest{Email: "owner@example.com", Password: "wrong-password"}), 401, apogee.EUNAUTHORIZED)
	if strings.Contains(b.Error.Message, "disabled") {
		t.Errorf("login with a wrong password: %q", b.Error.Message)
	}
	// The admin still sees the project: disabling stops the person.
	e.must(e.call("GET", "/api/v1/projects/web", e.admin, nil), 200, nil)

	e.must(e.call("PATCH", "/api/v1/admin/users/"+e.ownerID, e.admin, map[string]any{"disabled": false}), 200, &uv)
	if uv.Disabled {
		t.Fatalf("after enabling: %+v", uv)
	}
	e.must(e.call("GET", "/api/v1/projects", e.owner, nil), 200, nil)
}

// TestAdminPlanAppLimits: an admin sets a plan's app limits; they reach
// the platform's accessor; bad values change nothing; a user may not.
func TestAdminPlanAppLimits(t *testing.T) {
	e := newAdminEnv(t)
	var pro apogee.Plan
	e.must(e.call("POST", "/api/v1/admin/plans", e.admin, map[string]any{"name": "pro", "app_memory_mb": 2048, "app_cpus": 1.5,
		"app_instances": 10, "releases_kept": 30, "runtime_log_bytes": 1 << 30, "runtime_log_days": 30}), 201, &pro)
	want := apogee.PlanLimits{Projects: 10, ConcurrentBuilds: 1, BuildMinutes: 100, StorageBytes: 1 << 30, CustomDomains: 5,
		AppMemoryMB: 2048, AppCPUs: 1.5, AppPids: 256, AppInstances: 10, ReleasesKept: 30, RuntimeLogBytes: 1 << 30, RuntimeLogDays: 30, DNSZones: 3, DNSRecords: 100,
		RequestLogDays: 7, RequestLogRows: 1_000_000, AuditLogDays: 90}
	if pro.Limits != want {
		t.Errorf("created %+v\nwant %+v", pro.Limits, want)
	}
	e.must(e.call("PATCH", "/api/v1/admin/plans/pro", e.admin, map[string]any{"app_pids": -1, "app_cpus": 0.5, "runtime_log_days": -1}), 200, &pro)
	want.AppPids, want.AppCPUs, want.RuntimeLogDays = -1, 0.5, -1
	if pro.Limits != want {
		t.Errorf("updated %+v\nwant %+v", pro.Limits, want)
	}
	for _, bad := range []map[string]any{
		{"app_cpus": 0.001}, {"app_cpus": -3}, {"app_memory_mb": -2}, {"runtime_log_days": "week"}, {"app_instances": 1.5},
	} {
		e.wantErr(e.call("PATCH", "/api/v1/admin/plans/pro", e.admin, bad), 400, apogee.EINVALID)
	}
	e.wantErr(e.call("PATCH", "/api/v1/admin/plans/pro", e.owner, map[string]any{"app_instances": 100}), 403, apogee.EFORBIDDEN)
	got, err := e.store.PlanByID(context.Background(), pro.ID)
	if err != nil || got.Limits != want {
		t.Fatalf("after refused changes: %+v %v", got.Limits, err)
	}
}
