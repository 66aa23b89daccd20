// Package api serves Apogee's REST API under /api/v1: the HTTP face of
// the platform's services (apogee.Services). A handler authenticates the
// caller, decodes the request, calls one service method as that user and
// encodes the answer; the rules (who may, quotas, transactions, events)
// are the services'. It maps apogee.Error codes to HTTP status (StatusOf),
// the one mapping every HTTP face of the server uses.
package api

import (
	"context"
	_ "embed"
	"log/slog"
	"net/http"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/logs"
)

// LogStore is what the API reads of build logs itself, after the
// deployment service said the caller may see the deployment: the stored
// lines, and the status that says whether more may come.
type LogStore interface {
	apogee.LogStore
	DeploymentByID(ctx context.Context, id string) (*apogee.Deployment, error)
}

// Config is what the API needs. Services and Logs are required.
type Config struct {
	Services apogee.Services
	Logs     LogStore
	// Hub fans build logs out live (default: a hub of its own, which only
	// sees builds of this process).
	Hub        *logs.Hub
	Log        *slog.Logger
	Registerer prometheus.Registerer
}

// API is the http.Handler of /api/v1.
type API struct {
	svc     apogee.Services
	logs    LogStore
	hub     *logs.Hub
	log     *slog.Logger
	metrics *metrics
	mux     *http.ServeMux
	// patterns are the routes registered, for the test that checks each
	// is in the OpenAPI document.
	patterns []string
}

// New returns the API with its routes registered.
func New(cfg Config) *API {
	a := &API{svc: cfg.Services, logs: cfg.Logs, hub: cfg.Hub, log: cfg.Log, mux: http.NewServeMux()}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.hub == nil {
		a.hub = logs.NewHub(0)
	}
	a.metrics = newMetrics(cfg.Registerer)
	a.routes()
	return a
}

//go:embed openapi.json
var openAPI []byte

// handler serves one route: it returns the error to answer with.
type handler func(w http.ResponseWriter, r *http.Request) error

func (a *API) routes() {
	handle := func(pattern string, h handler) {
		a.patterns = append(a.patterns, pattern)
		a.mux.Handle(pattern, a.metrics.instrument(pattern, a.wrap(h)))
	}
	// authed routes act as the token's user: the services read it from
	// the request's context.
	authed := func(pattern string, h handler) { handle(pattern, a.authenticate(h)) }

	handle("GET /api/v1/openapi.json", func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		_, err := w.Write(openAPI)
		return err
	})
	handle("POST /api/v1/auth/login", a.login)

	authed("GET /api/v1/user", a.whoami)
	authed("GET /api/v1/usage", a.usage)
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

	authed("GET /api/v1/dns/zones", a.listZones)
	authed("POST /api/v1/dns/zones", a.createZone)
	authed("GET /api/v1/dns/zones/{zone}", a.getZone)
	authed("POST /api/v1/dns/zones/{zone}/verify", a.verifyZone)
	authed("DELETE /api/v1/dns/zones/{zone}", a.deleteZone)
	authed("GET /api/v1/dns/zones/{zone}/records", a.listRecords)
	authed("POST /api/v1/dns/zones/{zone}/records", a.createRecord)
	authed("PATCH /api/v1/dns/zones/{zone}/records/{id}", a.updateRecord)
	authed("DELETE /api/v1/dns/zones/{zone}/records/{id}", a.deleteRecord)

	authed("GET /api/v1/projects/{name}/env", a.listEnv)
	authed("PUT /api/v1/projects/{name}/env/{key}", a.setEnv)
	authed("DELETE /api/v1/projects/{name}/env/{key}", a.deleteEnv)

	authed("GET /api/v1/projects/{name}/runtime-logs", a.runtimeLogs)
	authed("GET /api/v1/projects/{name}/analytics", a.analytics)
	authed("GET /api/v1/projects/{name}/requests", a.requests)

	authed("GET /api/v1/projects/{name}/app", a.appStatus)
	authed("POST /api/v1/projects/{name}/app/scale", a.scaleApp)
	authed("POST /api/v1/projects/{name}/app/restart", a.restartApp)

	authed("GET /api/v1/projects/{name}/webhooks", a.listWebhooks)
	authed("POST /api/v1/projects/{name}/webhooks", a.createWebhook)
	authed("DELETE /api/v1/projects/{name}/webhooks/{id}", a.deleteWebhook)
	authed("POST /api/v1/projects/{name}/webhooks/{id}/test", a.testWebhook)

	handle("POST /api/v1/webhooks/github", a.githubWebhook)
	handle("POST /api/v1/webhooks/github-app", a.githubAppWebhook)
	authed("POST /api/v1/projects/{name}/uploads", a.createUpload)
	handle("PUT /api/v1/uploads/{id}", a.putUpload)
	authed("POST /api/v1/projects/{name}/builds", a.queueBuild)
	authed("GET /api/v1/deployments/{id}/logs", a.deploymentLogs)
	authed("POST /api/v1/deployments/{id}/cancel", a.cancelBuild)
	authed("POST /api/v1/deployments/{id}/redeploy", a.redeploy)
	authed("GET /api/v1/deployments/{id}", a.getDeployment)
	authed("PUT /api/v1/deployments/{id}/files/{sha256}", a.uploadFile)
	authed("POST /api/v1/deployments/{id}/finalize", a.finalize)

	authed("POST /api/v1/projects/{name}/move", a.moveProject)
	authed("GET /api/v1/teams", a.listTeams)
	authed("POST /api/v1/teams", a.createTeam)
	authed("POST /api/v1/teams/join", a.joinTeam)
	authed("GET /api/v1/teams/{team}", a.getTeam)
	authed("PATCH /api/v1/teams/{team}", a.renameTeam)
	authed("DELETE /api/v1/teams/{team}", a.deleteTeam)
	authed("GET /api/v1/teams/{team}/members", a.listMembers)
	authed("PATCH /api/v1/teams/{team}/members/{user}", a.setRole)
	authed("DELETE /api/v1/teams/{team}/members/{user}", a.removeMember)
	authed("GET /api/v1/teams/{team}/invites", a.listTeamInvites)
	authed("POST /api/v1/teams/{team}/invites", a.createTeamInvite)
	authed("DELETE /api/v1/teams/{team}/invites/{id}", a.deleteTeamInvite)
	authed("GET /api/v1/teams/{team}/webhooks", a.listTeamWebhooks)
	authed("POST /api/v1/teams/{team}/webhooks", a.createTeamWebhook)
	authed("DELETE /api/v1/teams/{team}/webhooks/{id}", a.deleteTeamWebhook)
	authed("POST /api/v1/teams/{team}/webhooks/{id}/test", a.testTeamWebhook)
	authed("GET /api/v1/audit", a.auditLog)

	authed("GET /api/v1/admin/users", a.adminListUsers)
	authed("PATCH /api/v1/admin/users/{id}", a.adminUpdateUser)
	authed("GET /api/v1/admin/plans", a.adminListPlans)
	authed("POST /api/v1/admin/plans", a.adminCreatePlan)
	authed("PATCH /api/v1/admin/plans/{id}", a.adminUpdatePlan)
	authed("DELETE /api/v1/admin/plans/{id}", a.adminDeletePlan)
	authed("POST /api/v1/admin/invites", a.createInvite)
	authed("GET /api/v1/admin/invites", a.listInvites)
	authed("DELETE /api/v1/admin/invites/{id}", a.deleteInvite)
	authed("GET /api/v1/admin/figures", a.adminFigures)
	authed("GET /api/v1/admin/projects", a.adminProjects)
	authed("GET /api/v1/admin/deployments", a.adminDeployments)

	handle("/api/", func(w http.ResponseWriter, r *http.Request) error {
		return apogee.Errorf(apogee.ENOTFOUND, "no API route %s %s; see /api/v1/openapi.json", r.Method, r.URL.Path)
	})
}

// Routes returns the patterns of the API's routes, in the order they were
// registered (the security suite's authorization matrix reads them).
func (a *API) Routes() []string { return slices.Clone(a.patterns) }

// ServeHTTP serves the API.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }
