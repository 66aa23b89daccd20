// Package dashboard serves the pages a person signs in to at the apex:
// the landing page, sign-in and sign-up, projects, deployments with their
// live build logs, DNS zones and their records, and the account (API
// tokens, password).
//
// Pages are server-rendered from embedded html/template files with one
// CSS file and a little plain JavaScript (live logs over Server-Sent
// Events); `go build` alone yields everything. Sign-up, sessions,
// passwords and the build log go to the store and the log hub; every
// read and change of projects, deployments, variables, domains, webhooks,
// tokens, plans and users goes through the platform's services
// (apogee.Services) as the signed-in user, so the dashboard gets the same
// checks and events as the API without a copy of them, and ownership is
// decided in one place: another user's project or deployment is a 404
// here as there.
//
// Sessions are cookies holding a random 256-bit id whose SHA-256 is
// stored (apogee.AccountStore). Every POST carries a CSRF token derived
// from the session id and is also checked by net/http's
// CrossOriginProtection (Sec-Fetch-Site / Origin).
package dashboard

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/api"
	"github.com/apogee-dev/apogee/internal/auth"
	"github.com/apogee-dev/apogee/internal/github"
	"github.com/apogee-dev/apogee/internal/logs"
	"github.com/apogee-dev/apogee/internal/nodejs"
	"github.com/apogee-dev/apogee/internal/routemux"
)

// Store is what the dashboard reads and writes itself: users, sessions
// and passwords, invitations redeemed at sign-up, and build logs.
// Everything else goes through the services.
type Store interface {
	apogee.UserStore
	apogee.AccountStore
	apogee.LogStore
	apogee.InviteStore // sign-up by invitation (invites.go)
	DeploymentByID(ctx context.Context, id string) (*apogee.Deployment, error)
	// DeploymentFiles lists a deployment's manifest (its page's files),
	// read once the service has said the user may see it.
	DeploymentFiles(ctx context.Context, id string) ([]apogee.File, error)
}

// Sign-up modes (server flag --signup).
const (
	SignupInvite = "invite" // only with an admin's invitation link (invites.go), or apogee admin create-user
	SignupClosed = "closed" // another name for SignupInvite, from before invitations
	SignupOpen   = "open"   // anyone who reaches the dashboard may sign up
)

// Config is what the dashboard needs. Store and the Services are
// required.
type Config struct {
	Store    Store
	Services apogee.Services
	// Logs fans build logs out live (the server's hub; default a hub of
	// its own, which sees no builds).
	Logs *logs.Hub
	// SiteURL returns the public URL of a host label.
	SiteURL func(label string) string
	// BaseURL returns the dashboard's own URL without a trailing slash
	// (shown in the landing page's commands).
	BaseURL func() string
	// Signup is SignupOpen or SignupInvite (default; SignupClosed is the
	// same). Invitation links work in both.
	Signup string
	// SessionTTL is how long a sign-in lasts (default 14 days).
	SessionTTL time.Duration
	Log        *slog.Logger
	Now        func() time.Time
	// GitHub signs people in with GitHub and lists their repositories;
	// nil: nothing about GitHub shows and its routes answer 404.
	GitHub *github.Client
	// GitHubApp is the platform's GitHub App (nil: none): importing a
	// repository granted to one of its installations links the project
	// to it (AppLinks) instead of creating a repository webhook.
	GitHubApp *github.App
	AppLinks  apogee.GitHubAppStore
	// Guard limits sign-ins through GitHub; give it the platform's
	// (platform.Platform.Guard), which password sign-ins go through, so
	// that one limit counts both (default: a guard of its own).
	Guard *auth.Guard
	// MaxZipSize is the largest ZIP the browser may upload: the
	// platform's limit (default apogee.DefaultMaxZipSize). The build
	// service checks it; the dashboard says it on the form and stops a
	// larger body early.
	MaxZipSize int64

	// Notify gives users their live notifications, served at /events
	// (nil: none). Heartbeat is how often that stream pings and checks
	// its session (default 20 s).
	Notify    Notifications
	Heartbeat time.Duration
	// StatusEvery is how often an app page's status stream samples the
	// app's instances (default 2 s).
	StatusEvery time.Duration
	// FollowEvery is how often the live request log asks for new records
	// (default 1 s).
	FollowEvery time.Duration
	// NodeVersions lists the Node.js lines the build settings offer
	// (the builder's nodejs.Dist); nil: builds use the server's own
	// Node.js and the setting takes a version as typed.
	NodeVersions NodeVersions
	// AppSandboxes are the sandboxes an app may choose (the server's
	// --app-sandboxes): the app page offers them when there are two or
	// more.
	AppSandboxes []string
}

// NodeVersions lists the Node.js lines a project may build with,
// newest first. It may ask the registry (bounded by ctx) and is safe
// for concurrent use.
type NodeVersions interface {
	Lines(ctx context.Context) ([]nodejs.Line, error)
}

var _ NodeVersions = (*nodejs.Dist)(nil)

// Dashboard is the http.Handler of the dashboard's pages.
type Dashboard struct {
	store   Store
	svc     apogee.Services
	hub     *logs.Hub
	siteURL func(string) string
	baseURL func() string
	signup  bool
	ttl     time.Duration
	log     *slog.Logger
	now     func() time.Time
	guard   *auth.Guard
	pages   map[string]*template.Template
	handler http.Handler
	paths   []string // the routes registered (Routes)
	gh      *github.Client
	app     *github.App
	links   apogee.GitHubAppStore
	maxZip  int64
	nodes   NodeVersions
	boxes   []string // AppSandboxes

	notify      Notifications // live notifications (events.go)
	heartbeat   time.Duration
	statusEvery time.Duration // apps.go
	followEvery time.Duration // requestlog.go
}

// DefaultSessionTTL is how long a sign-in lasts.
const DefaultSessionTTL = 14 * 24 * time.Hour

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// New returns the dashboard with its routes registered.
func New(cfg Config) (*Dashboard, error) {
	if cfg.Store == nil || cfg.Services.Projects == nil {
		return nil, errors.New("dashboard: Store and Services are required")
	}
	d := &Dashboard{
		store: cfg.Store, svc: cfg.Services, hub: cfg.Logs, siteURL: cfg.SiteURL, baseURL: cfg.BaseURL,
		ttl: cfg.SessionTTL, log: cfg.Log, now: cfg.Now,
		guard: cfg.Guard,
		gh:    cfg.GitHub,
		app:   cfg.GitHubApp,
		links: cfg.AppLinks,
	}
	if d.app != nil && d.links == nil {
		return nil, errors.New("dashboard: GitHubApp needs AppLinks")
	}
	switch cfg.Signup {
	case "", SignupInvite, SignupClosed:
	case SignupOpen:
		d.signup = true
	default:
		return nil, apogee.Errorf(apogee.EINVALID, "sign-up mode %q must be %q or %q", cfg.Signup, SignupOpen, SignupInvite)
	}
	if d.hub == nil {
		d.hub = logs.NewHub(0)
	}
	if d.siteURL == nil {
		d.siteURL = func(label string) string { return "http://" + label + ".localhost/" }
	}
	if d.baseURL == nil {
		d.baseURL = func() string { return "http://localhost" }
	}
	if d.ttl <= 0 {
		d.ttl = DefaultSessionTTL
	}
	if d.guard == nil {
		d.guard = auth.NewGuard(auth.GuardConfig{Now: cfg.Now})
	}
	if d.log == nil {
		d.log = slog.Default()
	}
	if d.now == nil {
		d.now = time.Now
	}
	d.nodes = cfg.NodeVersions
	d.boxes = cfg.AppSandboxes
	if d.maxZip = cfg.MaxZipSize; d.maxZip <= 0 {
		d.maxZip = apogee.DefaultMaxZipSize
	}
	d.notify, d.heartbeat = cfg.Notify, cfg.Heartbeat
	if d.heartbeat <= 0 {
		d.heartbeat = heartbeat
	}
	if d.statusEvery = cfg.StatusEvery; d.statusEvery <= 0 {
		d.statusEvery = statusEvery
	}
	if d.followEvery = cfg.FollowEvery; d.followEvery <= 0 {
		d.followEvery = followEvery
	}
	var err error
	if d.pages, err = parsePages(); err != nil {
		return nil, err
	}
	d.handler = d.routes()
	return d, nil
}

func (d *Dashboard) routes() http.Handler {
	m := routemux.New()
	defer func() { d.paths = m.Routes() }()
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))

	m.Handle("GET /{$}", d.wrap(d.home))
	m.Handle("GET /login", d.wrap(d.loginPage))
	m.Handle("POST /login", d.wrap(d.login))
	m.Handle("GET /signup", d.wrap(d.signupPage))
	m.Handle("POST /signup", d.wrap(d.signupSubmit))
	m.Handle("POST /logout", d.authed(d.logout))

	m.Handle("GET /projects/new", d.authed(d.newProjectPage))
	m.Handle("POST /projects/new", d.authedUpload(d.createProject))
	m.Handle("GET /projects/{name}", d.authed(d.projectPage))
	m.Handle("GET /projects/{name}/logs", d.authed(d.projectLogs))
	m.Handle("GET /projects/{name}/analytics", d.authed(d.analyticsPage))        // analytics.go
	m.Handle("GET /projects/{name}/requests", d.authed(d.requestsPage))          // requestlog.go
	m.Handle("GET /projects/{name}/requests/stream", d.authed(d.requestsStream)) // requestlog.go
	for tab := range settingsTabs {
		path := "/projects/{name}/settings"
		if tab != "" {
			path += "/" + tab
		}
		m.Handle("GET "+path, d.authed(d.settingsPage(tab)))
	}
	m.Handle("POST /projects/{name}/rename", d.authed(d.renameProject))
	m.Handle("POST /projects/{name}/delete", d.authed(d.deleteProject))
	m.Handle("GET /projects/{name}/app", d.authed(d.appPage))                  // apps.go
	m.Handle("GET /projects/{name}/app/status", d.authed(d.appStatusStream))   // apps.go
	m.Handle("GET /projects/{name}/app/logs", d.authed(d.appLogs))             // apps.go
	m.Handle("POST /projects/{name}/app/restart", d.authed(d.appRestart))      // apps.go
	m.Handle("POST /projects/{name}/app/scale", d.authed(d.appScale))          // apps.go
	m.Handle("POST /projects/{name}/app/sandbox", d.authed(d.appSandbox))      // apps.go
	m.Handle("POST /projects/{name}/app/rollback", d.authed(d.appRollback))    // apps.go
	m.Handle("POST /projects/{name}/app/env", d.authed(d.appSetEnv))           // apps.go
	m.Handle("POST /projects/{name}/app/env/delete", d.authed(d.appDeleteEnv)) // apps.go
	m.Handle("POST /projects/{name}/deploy", d.authed(d.deployNow))
	m.Handle("POST /projects/{name}/promote", d.authed(d.promote))
	m.Handle("POST /projects/{name}/rollback", d.authed(d.rollback))
	m.Handle("POST /projects/{name}/env", d.authed(d.setEnv))
	m.Handle("POST /projects/{name}/env/delete", d.authed(d.deleteEnv))
	// Project settings, domains and ZIP deploys (settings.go, zipupload.go).
	m.Handle("POST /projects/{name}/settings/build", d.authed(d.saveBuildSettings))
	m.Handle("POST /projects/{name}/settings/serve", d.authed(d.saveServeSettings))
	m.Handle("POST /projects/{name}/domains", d.authed(d.addDomain))
	m.Handle("POST /projects/{name}/domains/verify", d.authed(d.verifyDomain))
	m.Handle("POST /projects/{name}/domains/remove", d.authed(d.removeDomain))
	m.Handle("POST /projects/{name}/zip", d.authedUpload(d.deployZip))
	m.Handle("POST /projects/{name}/redeploy", d.authed(d.redeploy))
	m.Handle("GET /docs", d.wrap(d.docsPage))
	m.Handle("GET /docs/{page}", d.wrap(d.docsPage))

	m.Handle("GET /deployments/{id}", d.authed(d.deploymentPage))
	m.Handle("GET /deployments/{id}/log", d.authed(d.deploymentLog))
	m.Handle("GET /deployments/{id}/log.txt", d.authed(d.deploymentLogText))
	m.Handle("POST /deployments/{id}/cancel", d.authed(d.cancel))

	m.Handle("GET /events", d.authed(d.events))
	m.Handle("POST /projects/{name}/webhooks", d.authed(d.addWebhook))
	m.Handle("POST /projects/{name}/webhooks/{id}/delete", d.authed(d.removeWebhook))
	m.Handle("POST /projects/{name}/webhooks/{id}/test", d.authed(d.testWebhook))

	// DNS zones and their records (dns.go).
	m.Handle("GET /dns", d.authed(d.dnsPage))
	m.Handle("POST /dns/zones", d.authed(d.addZone))
	m.Handle("GET /dns/zones/{zone}", d.authed(d.zonePage))
	m.Handle("POST /dns/zones/{zone}/verify", d.authed(d.verifyZone))
	m.Handle("POST /dns/zones/{zone}/remove", d.authed(d.removeZone))
	m.Handle("POST /dns/zones/{zone}/records", d.authed(d.addRecord))
	m.Handle("POST /dns/zones/{zone}/records/{id}", d.authed(d.updateRecord))
	m.Handle("POST /dns/zones/{zone}/records/{id}/remove", d.authed(d.removeRecord))

	// Teams (teams.go).
	m.Handle("GET /teams", d.authed(d.teamsPage))
	m.Handle("POST /teams", d.authed(d.createTeam))
	m.Handle("GET /teams/join", d.wrap(d.joinPage))
	m.Handle("POST /teams/join/signup", d.wrap(d.joinSignup))
	m.Handle("POST /teams/join", d.authed(d.joinTeam))
	m.Handle("GET /teams/{team}", d.authed(d.teamPage))
	m.Handle("POST /teams/{team}/rename", d.authed(d.renameTeam))
	m.Handle("POST /teams/{team}/invites", d.authed(d.inviteToTeam))
	m.Handle("POST /teams/{team}/invites/{id}/revoke", d.authed(d.revokeTeamInvite))
	m.Handle("POST /teams/{team}/members/{user}/role", d.authed(d.setMemberRole))
	m.Handle("POST /teams/{team}/members/{user}/remove", d.authed(d.removeMember))
	m.Handle("POST /teams/{team}/webhooks", d.authed(d.addTeamWebhook))
	m.Handle("POST /teams/{team}/webhooks/{id}/delete", d.authed(d.removeTeamWebhook))
	m.Handle("POST /teams/{team}/webhooks/{id}/test", d.authed(d.testTeamWebhook))

	m.Handle("GET /account", d.authed(d.accountPage))
	m.Handle("POST /account/tokens", d.authed(d.createToken))
	m.Handle("POST /account/tokens/{id}/revoke", d.authed(d.revokeToken))
	m.Handle("POST /account/password", d.authed(d.changePassword))

	m.Handle("GET /admin", d.admin(d.adminOverview))
	m.Handle("GET /admin/projects", d.admin(d.adminProjects))
	m.Handle("GET /admin/deployments", d.admin(d.adminDeployments))
	m.Handle("GET /admin/audit", d.admin(d.adminAudit)) // teams.go
	m.Handle("GET /admin/users", d.admin(d.adminUsers))
	m.Handle("POST /admin/users/{id}/disabled", d.admin(d.adminSetDisabled))
	m.Handle("POST /admin/users/{id}/plan", d.admin(d.adminSetPlan))
	m.Handle("POST /admin/invites", d.admin(d.adminInvite))                   // invites.go
	m.Handle("POST /admin/invites/{id}/revoke", d.admin(d.adminRevokeInvite)) // invites.go
	m.Handle("GET /admin/plans", d.admin(d.adminPlans))
	m.Handle("POST /admin/plans", d.admin(d.adminSavePlan))
	m.Handle("GET /admin/plans/{id}", d.admin(d.adminPlans))
	m.Handle("POST /admin/plans/{id}", d.admin(d.adminSavePlan))
	m.Handle("POST /admin/plans/{id}/delete", d.admin(d.adminDeletePlan))

	if d.gh != nil { // sign in with GitHub (github.go)
		m.Handle("GET /auth/github", d.wrap(d.githubStart))
		m.Handle("GET /auth/github/callback", d.wrap(d.githubCallback))
		m.Handle("POST /account/github/disconnect", d.authed(d.githubDisconnect))
	}

	m.Handle("/", d.wrap(func(w http.ResponseWriter, r *http.Request) error {
		return apogee.Errorf(apogee.ENOTFOUND, "there is no page at %s", r.URL.Path)
	}))

	// A second layer under the per-session tokens: browsers say where a
	// request comes from (Sec-Fetch-Site, Origin); cross-site POSTs stop here.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.renderError(w, r, apogee.Errorf(apogee.EFORBIDDEN, "this form was sent from another site; open the page here and send it again"))
	}))
	return securityHeaders(cop.Handler(m))
}

// Routes returns the patterns of the dashboard's pages, for the security
// suite's authorization matrix.
func (d *Dashboard) Routes() []string { return slices.Clone(d.paths) }

// ServeHTTP serves the dashboard.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) { d.handler.ServeHTTP(w, r) }

// securityHeaders sets the headers every page gets: no framing, no
// sniffing, scripts and styles only from this origin.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		next.ServeHTTP(w, r)
	})
}

func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		next.ServeHTTP(w, r)
	})
}

// wrap turns a handler that returns an error into an http.Handler that
// shows the error as a page.
func (d *Dashboard) wrap(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			d.renderError(w, r, err)
		}
	})
}

// renderError shows err as a page with its status. Internal errors are
// logged in full and shown as a generic message.
func (d *Dashboard) renderError(w http.ResponseWriter, r *http.Request, err error) {
	code := apogee.ErrorCode(err)
	if code == apogee.EINTERNAL || code == apogee.ESTORAGEFULL || code == apogee.EUNAVAILABLE {
		d.log.Error("page failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	status := api.StatusOf(code)
	api.SetRetryAfter(w, err)
	title := http.StatusText(status)
	if code == apogee.ENOTFOUND {
		title = "Not found"
	}
	s, _ := d.session(r) // the header shows who is signed in, if anyone
	d.render(w, r, status, "error", s, title, map[string]any{"Status": status, "Message": apogee.ErrorMessage(err)})
}

// page is what every template gets.
type page struct {
	Title  string
	User   *apogee.User
	CSRF   string
	Flash  *flash
	Signup bool
	GitHub bool // sign-in with GitHub is configured
	Path   string
	Data   any
}

// render executes the named page with status. s may be nil (signed out).
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, status int, name string, s *session, title string, data any) {
	t, ok := d.pages[name]
	if !ok {
		panic("dashboard: no template " + name)
	}
	p := page{Title: title, Signup: d.signup, Path: r.URL.Path, Data: data, Flash: takeFlash(w, r)}
	p.GitHub = d.gh != nil
	if s != nil {
		p.User, p.CSRF = s.user, s.csrf
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := t.ExecuteTemplate(w, "layout", p); err != nil {
		d.log.Error("render page", "page", name, "err", err)
	}
}

// seeOther redirects after a POST (303: the browser GETs the target).
func seeOther(w http.ResponseWriter, r *http.Request, to string) error {
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// errorf wraps an internal failure with what was being done.
func errorf(format string, args ...any) error { return fmt.Errorf("dashboard: "+format, args...) }
