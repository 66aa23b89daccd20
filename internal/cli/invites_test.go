package cli

import (
	"context"
	"crypto/sha256"
	"net/http/httptest"
	"net/url"
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

// inviteAPI serves the real API over SQLite with an admin whose token is
// APOGEE_TOKEN, and returns the store and a non-admin's token.
func inviteAPI(t *testing.T) (apogee.Store, string) {
	t.Helper()
	env(t)
	ctx := context.Background()
	st, bl, _ := testbed.Backends(t)
	log := testbed.Quiet
	srv := httptest.NewServer(apitest.New(t, platform.Config{Store: st, Blobs: bl, Bus: events.NewLocal(log), Log: log,
		BaseURL: func() string { return "https://apogee.example.com" }}))
	t.Cleanup(srv.Close)
	token := func(email string, admin bool) string {
		u := &apogee.User{ID: apogee.NewID(), Email: email, Password: "x", Admin: admin, CreatedAt: time.Now()}
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		secret, hash := auth.NewToken()
		if err := st.CreateToken(ctx, &apogee.Token{ID: apogee.NewID(), UserID: u.ID, Name: "t", Hash: hash, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		return secret
	}
	t.Setenv("APOGEE_SERVER", srv.URL)
	t.Setenv("APOGEE_TOKEN", token("root@example.com", true))
	return st, token("ada@example.com", false)
}

func TestAdminInviteCommands(t *testing.T) {
	st, adaTok := inviteAPI(t)
	ctx := context.Background()

	// Human output: the link alone on stdout, the note on stderr.
	r := run(t, "", "admin", "users", "invite", "Carol@Example.com", "--expires", "48h").ok(t)
	link := strings.TrimSpace(r.stdout)
	u, err := url.Parse(link)
	if err != nil || !strings.HasPrefix(link, "https://apogee.example.com/signup?invite=") {
		t.Fatalf("stdout %q is not the link", r.stdout)
	}
	if !strings.Contains(r.stderr, "Invited carol@example.com") || !strings.Contains(r.stderr, "not shown again") {
		t.Errorf("stderr %q", r.stderr)
	}
	sum := sha256.Sum256([]byte(u.Query().Get("invite")))
	inv, err := st.InviteByHash(ctx, sum[:])
	if err != nil || inv.Email != "carol@example.com" || inv.ExpiresAt.Sub(inv.CreatedAt) != 48*time.Hour {
		t.Fatalf("stored invite %+v, %v", inv, err)
	}

	// --json: one object with the link and the id.
	j := oneJSON(t, run(t, "", "admin", "users", "invite", "dave@example.com", "--json").ok(t).stdout)
	if j["email"] != "dave@example.com" || !strings.HasPrefix(j["url"].(string), "https://apogee.example.com/signup?invite=") || j["id"] == "" {
		t.Fatalf("json = %v", j)
	}

	out := run(t, "", "admin", "invites", "list").ok(t).stdout
	for _, want := range []string{"ID", "EMAIL", "carol@example.com", "dave@example.com", inv.ID} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "invite=") {
		t.Errorf("list shows a link:\n%s", out)
	}
	list := oneJSON(t, run(t, "", "admin", "invites", "list", "--json").ok(t).stdout)
	if n := len(list["invites"].([]any)); n != 2 {
		t.Fatalf("json list has %d invites, want 2: %v", n, list)
	}

	run(t, "", "admin", "invites", "revoke", inv.ID).ok(t)
	if got := run(t, "", "admin", "invites", "revoke", inv.ID); got.code == 0 || !strings.Contains(got.stderr, "No invite") {
		t.Errorf("second revoke: code %d, stderr %q", got.code, got.stderr)
	}
	run(t, "", "admin", "invites", "revoke", j["id"].(string), "--json").ok(t)
	if out := run(t, "", "admin", "invites", "list").ok(t).stdout; !strings.Contains(out, "No pending invitations") {
		t.Errorf("empty list says %q", out)
	}

	// Refusals: bad flags, an existing account, a non-admin; nothing made.
	for _, c := range []struct {
		name  string
		token string
		argv  []string
		want  string
	}{
		{"expires too short", "", []string{"admin", "users", "invite", "x@example.com", "--expires", "10s"}, "--expires"},
		{"not an email", "", []string{"admin", "users", "invite", "nobody"}, "you@example.com"},
		{"has an account", "", []string{"admin", "users", "invite", "ada@example.com"}, "has an account already"},
		{"not an admin", adaTok, []string{"admin", "users", "invite", "x@example.com"}, "Only an admin"},
	} {
		if c.token != "" {
			t.Setenv("APOGEE_TOKEN", c.token)
		}
		got := run(t, "", c.argv...)
		if got.code == 0 || !strings.Contains(got.stderr, c.want) {
			t.Errorf("%s: code %d, stderr %q; want a failure saying %q", c.name, got.code, got.stderr, c.want)
		}
	}
	if pending, err := st.ListInvites(ctx, time.Now()); err != nil || len(pending) != 0 {
		t.Fatalf("refused commands made invites: %v, %v", pending, err)
	}
}
