package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// testWebhookOutbox: deliveries are claimed when due, in order, by one
// holder at a time (even by claims racing each other), claimed again once
// the lease lapses, made due again by a retry, and gone when finished or
// when their webhook is removed.
func testWebhookOutbox(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	web := project(t, s, alice, "web")
	h := &apogee.Webhook{ID: apogee.NewID(), ProjectID: web.ID, URL: "https://hooks.example/x", Secret: "v1:sealed"}
	must(t, s.CreateWebhook(ctx, h))
	item := func(due time.Time) *apogee.WebhookOutboxItem {
		return &apogee.WebhookOutboxItem{ID: apogee.NewID(), WebhookID: h.ID, ProjectID: web.ID, Event: apogee.NotifyDeploymentReady,
			Body: []byte(`{"type":"deployment.ready"}`), DueAt: due, CreatedAt: base}
	}
	wantCode(t, s.QueueWebhookDeliveries(ctx, []*apogee.WebhookOutboxItem{{ID: apogee.NewID(), WebhookID: "gone", ProjectID: web.ID,
		Event: "x", Body: []byte("{}")}}), apogee.ENOTFOUND)

	first, second, later := item(base), item(base), item(base.Add(time.Hour))
	must(t, s.QueueWebhookDeliveries(ctx, []*apogee.WebhookOutboxItem{first, second, later}))
	n, err := s.PendingWebhookDeliveries(ctx)
	must(t, err)
	equal(t, "pending", n, 3)

	got, err := s.ClaimWebhookDeliveries(ctx, "a", base, base.Add(time.Minute), 10)
	must(t, err)
	equal(t, "claimed due, in order", ids(got), []string{first.ID, second.ID})
	equal(t, "the body", string(got[0].Body), `{"type":"deployment.ready"}`)
	equal(t, "the holder", got[0].LeaseHolder, "a")
	got, err = s.ClaimWebhookDeliveries(ctx, "b", base.Add(30*time.Second), base.Add(2*time.Minute), 10)
	must(t, err)
	equal(t, "claims while leased", len(got), 0)
	// a stopped: its claims lapse and b takes them.
	got, err = s.ClaimWebhookDeliveries(ctx, "b", base.Add(time.Minute), base.Add(2*time.Minute), 1)
	must(t, err)
	equal(t, "claimed after the lease lapsed", ids(got), []string{first.ID})
	must(t, s.RetryWebhookDelivery(ctx, first.ID, 1, base.Add(5*time.Minute)))
	wantNotFound(t, s.RetryWebhookDelivery(ctx, "nope", 1, base), "nope")
	got, err = s.ClaimWebhookDeliveries(ctx, "b", base.Add(4*time.Minute), base.Add(10*time.Minute), 10)
	must(t, err)
	equal(t, "claimed before the retry is due", ids(got), []string{second.ID})
	got, err = s.ClaimWebhookDeliveries(ctx, "b", base.Add(5*time.Minute), base.Add(6*time.Minute), 10)
	must(t, err)
	equal(t, "claimed when the retry is due", ids(got), []string{first.ID})
	equal(t, "attempts kept", got[0].Attempts, 1)
	must(t, s.FinishWebhookDelivery(ctx, first.ID))
	must(t, s.FinishWebhookDelivery(ctx, first.ID)) // again: no error
	must(t, s.FinishWebhookDelivery(ctx, second.ID))

	// Racing claims never hand one delivery to two holders.
	var many []*apogee.WebhookOutboxItem
	for range 40 {
		many = append(many, item(base))
	}
	must(t, s.QueueWebhookDeliveries(ctx, many))
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, err := s.ClaimWebhookDeliveries(ctx, string(rune('a'+w)), base.Add(2*time.Hour), base.Add(3*time.Hour), 3)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, it := range got {
					seen[it.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	equal(t, "deliveries claimed by the racing claims", len(seen), 41) // the 40 and later
	for id, n := range seen {
		if n != 1 {
			t.Errorf("delivery %s claimed %d times", id, n)
		}
	}
	// Removing the webhook removes its deliveries.
	must(t, s.DeleteWebhook(ctx, web.ID, h.ID))
	n, err = s.PendingWebhookDeliveries(ctx)
	must(t, err)
	equal(t, "pending after the webhook was removed", n, 0)
}

func ids(items []*apogee.WebhookOutboxItem) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}
