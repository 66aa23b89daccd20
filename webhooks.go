package apogee

import (
	"context"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Notification types: a deployment's life as its owner sees it. They name
// live dashboard notifications and outgoing webhook deliveries
// (X-Apogee-Event, the body's "type").
const (
	NotifyDeploymentBuilding = "deployment.building" // a worker started building it
	NotifyDeploymentReady    = "deployment.ready"    // it serves at its own URL
	NotifyDeploymentError    = "deployment.error"    // its build or upload failed
	NotifyDeploymentCanceled = "deployment.canceled" // its build was canceled
	NotifyPing               = "ping"                // a test delivery asked for by the owner
	// An app's instance crashed (the reason: its exit code, the signal
	// that ended it, out of memory, a failed health check), and how many
	// times its instances crashed since the last such notification.
	NotifyAppCrashed = "app.crashed"
	// An app's release could not go live (promote, rollback, a release of
	// new variables or settings): its instances did not become ready, and
	// the release that served keeps serving. A build whose release fails
	// is a deployment.error, as any failed build.
	NotifyAppDeployFailed = "app.deploy_failed"
)

// WebhookEvents are the notification types a webhook may subscribe to.
var WebhookEvents = []string{NotifyDeploymentBuilding, NotifyDeploymentReady, NotifyDeploymentError, NotifyDeploymentCanceled,
	NotifyAppCrashed, NotifyAppDeployFailed}

// Limits on outgoing webhooks.
const (
	MaxWebhooks         = 20   // per owner: a project, or a team
	MaxWebhookURLLen    = 2048 // bytes
	MinWebhookSecretLen = 16   // bytes of a secret the user gives
	MaxWebhookSecretLen = 256
)

// Outcomes of a webhook delivery (Webhook.LastStatus).
const (
	DeliveryOK     = "ok"
	DeliveryFailed = "failed"
)

// Webhook is an outgoing webhook of a project, or of a team (as Vercel's
// team webhooks: it is sent the notifications of every project the team
// owns): deployment notifications are POSTed to URL as JSON signed with
// Secret (HMAC-SHA256). Exactly one of ProjectID and TeamID is set. In
// the store, Secret is sealed (SecretPurpose); callers seal and open it.
// Events lists the notification types it wants; empty means all.
type Webhook struct {
	ID        string    `json:"id"`
	ProjectID string    `json:"project_id,omitempty"`
	TeamID    string    `json:"team_id,omitempty"`
	URL       string    `json:"url"`
	Secret    string    `json:"-"`
	Events    []string  `json:"events"`
	CreatedAt time.Time `json:"created_at"`
	// The last delivery: DeliveryOK or DeliveryFailed ("" before the
	// first), when it ended, the HTTP status it got (0: none) and why it
	// failed.
	LastStatus string     `json:"last_status,omitempty"`
	LastAt     *time.Time `json:"last_at,omitempty"`
	LastCode   int        `json:"last_code,omitempty"`
	LastError  string     `json:"last_error,omitempty"`
}

// Wants reports whether the webhook is sent notifications of type typ.
// A ping goes to every webhook.
func (h *Webhook) Wants(typ string) bool {
	return typ == NotifyPing || len(h.Events) == 0 || slices.Contains(h.Events, typ)
}

// WebhookDelivery is the outcome of one delivery (after its retries).
type WebhookDelivery struct {
	ID       string    `json:"id"` // X-Apogee-Delivery
	Status   string    `json:"status"`
	Code     int       `json:"code,omitempty"`
	Error    string    `json:"error,omitempty"`
	Attempts int       `json:"attempts"`
	At       time.Time `json:"at"`
}

// WebhookSecretPurpose is what webhook id of a project is sealed for.
func WebhookSecretPurpose(projectID, id string) string {
	return "outgoing-webhook/" + projectID + "/" + id
}

// TeamWebhookSecretPurpose is what webhook id of a team is sealed for.
func TeamWebhookSecretPurpose(teamID, id string) string {
	return "outgoing-webhook/team/" + teamID + "/" + id
}

// SecretPurpose is what h's secret is sealed for: its project's or its
// team's purpose.
func (h *Webhook) SecretPurpose() string {
	if h.TeamID != "" {
		return TeamWebhookSecretPurpose(h.TeamID, h.ID)
	}
	return WebhookSecretPurpose(h.ProjectID, h.ID)
}

// WebhookStore keeps the outgoing webhooks of projects and of teams.
// Safe for concurrent use; honours ctx.
type WebhookStore interface {
	// CreateWebhook inserts h (CreatedAt zero: now), a project's or (its
	// TeamID set) a team's. ErrNotFound if the project or team does not
	// exist; ETOOLARGE when it has MaxWebhooks already, counted so that
	// concurrent calls cannot together pass the limit.
	CreateWebhook(ctx context.Context, h *Webhook) error
	// ListWebhooks returns the project's webhooks, oldest first.
	ListWebhooks(ctx context.Context, projectID string) ([]*Webhook, error)
	// WebhookByID returns webhook id of the project; ErrNotFound if the
	// project has none of that id.
	WebhookByID(ctx context.Context, projectID, id string) (*Webhook, error)
	// DeleteWebhook removes webhook id of the project; ErrNotFound if it
	// has none of that id.
	DeleteWebhook(ctx context.Context, projectID, id string) error
	// ListTeamWebhooks returns the team's webhooks, oldest first (none
	// for an account that is no team).
	ListTeamWebhooks(ctx context.Context, teamID string) ([]*Webhook, error)
	// TeamWebhookByID returns webhook id of the team; ErrNotFound if the
	// team has none of that id.
	TeamWebhookByID(ctx context.Context, teamID, id string) (*Webhook, error)
	// DeleteTeamWebhook removes webhook id of the team; ErrNotFound if it
	// has none of that id.
	DeleteTeamWebhook(ctx context.Context, teamID, id string) error
	// Webhook returns webhook id, a project's or a team's, for the
	// outbox, which names it alone; ErrNotFound if it is gone.
	Webhook(ctx context.Context, id string) (*Webhook, error)
	// RecordWebhookDelivery keeps d as the webhook's last delivery;
	// ErrNotFound if the webhook is gone.
	RecordWebhookDelivery(ctx context.Context, id string, d WebhookDelivery) error
}

// WebhookOutboxItem is one outgoing webhook delivery, durable from the
// moment it is queued until it is sent or given up (issue 16): a server
// that stops leaves it for itself after a restart or for another server.
type WebhookOutboxItem struct {
	ID        string // X-Apogee-Delivery, the same on every attempt
	WebhookID string
	ProjectID string // the project the notification is about
	Event     string // the notification type, X-Apogee-Event
	Body      []byte
	Attempts  int       // POSTs made
	DueAt     time.Time // when the next attempt may be made
	CreatedAt time.Time
	// LeaseHolder is sending it until LeaseUntil.
	LeaseHolder string
	LeaseUntil  time.Time
}

// WebhookOutboxStore keeps the outgoing deliveries not yet done. Safe for
// concurrent use across servers; honours ctx. Delivery is at least once:
// a server that stops mid-POST leaves its claim to lapse and the delivery
// is made again (receivers dedupe by X-Apogee-Delivery).
type WebhookOutboxStore interface {
	// QueueWebhookDeliveries inserts items (DueAt and CreatedAt zero:
	// now). ErrNotFound if a webhook is gone.
	QueueWebhookDeliveries(ctx context.Context, items []*WebhookOutboxItem) error
	// ClaimWebhookDeliveries leases to holder until until at most limit
	// deliveries that are due at now and not leased (or whose lease
	// lapsed), the earliest due first, then in the order queued; two
	// servers never claim one delivery at once.
	ClaimWebhookDeliveries(ctx context.Context, holder string, now, until time.Time, limit int) ([]*WebhookOutboxItem, error)
	// RetryWebhookDelivery records attempts made and makes the delivery
	// due again at due, unleased; ErrNotFound if it is gone.
	RetryWebhookDelivery(ctx context.Context, id string, attempts int, due time.Time) error
	// FinishWebhookDelivery removes a delivery that was sent or given up
	// (a missing one is no error: another server finished it).
	FinishWebhookDelivery(ctx context.Context, id string) error
	// PendingWebhookDeliveries counts the deliveries not done.
	PendingWebhookDeliveries(ctx context.Context) (int, error)
}

// WebhookView is a webhook as the API shows it, with its project's or
// its team's name. Secret is set only in the answer that created it: it
// is never shown again.
type WebhookView struct {
	*Webhook
	Project string `json:"project,omitempty"`
	Team    string `json:"team,omitempty"`
	Secret  string `json:"secret,omitempty"`
}

// CreateWebhookRequest adds an outgoing webhook. Events empty: every
// type. Secret empty: the server makes one.
type CreateWebhookRequest struct {
	URL    string   `json:"url"`
	Events []string `json:"events,omitempty"`
	Secret string   `json:"secret,omitempty"`
}

// ValidateWebhookURL checks that raw can receive webhooks: an absolute
// http or https URL with a host, no user or password, at most
// MaxWebhookURLLen bytes. Unless allowPrivate, a literal loopback,
// private or link-local address, or localhost, is refused too (names are
// checked again when the server dials: see PublicAddr).
func ValidateWebhookURL(raw string, allowPrivate bool) (*url.URL, error) {
	if raw == "" {
		return nil, Errorf(EINVALID, "the webhook URL is empty; give the https:// URL that should receive the notifications")
	}
	if len(raw) > MaxWebhookURLLen {
		return nil, Errorf(EINVALID, "the webhook URL is %d bytes long; the limit is %d", len(raw), MaxWebhookURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, Errorf(EINVALID, "the webhook URL is not a URL (%v); give one like https://hooks.example.com/apogee", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, Errorf(EINVALID, "the webhook URL must start with https:// or http://, not %q", u.Scheme+":")
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, Errorf(EINVALID, "the webhook URL %q has no host; give one like https://hooks.example.com/apogee", raw)
	}
	if u.User != nil {
		return nil, Errorf(EINVALID, "the webhook URL must not hold a user or password; webhooks are signed with their secret instead")
	}
	if u.Fragment != "" {
		return nil, Errorf(EINVALID, "the webhook URL must not have a #fragment")
	}
	if !allowPrivate {
		host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
		if host == "localhost" || strings.HasSuffix(host, ".localhost") {
			return nil, Errorf(EINVALID, "the webhook URL's host %s is this machine; the server sends webhooks only to public addresses (a self-hosted server may allow private ones with --webhooks-allow-private)", host)
		}
		if a, err := netip.ParseAddr(host); err == nil && !PublicAddr(a) {
			return nil, Errorf(EINVALID, "the webhook URL's address %s is not public (loopback, private or link-local); the server sends webhooks only to public addresses (a self-hosted server may allow private ones with --webhooks-allow-private)", a)
		}
	}
	return u, nil
}

// nonPublic are ranges a webhook may not reach besides those netip names:
// "this network", shared address space (CGNAT), IETF protocol
// assignments, benchmarking, and the reserved 240/4 (with broadcast).
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
}

// PublicAddr reports whether a is a public unicast address: not
// loopback, private (RFC 1918, fc00::/7), link-local, unspecified,
// multicast, CGNAT or reserved. IPv4-mapped IPv6 addresses are judged as
// the IPv4 address they carry.
func PublicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// ValidateWebhookEvents checks a webhook's event filter and returns it
// without duplicates, in the order of WebhookEvents. Empty means all.
func ValidateWebhookEvents(events []string) ([]string, error) {
	var out []string
	for _, e := range events {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if !slices.Contains(WebhookEvents, e) {
			return nil, Errorf(EINVALID, "unknown webhook event %q; choose from %s", e, strings.Join(WebhookEvents, ", "))
		}
	}
	for _, e := range WebhookEvents {
		if slices.ContainsFunc(events, func(s string) bool { return strings.TrimSpace(s) == e }) {
			out = append(out, e)
		}
	}
	return out, nil
}

// ValidateWebhookSecret checks a signing secret the user gives.
func ValidateWebhookSecret(s string) error {
	if len(s) < MinWebhookSecretLen || len(s) > MaxWebhookSecretLen {
		return Errorf(EINVALID, "the webhook secret must be %d to %d characters long (it has %d); leave it out and the server makes one",
			MinWebhookSecretLen, MaxWebhookSecretLen, len(s))
	}
	for _, c := range s {
		if c < 0x21 || c > 0x7e {
			return Errorf(EINVALID, "the webhook secret may hold only printable ASCII characters without spaces")
		}
	}
	return nil
}
