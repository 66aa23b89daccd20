package dashboard

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"net/http/httptest"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/logs"
	"github.com/apogee-dev/apogee/internal/notify"
	"github.com/apogee-dev/apogee/internal/platform"
	"github.com/apogee-dev/apogee/internal/secretbox"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// notifyEnv is newEnv with a bus and a running notifier behind /events,
// whose heartbeat (and session check) comes every 50 ms.
func notifyEnv(t *testing.T) (*env, *events.Local) {
	t.Helper()
	store, blobs, _ := testbed.Backends(t)
	log := testbed.Quiet
	bus := events.NewLocal(log)
	t.Cleanup(func() { bus.Close() })
	hub := logs.NewHub(0)
	box := secretbox.NewRandom()
	sender := notify.NewSender(notify.SenderConfig{Store: store, Box: box, AllowPrivate: true, Log: log})
	svc, a := services(t, platform.Config{Store: store, Blobs: blobs, Bus: bus, Logs: hub, Log: log, Box: box, Webhooks: sender})
	n, err := notify.New(notify.Config{Store: store, Bus: bus, Webhooks: sender, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = n.Run(ctx) }()
	go func() { defer wg.Done(); sender.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	d, err := New(Config{Store: store, Services: svc, Logs: hub, Log: log, Notify: n, Heartbeat: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: store, hub: hub, box: box, api: a, svc: svc, srv: httptest.NewServer(d)}
	t.Cleanup(e.srv.Close)
	e.alice = e.user("alice@example.com", false)
	e.bob = e.user("bob@example.com", false)
	e.admin = e.user("admin@example.com", true)
	return e, bus
}

// stream is an open GET /events of a browser: its lines arrive on lines,
// which closes when the server ends the stream.
type stream struct {
	lines chan string
	res   *http.Response
}

func (b *browser) events(t *testing.T) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", b.e.srv.URL+"/events", nil)
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /events = %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	s := &stream{lines: make(chan string, 100), res: res}
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() { cancel(); res.Body.Close() })
	return s
}

// next returns the data of the next "deployment" event, or "" if none
// comes within d.
func (s *stream) next(d time.Duration) string {
	timeout := time.After(d)
	event := ""
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				return ""
			}
			if strings.HasPrefix(l, "event: ") {
				event = strings.TrimPrefix(l, "event: ")
			}
			if strings.HasPrefix(l, "data: ") && event == "deployment" {
				return strings.TrimPrefix(l, "data: ")
			}
		case <-timeout:
			return ""
		}
	}
}

func TestEventsStreamToTheOwnerOnly(t *testing.T) {
	e, bus := notifyEnv(t)
	p, _, _ := e.project(e.alice, "web")
	alice, bob := e.signedIn(e.alice), e.signedIn(e.bob)
	as, bs := alice.events(t), bob.events(t)

	// A build of alice's ends in error: alice hears it, bob does not.
	d := e.building(p)
	if _, err := e.store.EndBuild(context.Background(), d.ID, apogee.StatusError, "npm run build exited with 1", time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	// The notifier subscribes in its goroutine: publish until alice hears.
	var got string
	for range 50 {
		if err := bus.Publish(context.Background(), apogee.Event{Type: apogee.EventBuildEnded, ProjectID: p.ID, DeploymentID: d.ID}); err != nil {
			t.Fatal(err)
		}
		if got = as.next(100 * time.Millisecond); got != "" {
			break
		}
	}
	for _, w := range []string{`"type":"deployment.error"`, `"project":"web"`, `"id":"` + d.ID + `"`, "npm run build exited with 1"} {
		if !strings.Contains(got, w) {
			t.Fatalf("alice's event %q does not hold %s", got, w)
		}
	}
	if other := bs.next(300 * time.Millisecond); other != "" {
		t.Fatalf("bob got alice's event %s", other)
	}

	// A ready deployment reaches alice too.
	ready := e.deploy(p, time.Now().UTC())
	if err := bus.Publish(context.Background(), apogee.Event{Type: apogee.EventDeploymentReady, DeploymentID: ready.ID}); err != nil {
		t.Fatal(err)
	}
	// The error may have been published more than once above (until alice
	// heard it): its repeats may come first.
	got = as.next(5 * time.Second)
	for strings.Contains(got, `"type":"deployment.error"`) && strings.Contains(got, d.ID) {
		got = as.next(5 * time.Second)
	}
	if !strings.Contains(got, `"type":"deployment.ready"`) || !strings.Contains(got, ready.ID) {
		t.Fatalf("alice's ready event = %q", got)
	}
}

func TestEventsNeedsASessionAndEndsWithIt(t *testing.T) {
	e, _ := notifyEnv(t)
	res := e.browser().get("/events")
	if res.code != http.StatusSeeOther || !strings.HasPrefix(res.location, "/login") {
		t.Fatalf("GET /events signed out = %d %q; want a redirect to /login", res.code, res.location)
	}

	alice := e.signedIn(e.alice)
	s := alice.events(t)
	// Heartbeats keep it open while the session holds.
	deadline := time.After(5 * time.Second)
	for pings := 0; pings < 2; {
		select {
		case l := <-s.lines:
			if l == ": ping" {
				pings++
			}
		case <-deadline:
			t.Fatal("no heartbeats on /events")
		}
	}
	want(t, "sign out", alice.post("/logout", nil), http.StatusSeeOther)
	ended := false
	deadline = time.After(5 * time.Second)
	for open := true; open; {
		select {
		case l, ok := <-s.lines:
			open = ok
			ended = ended || l == "event: end"
		case <-deadline:
			t.Fatal("/events still open 5 s after sign-out")
		}
	}
	if !ended {
		t.Error("/events closed without an end event")
	}
}

func TestWebhooksSection(t *testing.T) {
	e, _ := notifyEnv(t)
	e.project(e.alice, "web")
	alice, bob := e.signedIn(e.alice), e.signedIn(e.bob)

	want(t, "project page", alice.get("/projects/web/settings/notifications"), 200, "No webhooks yet", `<label for="hook-url">Receiver URL</label>`)
	form := func() url.Values {
		return url.Values{"url": {"https://hooks.slack.example/services/T0/B0/xyz"}, "events": {"deployment.ready", "deployment.error"}}
	}
	res := alice.post("/projects/web/webhooks", form())
	want(t, "add webhook", res, 200, "Webhook added", "Copy it now", "whsec_")
	secret := res.body[strings.Index(res.body, "whsec_"):]
	secret = secret[:strings.IndexByte(secret, '<')]

	page := alice.get("/projects/web/settings/notifications")
	want(t, "project page with a webhook", page, 200, "hooks.slack.example", "deployment.ready, deployment.error", "Nothing sent yet")
	if strings.Contains(page.body, secret) {
		t.Fatal("the project page shows the webhook's secret again")
	}
	hooks, err := e.svc.Webhooks.Webhooks(as(e.alice), "web")
	if err != nil || len(hooks) != 1 {
		t.Fatalf("webhooks after the form: %+v %v", hooks, err)
	}
	id := hooks[0].ID

	// Bad input says why and adds nothing; another user and a missing
	// CSRF token are refused.
	res = alice.post("/projects/web/webhooks", url.Values{"url": {"https://example.com/"}})
	want(t, "no event", res, http.StatusSeeOther)
	want(t, "after no event", alice.get("/projects/web/settings/notifications"), 200, "choose at least one event")
	res = alice.post("/projects/web/webhooks", url.Values{"url": {"ftp://example.com/"}, "events": {"deployment.ready"}})
	want(t, "ftp URL", res, http.StatusSeeOther)
	want(t, "after a refused URL", alice.get("/projects/web/settings/notifications"), 200, "must start with https://")
	want(t, "bob adds", bob.post("/projects/web/webhooks", form()), 404)
	want(t, "bob removes", bob.post("/projects/web/webhooks/"+id+"/delete", nil), 404)
	want(t, "no CSRF", alice.post("/projects/web/webhooks/"+id+"/delete", url.Values{"csrf": {""}}), 403)

	// Test sends a ping (to an unresolvable host here: it fails, and
	// says so), then remove.
	want(t, "test", alice.post("/projects/web/webhooks/"+id+"/test", nil), http.StatusSeeOther)
	want(t, "after the test", alice.get("/projects/web/settings/notifications"), 200, "Test delivery failed", "Failed")
	want(t, "remove", alice.post("/projects/web/webhooks/"+id+"/delete", nil), http.StatusSeeOther)
	want(t, "after remove", alice.get("/projects/web/settings/notifications"), 200, "Webhook removed.", "No webhooks yet")
}

// TestTeamWebhooksSection: the team page's Webhooks section. The owner
// adds one (its secret on the answer only), tests and removes it; a
// member sees it with its last delivery but no full URL and no forms,
// and is refused a change; a stranger gets the team's 404.
func TestTeamWebhooksSection(t *testing.T) {
	e, _ := notifyEnv(t)
	dave := e.user("dave@example.com", false)
	if _, err := e.svc.Teams.CreateTeam(as(e.alice), apogee.CreateTeamRequest{Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	_, token := e.teamLink(e.alice, "acme", "", "member")
	if _, err := e.svc.Teams.AcceptInvite(as(e.bob), token); err != nil {
		t.Fatal(err)
	}
	alice, bob, stranger := e.signedIn(e.alice), e.signedIn(e.bob), e.signedIn(dave)

	want(t, "team page", alice.get("/teams/acme"), 200, `id="team-webhooks"`, "No team webhooks yet", `<label for="team-hook-url">Receiver URL</label>`)
	form := func() url.Values {
		return url.Values{"url": {"https://hooks.slack.example/services/T0/B0/xyz"}, "events": {"deployment.ready", "deployment.error"}}
	}
	res := alice.post("/teams/acme/webhooks", form())
	want(t, "add", res, 200, "Webhook added", "every project of team <b>acme</b>", "Copy it now", "whsec_", `href="/teams/acme#team-webhooks"`)
	secret := res.body[strings.Index(res.body, "whsec_"):]
	secret = secret[:strings.IndexByte(secret, '<')]
	hooks, err := e.svc.Webhooks.TeamWebhooks(as(e.alice), "acme")
	if err != nil || len(hooks) != 1 {
		t.Fatalf("team webhooks after the form: %+v %v", hooks, err)
	}
	id := hooks[0].ID

	page := alice.get("/teams/acme")
	want(t, "owner's page", page, 200, "hooks.slack.example", "/services/T0/B0/xyz", "deployment.ready, deployment.error", "Nothing sent yet",
		`action="/teams/acme/webhooks/`+id+`/test"`)
	if strings.Contains(page.body, secret) {
		t.Fatal("the team page shows the webhook's secret again")
	}
	page = bob.get("/teams/acme")
	want(t, "member's page", page, 200, `data-webhook="`+id+`"`, "hooks.slack.example", "Nothing sent yet", "owners add and remove them")
	for _, leak := range []string{secret, "/services/T0/B0/xyz", `action="/teams/acme/webhooks`} {
		if strings.Contains(page.body, leak) {
			t.Errorf("the member's page has %q", leak)
		}
	}

	// Refusals: the member is told why and nothing changes; a stranger
	// and a missing CSRF token are refused outright.
	want(t, "member adds", bob.post("/teams/acme/webhooks", form()), http.StatusSeeOther)
	want(t, "member removes", bob.post("/teams/acme/webhooks/"+id+"/delete", nil), http.StatusSeeOther)
	want(t, "member's page after", bob.get("/teams/acme"), 200, "owner")
	want(t, "stranger adds", stranger.post("/teams/acme/webhooks", form()), 404)
	want(t, "stranger removes", stranger.post("/teams/acme/webhooks/"+id+"/delete", nil), 404)
	want(t, "no CSRF", alice.post("/teams/acme/webhooks/"+id+"/delete", url.Values{"csrf": {""}}), 403)
	res = alice.post("/teams/acme/webhooks", url.Values{"url": {"https://example.com/"}})
	want(t, "no event", res, http.StatusSeeOther)
	want(t, "after no event", alice.get("/teams/acme"), 200, "choose at least one event")
	if hooks, _ := e.svc.Webhooks.TeamWebhooks(as(e.alice), "acme"); len(hooks) != 1 {
		t.Fatalf("%d team webhooks after refusals; want 1", len(hooks))
	}

	// Test (to an unresolvable host: it fails and says so), then remove.
	want(t, "test", alice.post("/teams/acme/webhooks/"+id+"/test", nil), http.StatusSeeOther)
	want(t, "after the test", alice.get("/teams/acme"), 200, "Test delivery failed", "Failed")
	want(t, "member sees the failure", bob.get("/teams/acme"), 200, "Failed")
	want(t, "remove", alice.post("/teams/acme/webhooks/"+id+"/delete", nil), http.StatusSeeOther)
	want(t, "after remove", alice.get("/teams/acme"), 200, "Webhook removed.", "No team webhooks yet")
}
