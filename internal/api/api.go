// Package api serves Apogee's REST API under /api/v1: accounts and tokens,
// projects, and the deploy protocol (manifest, upload of missing files,
// finalize, promote, rollback). It maps apogee.Error codes to HTTP status
// and is the only place that does.
package api

import (
	"context"
	_ "embed"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/envvars"
	"github.com/apogee-dev/apogee/internal/logs"
	"github.com/apogee-dev/apogee/internal/notify"
	"github.com/apogee-dev/apogee/internal/secretbox"
)

// Config is what the API needs. Store, Blobs and Bus are required.
type Config struct {
	Store apogee.Store
	Blobs apogee.Blobs
	Bus   apogee.EventBus
	// SiteURL returns the public URL of a host label ("hello" →
	// "http://hello.localhost:8080/").
	SiteURL func(label string) string
	// MaxFileSize bounds one uploaded file (default 100 MiB).
	MaxFileSize int64
	// Domain is the platform's domain (--domain): custom domains may not
	// be under it, and their CNAME records point at <project>.<Domain>.
	Domain string
	// Resolver looks up the TXT records that verify custom domains
	// (default net.DefaultResolver).
	Resolver Resolver
	// DomainURL returns the public URL of a custom domain (default
	// "http://<name>/").
	DomainURL func(name string) string
	// Logs fans build logs out live (default: a hub of its own, which
	// only sees builds of this process).
	Logs *logs.Hub
	// GitSchemes are the URL schemes a project's repository may use
	// (default https and http; add "file" for local repositories).
	GitSchemes []string
	// Box seals secrets at rest: environment variables, webhook secrets
	// (internal/secretbox). Default: a random key that lives only in this
	// process, so nothing sealed survives a restart (tests).
	Box apogee.Sealer
	// UploadKey signs pre-signed ZIP upload URLs (HMAC-SHA256). Every
	// process behind one URL needs the same key; the server derives it
	// from the secret key. Default: a random key of this process.
	UploadKey []byte
	// MaxZipSize bounds one uploaded ZIP (default 500 MiB).
	MaxZipSize int64
	// UploadTTL is how long a pre-signed upload URL is good for
	// (default 15 minutes).
	UploadTTL  time.Duration
	Log        *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time

	// Webhooks checks outgoing webhook URLs and sends test deliveries
	// (default: a notify.Sender of this API's store and box that refuses
	// private addresses).
	Webhooks WebhookSender
	// Edge reports this process's edge traffic for the admin figures
	// (default none: the figures then have no edge part).
	Edge EdgeCounter
	// BaseURL returns the dashboard's URL without a trailing slash, for
	// invitation links (default http://localhost).
	BaseURL func() string
}

// API is the http.Handler of /api/v1.
type API struct {
	store   apogee.Store
	blobs   apogee.Blobs
	bus     apogee.EventBus
	siteURL func(string) string
	maxFile int64
	domains domainConfig
	hub     *logs.Hub
	schemes []string
	box     apogee.Sealer
	env     *envvars.Service
	uploads uploadConfig
	edge    EdgeCounter
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics
	mux     *http.ServeMux
	// patterns are the routes registered, for the test that checks each
	// is in the OpenAPI document.
	patterns []string

	webhooks WebhookSender // outgoing webhooks: see outgoing.go
	baseURL  func() string // invitation links: see invites.go
}

// DefaultMaxFileSize bounds one file of a deployment.
const DefaultMaxFileSize = 100 << 20

// New returns the API with its routes registered.
func New(cfg Config) *API {
	a := &API{
		store:   cfg.Store,
		blobs:   cfg.Blobs,
		bus:     cfg.Bus,
		siteURL: cfg.SiteURL,
		maxFile: cfg.MaxFileSize,
		log:     cfg.Log,
		now:     cfg.Now,
		edge:    cfg.Edge,
		mux:     http.NewServeMux(),
	}
	if a.maxFile <= 0 {
		a.maxFile = DefaultMaxFileSize
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.siteURL == nil {
		a.siteURL = func(label string) string { return "http://" + label + ".localhost/" }
	}
	a.hub = cfg.Logs
	if a.hub == nil {
		a.hub = logs.NewHub(0)
	}
	a.schemes = cfg.GitSchemes
	if len(a.schemes) == 0 {
		a.schemes = []string{"https", "http"}
	}
	a.box = cfg.Box
	if a.baseURL = cfg.BaseURL; a.baseURL == nil {
		a.baseURL = func() string { return "http://localhost" }
	}
	if a.box == nil {
		a.box = secretbox.NewRandom()
		a.log.Warn("no secret key given: secrets are sealed with a key that is lost when the process ends")
	}
	a.env = envvars.New(a.store, a.box, a.now)
	a.uploads = newUploadConfig(cfg)
	a.webhooks = cfg.Webhooks
	if a.webhooks == nil {
		a.webhooks = notify.NewSender(notify.SenderConfig{Store: a.store, Box: a.box, Log: a.log})
	}
	a.domains = newDomainConfig(cfg)
	a.metrics = newMetrics(cfg.Registerer)
	a.routes()
	return a
}

//go:embed openapi.json
var openAPI []byte

func (a *API) routes() {
	m := a.mux
	handle := func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		a.patterns = append(a.patterns, pattern)
		m.Handle(pattern, a.metrics.instrument(pattern, a.wrap(h)))
	}
	authed := func(pattern string, h func(http.ResponseWriter, *http.Request, *apogee.User) error) {
		handle(pattern, a.authenticate(h))
	}

	handle("GET /api/v1/openapi.json", func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		_, err := w.Write(openAPI)
		return err
	})
	handle("POST /api/v1/auth/login", a.login)

	authed("GET /api/v1/user", a.whoami)
	authed("GET /api/v1/tokens", a.listTokens)
	authed("POST /api/v1/tokens", a.createToken)
	authed("DELETE /api/v1/tokens/{id}", a.revokeToken)

	authed("GET /api/v1/projects", a.listProjects)
	authed("POST /api/v1/projects", a.createProject)
	authed("GET /api/v1/projects/{name}", a.getProject)
	authed("PATCH /api/v1/projects/{name}", a.updateProject)
	authed("DELETE /api/v1/projects/{name}", a.deleteProject)
	authed("GET /api/v1/projects/{name}/deployments", a.listDeployments)
	authed("POST /api/v1/projects/{name}/deployments", a.createDeployment)
	authed("POST /api/v1/projects/{name}/promote", a.promote)
	authed("POST /api/v1/projects/{name}/rollback", a.rollback)

	authed("GET /api/v1/projects/{name}/domains", a.listDomains)
	authed("POST /api/v1/projects/{name}/domains", a.createDomain)
	authed("GET /api/v1/domains/{domain}", a.getDomain)
	authed("POST /api/v1/domains/{domain}/verify", a.verifyDomain)
	authed("DELETE /api/v1/domains/{domain}", a.deleteDomain)

	authed("GET /api/v1/projects/{name}/env", a.listEnv)
	authed("PUT /api/v1/projects/{name}/env/{key}", a.setEnv)
	authed("DELETE /api/v1/projects/{name}/env/{key}", a.deleteEnv)

	authed("GET /api/v1/projects/{name}/webhooks", a.listWebhooks)
	authed("POST /api/v1/projects/{name}/webhooks", a.createWebhook)
	authed("DELETE /api/v1/projects/{name}/webhooks/{id}", a.deleteWebhook)
	authed("POST /api/v1/projects/{name}/webhooks/{id}/test", a.testWebhook)

	handle("POST /api/v1/webhooks/github", a.githubWebhook)
	authed("POST /api/v1/projects/{name}/uploads", a.createUpload)
	handle("PUT /api/v1/uploads/{id}", a.putUpload)
	authed("POST /api/v1/projects/{name}/builds", a.queueBuild)
	authed("GET /api/v1/deployments/{id}/logs", a.deploymentLogs)
	authed("POST /api/v1/deployments/{id}/cancel", a.cancelBuild)
	authed("POST /api/v1/deployments/{id}/redeploy", a.redeploy)
	authed("GET /api/v1/deployments/{id}", a.getDeployment)
	authed("PUT /api/v1/deployments/{id}/files/{sha256}", a.uploadFile)
	authed("POST /api/v1/deployments/{id}/finalize", a.finalize)

	a.adminRoutes(authed)  // admin.go: /api/v1/admin/…, /api/v1/usage
	a.inviteRoutes(authed) // invites.go: /api/v1/admin/invites
	authed("GET /api/v1/admin/figures", adminOnly(a.adminFigures))
	authed("GET /api/v1/admin/projects", adminOnly(a.adminProjects))
	authed("GET /api/v1/admin/deployments", adminOnly(a.adminDeployments))

	handle("/api/", func(w http.ResponseWriter, r *http.Request) error {
		return apogee.Errorf(apogee.ENOTFOUND, "no API route %s %s; see /api/v1/openapi.json", r.Method, r.URL.Path)
	})
}

// ServeHTTP serves the API.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// publish hands an event to the bus; a failure is logged, not returned:
// the store has the truth and every edge rebuilds from it.
func (a *API) publish(ctx context.Context, e apogee.Event) {
	if err := a.bus.Publish(ctx, e); err != nil {
		a.log.Error("publish event", "type", e.Type, "deployment", e.DeploymentID, "err", err)
	}
}
