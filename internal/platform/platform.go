// Package platform is Apogee's rules, implemented once: the services of
// package apogee (projects, deployments and the production alias, builds,
// custom domains, environment variables, webhooks, accounts, plans and the
// admin's view) over a store, a blob store and an event bus.
//
// Every method takes the acting user from its context, checks what that
// user may do and what the owner's plan allows, makes its change in one
// store transaction, and then publishes the events that follow. The HTTP
// API, the dashboard, git push, the GitHub webhook and the builder all
// call it, so "finish a build" or "promote" means the same thing for every
// caller, and no caller publishes an event itself.
//
// The name is the role: this package is the platform itself, standing on
// the backends it is given. Packages named after a dependency (sqlstore,
// blob, events) wrap it; packages named after a way in (api, dashboard,
// gitserve, builder) translate that way to these calls.
//
// One path moves a project's production alias (goLive): a production
// upload finalized, a production build finished, promote and rollback.
// It asks the Gate, if there is one, before the move: the seam where app
// releases will start their instances and wait until they are ready.
package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/auth"
	"github.com/apogee-dev/apogee/internal/deploy"
	"github.com/apogee-dev/apogee/internal/egress"
	"github.com/apogee-dev/apogee/internal/envvars"
	"github.com/apogee-dev/apogee/internal/logs"
	"github.com/apogee-dev/apogee/internal/notify"
	"github.com/apogee-dev/apogee/internal/secretbox"
)

// Store is every record the platform's rules read and write: the store
// interfaces of package apogee but the dashboard's sessions, sign-in
// identities and certificates.
type Store interface {
	apogee.UserStore
	apogee.TokenStore
	apogee.ProjectStore
	apogee.DeploymentStore
	apogee.DomainStore
	apogee.ZoneStore
	apogee.LogStore
	apogee.RuntimeLogStore
	apogee.RequestStore
	apogee.ServingStore
	apogee.VariantStore
	apogee.BuildStore
	apogee.EnvStore
	apogee.UploadStore
	apogee.BlobHoldStore
	apogee.WebhookStore
	apogee.WebhookOutboxStore
	apogee.PlanStore
	apogee.UsageStore
	apogee.AdminStore
	apogee.InviteStore
	apogee.ReleaseStore
	apogee.BranchStore
	apogee.PullRequestStore
	apogee.GitHubAppStore
	apogee.TeamStore
	apogee.AuditStore
}

// Gate is asked before a project's production alias moves to a
// deployment, by the one path that moves it: a production upload being
// finalized, a production build being finished, promote and rollback. It
// runs before the store transaction that moves the alias and may take its
// time: an app release will start its instances here and return once
// they answer their health checks. files is the deployment's manifest.
//
// A nil error lets the move happen. An error refuses it, and production
// stays where it was: a promote or rollback fails with the error, a
// finalized upload ends in error with its message as the reason, and a
// finished build is failed by the builder with it. An *apogee.Error is
// passed to the caller as it is (say ECONFLICT "instances did not become
// healthy within 60s"); any other error is internal.
//
// Implementations must be safe for concurrent use and honour ctx. A nil
// Gate (the default) lets every move happen.
type Gate interface {
	BeforeProduction(ctx context.Context, p *apogee.Project, d *apogee.Deployment, files []apogee.File) error
}

// Resolver looks names up in the DNS for custom domain verification.
// *net.Resolver implements it. Safe for concurrent use; honours ctx.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
}

var _ Resolver = (*net.Resolver)(nil)

// WebhookSender checks webhook URLs against the server's address policy
// and sends test deliveries (internal/notify's *Sender implements it).
type WebhookSender interface {
	// CheckURL returns an EINVALID *apogee.Error saying what is wrong
	// with raw, or nil.
	CheckURL(raw string) error
	// Ping sends a ping to webhook h of project p now, records the
	// outcome as its last delivery and returns it.
	Ping(ctx context.Context, p *apogee.Project, h *apogee.Webhook) apogee.WebhookDelivery
	// PingTeam does the same for webhook h of team t.
	PingTeam(ctx context.Context, t *apogee.Team, h *apogee.Webhook) apogee.WebhookDelivery
}

// EdgeCounter reports what the edge of this process has served since it
// started. Safe for concurrent use.
type EdgeCounter interface {
	EdgeTraffic(ctx context.Context) (apogee.EdgeTraffic, error)
}

// GitHubApp is the platform's GitHub App as the platform uses it.
type GitHubApp interface {
	// Verify checks a delivery's X-Hub-Signature-256 (EUNAUTHORIZED).
	Verify(signature string, body []byte) error
	// Forget drops an installation's kept token (uninstalled).
	Forget(installation int64)
}

// Config is what the platform stands on. Store, Blobs and Bus are
// required.
type Config struct {
	// GitHubApp verifies the deliveries of the platform's GitHub App (nil:
	// the server has none).
	GitHubApp GitHubApp
	Store     Store
	Blobs     apogee.Blobs
	Bus       apogee.EventBus
	// Logs fans build log lines out live (default: a hub of its own).
	Logs *logs.Hub
	// Box seals secrets at rest: environment variables, webhook secrets.
	// Default: a random key that lives only in this process (tests).
	Box apogee.Sealer
	// Webhooks checks outgoing webhook URLs and sends test pings
	// (default: a notify.Sender that refuses private addresses).
	Webhooks WebhookSender
	// Gate is asked before production moves (nil: never refuses).
	Gate Gate
	// Apps is this server's app runtime, for the AppService (nil: it
	// runs no apps).
	Apps Apps
	// AppSandboxes are the sandboxes a project may choose for its app
	// (--app-sandboxes; settings.app.sandbox); nil: none may be chosen,
	// every app runs in the server's default.
	AppSandboxes []string
	// Edge reports this process's edge traffic for the admin figures
	// (nil: the figures have no edge part).
	Edge EdgeCounter

	// SiteURL returns the public URL of a host label ("web" →
	// "http://web.localhost:8080/"); DomainURL that of a custom domain;
	// BaseURL the dashboard's, without a trailing slash.
	SiteURL   func(label string) string
	DomainURL func(name string) string
	BaseURL   func() string
	// Domain is the platform's domain (--domain): custom domains may not
	// be under it, and their CNAME records point at <project>.<Domain>.
	Domain string
	// SitesDomain is the domain sites live under (--sites-domain; default
	// Domain): custom domains may not be under it either, and their CNAME
	// records point at <project>.<SitesDomain>.
	SitesDomain string
	// Resolver looks up the TXT records that verify custom domains
	// (default net.DefaultResolver).
	Resolver Resolver
	// Nameservers are the host names of the platform's authoritative
	// DNS servers (--dns-nameservers): a delegated zone's registrar must
	// name them.
	Nameservers []string
	// GitSchemes are the URL schemes a project's repository may use
	// (default https and http; add "file" for local repositories).
	GitSchemes []string
	// GitPolicy is the address policy of Git fetches (--allow-private-git);
	// a repository URL naming an address it refuses (127.0.0.1,
	// localhost, 10.x) is refused when saved, and every fetch is checked
	// again at connect time (internal/source).
	GitPolicy egress.Policy
	// MaxFileSize bounds one deployment file (default 100 MiB),
	// MaxZipSize one uploaded ZIP (default 500 MiB).
	MaxFileSize int64
	MaxZipSize  int64
	// Rules are the server's side of compiling deployments' routing
	// rules (a country database for Country conditions): the edges that
	// serve them must be given the same.
	Rules deploy.Options
	// UploadKey signs pre-signed ZIP upload URLs (HMAC-SHA256); every
	// process behind one URL needs the same. Default: a random key.
	UploadKey []byte
	// UploadTTL is how long a pre-signed upload URL is good for (default
	// 15 minutes).
	UploadTTL time.Duration
	// Guard limits password sign-ins (default: auth.NewGuard's
	// defaults). Give the dashboard the same one (Platform.Guard).
	Guard *auth.Guard

	Log        *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// DefaultUploadTTL is how long a pre-signed upload URL is good for.
const DefaultUploadTTL = 15 * time.Minute

// Platform implements the services. It is safe for concurrent use.
type Platform struct {
	cfg     Config
	store   Store
	blobs   apogee.Blobs
	bus     apogee.EventBus
	hub     *logs.Hub
	box     apogee.Sealer
	env     *envvars.Service
	gate    Gate
	apps    Apps
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics
	guard   *auth.Guard // limits password sign-ins (accounts.SignIn)

	platformDomain string // lower-case --domain, "localhost" by default
	sitesDomain    string // lower-case --sites-domain, platformDomain by default
}

// New returns the platform over cfg's backends.
func New(cfg Config) (*Platform, error) {
	if cfg.Store == nil || cfg.Blobs == nil || cfg.Bus == nil {
		return nil, errors.New("platform: Store, Blobs and Bus are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logs == nil {
		cfg.Logs = logs.NewHub(0)
	}
	if cfg.Box == nil {
		cfg.Box = secretbox.NewRandom()
		cfg.Log.Warn("no secret key given: secrets are sealed with a key that is lost when the process ends")
	}
	if cfg.Webhooks == nil {
		cfg.Webhooks = notify.NewSender(notify.SenderConfig{Store: cfg.Store, Box: cfg.Box, Log: cfg.Log})
	}
	if cfg.SiteURL == nil {
		cfg.SiteURL = func(label string) string { return "http://" + label + ".localhost/" }
	}
	if cfg.DomainURL == nil {
		cfg.DomainURL = func(name string) string { return "http://" + name + "/" }
	}
	if cfg.BaseURL == nil {
		cfg.BaseURL = func() string { return "http://localhost" }
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.Guard == nil {
		cfg.Guard = auth.NewGuard(auth.GuardConfig{Now: cfg.Now})
	}
	if len(cfg.GitSchemes) == 0 {
		cfg.GitSchemes = []string{"https", "http"}
	}
	if cfg.MaxFileSize <= 0 {
		cfg.MaxFileSize = apogee.DefaultMaxFileSize
	}
	if cfg.MaxZipSize <= 0 {
		cfg.MaxZipSize = apogee.DefaultMaxZipSize
	}
	if cfg.UploadTTL <= 0 {
		cfg.UploadTTL = DefaultUploadTTL
	}
	if len(cfg.UploadKey) == 0 {
		cfg.UploadKey = []byte(apogee.NewSecret(32))
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	domain := strings.ToLower(strings.TrimSuffix(cfg.Domain, "."))
	if domain == "" {
		domain = "localhost"
	}
	sites := strings.ToLower(strings.TrimSuffix(cfg.SitesDomain, "."))
	if sites == "" {
		sites = domain
	}
	return &Platform{
		cfg: cfg, store: cfg.Store, blobs: cfg.Blobs, bus: cfg.Bus, hub: cfg.Logs, box: cfg.Box,
		env: envvars.New(cfg.Store, cfg.Box, cfg.Now), gate: cfg.Gate, apps: cfg.Apps,
		log: cfg.Log, now: cfg.Now, metrics: m, guard: cfg.Guard, platformDomain: domain, sitesDomain: sites,
	}, nil
}

// Guard returns the limiter of sign-ins, for ways in that sign people in
// without a password (the dashboard's sign-in through GitHub) to count
// their failures with the same limits.
func (pl *Platform) Guard() *auth.Guard { return pl.guard }

// Services returns the platform's services, for the API and the
// dashboard.
func (pl *Platform) Services() apogee.Services {
	return apogee.Services{
		Projects:    projects{pl},
		Deployments: deployments{pl},
		Builds:      builds{pl},
		Domains:     domains{pl},
		DNS:         zones{pl},
		Env:         env{pl},
		RuntimeLogs: runtimeLogs{pl},
		Traffic:     trafficService{pl},
		Apps:        appService{pl},
		Webhooks:    webhooks{pl},
		Accounts:    accounts{pl},
		Admin:       admin{pl},
		Teams:       teams{pl},
		Audit:       audit{pl},
	}
}

// Queue returns the builder's side of builds.
func (pl *Platform) Queue() apogee.BuildQueue { return queue{pl} }

// Env resolves a project's build environment (for the builder).
func (pl *Platform) Env() *envvars.Service { return pl.env }

// errNoUser is the answer to a call for a person made without one: a
// caller that did not authenticate.
var errNoUser = apogee.Errorf(apogee.EUNAUTHORIZED, "sign in first: this needs an API token or a session")

// actor returns the acting user of ctx, if there is one and it is not
// disabled.
func (pl *Platform) actor(ctx context.Context) (*apogee.User, error) {
	u := apogee.UserFromContext(ctx)
	if u == nil {
		return nil, errNoUser
	}
	if err := auth.CheckActive(u); err != nil {
		return nil, err
	}
	return u, nil
}

// project returns the named project if the acting user may do what n
// needs there (allow). A project the user has no role on is reported
// exactly like a missing one.
func (pl *Platform) project(ctx context.Context, name string, n need) (*apogee.User, *apogee.Project, error) {
	u, p, _, err := pl.projectAs(ctx, name, n)
	return u, p, err
}

// projectAs is project with the user's role on it.
func (pl *Platform) projectAs(ctx context.Context, name string, n need) (*apogee.User, *apogee.Project, apogee.Role, error) {
	u, err := pl.actor(ctx)
	if err != nil {
		return nil, nil, "", err
	}
	notFound := apogee.Errorf(apogee.ENOTFOUND, "project %q not found", name)
	if apogee.ValidateProjectName(name) != nil {
		return nil, nil, "", notFound
	}
	p, err := pl.store.ProjectByName(ctx, name)
	if errors.Is(err, apogee.ErrNotFound) {
		return nil, nil, "", notFound
	}
	if err != nil {
		return nil, nil, "", fmt.Errorf("platform: look up project %q: %w", name, err)
	}
	role, err := pl.allow(ctx, u, p, n, notFound)
	if err != nil {
		return nil, nil, "", err
	}
	return u, p, role, nil
}

// deployment returns a deployment and its project if the acting user
// may do what n needs on the project.
func (pl *Platform) deployment(ctx context.Context, id string, n need) (*apogee.User, *apogee.Deployment, *apogee.Project, error) {
	u, err := pl.actor(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	notFound := apogee.Errorf(apogee.ENOTFOUND, "deployment %q not found", id)
	d, err := pl.store.DeploymentByID(ctx, id)
	if errors.Is(err, apogee.ErrNotFound) {
		return nil, nil, nil, notFound
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("platform: look up deployment %q: %w", id, err)
	}
	p, err := pl.store.ProjectByID(ctx, d.ProjectID)
	if errors.Is(err, apogee.ErrNotFound) {
		return nil, nil, nil, notFound
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("platform: look up project of deployment %q: %w", id, err)
	}
	if _, err := pl.allow(ctx, u, p, n, notFound); err != nil {
		return nil, nil, nil, err
	}
	return u, d, p, nil
}

// adminActor returns the acting user if they are an admin.
func (pl *Platform) adminActor(ctx context.Context) (*apogee.User, error) {
	u, err := pl.actor(ctx)
	if err != nil {
		return nil, err
	}
	if !u.Admin {
		return nil, apogee.Errorf(apogee.EFORBIDDEN, "only an admin of this server may do this")
	}
	return u, nil
}

func (pl *Platform) view(d *apogee.Deployment, p *apogee.Project) *apogee.DeploymentView {
	return &apogee.DeploymentView{
		Deployment: d,
		Project:    p.Name,
		URL:        pl.cfg.SiteURL(d.Host),
		Production: p.ProductionID == d.ID,
	}
}

func (pl *Platform) projectView(p *apogee.Project) *apogee.ProjectView {
	return &apogee.ProjectView{Project: p, URL: pl.cfg.SiteURL(p.Name),
		PushURL: pl.cfg.BaseURL() + "/git/" + p.Name + ".git", GitHosted: gitHosted(p)}
}

// gitHosted says p builds from the platform's own repository of it, the
// one git push fills: a file:// URL ending in <project id>.git
// (internal/gitserve's RepoURL), which only the platform makes.
func gitHosted(p *apogee.Project) bool {
	return p.Git != nil && strings.HasPrefix(p.Git.URL, "file://") && strings.HasSuffix(p.Git.URL, "/"+p.ID+".git")
}

// publish hands an event to the bus; a failure is logged, not returned:
// the store has the truth, and edges catch up from its route version.
func (pl *Platform) publish(ctx context.Context, e apogee.Event) {
	if err := pl.bus.Publish(context.WithoutCancel(ctx), e); err != nil {
		pl.log.Error("publish event", "type", e.Type, "deployment", e.DeploymentID, "err", err)
	}
}

// plural writes n things: "1 project", "3 projects".
func plural(n int64, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
