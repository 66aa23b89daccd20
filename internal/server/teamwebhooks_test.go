package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/client"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// TestTeamWebhookEndToEnd: on a real server (SQLite, then PostgreSQL), a
// team's owner adds a team webhook pointing at a local receiver; a
// member deploys a team project and the receiver gets deployment.ready,
// signed with the secret shown once and naming the project and the
// team; a project of another owner deploys too and never reaches it.
func TestTeamWebhookEndToEnd(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			cfg := Config{Data: t.TempDir(), WebhooksAllowPrivate: true, SecretKey: strings.Repeat("ef", 32)}
			if db == "postgres" {
				cfg.Database = testbed.PostgresURL(t)
			}
			testTeamWebhookEndToEnd(t, cfg)
		})
	}
}

func testTeamWebhookEndToEnd(t *testing.T, cfg Config) {
	s, addr := startServer(t, cfg)
	ctx := t.Context()

	type delivery struct {
		header http.Header
		body   []byte
	}
	var mu sync.Mutex
	var got []delivery
	arrived := make(chan struct{}, 16)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, delivery{r.Header.Clone(), b})
		mu.Unlock()
		arrived <- struct{}{}
	}))
	defer rcv.Close()

	owner := client.New(addr, userToken(t, s.Store(), "owner@example.com", "password", false))
	member := client.New(addr, userToken(t, s.Store(), "member@example.com", "password", false))
	other := client.New(addr, userToken(t, s.Store(), "other@example.com", "password", false))
	if _, err := owner.CreateTeam(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	inv, err := owner.InviteToTeam(ctx, "acme", apogee.TeamInviteRequest{Email: "member@example.com", Role: "member"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := member.JoinTeam(ctx, inv.Token); err != nil {
		t.Fatal(err)
	}
	hook, err := owner.CreateTeamWebhook(ctx, "acme", apogee.CreateWebhookRequest{URL: rcv.URL + "/acme",
		Events: []string{apogee.NotifyDeploymentReady}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := member.CreateProjectWith(ctx, apogee.CreateProjectRequest{Name: "team-site", Team: "acme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.CreateProject(ctx, "elsewhere"); err != nil {
		t.Fatal(err)
	}

	// Another owner's project deploys first: nothing may arrive for it.
	if _, err := other.Deploy(ctx, site(t, "elsewhere"), client.DeployOptions{Project: "elsewhere", Production: true}); err != nil {
		t.Fatal(err)
	}
	d, err := member.Deploy(ctx, site(t, "team"), client.DeployOptions{Project: "team-site", Production: true})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-arrived:
	case <-time.After(20 * time.Second):
		t.Fatal("no delivery to the team's webhook within 20 s")
	}
	// Every delivery queued is sent or given up: then count them.
	waitUntil(t, 20*time.Second, "empty webhook outbox", func() bool {
		n, err := s.Store().PendingWebhookDeliveries(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("the team's receiver got %d deliveries; want 1 (the team project's, none of another owner's)", len(got))
	}
	r := got[0]
	if ev := r.header.Get("X-Apogee-Event"); ev != apogee.NotifyDeploymentReady {
		t.Errorf("X-Apogee-Event = %q; want deployment.ready", ev)
	}
	m := hmac.New(sha256.New, []byte(hook.Secret))
	m.Write(r.body)
	if sig := r.header.Get("X-Apogee-Signature"); sig != "sha256="+hex.EncodeToString(m.Sum(nil)) {
		t.Errorf("X-Apogee-Signature = %s; want the body's HMAC under the secret shown at creation", sig)
	}
	var body struct {
		Type, Project, Team string
		Deployment          struct{ ID string }
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Type != apogee.NotifyDeploymentReady || body.Project != "team-site" || body.Team != "acme" || body.Deployment.ID != d.Deployment.ID {
		t.Errorf("delivery body = %s; want deployment.ready of team-site (team acme), deployment %s", r.body, d.Deployment.ID)
	}
	// The outcome is recorded right after the delivery leaves the outbox.
	var h apogee.WebhookView
	waitUntil(t, 20*time.Second, "recorded delivery of the team webhook", func() bool {
		hs, err := owner.ListTeamWebhooks(ctx, "acme")
		if err != nil || len(hs) != 1 {
			t.Fatalf("the team's webhooks: %+v, %v", hs, err)
		}
		h = hs[0]
		return h.LastAt != nil
	})
	if h.LastStatus != apogee.DeliveryOK || h.LastCode != 200 {
		t.Errorf("the team webhook's last delivery: %s %d %q; want ok 200", h.LastStatus, h.LastCode, h.LastError)
	}
}
