package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// testWebhooks covers creating, listing, reading, recording deliveries of
// and deleting a project's outgoing webhooks, the per-project limit under
// concurrent creates, and removal with the project. The store keeps the
// secret as given (callers seal it), so plain strings stand in here.
func testWebhooks(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	web := project(t, s, alice, "web")
	blog := project(t, s, alice, "blog")

	list := func(p *apogee.Project) []*apogee.Webhook {
		t.Helper()
		hs, err := s.ListWebhooks(ctx, p.ID)
		must(t, err)
		return hs
	}
	equal(t, "ListWebhooks of a new project", len(list(web)), 0)

	slack := &apogee.Webhook{ID: apogee.NewID(), ProjectID: web.ID, URL: "https://hooks.slack.example/T1/B2/c3",
		Secret: "v1:sealed", Events: []string{apogee.NotifyDeploymentReady, apogee.NotifyDeploymentError}, CreatedAt: base}
	must(t, s.CreateWebhook(ctx, slack))
	all := &apogee.Webhook{ID: apogee.NewID(), ProjectID: web.ID, URL: "http://10.0.0.7:9000/hook", Secret: "v1:other"}
	must(t, s.CreateWebhook(ctx, all))
	if all.CreatedAt.IsZero() || all.Events == nil {
		t.Fatalf("CreateWebhook did not fill in CreatedAt and Events: %+v", all)
	}
	all.CreatedAt = all.CreatedAt.UTC()
	equal(t, "ListWebhooks(web), oldest first", list(web), []*apogee.Webhook{slack, all})
	equal(t, "ListWebhooks(blog)", len(list(blog)), 0)

	got, err := s.WebhookByID(ctx, web.ID, slack.ID)
	must(t, err)
	equal(t, "WebhookByID", got, slack)
	_, err = s.WebhookByID(ctx, blog.ID, slack.ID) // another project's id
	wantNotFound(t, err, slack.ID)

	// The same id twice is a conflict; an unknown project is not found.
	wantCode(t, s.CreateWebhook(ctx, &apogee.Webhook{ID: slack.ID, ProjectID: blog.ID, URL: "https://x.example/", Secret: "s"}), apogee.ECONFLICT)
	wantNotFound(t, s.CreateWebhook(ctx, &apogee.Webhook{ID: apogee.NewID(), ProjectID: "nosuchproject", URL: "https://x.example/", Secret: "s"}), "nosuchproject")

	// Deliveries: the last one is kept, failed or not.
	failed := apogee.WebhookDelivery{ID: "d1", Status: apogee.DeliveryFailed, Code: 500, Error: "answered 500 Internal Server Error", Attempts: 4, At: base.Add(time.Minute)}
	must(t, s.RecordWebhookDelivery(ctx, slack.ID, failed))
	got, err = s.WebhookByID(ctx, web.ID, slack.ID)
	must(t, err)
	at := base.Add(time.Minute)
	equal(t, "after a failed delivery", [4]any{got.LastStatus, *got.LastAt, got.LastCode, got.LastError},
		[4]any{apogee.DeliveryFailed, at, 500, failed.Error})
	ok := apogee.WebhookDelivery{ID: "d2", Status: apogee.DeliveryOK, Code: 204, Attempts: 1, At: base.Add(2 * time.Minute)}
	must(t, s.RecordWebhookDelivery(ctx, slack.ID, ok))
	got, err = s.WebhookByID(ctx, web.ID, slack.ID)
	must(t, err)
	at = base.Add(2 * time.Minute)
	equal(t, "after a good delivery", [4]any{got.LastStatus, *got.LastAt, got.LastCode, got.LastError},
		[4]any{apogee.DeliveryOK, at, 204, ""})
	wantNotFound(t, s.RecordWebhookDelivery(ctx, "nosuchhook", ok), "nosuchhook")

	must(t, s.DeleteWebhook(ctx, web.ID, all.ID))
	wantNotFound(t, s.DeleteWebhook(ctx, web.ID, all.ID), all.ID)
	wantNotFound(t, s.DeleteWebhook(ctx, blog.ID, slack.ID), slack.ID)
	equal(t, "ListWebhooks after delete", len(list(web)), 1)

	// Concurrent creates do not pass the limit together.
	var wg sync.WaitGroup
	errs := make([]error, apogee.MaxWebhooks+5)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.CreateWebhook(ctx, &apogee.Webhook{ID: apogee.NewID(), ProjectID: blog.ID,
				URL: fmt.Sprintf("https://h%d.example/", i), Secret: "s"})
		}()
	}
	wg.Wait()
	var created, refused int
	for _, err := range errs {
		switch apogee.ErrorCode(err) {
		case "":
			created++
		case apogee.ETOOLARGE:
			refused++
		default:
			t.Fatalf("concurrent CreateWebhook: %v", err)
		}
	}
	equal(t, "webhooks created, refused at the limit", [2]int{created, refused}, [2]int{apogee.MaxWebhooks, 5})

	// A project's webhooks go with it.
	must(t, s.DeleteProject(ctx, blog.ID))
	equal(t, "webhooks of a deleted project", len(list(blog)), 0)
}
