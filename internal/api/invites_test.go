package api_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/platform"
)

func newInviteEnv(t *testing.T) *adminEnv {
	t.Helper()
	e := &adminEnv{env: newEnvWith(t, func(c *platform.Config) {
		c.BaseURL = func() string { return "https://apogee.example.com" }
	})}
	e.admin = e.user("root@example.com")
	e.owner = e.user("owner@example.com")
	e.adminID = e.userID("root@example.com")
	if err := e.store.SetUserAdmin(context.Background(), e.adminID, true); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestInviteRoutesWhoMayCall: 401 without a token, 403 for a user who
// is not an admin, and nothing made or removed by either.
func TestInviteRoutesWhoMayCall(t *testing.T) {
	e := newInviteEnv(t)
	var inv apogee.NewInvite
	e.must(e.call("POST", "/api/v1/admin/invites", e.admin, map[string]any{"email": "keep@example.com"}), 201, &inv)
	routes := []struct {
		method, path string
		body         any
		ok           int
	}{
		{"POST", "/api/v1/admin/invites", map[string]any{"email": "new@example.com"}, 201},
		{"GET", "/api/v1/admin/invites", nil, 200},
		{"DELETE", "/api/v1/admin/invites/" + inv.ID, nil, 204},
	}
	for _, r := range routes {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			e.t = t
			before := pendingEmails(t, e)
			e.wantErr(e.call(r.method, r.path, "", r.body), 401, apogee.EUNAUTHORIZED)
			b := e.wantErr(e.call(r.method, r.path, e.owner, r.body), 403, apogee.EFORBIDDEN)
			if !strings.Contains(b.Error.Message, "only an admin") {
				t.Errorf("403 message %q does not say why", b.Error.Message)
			}
			if after := pendingEmails(t, e); strings.Join(after, ",") != strings.Join(before, ",") {
				t.Fatalf("refused calls changed the invites: %v → %v", before, after)
			}
			e.must(e.call(r.method, r.path, e.admin, r.body), r.ok, nil)
		})
	}
}

func pendingEmails(t *testing.T, e *adminEnv) []string {
	t.Helper()
	list, err := e.store.ListInvites(context.Background(), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, i := range list {
		out = append(out, i.ID+"="+i.Email)
	}
	return out
}

func TestInviteCreateListRevoke(t *testing.T) {
	e := newInviteEnv(t)
	var inv apogee.NewInvite
	e.must(e.call("POST", "/api/v1/admin/invites", e.admin, map[string]any{"email": " Carol@Example.COM ", "expires_in": 3600}), 201, &inv)
	if inv.Email != "carol@example.com" || inv.InvitedBy != e.adminID || inv.ExpiresAt.Sub(inv.CreatedAt) != time.Hour {
		t.Fatalf("invite = %+v", inv.Invite)
	}
	u, err := url.Parse(inv.URL)
	if err != nil || u.Scheme != "https" || u.Host != "apogee.example.com" || u.Path != "/signup" {
		t.Fatalf("link %q", inv.URL)
	}
	// Only the token's hash is stored, and it is the link's token.
	token := u.Query().Get("invite")
	sum := sha256.Sum256([]byte(token))
	got, err := e.store.InviteByHash(context.Background(), sum[:])
	if err != nil || got.ID != inv.ID {
		t.Fatalf("stored invite for the link's token: %+v, %v", got, err)
	}

	var def apogee.NewInvite
	e.must(e.call("POST", "/api/v1/admin/invites", e.admin, map[string]any{"email": "dave@example.com"}), 201, &def)
	if d := def.ExpiresAt.Sub(def.CreatedAt); d != apogee.DefaultInviteTTL {
		t.Fatalf("default lifetime %v, want 7 days", d)
	}

	// The list never carries a token or a link.
	r := e.call("GET", "/api/v1/admin/invites", e.admin, nil)
	var page struct{ Invites []apogee.Invite }
	e.must(r, 200, &page)
	list := page.Invites
	if len(list) != 2 || list[0].ID != inv.ID || list[1].ID != def.ID {
		t.Fatalf("list = %+v", list)
	}
	if strings.Contains(string(r.body), token) || strings.Contains(string(r.body), "signup?invite") {
		t.Fatalf("the list shows the token: %s", r.body)
	}

	e.must(e.call("DELETE", "/api/v1/admin/invites/"+inv.ID, e.admin, nil), 204, nil)
	b := e.wantErr(e.call("DELETE", "/api/v1/admin/invites/"+inv.ID, e.admin, nil), 404, apogee.ENOTFOUND)
	if !strings.Contains(b.Error.Message, inv.ID) {
		t.Errorf("404 message %q does not name the invite", b.Error.Message)
	}
	if _, err := e.store.InviteByHash(context.Background(), sum[:]); !errors.Is(err, apogee.ErrNotFound) {
		t.Fatalf("revoked invite still stored: %v", err)
	}
	e.must(e.call("GET", "/api/v1/admin/invites", e.admin, nil), 200, &page)
	list = page.Invites
	if len(list) != 1 || list[0].ID != def.ID {
		t.Fatalf("list after revoke = %+v", list)
	}
}

// TestInviteBadInput: a clear 4xx and no invite made.
func TestInviteBadInput(t *testing.T) {
	e := newInviteEnv(t)
	for _, c := range []struct {
		name   string
		body   any
		status int
		code   string
		msg    string
	}{
		{"no email", map[string]any{}, 400, apogee.EINVALID, "you@example.com"},
		{"not an email", map[string]any{"email": "carol"}, 400, apogee.EINVALID, "you@example.com"},
		{"two ats", map[string]any{"email": "a@b@c"}, 400, apogee.EINVALID, "you@example.com"},
		{"has an account", map[string]any{"email": "Owner@example.com"}, 409, apogee.ECONFLICT, "has an account already"},
		{"too short", map[string]any{"email": "x@example.com", "expires_in": 5}, 400, apogee.EINVALID, "expires_in"},
		{"negative", map[string]any{"email": "x@example.com", "expires_in": -60}, 400, apogee.EINVALID, "expires_in"},
		{"too long", map[string]any{"email": "x@example.com", "expires_in": 91 * 24 * 3600}, 400, apogee.EINVALID, "90 days"},
		{"unknown field", map[string]any{"email": "x@example.com", "admin": true}, 400, apogee.EINVALID, "unknown field"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			b := e.wantErr(e.call("POST", "/api/v1/admin/invites", e.admin, c.body), c.status, c.code)
			if !strings.Contains(b.Error.Message, c.msg) {
				t.Errorf("message %q does not mention %q", b.Error.Message, c.msg)
			}
			if p := pendingEmails(t, e); len(p) != 0 {
				t.Fatalf("an invite was made: %v", p)
			}
		})
	}
}
