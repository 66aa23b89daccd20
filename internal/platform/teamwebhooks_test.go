package platform_test

import (
	"context"
	"strings"
	"testing"

	"github.com/apogee-dev/apogee"
)

// TestTeamWebhooks: a team's webhooks are the owners' to add, remove and
// test; members and viewers list them without a secret; strangers see
// no team; read-only and other teams' tokens change nothing; bad input
// is refused with nothing made; adding and removing are in the team's
// audit log.
func TestTeamWebhooks(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) { testTeamWebhooks(t, newTeamWorld(t, open(t))) })
	}
}

func testTeamWebhooks(t *testing.T, w *teamWorld) {
	T, W := w.svc.Teams, w.svc.Webhooks
	try(T.CreateTeam(w.alice, apogee.CreateTeamRequest{Name: "acme"})).must(t)
	try(T.AcceptInvite(w.bob, try(T.Invite(w.alice, "acme", apogee.TeamInviteRequest{Role: "member"})).must(t).Token)).must(t)
	try(T.AcceptInvite(w.carol, try(T.Invite(w.alice, "acme", apogee.TeamInviteRequest{Role: "viewer"})).must(t).Token)).must(t)

	req := apogee.CreateWebhookRequest{URL: "https://hooks.example/acme", Events: []string{apogee.NotifyDeploymentReady}}
	h := try(W.CreateTeamWebhook(w.alice, "acme", req)).must(t)
	if h.Team != "acme" || h.TeamID == "" || h.ProjectID != "" || !strings.HasPrefix(h.Secret, "whsec_") ||
		strings.Join(h.Events, ",") != apogee.NotifyDeploymentReady {
		t.Fatalf("created %+v", h)
	}

	// Everyone in the team lists it, never with a secret; only owners see
	// the URL's path (a Slack URL's path is its secret).
	for who, c := range map[string]struct {
		ctx context.Context
		url string
	}{"alice": {w.alice, req.URL}, "bob": {w.bob, "https://hooks.example/…"}, "carol": {w.carol, "https://hooks.example/…"}} {
		hs := try(W.TeamWebhooks(c.ctx, "acme")).must(t)
		if len(hs) != 1 || hs[0].ID != h.ID || hs[0].Secret != "" || hs[0].Team != "acme" || hs[0].URL != c.url {
			t.Errorf("%s lists %+v", who, hs)
		}
	}
	// Members and viewers change nothing; a stranger sees no team.
	for who, c := range map[string]struct {
		ctx  context.Context
		code string
	}{"bob (member)": {w.bob, apogee.EFORBIDDEN}, "carol (viewer)": {w.carol, apogee.EFORBIDDEN}, "dave (no member)": {w.dave, apogee.ENOTFOUND}} {
		ctx := c.ctx
		_, err := W.CreateTeamWebhook(ctx, "acme", apogee.CreateWebhookRequest{URL: "https://evil.example/x"})
		wantRole(t, who+" adds", err, c.code)
		wantRole(t, who+" removes", W.DeleteTeamWebhook(ctx, "acme", h.ID), c.code)
		_, err = W.TestTeamWebhook(ctx, "acme", h.ID)
		wantRole(t, who+" tests", err, c.code)
	}
	_, err := W.TeamWebhooks(w.dave, "acme")
	wantRole(t, "dave lists", err, apogee.ENOTFOUND)
	// An owner's read-only token, or one scoped to another team, neither.
	_, err = W.CreateTeamWebhook(as(w.alice, apogee.Scope{ReadOnly: true}), "acme", apogee.CreateWebhookRequest{URL: "https://x.example/"})
	wantRole(t, "a read-only token adds", err, apogee.EFORBIDDEN)
	globex := try(T.CreateTeam(w.alice, apogee.CreateTeamRequest{Name: "globex"})).must(t)
	_, err = W.CreateTeamWebhook(as(w.alice, apogee.Scope{TeamID: globex.ID}), "acme", apogee.CreateWebhookRequest{URL: "https://x.example/"})
	if c := apogee.ErrorCode(err); c != apogee.ENOTFOUND && c != apogee.EFORBIDDEN {
		t.Errorf("a token of globex adds to acme: %v", err)
	}

	// Bad input: clear errors, nothing made.
	for what, bad := range map[string]apogee.CreateWebhookRequest{
		"no URL":           {},
		"loopback":         {URL: "http://127.0.0.1:9000/hook"},
		"an unknown event": {URL: "https://x.example/", Events: []string{"deployment.exploded"}},
		"a short secret":   {URL: "https://x.example/", Secret: "short"},
	} {
		_, err := W.CreateTeamWebhook(w.alice, "acme", bad)
		wantRole(t, what, err, apogee.EINVALID)
	}
	if hs := try(W.TeamWebhooks(w.alice, "acme")).must(t); len(hs) != 1 {
		t.Fatalf("%d webhooks after refusals; want 1", len(hs))
	}
	// A webhook of another team, or a project's, is not this team's.
	other := try(W.CreateTeamWebhook(w.alice, "globex", apogee.CreateWebhookRequest{URL: "https://hooks.example/globex"})).must(t)
	wantRole(t, "delete globex's webhook through acme", W.DeleteTeamWebhook(w.alice, "acme", other.ID), apogee.ENOTFOUND)
	try(w.svc.Projects.CreateProject(w.alice, apogee.CreateProjectRequest{Name: "site", Team: "acme"})).must(t)
	own := try(W.CreateWebhook(w.bob, "site", apogee.CreateWebhookRequest{URL: "https://hooks.example/site"})).must(t)
	wantRole(t, "delete a project's webhook as the team's", W.DeleteTeamWebhook(w.alice, "acme", own.ID), apogee.ENOTFOUND)
	wantRole(t, "delete the team's webhook as a project's", W.DeleteWebhook(w.alice, "site", h.ID), apogee.ENOTFOUND)

	if err := W.DeleteTeamWebhook(w.alice, "acme", h.ID); err != nil {
		t.Fatal(err)
	}
	wantRole(t, "delete twice", W.DeleteTeamWebhook(w.alice, "acme", h.ID), apogee.ENOTFOUND)
	if hs := try(W.TeamWebhooks(w.bob, "acme")).must(t); len(hs) != 0 {
		t.Fatalf("after delete: %+v", hs)
	}

	// The team's log: who added and removed it, from where.
	es := try(w.svc.Audit.Audit(w.alice, apogee.AuditRequest{Team: "acme"})).must(t)
	var got []string
	for _, e := range es {
		if strings.HasPrefix(e.Action, "webhook.") && e.Target == h.ID {
			got = append(got, e.Action+" "+e.Actor+" "+e.ClientAddr+" "+e.Detail)
		}
	}
	want := []string{"webhook.delete alice@example.com 198.51.100.7 team webhook", "webhook.create alice@example.com 198.51.100.7 team webhook"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("acme's log of the webhook:\n got  %q\n want %q", got, want)
	}
}
