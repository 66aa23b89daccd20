package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/client"
	"github.com/apogee-dev/apogee/internal/events/natstest"
	"github.com/apogee-dev/apogee/internal/logs"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// startServer runs a server with cfg (Data, Database, Blobs, Events and
// SecretKey as the caller wants them) on 127.0.0.1:0 until the test ends
// and returns its address.
func startServer(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	cfg.Listen, cfg.CacheMB, cfg.MaxFileMB = "127.0.0.1:0", 16, 8
	if cfg.Domain == "" {
		cfg.Domain = "localhost"
	}
	cfg.UploadTTL, cfg.LogLevel, cfg.LogFormat, cfg.ShutdownTTL = time.Hour, "warn", "text", time.Second
	if cfg.MetricsListen == "" {
		cfg.MetricsListen = "127.0.0.1:0"
	}
	if cfg.NodeDir == "" {
		cfg.NodeDir = testbed.NodeDir(t)
	}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		s.Close()
	})
	return s, "http://" + ln.Addr().String()
}

// twoServers starts servers A and B with cfg, each with a data folder of
// its own, sharing a fresh PostgreSQL schema, a blob folder, a secret key
// and a subject prefix on ns: one platform in two processes.
func twoServers(t *testing.T, ns *natstest.Server, cfg Config) (a, b *Server, addrA, addrB string) {
	t.Helper()
	return twoServersWith(t, ns, cfg, cfg)
}

// twoServersWith is twoServers with a configuration each (their roles,
// say).
func twoServersWith(t *testing.T, ns *natstest.Server, cfgA, cfgB Config) (a, b *Server, addrA, addrB string) {
	t.Helper()
	database, blobs := testbed.PostgresURL(t), "file://"+filepath.Join(t.TempDir(), "blobs")
	events := ns.URL() + "?subject=apogee.test." + apogee.NewID()
	for _, cfg := range []*Config{&cfgA, &cfgB} {
		cfg.Database, cfg.Blobs, cfg.Events, cfg.SecretKey = database, blobs, events, strings.Repeat("ab", 32)
		cfg.Data = t.TempDir()
	}
	a, addrA = startServer(t, cfgA)
	b, addrB = startServer(t, cfgB)
	return a, b, addrA, addrB
}

// TestTwoServersOneEventBus is the scaled-out platform: two servers share
// one PostgreSQL database, one blob folder and one NATS. A deployment made
// through A is served by B, and B follows a rollback made through A.
func TestTwoServersOneEventBus(t *testing.T) {
	ns := natstest.Start(t)
	a, b, addrA, addrB := twoServers(t, ns, Config{WebhooksAllowPrivate: true})

	ctx := context.Background()
	secret := userToken(t, a.Store(), "admin@example.com", "password", true)
	c := client.New(addrA, secret)
	if _, err := c.CreateProject(ctx, "web"); err != nil {
		t.Fatal(err)
	}

	// Both servers see every event; the webhook must still come once.
	var hooks atomic.Int32
	arrived := make(chan struct{}, 16) // one per webhook received
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.Contains(string(body), apogee.NotifyDeploymentReady) {
			hooks.Add(1)
			arrived <- struct{}{}
		}
	}))
	t.Cleanup(receiver.Close)
	if _, err := c.CreateWebhook(ctx, "web", apogee.CreateWebhookRequest{URL: receiver.URL, Events: []string{apogee.NotifyDeploymentReady}}); err != nil {
		t.Fatal(err)
	}

	// B's live notifications say when B has handled an event: a
	// webhook B wrongly dispatched for it is queued by then.
	admin, err := a.Store().UserByEmail(ctx, "admin@example.com")
	if err != nil {
		t.Fatal(err)
	}
	liveB := b.notifier.Subscribe(t.Context(), admin.ID)

	one, err := c.Deploy(ctx, site(t, "one"), client.DeployOptions{Project: "web", Production: true})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, addrB, one.Deployment.Host+".localhost", "one")
	waitFor(t, addrB, "web.localhost", "one")
	two, err := c.Deploy(ctx, site(t, "two"), client.DeployOptions{Project: "web", Production: true})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, addrB, "web.localhost", "two")
	for _, want := range []string{one.Deployment.ID, two.Deployment.ID} {
		select {
		case n := <-liveB:
			if n.Type != apogee.NotifyDeploymentReady || n.Deployment == nil || n.Deployment.ID != want {
				t.Fatalf("B's live notification %+v, want deployment.ready of %s", n, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("B told no one of deployment %s within 10 s", want)
		}
	}
	// A's own dispatch of "two" may still be on its way (B's live
	// notifications say nothing of A): wait until both webhooks arrived.
	// Then B handled both events (the live notification of "two" comes
	// after any dispatch for "one"); once neither server has a delivery
	// queued or under way, a webhook sent twice would have arrived too.
	for range 2 {
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d deployment.ready webhooks within 10 s, want 2", hooks.Load())
		}
	}
	for _, s := range []*Server{a, b} {
		select {
		case <-s.webhooks.Idle():
		case <-time.After(10 * time.Second):
			t.Fatal("webhook deliveries still under way after 10 s")
		}
	}
	if n := hooks.Load(); n != 2 {
		t.Errorf("deployment.ready webhooks sent %d times for two deployments by two servers, want twice (once each)", n)
	}

	if _, err := c.Rollback(ctx, "web", one.Deployment.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, addrB, "web.localhost", "one")
	waitFor(t, addrA, "web.localhost", "one")
}

func TestEventsFlag(t *testing.T) {
	tests := []struct{ events, err string }{
		{"nats://127.0.0.1:1", "--events nats://127.0.0.1:1 (APOGEE_EVENTS)"},
		{"nats://u:hunter2@127.0.0.1:1", "--events nats://u:xxxxx@127.0.0.1:1 (APOGEE_EVENTS)"},
		{"redis://127.0.0.1:6379", "use local (one server), nats://host:4222 or kafka://"},
	}
	for _, tt := range tests {
		cfg := Config{Data: t.TempDir(), Events: tt.events, Listen: "127.0.0.1:0", Domain: "localhost", CacheMB: 16, MaxFileMB: 8,
			UploadTTL: time.Hour, LogLevel: "warn", LogFormat: "text", ShutdownTTL: time.Second}
		if err := cfg.Normalize(); err != nil {
			t.Fatal(err)
		}
		s, err := New(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err == nil {
			s.Close()
			t.Errorf("--events %s: server started", tt.events)
			continue
		}
		if !strings.Contains(err.Error(), tt.err) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("--events %s: error %q, want one containing %q and no password", tt.events, err, tt.err)
		}
	}
}

// TestTwoServersLiveLogs: a build's log written on server A (where it
// runs) is followed live through server B's API, and the follow ends when
// A ends the log. The writer stores nothing meanwhile, so the lines B
// streams can only have come over NATS: core NATS, and JetStream's
// stream of live logs.
func TestTwoServersLiveLogs(t *testing.T) {
	for name, start := range map[string]func(testing.TB) *natstest.Server{"core": natstest.Start, "jetstream": natstest.StartJetStream} {
		t.Run(name, func(t *testing.T) { testTwoServersLiveLogs(t, start(t)) })
	}
}

func testTwoServersLiveLogs(t *testing.T, ns *natstest.Server) {
	a, _, addrA, addrB := twoServers(t, ns, Config{AllowFileGit: true})

	ctx := t.Context()
	secret := userToken(t, a.Store(), "admin@example.com", "password", true)
	ca, cb := client.New(addrA, secret), client.New(addrB, secret)
	if _, err := ca.CreateGitProject(ctx, "app", apogee.GitSource{URL: "file://" + t.TempDir(), Branch: "main"}); err != nil {
		t.Fatal(err)
	}
	// No server has build workers: the build stays queued while this
	// test writes its log on A, as A's builder would.
	d, err := ca.QueueBuild(ctx, "app", apogee.BuildRequest{})
	if err != nil {
		t.Fatal(err)
	}

	got := make(chan apogee.LogLine, 16)
	followed := make(chan error, 1)
	go func() {
		_, err := cb.FollowLogs(ctx, d.ID, 0, func(l apogee.LogLine) error { got <- l; return nil })
		followed <- err
	}()
	w := logs.NewWriter(d.ID, a.Store(), a.hub, logs.Options{FlushInterval: time.Hour})
	deadline := time.After(20 * time.Second) // a late subscriber waits up to 5s on a gap
	for _, want := range []string{"Installing", "Building"} {
		// Write until B streams it: B may not have subscribed yet.
		tick := time.NewTicker(200 * time.Millisecond)
		w.Systemf("%s", want)
	wait:
		for {
			select {
			case l := <-got:
				if l.Text == want {
					break wait
				}
			case <-tick.C:
				w.Systemf("%s", want)
			case <-deadline:
				t.Fatalf("B did not stream %q written on A within 20s", want)
			}
		}
		tick.Stop()
	}
	if _, err := ca.Cancel(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	a.hub.End(d.ID)
	select {
	case err := <-followed:
		if err != nil {
			t.Fatalf("follow through B: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the follow through B did not end within 10s of A ending the log")
	}
}
