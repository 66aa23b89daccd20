package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/notify"
	"github.com/apogee-dev/apogee/internal/secretbox"
	"github.com/apogee-dev/apogee/internal/sqlstore"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// world is a real SQLite store, an in-process bus, a secret box and a
// running Notifier with its Sender.
type world struct {
	t      testing.TB
	store  *sqlstore.Store
	bus    *events.Local
	box    apogee.Sealer
	sender *notify.Sender
	reg    *prometheus.Registry
	n      *notify.Notifier
	alice  *apogee.User
	bob    *apogee.User
	web    *apogee.Project
	stop   func() // stops the notifier and the sender's workers
}

func newWorld(t testing.TB, cfg notify.SenderConfig) *world {
	t.Helper()
	return newWorldOn(t, cfg, nil, true)
}

// newWorldOn is newWorld on store st (nil: a new SQLite one), running the
// Sender's workers only if runSender.
func newWorldOn(t testing.TB, cfg notify.SenderConfig, st *sqlstore.Store, runSender bool) *world {
	t.Helper()
	if st == nil {
		st, _, _ = testbed.Backends(t)
	}
	w := &world{t: t, store: st, bus: events.NewLocal(testbed.Quiet), box: secretbox.NewRandom()}
	t.Cleanup(func() { w.bus.Close() })
	w.reg = prometheus.NewRegistry()
	cfg.Store, cfg.Box, cfg.Log, cfg.Registerer = st, w.box, testbed.Quiet, w.reg
	if cfg.Backoff == 0 {
		cfg.Backoff = 10 * time.Millisecond
	}
	w.sender = notify.NewSender(cfg)
	var err error
	w.n, err = notify.New(notify.Config{Store: st, Bus: w.bus, Webhooks: w.sender, Log: testbed.Quiet,
		SiteURL: func(l string) string { return "http://" + l + ".apogee.test/" },
		BaseURL: func() string { return "http://apogee.test" }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	if runSender {
		wg.Add(1)
		go func() { defer wg.Done(); w.sender.Run(ctx) }()
	}
	go func() { defer wg.Done(); _ = w.n.Run(ctx) }()
	w.stop = func() { cancel(); wg.Wait() }
	t.Cleanup(w.stop)
	w.alice, w.bob = w.user("alice@example.com"), w.user("bob@example.com")
	w.web = &apogee.Project{ID: apogee.NewID(), Name: "web", OwnerID: w.alice.ID, CreatedAt: time.Now()}
	must(t, st.CreateProject(t.Context(), w.web))
	// Run subscribes in its goroutine: wait until it hears the bus, with
	// a project and user of the probe's own.
	prober := w.user("probe@example.com")
	web := w.web
	w.web = &apogee.Project{ID: apogee.NewID(), Name: "probe", OwnerID: prober.ID, CreatedAt: time.Now()}
	must(t, st.CreateProject(t.Context(), w.web))
	pctx, pcancel := context.WithCancel(t.Context())
	defer pcancel()
	probe := w.n.Subscribe(pctx, prober.ID)
	d := w.uploaded(false)
	w.web = web
	for {
		must(t, w.bus.Publish(t.Context(), apogee.Event{Type: apogee.EventDeploymentReady, DeploymentID: d.ID}))
		select {
		case <-probe:
			return w
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (w *world) user(email string) *apogee.User {
	u := &apogee.User{ID: apogee.NewID(), Email: email, Password: "x", CreatedAt: time.Now()}
	must(w.t, w.store.CreateUser(w.t.Context(), u))
	return u
}

// uploaded makes a ready upload deployment of web (production if prod).
func (w *world) uploaded(prod bool) *apogee.Deployment {
	ctx := w.t.Context()
	d := &apogee.Deployment{ID: apogee.NewID(), ProjectID: w.web.ID, Target: apogee.TargetPreview, Source: apogee.SourceUpload, CreatedAt: time.Now()}
	if prod {
		d.Target = apogee.TargetProduction
	}
	d.Host = "web--" + d.ID
	must(w.t, w.store.CreateDeployment(ctx, d, nil))
	d, err := w.store.FinalizeDeployment(ctx, d.ID, time.Now(), prod)
	must(w.t, err)
	return d
}

// failedBuild makes a git build of web that ended with status.
func (w *world) failedBuild(status apogee.Status, reason string) *apogee.Deployment {
	ctx := w.t.Context()
	d := &apogee.Deployment{ID: apogee.NewID(), ProjectID: w.web.ID, Target: apogee.TargetProduction, Source: apogee.SourceGit,
		Branch: "main", Commit: "0123456789abcdef0123456789abcdef01234567", CreatedAt: time.Now()}
	d.Host = "web--" + d.ID
	must(w.t, w.store.QueueBuild(ctx, d))
	d, err := w.store.EndBuild(ctx, d.ID, status, reason, time.Now())
	must(w.t, err)
	return d
}

// hook adds a webhook to web with the given URL, events and secret.
func (w *world) hook(url, secret string, events ...string) *apogee.Webhook {
	h := &apogee.Webhook{ID: apogee.NewID(), ProjectID: w.web.ID, URL: url, Events: events}
	h.Secret = w.box.Seal(secret, apogee.WebhookSecretPurpose(h.ProjectID, h.ID))
	must(w.t, w.store.CreateWebhook(w.t.Context(), h))
	return h
}

// waitDelivery waits until webhook h has a recorded delivery.
func (w *world) waitDelivery(h *apogee.Webhook) *apogee.Webhook {
	w.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		got, err := w.store.Webhook(w.t.Context(), h.ID)
		must(w.t, err)
		if got.LastAt != nil {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
	w.t.Fatalf("webhook %s has no recorded delivery after 10 s", h.ID)
	return nil
}

// metric returns the value of counter name (with outcome label, if
// given) in the world's registry.
func (w *world) metric(name, outcome string) float64 {
	w.t.Helper()
	mfs, err := w.reg.Gather()
	must(w.t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if outcome == "" || (len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == outcome) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// received is one request a receiver got.
type received struct {
	header http.Header
	body   []byte
}

// receiver is a real HTTP server on loopback answering with the codes in
// turn (the last one from then on).
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	got     []received
	codes   []int
	arrived chan struct{} // one value per request received
}

func newReceiver(t *testing.T, codes ...int) *receiver {
	r := &receiver{codes: codes, arrived: make(chan struct{}, 1024)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{req.Header.Clone(), b})
		code := r.codes[min(len(r.got), len(r.codes))-1]
		r.mu.Unlock()
		w.WriteHeader(code)
		r.arrived <- struct{}{}
	}))
	t.Cleanup(r.Close)
	return r
}

// wait waits until the receiver has got n requests in all.
func (r *receiver) wait(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for len(r.requests()) < n {
		select {
		case <-r.arrived:
		case <-timeout:
			t.Fatalf("the receiver got %d requests within 10 s, want %d", len(r.requests()), n)
		}
	}
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func TestWebhookDelivery(t *testing.T) {
	w := newWorld(t, notify.SenderConfig{AllowPrivate: true})
	rcv := newReceiver(t, http.StatusNoContent)
	const secret = "s3cret-s3cret-s3cret"
	h := w.hook(rcv.URL+"/hooks/apogee?team=1", secret)

	d := w.uploaded(true)
	must(t, w.bus.Publish(t.Context(), apogee.Event{Type: apogee.EventDeploymentReady, ProjectID: w.web.ID, Project: "web", DeploymentID: d.ID}))
	got := w.waitDelivery(h)
	if got.LastStatus != apogee.DeliveryOK || got.LastCode != 204 || got.LastError != "" {
		t.Fatalf("last delivery = %s %d %q; want ok 204", got.LastStatus, got.LastCode, got.LastError)
	}
	reqs := rcv.requests()
	if len(reqs) != 1 {
		t.Fatalf("receiver got %d requests; want 1", len(reqs))
	}
	r := reqs[0]
	for k, want := range map[string]string{
		"Content-Type":       "application/json",
		"User-Agent":         "Apogee-Webhook",
		"X-Apogee-Event":     "deployment.ready",
		"X-Apogee-Signature": sign(secret, r.body),
	} {
		if v := r.header.Get(k); v != want {
			t.Errorf("%s = %q; want %q", k, v, want)
		}
	}
	if len(r.header.Get("X-Apogee-Delivery")) != 12 {
		t.Errorf("X-Apogee-Delivery = %q; want a 12-character id", r.header.Get("X-Apogee-Delivery"))
	}
	if sign("another secret!!", r.body) == r.header.Get("X-Apogee-Signature") {
		t.Error("the signature does not depend on the secret")
	}
	var body struct {
		Type       string `json:"type"`
		Project    string `json:"project"`
		Text       string `json:"text"`
		Deployment struct {
			ID, URL, Status, Target string
			DashboardURL            string `json:"dashboard_url"`
			Production              bool
		} `json:"deployment"`
	}
	must(t, json.Unmarshal(r.body, &body))
	if body.Type != "deployment.ready" || body.Project != "web" || body.Deployment.ID != d.ID ||
		body.Deployment.Status != "ready" || body.Deployment.Target != "production" || !body.Deployment.Production ||
		body.Deployment.URL != "http://web--"+d.ID+".apogee.test/" || body.Deployment.DashboardURL != "http://apogee.test/deployments/"+d.ID {
		t.Errorf("body = %s", r.body)
	}
	if want := "web: deployment " + d.ID + " is ready at http://web--" + d.ID + ".apogee.test/ (production)"; body.Text != want {
		t.Errorf("text = %q; want %q", body.Text, want)
	}
}

func TestWebhookRetriesThenSucceeds(t *testing.T) {
	w := newWorld(t, notify.SenderConfig{AllowPrivate: true})
	rcv := newReceiver(t, 500, 502, 200)
	h := w.hook(rcv.URL, "0123456789abcdef")
	d := w.failedBuild(apogee.StatusError, "npm run build exited with 1")
	must(t, w.bus.Publish(t.Context(), apogee.Event{Type: apogee.EventBuildEnded, DeploymentID: d.ID}))
	got := w.waitDelivery(h)
	reqs := rcv.requests()
	if got.LastStatus != apogee.DeliveryOK || got.LastCode != 200 || len(reqs) != 3 {
		t.Fatalf("after 500, 502, 200: last = %s %d %q with %d requests; want ok 200 with 3", got.LastStatus, got.LastCode, got.LastError, len(reqs))
	}
	if ok, attempts := w.metric("apogee_webhook_deliveries_total", "ok"), w.metric("apogee_webhook_attempts_total", ""); ok != 1 || attempts != 3 {
		t.Errorf("metrics: deliveries ok %v, attempts %v; want 1 and 3", ok, attempts)
	}
	id := reqs[0].header.Get("X-Apogee-Delivery")
	for i, r := range reqs {
		if r.header.Get("X-Apogee-Delivery") != id || string(r.body) != string(reqs[0].body) {
			t.Errorf("attempt %d is not the same delivery", i+1)
		}
		if r.header.Get("X-Apogee-Event") != "deployment.error" {
			t.Errorf("attempt %d event = %q", i+1, r.header.Get("X-Apogee-Event"))
		}
	}
	if !strings.Contains(string(reqs[0].body), `"text":"web: deployment `+d.ID+` of main@0123456 failed: npm run build exited with 1"`) {
		t.Errorf("body = %s", reqs[0].body)
	}
}

func TestWebhookFailureRecorded(t *testing.T) {
	tests := []struct {
		name      string
		codes     []int
		attempts  int
		wantCode  int
		wantError string
	}{
		{"5xx each time", []int{503}, 3, 503, "answered 503 Service Unavailable"},
		{"4xx is not retried", []int{404}, 1, 404, "answered 404 Not Found"},
		{"a redirect is not followed", []int{302}, 1, 302, "must not redirect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, notify.SenderConfig{AllowPrivate: true, Attempts: 3})
			rcv := newReceiver(t, tt.codes...)
			h := w.hook(rcv.URL, "0123456789abcdef")
			d := w.failedBuild(apogee.StatusCanceled, "canceled")
			must(t, w.bus.Publish(t.Context(), apogee.Event{Type: apogee.EventBuildEnded, DeploymentID: d.ID}))
			got := w.waitDelivery(h)
			if got.LastStatus != apogee.DeliveryFailed || got.LastCode != tt.wantCode || !strings.Contains(got.LastError, tt.wantError) {
				t.Errorf("last = %s %d %q; want failed %d %q", got.LastStatus, got.LastCode, got.LastError, tt.wantCode, tt.wantError)
			}
			if n := len(rcv.requests()); n != tt.attempts {
				t.Errorf("receiver got %d requests; want %d", n, tt.attempts)
			}
			if n := w.metric("apogee_webhook_deliveries_total", "failed"); n != 1 {
				t.Errorf("failed deliveries counted %v; want 1", n)
			}
		})
	}
}

func TestWebhookNetworkErrorRetried(t *testing.T) {
	w := newWorld(t, notify.SenderConfig{AllowPrivate: true, Attempts: 2})
	rcv := newReceiver(t, 200)
	url := rcv.URL
	rcv.Close() // nothing listens there any more
	h := w.hook(url, "0123456789abcdef")
	d := w.uploaded(false)
	must(t, w.bus.Publish(t.Context(), apogee.Event{Type: apogee.EventDeploymentReady, DeploymentID: d.ID}))
	got := w.waitDelivery(h)
	if got.LastStatus != apogee.DeliveryFailed || got.LastCode != 0 || !strings.Contains(got.LastError, "refused") {
		t.Errorf("last = %s %d %q; want failed 0 connection refused", got.LastStatus, got.LastCode, got.LastError)
	}
}

func TestWebhookPrivateAddressRefused(t *testing.T) {
	w := newWorld(t, notify.SenderConfig{}) // the default: public addresses only
	rcv := newReceiver(t, 200)
	// A name that resolves to loopback when dialled is stopped by the
	// dialer, whatever it resolved to when the webhook was made (DNS
	// rebinding): localhost stands in for such a name.
	url := strings.Replace(rcv.URL, "127.0.0.1", "localhost", 1)
	for _, u := range []string{rcv.URL, "http://localhost:1/", "http://[::1]:1/", "http://169.254.169.254/latest/meta-data/", "http://10.1.2.3/"} {
		if err := w.sender.CheckURL(u); apogee.ErrorCode(err) != apogee.EINVALID || !strings.Contains(apogee.ErrorMessage(err), "--webhooks-allow-private") {
			t.Errorf("CheckURL(%s) = %v; want EINVALID naming --webhooks-allow-private", u, err)
		}
	}
	// Stored anyway (as if its name had resolved elsewhere when made).
	h := w.hook(url, "0123456789abcdef")
	d := w.sender.Ping(t.Context(), w.web, h)
	if d.Status != apogee.DeliveryFailed || !strings.Contains(d.Error, "refused") || !strings.Contains(d.Error, "not a public address") || d.Attempts != 1 {
		t.Errorf("ping to loopback = %+v; want failed, refused (not a public address) after 1 attempt", d)
	}
	if n := len(rcv.requests()); n != 0 {
		t.Errorf("the loopback receiver got %d requests; want none", n)
	}
	got := w.waitDelivery(h)
	if got.LastStatus != apogee.DeliveryFailed || got.LastError != d.Error {
		t.Errorf("recorded %s %q; want the ping's outcome", got.LastStatus, got.LastError)
	}
}

// TestWebhookEventFilter: a webhook gets the events it asked for, once.
// One worker delivers in the order of the events, so a last event that
// both webhooks want marks the end: whatever a wrong delivery of the
// events before it would be has arrived by then.
func TestWebhookEventFilter(t *testing.T) {
	w := newWorld(t, notify.SenderConfig{AllowPrivate: true, Workers: 1})
	errorsOnly := newReceiver(t, 200)
	all := newReceiver(t, 200)
	w.hook(errorsOnly.URL, "0123456789abcdef", apogee.NotifyDeploymentError)
	w.hook(all.URL, "0123456789abcdef")
	ready := w.uploaded(false)
	failed := w.failedBuild(apogee.StatusError, "boom")
	last := w.failedBuild(apogee.StatusError, "the last")
	must(t, w.bus.Publish(t.Context(), apogee.Event{Type: apogee.EventDeploymentReady, DeploymentID: ready.ID}))
	// A ready build also ends with build.ended: that says nothing new.
	must(t, w.bus.Publish(t.Context(), apogee.Event{Type: apogee.EventBuildEnded, DeploymentID: ready.ID}))
	must(t, w.bus.Publish(t.Context(), apogee.Event{Type: apogee.EventBuildEnded, DeploymentID: failed.ID}))
	must(t, w.bus.Publish(t.Context(), apogee.Event{Type: apogee.EventBuildEnded, DeploymentID: last.ID}))
	deployments := func(r *receiver, n int) (out []string) {
		r.wait(t, n)
		for _, q := range r.requests() {
			var body struct {
				Type       string `json:"type"`
				Deployment struct {
					ID string `json:"id"`
				} `json:"deployment"`
			}
			must(t, json.Unmarshal(q.body, &body))
			out = append(out, body.Type+" "+body.Deployment.ID)
		}
		return out
	}
	if got, want := deployments(errorsOnly, 2), []string{"deployment.error " + failed.ID, "deployment.error " + last.ID}; !slices.Equal(got, want) {
		t.Errorf("error-only webhook got %v; want %v", got, want)
	}
	want := []string{"deployment.ready " + ready.ID, "deployment.error " + failed.ID, "deployment.error " + last.ID}
	if got := deployments(all, 3); !slices.Equal(got, want) {
		t.Errorf("webhook of every event got %v; want %v", got, want)
	}
}

// An upload that fails at finalize (an invalid vercel.json) is told as
// deployment.error with its reason.
func TestFailedUploadNotified(t *testing.T) {
	w := newWorld(t, notify.SenderConfig{AllowPrivate: true})
	alice := w.n.Subscribe(t.Context(), w.alice.ID)
	ctx := t.Context()
	d := &apogee.Deployment{ID: apogee.NewID(), ProjectID: w.web.ID, Target: apogee.TargetProduction, Source: apogee.SourceUpload, CreatedAt: time.Now()}
	d.Host = "web--" + d.ID
	must(t, w.store.CreateDeployment(ctx, d, nil))
	_, err := w.store.FailDeployment(ctx, d.ID, "vercel.json: redirects[1]: bad pattern")
	must(t, err)
	must(t, w.bus.Publish(ctx, apogee.Event{Type: apogee.EventDeploymentFailed, DeploymentID: d.ID}))
	select {
	case n := <-alice:
		if n.Type != apogee.NotifyDeploymentError || n.Deployment.Error != "vercel.json: redirects[1]: bad pattern" ||
			n.Text != "web: deployment "+d.ID+" failed: vercel.json: redirects[1]: bad pattern" {
			t.Errorf("got %+v", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no notification of the failed upload")
	}
}

func TestLiveNotificationsGoToTheOwner(t *testing.T) {
	w := newWorld(t, notify.SenderConfig{AllowPrivate: true})
	alice := w.n.Subscribe(t.Context(), w.alice.ID)
	bob := w.n.Subscribe(t.Context(), w.bob.ID)
	d := w.failedBuild(apogee.StatusError, "out of memory")
	must(t, w.bus.Publish(t.Context(), apogee.Event{Type: apogee.EventBuildStarted, DeploymentID: d.ID}))
	must(t, w.bus.Publish(t.Context(), apogee.Event{Type: apogee.EventBuildEnded, DeploymentID: d.ID}))
	for _, want := range []string{apogee.NotifyDeploymentBuilding, apogee.NotifyDeploymentError} {
		select {
		case n := <-alice:
			if n.Type != want || n.Deployment.ID != d.ID || n.Project != "web" {
				t.Errorf("alice got %+v; want %s of %s", n, want, d.ID)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("alice got no %s notification", want)
		}
	}
	select {
	case n := <-bob:
		t.Errorf("bob got alice's notification %+v", n)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestSubscriptionsEndWithRun(t *testing.T) {
	st, _, _ := testbed.Backends(t)
	bus := events.NewLocal(testbed.Quiet)
	defer bus.Close()
	n, err := notify.New(notify.Config{Store: st, Bus: bus, Log: testbed.Quiet})
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- n.Run(ctx) }()
	live := n.Subscribe(t.Context(), "u1") // a page that stays open
	cancel()                               // the server stops
	must(t, <-done)
	select {
	case _, ok := <-live:
		if ok {
			t.Fatal("a notification after Run ended")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a live subscription outlived Run: the dashboard's stream would hold up shutdown")
	}
	if _, ok := <-n.Subscribe(t.Context(), "u2"); ok {
		t.Fatal("Subscribe after Run ended gave an open channel")
	}
}
