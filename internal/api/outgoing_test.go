package api_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/notify"
	"github.com/apogee-dev/apogee/internal/platform"
	"github.com/apogee-dev/apogee/internal/secretbox"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// webhookEnv is an API whose webhooks may reach loopback (as with
// --webhooks-allow-private), so a receiver on 127.0.0.1 can be pinged.
func webhookEnv(t *testing.T) *env {
	return newEnvWith(t, func(c *platform.Config) {
		c.Box = secretbox.NewRandom()
		c.Webhooks = notify.NewSender(notify.SenderConfig{Store: c.Store, Box: c.Box, AllowPrivate: true, Log: testbed.Quiet})
	})
}

type webhookList struct {
	Webhooks []apogee.WebhookView `json:"webhooks"`
}

func TestWebhooksAPI(t *testing.T) {
	e := webhookEnv(t)
	tok := e.user("alice@example.com")
	e.must(e.call("POST", "/api/v1/projects", tok, apogee.CreateProjectRequest{Name: "web"}), 201, nil)

	var mu sync.Mutex
	var got []*http.Request
	var bodies [][]byte
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, bodies = append(got, r), append(bodies, b)
		mu.Unlock()
	}))
	defer rcv.Close()

	var l webhookList
	e.must(e.call("GET", "/api/v1/projects/web/webhooks", tok, nil), 200, &l)
	if len(l.Webhooks) != 0 {
		t.Fatalf("a new project has webhooks: %+v", l)
	}

	// A made-up secret is shown once.
	var made map[string]any
	e.must(e.call("POST", "/api/v1/projects/web/webhooks", tok, apogee.CreateWebhookRequest{URL: rcv.URL + "/hook"}), 201, &made)
	secret, _ := made["secret"].(string)
	if !strings.HasPrefix(secret, "whsec_") || made["url"] != rcv.URL+"/hook" || made["project"] != "web" || made["id"] == "" {
		t.Fatalf("POST answered %v", made)
	}
	id := made["id"].(string)
	// A given secret and an event filter.
	var given apogee.WebhookView
	e.must(e.call("POST", "/api/v1/projects/web/webhooks", tok, apogee.CreateWebhookRequest{
		URL: "https://hooks.slack.example/T0/B0/x", Secret: "my-own-secret-0123", Events: []string{"deployment.error", "deployment.ready"}}), 201, &given)
	if given.Secret != "my-own-secret-0123" || strings.Join(given.Events, ",") != "deployment.ready,deployment.error" {
		t.Fatalf("POST with a secret and events answered %+v", given)
	}

	r := e.call("GET", "/api/v1/projects/web/webhooks", tok, nil)
	l = webhookList{}
	e.must(r, 200, &l)
	if len(l.Webhooks) != 2 || l.Webhooks[0].ID != id || strings.Contains(string(r.body), secret) || strings.Contains(string(r.body), "my-own-secret") {
		t.Fatalf("list = %s", r.body)
	}

	// A test delivery reaches the receiver, signed, and is recorded.
	var d apogee.WebhookDelivery
	e.must(e.call("POST", "/api/v1/projects/web/webhooks/"+id+"/test", tok, nil), 200, &d)
	if d.Status != apogee.DeliveryOK || d.Code != 200 || d.Attempts != 1 {
		t.Fatalf("test delivery = %+v", d)
	}
	mu.Lock()
	if len(got) != 1 || got[0].Header.Get("X-Apogee-Event") != "ping" || got[0].Header.Get("X-Apogee-Delivery") != d.ID {
		t.Fatalf("receiver got %d requests: %v", len(got), got)
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(bodies[0])
	if sig := got[0].Header.Get("X-Apogee-Signature"); sig != "sha256="+hex.EncodeToString(m.Sum(nil)) {
		t.Errorf("signature %s does not match the secret shown at creation", sig)
	}
	if !strings.Contains(string(bodies[0]), `"text":"web: test notification`) {
		t.Errorf("ping body = %s", bodies[0])
	}
	mu.Unlock()
	l = webhookList{}
	e.must(e.call("GET", "/api/v1/projects/web/webhooks", tok, nil), 200, &l)
	if l.Webhooks[0].LastStatus != apogee.DeliveryOK || l.Webhooks[0].LastCode != 200 || l.Webhooks[0].LastAt == nil {
		t.Errorf("last delivery not listed: %+v", l.Webhooks[0].Webhook)
	}

	e.must(e.call("DELETE", "/api/v1/projects/web/webhooks/"+id, tok, nil), 204, nil)
	b := e.wantErr(e.call("DELETE", "/api/v1/projects/web/webhooks/"+id, tok, nil), 404, apogee.ENOTFOUND)
	if !strings.Contains(b.Error.Message, id) {
		t.Errorf("delete twice: %q", b.Error.Message)
	}
	e.wantErr(e.call("POST", "/api/v1/projects/web/webhooks/"+id+"/test", tok, nil), 404, apogee.ENOTFOUND)
	l = webhookList{}
	e.must(e.call("GET", "/api/v1/projects/web/webhooks", tok, nil), 200, &l)
	if len(l.Webhooks) != 1 || l.Webhooks[0].ID != given.ID {
		t.Fatalf("after delete: %+v", l)
	}
}

func TestWebhooksAPIWho(t *testing.T) {
	e := webhookEnv(t)
	alice := e.user("alice@example.com")
	bob := e.user("bob@example.com")
	e.must(e.call("POST", "/api/v1/projects", alice, apogee.CreateProjectRequest{Name: "web"}), 201, nil)
	var h apogee.WebhookView
	e.must(e.call("POST", "/api/v1/projects/web/webhooks", alice, apogee.CreateWebhookRequest{URL: "https://example.com/hook"}), 201, &h)
	e.must(e.call("POST", "/api/v1/projects", bob, apogee.CreateProjectRequest{Name: "blog"}), 201, nil)

	routes := []struct{ method, path string }{
		{"GET", "/api/v1/projects/web/webhooks"},
		{"POST", "/api/v1/projects/web/webhooks"},
		{"DELETE", "/api/v1/projects/web/webhooks/" + h.ID},
		{"POST", "/api/v1/projects/web/webhooks/" + h.ID + "/test"},
	}
	for _, rt := range routes {
		body := apogee.CreateWebhookRequest{URL: "https://bob.example/steal"}
		e.wantErr(e.call(rt.method, rt.path, "", body), 401, apogee.EUNAUTHORIZED)
		b := e.wantErr(e.call(rt.method, rt.path, bob, body), 404, apogee.ENOTFOUND)
		if !strings.Contains(b.Error.Message, `project "web" not found`) {
			t.Errorf("%s %s as bob: %q", rt.method, rt.path, b.Error.Message)
		}
	}
	// Bob cannot reach alice's webhook through his own project either.
	e.wantErr(e.call("DELETE", "/api/v1/projects/blog/webhooks/"+h.ID, bob, nil), 404, apogee.ENOTFOUND)
	var l webhookList
	e.must(e.call("GET", "/api/v1/projects/web/webhooks", alice, nil), 200, &l)
	if len(l.Webhooks) != 1 {
		t.Fatalf("alice's webhooks after bob's tries: %+v", l)
	}
}

func TestWebhooksAPIBadInput(t *testing.T) {
	e := newEnvWith(t, func(c *platform.Config) { c.Box = secretbox.NewRandom() }) // the default: public addresses only
	tok := e.user("alice@example.com")
	e.must(e.call("POST", "/api/v1/projects", tok, apogee.CreateProjectRequest{Name: "web"}), 201, nil)
	tests := []struct {
		name string
		body any
		want string
	}{
		{"no URL", apogee.CreateWebhookRequest{}, "empty"},
		{"not http", apogee.CreateWebhookRequest{URL: "ftp://example.com/"}, "https://"},
		{"loopback", apogee.CreateWebhookRequest{URL: "http://127.0.0.1:9000/"}, "--webhooks-allow-private"},
		{"localhost", apogee.CreateWebhookRequest{URL: "http://localhost:9000/"}, "--webhooks-allow-private"},
		{"metadata service", apogee.CreateWebhookRequest{URL: "http://169.254.169.254/"}, "not public"},
		{"unknown event", apogee.CreateWebhookRequest{URL: "https://example.com/", Events: []string{"push"}}, "unknown webhook event"},
		{"short secret", apogee.CreateWebhookRequest{URL: "https://example.com/", Secret: "abc"}, "16 to 256"},
		{"not JSON", "{", "request body"},
	}
	for _, tt := range tests {
		b := e.wantErr(e.call("POST", "/api/v1/projects/web/webhooks", tok, tt.body), 400, apogee.EINVALID)
		if !strings.Contains(b.Error.Message, tt.want) {
			t.Errorf("%s: %q does not say %q", tt.name, b.Error.Message, tt.want)
		}
	}
	var l webhookList
	e.must(e.call("GET", "/api/v1/projects/web/webhooks", tok, nil), 200, &l)
	if len(l.Webhooks) != 0 {
		t.Fatalf("bad input made webhooks: %+v", l)
	}
}

// TestTeamWebhooksAPI: /api/v1/teams/{team}/webhooks for each role: the
// owner adds one (its secret shown once), pings it (signed, naming the
// team) and removes it; a member and a viewer list it without a secret
// and are refused changes with 403; a stranger gets the team's 404.
func TestTeamWebhooksAPI(t *testing.T) {
	e := webhookEnv(t)
	owner, member, viewer, stranger := e.user("alice@example.com"), e.user("bob@example.com"), e.user("carol@example.com"), e.user("dave@example.com")
	e.must(e.call("POST", "/api/v1/teams", owner, apogee.CreateTeamRequest{Name: "acme"}), 201, nil)
	for tok, role := range map[string]string{member: "member", viewer: "viewer"} {
		var inv apogee.NewTeamInvite
		e.must(e.call("POST", "/api/v1/teams/acme/invites", owner, apogee.TeamInviteRequest{Role: role}), 201, &inv)
		e.must(e.call("POST", "/api/v1/teams/join", tok, apogee.AcceptTeamInviteRequest{Token: inv.Token}), 200, nil)
	}

	var mu sync.Mutex
	var got []*http.Request
	var bodies [][]byte
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, bodies = append(got, r), append(bodies, b)
		mu.Unlock()
	}))
	defer rcv.Close()

	var made apogee.WebhookView
	e.must(e.call("POST", "/api/v1/teams/acme/webhooks", owner, apogee.CreateWebhookRequest{URL: rcv.URL + "/team",
		Events: []string{"deployment.ready"}}), 201, &made)
	if made.Team != "acme" || made.Project != "" || !strings.HasPrefix(made.Secret, "whsec_") || made.URL != rcv.URL+"/team" {
		t.Fatalf("POST answered %+v", made)
	}
	for who, tok := range map[string]string{"owner": owner, "member": member, "viewer": viewer} {
		r := e.call("GET", "/api/v1/teams/acme/webhooks", tok, nil)
		var l webhookList
		e.must(r, 200, &l)
		if len(l.Webhooks) != 1 || l.Webhooks[0].ID != made.ID || l.Webhooks[0].Team != "acme" || strings.Contains(string(r.body), made.Secret) {
			t.Errorf("%s lists %s", who, r.body)
		}
	}
	routes := []struct{ method, path string }{
		{"POST", "/api/v1/teams/acme/webhooks"},
		{"DELETE", "/api/v1/teams/acme/webhooks/" + made.ID},
		{"POST", "/api/v1/teams/acme/webhooks/" + made.ID + "/test"},
	}
	body := apogee.CreateWebhookRequest{URL: "https://evil.example/steal"}
	for _, rt := range routes {
		e.wantErr(e.call(rt.method, rt.path, "", body), 401, apogee.EUNAUTHORIZED)
		e.wantErr(e.call(rt.method, rt.path, member, body), 403, apogee.EFORBIDDEN)
		e.wantErr(e.call(rt.method, rt.path, viewer, body), 403, apogee.EFORBIDDEN)
		b := e.wantErr(e.call(rt.method, rt.path, stranger, body), 404, apogee.ENOTFOUND)
		if !strings.Contains(b.Error.Message, `team "acme" not found`) {
			t.Errorf("%s %s as a stranger: %q", rt.method, rt.path, b.Error.Message)
		}
	}
	e.wantErr(e.call("GET", "/api/v1/teams/acme/webhooks", stranger, nil), 404, apogee.ENOTFOUND)
	e.wantErr(e.call("POST", "/api/v1/teams/acme/webhooks", owner, apogee.CreateWebhookRequest{URL: "ftp://x.example/"}), 400, apogee.EINVALID)

	// The owner's ping reaches the receiver, signed, naming the team.
	var d apogee.WebhookDelivery
	e.must(e.call("POST", "/api/v1/teams/acme/webhooks/"+made.ID+"/test", owner, nil), 200, &d)
	if d.Status != apogee.DeliveryOK || d.Code != 200 {
		t.Fatalf("test delivery = %+v", d)
	}
	mu.Lock()
	if len(got) != 1 || got[0].Header.Get("X-Apogee-Event") != "ping" {
		t.Fatalf("receiver got %d requests", len(got))
	}
	m := hmac.New(sha256.New, []byte(made.Secret))
	m.Write(bodies[0])
	if sig := got[0].Header.Get("X-Apogee-Signature"); sig != "sha256="+hex.EncodeToString(m.Sum(nil)) {
		t.Errorf("signature %s does not match the secret shown at creation", sig)
	}
	if !strings.Contains(string(bodies[0]), `"team":"acme"`) || !strings.Contains(string(bodies[0]), "team acme: test notification") {
		t.Errorf("ping body = %s", bodies[0])
	}
	mu.Unlock()
	var l webhookList
	e.must(e.call("GET", "/api/v1/teams/acme/webhooks", viewer, nil), 200, &l)
	if l.Webhooks[0].LastStatus != apogee.DeliveryOK || l.Webhooks[0].LastCode != 200 {
		t.Errorf("the last delivery is not listed: %+v", l.Webhooks[0].Webhook)
	}

	e.must(e.call("DELETE", "/api/v1/teams/acme/webhooks/"+made.ID, owner, nil), 204, nil)
	e.wantErr(e.call("DELETE", "/api/v1/teams/acme/webhooks/"+made.ID, owner, nil), 404, apogee.ENOTFOUND)
	l = webhookList{}
	e.must(e.call("GET", "/api/v1/teams/acme/webhooks", owner, nil), 200, &l)
	if len(l.Webhooks) != 0 {
		t.Fatalf("after delete: %+v", l)
	}
}
