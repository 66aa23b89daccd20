package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/egress"
)

// WebhookStore is what the Sender reads and writes: the webhooks of a
// project and of the team that owns it, the outcome of their deliveries,
// and the deliveries not yet done (the outbox, shared by every server).
type WebhookStore interface {
	ListWebhooks(ctx context.Context, projectID string) ([]*apogee.Webhook, error)
	ListTeamWebhooks(ctx context.Context, teamID string) ([]*apogee.Webhook, error)
	Webhook(ctx context.Context, id string) (*apogee.Webhook, error)
	RecordWebhookDelivery(ctx context.Context, id string, d apogee.WebhookDelivery) error
	apogee.WebhookOutboxStore
}

// SenderConfig is what a Sender needs. Store and Box are required.
type SenderConfig struct {
	Store WebhookStore
	// Box opens the webhooks' sealed secrets.
	Box apogee.Sealer
	// AllowPrivate lets webhooks reach loopback, private and link-local
	// addresses (--webhooks-allow-private: self-hosted receivers, tests).
	AllowPrivate bool
	// Timeout bounds one attempt, connection to last byte (default 10 s).
	Timeout time.Duration
	// Attempts is how many times a delivery is tried when the receiver
	// fails with a network error, 429 or 5xx (default 4).
	Attempts int
	// Backoff is the wait before the first retry; it doubles after each
	// (default 2 s: retries after 2, 4 and 8 s).
	Backoff time.Duration
	// Workers deliver at once (default 4).
	Workers int
	// Node names this server as the holder of the deliveries it claims
	// (default: the host name and a random suffix).
	Node string
	// Lease is how long a claimed delivery is this server's before any
	// server may claim it again (default: twice Timeout, at least 30 s).
	Lease time.Duration
	// Poll is how often the outbox is read for deliveries this server
	// was not told of: queued by another, or whose claim lapsed (default
	// 1 s).
	Poll time.Duration
	Log  *slog.Logger
	Now  func() time.Time
	// Registerer gets the delivery metrics (nil: none).
	Registerer prometheus.Registerer
}

// Sender delivers outgoing webhooks. Dispatch and Ping are safe for
// concurrent use; Run delivers what Dispatch queued in the outbox (the
// store), on this server or any other.
type Sender struct {
	cfg    SenderConfig
	log    *slog.Logger
	client *http.Client
	holder string
	wake   chan struct{}
	// deliveries counts deliveries by outcome (ok, failed) and attempts
	// counts every POST made.
	deliveries *prometheus.CounterVec
	attempts   prometheus.Counter
}

type job struct {
	hook *apogee.Webhook
	body []byte
	typ  string
}

// UserAgent is the User-Agent of webhook deliveries.
const UserAgent = "Apogee-Webhook"

// NewSender returns a Sender; Run starts its workers.
func NewSender(cfg SenderConfig) *Sender {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 4
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 2 * time.Second
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Lease <= 0 {
		cfg.Lease = max(2*cfg.Timeout, 30*time.Second)
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Node == "" {
		host, _ := os.Hostname()
		cfg.Node = host + "/" + apogee.NewID()
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Sender{cfg: cfg, log: cfg.Log, client: newClient(cfg.AllowPrivate, cfg.Timeout), holder: cfg.Node, wake: make(chan struct{}, 1),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apogee_webhook_deliveries_total", Help: "Outgoing webhook deliveries by outcome (ok, failed), after retries.",
		}, []string{"outcome"}),
		attempts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "apogee_webhook_attempts_total", Help: "Outgoing webhook POSTs made, retries included.",
		}),
	}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(s.deliveries, s.attempts)
	}
	return s
}

// CheckURL checks a webhook URL the way this server will use it
// (apogee.ValidateWebhookURL with the server's private-address policy).
func (s *Sender) CheckURL(raw string) error {
	_, err := apogee.ValidateWebhookURL(raw, s.cfg.AllowPrivate)
	return err
}

// Run delivers the outbox's due deliveries until ctx ends, then waits
// for the attempts under way (they end with ctx, and are left for a
// retry). A delivery is claimed for Lease, tried once, and then finished
// (sent, or given up and recorded) or made due again after its backoff.
func (s *Sender) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, s.cfg.Workers)
	for {
		free := s.cfg.Workers - len(slots)
		if free > 0 {
			now := s.cfg.Now()
			items, err := s.cfg.Store.ClaimWebhookDeliveries(ctx, s.holder, now, now.Add(s.cfg.Lease), free)
			if err != nil && ctx.Err() == nil {
				s.log.Error("claim webhook deliveries", "err", err)
			}
			for _, it := range items {
				slots <- struct{}{}
				wg.Add(1)
				go func() {
					defer wg.Done()
					s.attempt(ctx, it)
					<-slots
					s.poke() // a worker is free: claim again
				}()
			}
			if len(items) == free {
				continue // there may be more
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-time.After(s.cfg.Poll):
		}
	}
}

// poke wakes Run.
func (s *Sender) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Dispatch queues note in the outbox for every webhook that wants it, of
// its project and of the team that owns the project, and wakes the
// workers; it never waits for a delivery.
func (s *Sender) Dispatch(ctx context.Context, note Notification) {
	hooks, err := s.cfg.Store.ListWebhooks(ctx, note.projectID)
	if err != nil {
		s.log.Error("list webhooks", "project", note.Project, "err", err)
		return
	}
	if note.teamID != "" {
		teams, err := s.cfg.Store.ListTeamWebhooks(ctx, note.teamID)
		if err != nil {
			s.log.Error("list team webhooks", "project", note.Project, "team", note.Team, "err", err)
		}
		hooks = append(hooks, teams...)
	}
	if len(hooks) == 0 {
		return
	}
	body, err := json.Marshal(note)
	if err != nil {
		s.log.Error("encode notification", "type", note.Type, "err", err)
		return
	}
	var items []*apogee.WebhookOutboxItem
	now := s.cfg.Now()
	for _, h := range hooks {
		if h.Wants(note.Type) {
			items = append(items, &apogee.WebhookOutboxItem{ID: apogee.NewID(), WebhookID: h.ID, ProjectID: note.projectID,
				Event: note.Type, Body: body, DueAt: now, CreatedAt: now})
		}
	}
	if len(items) == 0 {
		return
	}
	if err := s.cfg.Store.QueueWebhookDeliveries(context.WithoutCancel(ctx), items); err != nil {
		s.log.Error("queue webhook deliveries", "project", note.Project, "type", note.Type, "err", err)
		return
	}
	s.poke()
}

// Idle returns a channel that is closed once the outbox holds no
// delivery, queued or under way, of any server (checked every 20 ms).
func (s *Sender) Idle() <-chan struct{} {
	c := make(chan struct{})
	go func() {
		defer close(c)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			n, err := s.cfg.Store.PendingWebhookDeliveries(ctx)
			cancel()
			if err == nil && n == 0 {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return c
}

// attempt makes one attempt of a claimed delivery and finishes it, or
// makes it due again after its backoff.
func (s *Sender) attempt(ctx context.Context, it *apogee.WebhookOutboxItem) {
	sctx := context.WithoutCancel(ctx)
	finish := func() {
		if err := s.cfg.Store.FinishWebhookDelivery(sctx, it.ID); err != nil {
			s.log.Error("finish webhook delivery", "delivery", it.ID, "err", err)
		}
	}
	h, err := s.cfg.Store.Webhook(ctx, it.WebhookID)
	if apogee.ErrorCode(err) == apogee.ENOTFOUND {
		finish() // the webhook was removed meanwhile
		return
	}
	if err != nil {
		s.log.Error("read webhook", "webhook", it.WebhookID, "err", err)
		s.retry(sctx, it, it.Attempts, s.cfg.Now().Add(s.cfg.Backoff))
		return
	}
	d := apogee.WebhookDelivery{ID: it.ID, Status: apogee.DeliveryFailed, Attempts: it.Attempts}
	secret, err := s.cfg.Box.Open(h.Secret, h.SecretPurpose())
	if err != nil {
		d.Error = "not sent: the webhook's secret cannot be opened with this server's key"
		d.At = s.cfg.Now().UTC()
		finish()
		s.record(h, d, it.Event)
		return
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(it.Body)
	sig := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	d.Attempts++
	s.attempts.Inc()
	code, retry, err := s.post(ctx, job{hook: h, body: it.Body, typ: it.Event}, d.ID, sig)
	d.Code = code
	if err == nil {
		d.Status = apogee.DeliveryOK
	} else {
		d.Error = err.Error()
		switch {
		case ctx.Err() != nil:
			// The server is stopping: the delivery waits in the outbox
			// for its restart or another server.
			s.retry(sctx, it, d.Attempts-1, s.cfg.Now())
			return
		case retry && d.Attempts < s.cfg.Attempts:
			s.retry(sctx, it, d.Attempts, s.cfg.Now().Add(s.cfg.Backoff<<(d.Attempts-1)))
			return
		}
	}
	d.At = s.cfg.Now().UTC()
	finish()
	s.record(h, d, it.Event)
}

// retry makes a delivery due again at due and wakes Run then.
func (s *Sender) retry(ctx context.Context, it *apogee.WebhookOutboxItem, attempts int, due time.Time) {
	if err := s.cfg.Store.RetryWebhookDelivery(ctx, it.ID, attempts, due); err != nil {
		s.log.Error("requeue webhook delivery", "delivery", it.ID, "err", err)
		return
	}
	time.AfterFunc(max(due.Sub(s.cfg.Now()), 0), s.poke)
}

// Ping sends a ping about project p to its webhook h at once, one
// attempt, and returns and records the outcome.
func (s *Sender) Ping(ctx context.Context, p *apogee.Project, h *apogee.Webhook) apogee.WebhookDelivery {
	note := Notification{Type: apogee.NotifyPing, Project: p.Name, At: s.cfg.Now().UTC(), projectID: p.ID}
	note.Text = text(note)
	body, _ := json.Marshal(note)
	return s.deliver(ctx, job{hook: h, body: body, typ: note.Type}, 1)
}

// PingTeam sends a ping from team t to its webhook h at once, one
// attempt, and returns and records the outcome.
func (s *Sender) PingTeam(ctx context.Context, t *apogee.Team, h *apogee.Webhook) apogee.WebhookDelivery {
	note := Notification{Type: apogee.NotifyPing, Team: t.Name, At: s.cfg.Now().UTC()}
	note.Text = text(note)
	body, _ := json.Marshal(note)
	return s.deliver(ctx, job{hook: h, body: body, typ: note.Type}, 1)
}

// deliver POSTs j, retrying up to attempts times on network errors, 429
// and 5xx, and records the outcome.
func (s *Sender) deliver(ctx context.Context, j job, attempts int) apogee.WebhookDelivery {
	d := apogee.WebhookDelivery{ID: apogee.NewID(), Status: apogee.DeliveryFailed}
	secret, err := s.cfg.Box.Open(j.hook.Secret, j.hook.SecretPurpose())
	if err != nil {
		d.Error = "not sent: the webhook's secret cannot be opened with this server's key"
		d.At = s.cfg.Now().UTC()
		s.record(j.hook, d, j.typ)
		return d
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(j.body)
	sig := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	wait := s.cfg.Backoff
	for d.Attempts < attempts {
		if d.Attempts > 0 {
			select {
			case <-ctx.Done():
				d.Error += " (not retried: the server is stopping)"
				d.At = s.cfg.Now().UTC()
				s.record(j.hook, d, j.typ)
				return d
			case <-time.After(wait):
			}
			wait *= 2
		}
		d.Attempts++
		s.attempts.Inc()
		code, retry, err := s.post(ctx, j, d.ID, sig)
		d.Code = code
		if err == nil {
			d.Status, d.Error = apogee.DeliveryOK, ""
			break
		}
		d.Error = err.Error()
		if !retry {
			break
		}
	}
	d.At = s.cfg.Now().UTC()
	s.record(j.hook, d, j.typ)
	return d
}

// post makes one attempt. It returns the status code (0 without an
// answer), whether a failure is worth retrying, and a failure's reason in
// words that never quote the URL (a Slack URL's path is its secret).
func (s *Sender) post(ctx context.Context, j job, delivery, sig string) (int, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.hook.URL, bytes.NewReader(j.body))
	if err != nil {
		return 0, false, errors.New("the webhook URL is not valid")
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", UserAgent)
	h.Set("X-Apogee-Event", j.typ)
	h.Set("X-Apogee-Delivery", delivery)
	h.Set("X-Apogee-Signature", sig)
	resp, err := s.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		var refused *egress.RefusedError
		if errors.As(err, &refused) {
			return 0, false, refused
		}
		if ctx.Err() != nil {
			return 0, true, fmt.Errorf("no answer within %s", s.cfg.Timeout)
		}
		return 0, true, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return c, false, nil
	case c >= 300 && c < 400:
		return c, false, fmt.Errorf("answered %s; webhook URLs must not redirect: give the final URL", resp.Status)
	case c == http.StatusTooManyRequests || c >= 500:
		return c, true, fmt.Errorf("answered %s", resp.Status)
	default:
		return c, false, fmt.Errorf("answered %s", resp.Status)
	}
}

// record keeps d as the webhook's last delivery and logs it (by host:
// never the whole URL).
func (s *Sender) record(h *apogee.Webhook, d apogee.WebhookDelivery, typ string) {
	host := ""
	if u, err := url.Parse(h.URL); err == nil {
		host = u.Host
	}
	s.deliveries.WithLabelValues(d.Status).Inc()
	log := s.log.With("project_id", h.ProjectID, "team_id", h.TeamID, "webhook", h.ID, "host", host, "event", typ, "delivery", d.ID, "attempts", d.Attempts)
	if d.Status == apogee.DeliveryOK {
		log.Info("webhook delivered", "code", d.Code)
	} else {
		log.Warn("webhook failed", "code", d.Code, "err", d.Error)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.cfg.Store.RecordWebhookDelivery(ctx, h.ID, d); err != nil && apogee.ErrorCode(err) != apogee.ENOTFOUND {
		log.Error("record webhook delivery", "err", err)
	}
}

// newClient returns the HTTP client of deliveries: no proxy from the
// environment (the address check must see the receiver's address), no
// redirects, and a dialer under the egress policy: unless allowPrivate,
// every address that is not public is refused. The check runs on the
// address actually dialled, after DNS resolution, so a name that
// resolves to a public address when the webhook is made and to 127.0.0.1
// later (DNS rebinding) is refused.
func newClient(allowPrivate bool, timeout time.Duration) *http.Client {
	policy := egress.Policy{AllowPrivate: allowPrivate, Flag: "--webhooks-allow-private", What: "the webhook's host"}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           policy.Dialer(timeout).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          20,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   timeout,
			ResponseHeaderTimeout: timeout,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
