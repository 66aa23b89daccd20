package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/client"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// TestWebhookSentAfterServerStops: a deployment.ready webhook whose
// receiver is down when server A tries it waits in the outbox; A stops
// before its retry; server B, started afterwards on the same database,
// sends it once the receiver is up, with the delivery id A made.
func TestWebhookSentAfterServerStops(t *testing.T) {
	database, blobs := testbed.PostgresURL(t), "file://"+filepath.Join(t.TempDir(), "blobs")
	cfg := func() Config {
		return Config{Database: database, Blobs: blobs, SecretKey: strings.Repeat("cd", 32), Data: t.TempDir(), WebhooksAllowPrivate: true}
	}
	// The receiver's port, free until the receiver listens.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hookURL := "http://" + ln.Addr().String() + "/hook"
	ln.Close()

	ctxA, stopA := context.WithCancel(context.Background())
	a, addrA, doneA := startStoppable(t, ctxA, cfg())
	ctx := t.Context()
	token := userToken(t, a.Store(), "dev@example.com", "password", false)
	c := client.New(addrA, token)
	if _, err := c.CreateProject(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateWebhook(ctx, "web", apogee.CreateWebhookRequest{URL: hookURL, Events: []string{apogee.NotifyDeploymentReady}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Deploy(ctx, site(t, "one"), client.DeployOptions{Project: "web", Production: true}); err != nil {
		t.Fatal(err)
	}
	// A's first attempt is refused (nothing listens); the retry is due
	// 2 s later. Stop A before that.
	deadline := time.Now().Add(10 * time.Second)
	for {
		hs, err := a.Store().ListWebhooks(ctx, mustProject(t, a, "web"))
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := a.Store().PendingWebhookDeliveries(ctx); n == 1 && len(hs) == 1 && hs[0].LastAt == nil {
			items, err := a.Store().ClaimWebhookDeliveries(ctx, "peek", time.Now().Add(time.Hour), time.Now(), 1)
			if err != nil {
				t.Fatal(err)
			}
			if len(items) == 1 && items[0].Attempts >= 1 {
				break // tried once, waiting for its retry (the peek's lease has lapsed already)
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no delivery tried and waiting in the outbox after 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopA()
	<-doneA

	var mu sync.Mutex
	var ids []string
	arrived := make(chan struct{}, 8)
	ln, err = net.Listen("tcp", strings.TrimPrefix(strings.TrimSuffix(hookURL, "/hook"), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	rcv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		ids = append(ids, r.Header.Get("X-Apogee-Delivery"))
		mu.Unlock()
		arrived <- struct{}{}
	})}
	go rcv.Serve(ln)
	t.Cleanup(func() { rcv.Close() })

	b, _ := startServer(t, cfg())
	select {
	case <-arrived:
	case <-time.After(15 * time.Second):
		t.Fatal("B did not send the delivery A left within 15 s")
	}
	select {
	case <-b.webhooks.Idle():
	case <-time.After(10 * time.Second):
		t.Fatal("the outbox is not empty 10 s after the delivery")
	}
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(ids) != 1 || ids[0] == "" {
		t.Fatalf("the receiver got deliveries %q, want one", ids)
	}
	hs, err := b.Store().ListWebhooks(ctx, mustProject(t, b, "web"))
	if err != nil {
		t.Fatal(err)
	}
	if hs[0].LastStatus != apogee.DeliveryOK || hs[0].LastCode != 200 {
		t.Errorf("the webhook's last delivery is %s %d %q, want ok 200", hs[0].LastStatus, hs[0].LastCode, hs[0].LastError)
	}
}

func mustProject(t *testing.T, s *Server, name string) string {
	t.Helper()
	p, err := s.Store().ProjectByName(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return p.ID
}

// startStoppable is startServer with the server's life under ctx: done
// is closed once it has stopped and closed.
func startStoppable(t *testing.T, ctx context.Context, cfg Config) (*Server, string, <-chan struct{}) {
	t.Helper()
	cfg.Listen, cfg.CacheMB, cfg.MaxFileMB, cfg.Domain = "127.0.0.1:0", 16, 8, "localhost"
	cfg.UploadTTL, cfg.LogLevel, cfg.LogFormat, cfg.ShutdownTTL = time.Hour, "warn", "text", time.Second
	cfg.MetricsListen, cfg.NodeDir = "127.0.0.1:0", testbed.NodeDir(t)
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	s, err := New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Serve(ctx, ln); err != nil {
			t.Errorf("Serve: %v", err)
		}
		s.Close()
	}()
	return s, "http://" + ln.Addr().String(), done
}
