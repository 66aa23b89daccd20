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

// testTeamWebhooks covers a team's webhooks (issue 19): kept apart from
// its projects' own, read by id alone for the outbox, the per-team limit
// under concurrent creates, deliveries queued and recorded as a
// project's are, and removal with the team.
func testTeamWebhooks(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	acme := &apogee.Team{Name: "acme", CreatedBy: alice.ID, CreatedAt: base}
	must(t, s.CreateTeam(ctx, acme, alice.ID))
	globex := &apogee.Team{Name: "globex", CreatedBy: alice.ID, CreatedAt: base}
	must(t, s.CreateTeam(ctx, globex, alice.ID))
	site := project(t, s, alice, "site")
	must(t, s.MoveProject(ctx, site.ID, acme.ID))

	list := func(teamID string) []*apogee.Webhook {
		t.Helper()
		hs, err := s.ListTeamWebhooks(ctx, teamID)
		must(t, err)
		return hs
	}
	equal(t, "ListTeamWebhooks of a new team", len(list(acme.ID)), 0)
	h := &apogee.Webhook{ID: apogee.NewID(), TeamID: acme.ID, URL: "https://hooks.example/acme", Secret: "v1:sealed",
		Events: []string{apogee.NotifyDeploymentReady}, CreatedAt: base}
	must(t, s.CreateWebhook(ctx, h))
	own := &apogee.Webhook{ID: apogee.NewID(), ProjectID: site.ID, URL: "https://hooks.example/site", Secret: "v1:own", CreatedAt: base.Add(time.Second)}
	must(t, s.CreateWebhook(ctx, own))
	equal(t, "ListTeamWebhooks(acme)", list(acme.ID), []*apogee.Webhook{h})
	equal(t, "ListTeamWebhooks(globex)", len(list(globex.ID)), 0)
	equal(t, "ListTeamWebhooks of a person", len(list(alice.ID)), 0)
	ps, err := s.ListWebhooks(ctx, site.ID)
	must(t, err)
	equal(t, "the team project's own webhooks", ps, []*apogee.Webhook{own})

	got, err := s.TeamWebhookByID(ctx, acme.ID, h.ID)
	must(t, err)
	equal(t, "TeamWebhookByID", got, h)
	_, err = s.TeamWebhookByID(ctx, globex.ID, h.ID) // another team's id
	wantNotFound(t, err, h.ID)
	_, err = s.TeamWebhookByID(ctx, acme.ID, own.ID) // a project's webhook is no team's
	wantNotFound(t, err, own.ID)
	_, err = s.WebhookByID(ctx, site.ID, h.ID) // nor a team's a project's
	wantNotFound(t, err, h.ID)
	for _, want := range []*apogee.Webhook{h, own} {
		got, err := s.Webhook(ctx, want.ID)
		must(t, err)
		equal(t, "Webhook by id alone", got, want)
	}
	_, err = s.Webhook(ctx, "nosuchhook")
	wantNotFound(t, err, "nosuchhook")

	// Bad owners: none, both, a missing team, a person is no team.
	wantCode(t, s.CreateWebhook(ctx, &apogee.Webhook{ID: apogee.NewID(), URL: "https://x.example/", Secret: "s"}), apogee.EINVALID)
	wantCode(t, s.CreateWebhook(ctx, &apogee.Webhook{ID: apogee.NewID(), ProjectID: site.ID, TeamID: acme.ID, URL: "https://x.example/", Secret: "s"}), apogee.EINVALID)
	wantNotFound(t, s.CreateWebhook(ctx, &apogee.Webhook{ID: apogee.NewID(), TeamID: "nosuchteam", URL: "https://x.example/", Secret: "s"}), "nosuchteam")
	wantNotFound(t, s.CreateWebhook(ctx, &apogee.Webhook{ID: apogee.NewID(), TeamID: alice.ID, URL: "https://x.example/", Secret: "s"}), alice.ID)

	// Deliveries of the team's webhook about its project: queued,
	// claimed and recorded as a project's are.
	item := &apogee.WebhookOutboxItem{ID: apogee.NewID(), WebhookID: h.ID, ProjectID: site.ID, Event: apogee.NotifyDeploymentReady,
		Body: []byte(`{"type":"deployment.ready"}`), DueAt: base, CreatedAt: base}
	must(t, s.QueueWebhookDeliveries(ctx, []*apogee.WebhookOutboxItem{item}))
	claimed, err := s.ClaimWebhookDeliveries(ctx, "a", base, base.Add(time.Minute), 10)
	must(t, err)
	if len(claimed) != 1 || claimed[0].WebhookID != h.ID || claimed[0].ProjectID != site.ID {
		t.Fatalf("claimed %+v; want the team webhook's delivery about site", claimed)
	}
	ok := apogee.WebhookDelivery{ID: item.ID, Status: apogee.DeliveryOK, Code: 200, Attempts: 1, At: base.Add(time.Minute)}
	must(t, s.RecordWebhookDelivery(ctx, h.ID, ok))
	got, err = s.TeamWebhookByID(ctx, acme.ID, h.ID)
	must(t, err)
	equal(t, "after a delivery", [3]any{got.LastStatus, *got.LastAt, got.LastCode}, [3]any{apogee.DeliveryOK, base.Add(time.Minute), 200})

	// Delete: the team's own only.
	wantNotFound(t, s.DeleteTeamWebhook(ctx, globex.ID, h.ID), h.ID)
	wantNotFound(t, s.DeleteTeamWebhook(ctx, acme.ID, own.ID), own.ID)
	wantNotFound(t, s.DeleteWebhook(ctx, site.ID, h.ID), h.ID)
	must(t, s.DeleteTeamWebhook(ctx, acme.ID, h.ID))
	wantNotFound(t, s.DeleteTeamWebhook(ctx, acme.ID, h.ID), h.ID)
	n, err := s.PendingWebhookDeliveries(ctx)
	must(t, err)
	equal(t, "deliveries of a deleted webhook", n, 0)
	ps, err = s.ListWebhooks(ctx, site.ID)
	must(t, err)
	equal(t, "the project's own webhook after the team's went", len(ps), 1)

	// The limit is per team, under concurrent creates.
	var wg sync.WaitGroup
	errs := make([]error, apogee.MaxWebhooks+3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.CreateWebhook(ctx, &apogee.Webhook{ID: apogee.NewID(), TeamID: globex.ID,
				URL: fmt.Sprintf("https://g%d.example/", i), Secret: "s"})
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
			t.Fatalf("concurrent CreateWebhook of a team: %v", err)
		}
	}
	equal(t, "team webhooks created, refused at the limit", [2]int{created, refused}, [2]int{apogee.MaxWebhooks, 3})

	// A team's webhooks go with it.
	must(t, s.DeleteTeam(ctx, globex.ID))
	equal(t, "webhooks of a deleted team", len(list(globex.ID)), 0)
}
