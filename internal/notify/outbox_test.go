package notify_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/notify"
	"github.com/apogee-dev/apogee/internal/sqlstore"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// TestWebhookOutboxSurvivesStop: deliveries queued on a server that
// stops before sending them are sent by another server, each once, to a
// real receiver; one the stopped server had claimed (it died mid-POST)
// is sent once its claim lapses, not before.
func TestWebhookOutboxSurvivesStop(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			var st *sqlstore.Store
			if db == "postgres" {
				st = testbed.PostgresStore(t)
			}
			// Server A queues deliveries and stops before its workers
			// send any.
			a := newWorldOn(t, notify.SenderConfig{AllowPrivate: true, Node: "a"}, st, false)
			ctx := t.Context()
			rcv := newReceiver(t, 200)
			h := a.hook(rcv.URL, "0123456789abcdef")
			want := map[string]bool{}
			for range 3 {
				d := a.uploaded(false)
				want[d.ID] = true
				must(t, a.bus.Publish(ctx, apogee.Event{Type: apogee.EventDeploymentReady, DeploymentID: d.ID}))
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				n, err := a.store.PendingWebhookDeliveries(ctx)
				must(t, err)
				if n == 3 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d deliveries in the outbox after 10 s, want 3", n)
				}
				time.Sleep(10 * time.Millisecond)
			}
			a.stop()
			if n := len(rcv.requests()); n != 0 {
				t.Fatalf("the receiver got %d requests from a server whose workers never ran", n)
			}
			// A had claimed one when it died: its lease runs 1 s.
			now := time.Now()
			claimed, err := a.store.ClaimWebhookDeliveries(ctx, "a", now, now.Add(time.Second), 1)
			must(t, err)
			if len(claimed) != 1 {
				t.Fatalf("claimed %d deliveries, want 1", len(claimed))
			}
			lapse := claimed[0].LeaseUntil

			// Server B, same store and secret key.
			b := notify.NewSender(notify.SenderConfig{Store: a.store, Box: a.box, AllowPrivate: true, Node: "b",
				Poll: 50 * time.Millisecond, Backoff: 10 * time.Millisecond, Log: testbed.Quiet})
			bctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); b.Run(bctx) }()
			t.Cleanup(func() { cancel(); <-done })
			arrivals := map[string]time.Time{}
			for len(arrivals) < 3 {
				select {
				case <-rcv.arrived:
					for _, r := range rcv.requests() {
						if _, seen := arrivals[r.header.Get("X-Apogee-Delivery")]; !seen {
							arrivals[r.header.Get("X-Apogee-Delivery")] = time.Now()
						}
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("%d of 3 deliveries arrived within 10 s", len(arrivals))
				}
			}
			if at, ok := arrivals[claimed[0].ID]; !ok || at.Before(lapse) {
				t.Errorf("the delivery A had claimed arrived at %v, before its claim lapsed at %v (or never)", at, lapse)
			}
			select {
			case <-b.Idle():
			case <-time.After(10 * time.Second):
				t.Fatal("the outbox is not empty after 10 s")
			}
			time.Sleep(200 * time.Millisecond) // four polls of B: a second send would be made by now
			reqs := rcv.requests()
			if len(reqs) != 3 {
				t.Fatalf("the receiver got %d requests for 3 deliveries, want each once", len(reqs))
			}
			for _, r := range reqs {
				var note struct {
					Type       string `json:"type"`
					Deployment struct {
						ID string `json:"id"`
					} `json:"deployment"`
				}
				must(t, json.Unmarshal(r.body, &note))
				if note.Type != apogee.NotifyDeploymentReady || !want[note.Deployment.ID] {
					t.Errorf("delivery %s is %s of %s, want deployment.ready of one of the three", r.header.Get("X-Apogee-Delivery"), note.Type, note.Deployment.ID)
				}
				delete(want, note.Deployment.ID)
			}
			if got := a.waitDelivery(h); got.LastStatus != apogee.DeliveryOK {
				t.Errorf("the webhook's last delivery is %s %q", got.LastStatus, got.LastError)
			}
		})
	}
}
