package apogee

import (
	"context"
	"encoding/json"
	"io"
	"time"
)

// The services below are the platform's rules, one interface per domain,
// as every way in calls them: the HTTP API, the dashboard, git push, the
// GitHub webhook and the builder. internal/platform implements each of
// them once.
//
// The contract every method keeps:
//
//   - ctx comes first; the acting user comes from it (NewContextWithUser).
//     A method that acts for a person answers EUNAUTHORIZED without one and
//     the disabled-account error for a disabled one. A record the user may
//     not see (another user's project, deployment or domain) is ENOTFOUND,
//     worded exactly as a missing one. Methods for the platform's own roles
//     (the builder; a webhook that proves itself by signature) say so and
//     need no user.
//   - A change checks authorization, then the plan of the project's owner
//     (EQUOTA), then writes in one store transaction, and then publishes
//     the events that follow. Callers never publish.
//   - Errors are *Error with a code for what a caller can act on; anything
//     else is internal. Messages speak of the platform, not of a client:
//     the CLI adds its own advice by code, the dashboard shows them as
//     they are.

// Services bundles the platform's services, as the server wires them into
// the API and the dashboard.
type Services struct {
	Projects    ProjectService
	Deployments DeploymentService
	Builds      BuildService
	Domains     DomainService
	DNS         DNSService
	Env         EnvService
	RuntimeLogs RuntimeLogService
	Traffic     TrafficService
	Apps        AppService
	Webhooks    WebhookService
	Accounts    AccountService
	Admin       AdminService
	Teams       TeamService
	Audit       AuditService
}

// ProjectService keeps the user's projects.
type ProjectService interface {
	// Projects returns the projects of a scope by name: team "" is the
	// user's own (or, for a token scoped to a team, the team's), a team's
	// name that team's (any member).
	Projects(ctx context.Context, team string) ([]*ProjectView, error)
	// Project returns the named project as its owner (or an admin) sees
	// it: with its webhook secret in plain text.
	Project(ctx context.Context, name string) (*ProjectView, error)
	// CreateProject makes a project owned by the user (EQUOTA beyond the
	// plan's projects, ECONFLICT for a taken name); the answer carries the
	// new webhook secret.
	CreateProject(ctx context.Context, req CreateProjectRequest) (*ProjectView, error)
	// UpdateProject changes the project's settings by a JSON merge patch
	// (RFC 7396) per section ("build", "serve"): a key sets a value, null
	// resets it (or a whole section), keys left out stay. Serve settings
	// apply from the next deployment on.
	UpdateProject(ctx context.Context, name string, settings map[string]json.RawMessage) (*ProjectView, error)
	// RenameProject gives the project a new name: its production URL
	// moves to the new name at once (the old one stops serving), every
	// deployment keeps its own URL. ECONFLICT for a taken name.
	RenameProject(ctx context.Context, name, newName string) (*ProjectView, error)
	// DeleteProject removes the project with its deployments, domains and
	// variables; every host of it stops serving. For a team's project,
	// owners only.
	DeleteProject(ctx context.Context, name string) error
	// MoveProject gives the project to a team (req.Team) or to the caller
	// in person (""): owners of both sides only, within the receiving
	// side's plan (projects, custom domains, storage). Hosts stay.
	MoveProject(ctx context.Context, name string, req MoveProjectRequest) (*ProjectView, error)
}

// DeploymentService is the deploy protocol and the production alias.
// Every move of a project's production alias (a production upload
// finalized, a production build finished, promote, rollback) goes through
// one path of the implementation, which also moves the project's verified
// custom domains and tells every edge.
type DeploymentService interface {
	// Deployment returns one deployment the user may see.
	Deployment(ctx context.Context, id string) (*DeploymentView, error)
	// Deployments returns a project's newest deployments, at most limit
	// (1 to 1000).
	Deployments(ctx context.Context, project string, limit int) ([]*DeploymentView, error)
	// CreateDeployment starts an upload: it checks and records the
	// manifest (target "" is preview) and answers, in Missing, the hashes
	// the blob store lacks.
	CreateDeployment(ctx context.Context, project string, req CreateDeploymentRequest) (*DeploymentView, error)
	// UploadFile stores one blob of an uploading deployment's manifest
	// from r, checked against hash as it streams; size is its length if
	// known (-1 if not). ETOOLARGE past the platform's file limit.
	UploadFile(ctx context.Context, id, hash string, r io.Reader, size int64) error
	// Finalize makes an uploading deployment ready once every blob is
	// stored (EMISSING otherwise, with the hashes in Data) and, if it
	// targets production, moves production to it. An invalid config file
	// ends the deployment in error (EINVALID naming file and rule).
	Finalize(ctx context.Context, id string) (*DeploymentView, error)
	// Promote points the project's production alias at its ready
	// deployment id.
	Promote(ctx context.Context, project, id string) (*DeploymentView, error)
	// Rollback points production at deployment to, or, when to is "", at
	// the newest ready production deployment older than the current one.
	Rollback(ctx context.Context, project, to string) (*DeploymentView, error)
}

// BuildService queues builds, for people and for the ways a push
// arrives, and is the builder's side of the build queue.
type BuildService interface {
	// QueueBuild queues a build of the project's repository at req.Ref,
	// or of the ZIP that upload req.UploadID received.
	QueueBuild(ctx context.Context, project string, req BuildRequest) (*DeploymentView, error)
	// Redeploy builds a Git deployment's commit again as a new deployment
	// with the project's current settings and variables.
	Redeploy(ctx context.Context, id string, req RedeployRequest) (*DeploymentView, error)
	// Cancel ends a queued or building deployment as canceled.
	Cancel(ctx context.Context, id string) (*DeploymentView, error)

	// CreateUpload makes a pre-signed slot for one ZIP of the project's
	// source; baseURL is the scheme and host the ZIP is sent to
	// ("https://apogee.example.com").
	CreateUpload(ctx context.Context, project, baseURL string) (*UploadResponse, error)
	// PutUpload receives the ZIP of a pre-signed upload from r (size, if
	// known, or -1). It needs no user: expires and sig, from the upload
	// URL, are the credential.
	PutUpload(ctx context.Context, id string, expires int64, sig string, r io.Reader, size int64) (*Upload, error)
	// UploadZip receives a ZIP of the project's source from the user in
	// one call (the dashboard's form): an upload to build with
	// BuildRequest.UploadID.
	UploadZip(ctx context.Context, project string, r io.Reader) (*Upload, error)

	// CheckPush returns the project if the user may push to it and its
	// owner may build now (EQUOTA, or EFORBIDDEN for a disabled owner):
	// git push asks before it receives anything.
	CheckPush(ctx context.Context, project string) (*Project, error)
	// Pushed queues a build of every branch a push to the platform's own
	// repository of the project (at repoURL) moved; a project with no
	// repository adopts that one. Refusals are logged per branch.
	Pushed(ctx context.Context, project, repoURL string, moved []PushedBranch) ([]*DeploymentView, error)
	// SignedPush handles a push a repository host reports (the GitHub
	// webhook). It needs no user: the body's signature by a project's
	// webhook secret is the credential. ENOTFOUND when no project builds
	// from the repository, EUNAUTHORIZED when no project's secret signed
	// the body; a push with no Branch (a ping, an event that builds
	// nothing) only checks the signature.
	SignedPush(ctx context.Context, push SignedPush) (*PushResult, error)
	// SignedPullRequest handles a pull request event, signed as a
	// SignedPush is: opened, synchronize and reopened build a preview of
	// the head commit (a fork's without the project's variables);
	// closed marks the pull request closed and takes its previews off
	// the branch host (they stay at their own URLs). Other actions only
	// check the signature.
	SignedPullRequest(ctx context.Context, pr SignedPullRequest) (*PushResult, error)
	// GitHubAppEvent handles a delivery of the platform's GitHub App. It
	// needs no user: the body's signature by the app's webhook secret is
	// the credential (EUNAUTHORIZED otherwise; ENOTFOUND when the server
	// has no GitHub App). A push or a pull request builds the projects
	// linked to the installation for the repository, as SignedPush and
	// SignedPullRequest do; an uninstall or a repository taken away
	// unlinks them. Other events are verified and ignored.
	GitHubAppEvent(ctx context.Context, ev GitHubAppEvent) (*PushResult, error)
}

// GitHubAppEvent is a delivery of the platform's GitHub App.
type GitHubAppEvent struct {
	Event     string // X-GitHub-Event: installation, installation_repositories, push, …
	Action    string // created, deleted, added, removed, …
	Body      []byte
	Signature string // X-Hub-Signature-256
	// Installation is the payload's installation id.
	Installation int64
	// Repo is the pushed repository ("owner/name"); Removed are the
	// repositories an installation_repositories event took away.
	Repo    string
	Removed []string
	// Push is the branch pushed (Push.Branch "" for a tag, a deletion or
	// another event) and the repository's URLs; its Body and Signature
	// are unused.
	Push SignedPush
	// PullRequest is a pull_request event's (nil for other events; its
	// Action "" for an action that builds nothing); Repo names its base
	// repository. Its Body and Signature are unused.
	PullRequest *SignedPullRequest
}

// BuildQueue is the builder's side of builds: the platform's own role,
// with no user. Claims and heartbeats are the store's (BuildStore); what
// changes what others see goes through here, so that it publishes.
type BuildQueue interface {
	// ClaimBuild marks the oldest queued build its owner's plan lets
	// start building for worker and returns it (ENOTFOUND: none).
	ClaimBuild(ctx context.Context, worker string) (*Deployment, error)
	// FinishBuild readies a building deployment's output (routing rules
	// compiled, variants compressed), makes it ready with files as its
	// manifest and, if it targets production, moves production to it.
	// An *Error (an invalid config file, production refused) fails
	// nothing: the builder fails the build with its message.
	FinishBuild(ctx context.Context, id string, files []File) (*Deployment, error)
	// FinishRelease is FinishBuild for an app: it records the build's
	// release (its start and release commands, the project's variables
	// and app settings as they are now), then makes the deployment ready
	// as FinishBuild does; its instances must be ready before it goes
	// live (the platform's Gate).
	FinishRelease(ctx context.Context, id string, files []File, app AppBuild) (*Deployment, error)
	// FailBuild ends a queued or building deployment with status
	// StatusError or StatusCanceled and reason (ECONFLICT if it ended).
	FailBuild(ctx context.Context, id string, status Status, reason string) (*Deployment, error)
	// SkipBuild ends a queued or building deployment as skipped (status
	// canceled, Skipped set) with reason: the push did not touch the
	// project or its ignored build step said to skip.
	SkipBuild(ctx context.Context, id, reason string) (*Deployment, error)
	// FailStaleBuilds ends as error the builds whose worker stopped (see
	// BuildStore.FailStaleBuilds) and returns them.
	FailStaleBuilds(ctx context.Context, before time.Time, workerPrefix, reason string) ([]*Deployment, error)
	// RequeueStaleBuilds queues again for another builder the builds
	// whose worker stopped (see BuildStore.RequeueStaleBuilds) and
	// returns them.
	RequeueStaleBuilds(ctx context.Context, before time.Time, workerPrefix string, maxTakeovers int) ([]*Deployment, error)
}

// PushedBranch is a branch a push moved and the commit it points at now.
type PushedBranch struct {
	Branch string
	Commit string
	// Before is the commit the branch pointed at before the push ("" for
	// a new branch): the build compares the two to skip projects of a
	// monorepo the push did not touch.
	Before string
}

// SignedPush is what a repository host says about a push.
type SignedPush struct {
	// RepoURLs are the repository's URLs as the host names them (clone,
	// web, ssh); a project matches by any, give or take ".git", a
	// trailing slash and the case of the host.
	RepoURLs []string
	// Body is the raw request body; Signature its "sha256=<hex>"
	// HMAC-SHA256 under a project's webhook secret.
	Body      []byte
	Signature string
	// Branch and Commit pushed; Branch "" checks the signature only.
	Branch string
	Commit string
	// Before is the commit the branch moved from ("" for a new branch).
	Before string
	// Changed are the paths the push added, modified or removed, as the
	// host listed them, when ChangedKnown: the list is whole (GitHub
	// caps a push's commits and files). Otherwise the build compares
	// Before with Commit in the clone.
	Changed      []string
	ChangedKnown bool
}

// PushResult is what a SignedPush did: the projects whose secret signed
// it, the builds queued and the projects whose owner's plan refused a
// build (with why).
type PushResult struct {
	Projects    []string          `json:"-"`
	Deployments []*DeploymentView `json:"deployments"`
	// Skipped are the projects the push did not touch (monorepos): each
	// is recorded as a skipped deployment saying why.
	Skipped []*DeploymentView `json:"skipped,omitempty"`
	Refused []PushRefusal     `json:"refused,omitempty"`
}

// PushRefusal is a project a push did not build, and why.
type PushRefusal struct {
	Project string `json:"project"`
	Error   string `json:"error"`
}

// DomainService keeps projects' custom domains.
type DomainService interface {
	// Domains returns a project's domains by name.
	Domains(ctx context.Context, project string) ([]*DomainView, error)
	// AddDomain adds an unverified domain to a project (EQUOTA beyond the
	// plan's domains, ECONFLICT for a name another project has).
	AddDomain(ctx context.Context, project, name string) (*DomainView, error)
	Domain(ctx context.Context, name string) (*DomainView, error)
	// VerifyDomain looks the domain's TXT record up and, if it holds the
	// token, marks the domain verified: it then serves the project's
	// production deployment. ECONFLICT says what was found instead.
	VerifyDomain(ctx context.Context, name string) (*DomainView, error)
	RemoveDomain(ctx context.Context, name string) error
}

// AppService is apps' runtime as their owners see it: releases and
// instances, scaling and restarts. Instances are those of the server that
// answers (the one that runs the project's app).
type AppService interface {
	// AppStatus returns the project's newest releases and the instances
	// running them.
	AppStatus(ctx context.Context, project string) (*AppStatus, error)
	// ScaleApp changes the scaling settings of the project's app (a fixed
	// number of instances, or the autoscaler's min, max and concurrency;
	// max within the owner's plan, else EQUOTA) and applies their bounds
	// now: new instances take requests once ready, extra ones are drained
	// first. EINVALID for a project whose production is not an app's
	// release.
	ScaleApp(ctx context.Context, project string, req ScaleRequest) (*AppStatus, error)
	// RestartApp replaces every instance serving the project's
	// production with a new one, with no downtime: the new ones are
	// ready before the old ones drain.
	RestartApp(ctx context.Context, project string) (*AppStatus, error)
}

// EnvService keeps projects' environment variables, sealed at rest.
type EnvService interface {
	// Env lists a project's variables by key; secret values never.
	Env(ctx context.Context, project string) ([]EnvVarView, error)
	SetEnv(ctx context.Context, project, key, value string, secret bool) (*EnvVarView, error)
	DeleteEnv(ctx context.Context, project, key string) error
}

// WebhookService keeps the outgoing webhooks of projects and of teams.
type WebhookService interface {
	Webhooks(ctx context.Context, project string) ([]*WebhookView, error)
	// CreateWebhook adds a webhook; the answer alone carries its secret.
	CreateWebhook(ctx context.Context, project string, req CreateWebhookRequest) (*WebhookView, error)
	DeleteWebhook(ctx context.Context, project, id string) error
	// TestWebhook sends a ping now and records and returns the outcome.
	TestWebhook(ctx context.Context, project, id string) (*WebhookDelivery, error)

	// A team's webhooks are sent the notifications of every project the
	// team owns, besides each project's own. Any member may list them
	// (never a secret); owners add, remove and test them. A team the
	// caller is no member of is ENOTFOUND.
	TeamWebhooks(ctx context.Context, team string) ([]*WebhookView, error)
	CreateTeamWebhook(ctx context.Context, team string, req CreateWebhookRequest) (*WebhookView, error)
	DeleteTeamWebhook(ctx context.Context, team, id string) error
	TestTeamWebhook(ctx context.Context, team, id string) (*WebhookDelivery, error)
}

// AccountService is a person's own account: signing in with a password,
// API tokens, and their plan and usage.
type AccountService interface {
	// SignIn returns the user of an email and password sent from the
	// client at req.Address. Every way in that takes a password (the
	// API's login, the dashboard's sign-in form, git over HTTP) calls it,
	// so one limit holds for all: ETOOMANY, with the wait (RetryAfter),
	// after too many failures of the account, of the address or of the
	// two together, or while too many passwords are being checked at
	// once. It needs no user; a wrong pair is EUNAUTHORIZED without
	// saying which.
	SignIn(ctx context.Context, req SignInRequest) (*User, error)
	// SignedIn records in u's audit log that u signed in ("signin") by a
	// way that takes no password, whose proof the caller checked (the
	// dashboard's GitHub sign-in), from the client at address; via says
	// which way (e.g. "with GitHub as @octo", "signed up with GitHub as
	// @octo"). It changes nothing else.
	SignedIn(ctx context.Context, u *User, address, via string)
	// Login exchanges an email and password for a new API token, through
	// SignIn.
	Login(ctx context.Context, req LoginRequest) (*TokenResponse, error)
	// Authenticate returns the user of an API token secret and records
	// its use. It needs no user; a bad, expired or revoked token is
	// EUNAUTHORIZED without saying which.
	Authenticate(ctx context.Context, secret string) (*User, error)
	Tokens(ctx context.Context) ([]*Token, error)
	CreateToken(ctx context.Context, req CreateTokenRequest) (*TokenResponse, error)
	RevokeToken(ctx context.Context, id string) error
	// Me returns the user with their plan and usage.
	Me(ctx context.Context) (*UserView, error)
	// Usage returns the user's plan and what they use of it this month.
	Usage(ctx context.Context) (*PlanView, error)
}

// AdminService is the whole platform as its admins see it. Every method
// is EFORBIDDEN for a user who is not an admin.
type AdminService interface {
	Users(ctx context.Context) ([]*UserView, error)
	// UpdateUser changes a user found by id or email (plan, disabled,
	// admin), all checked before any is applied. An admin cannot disable
	// or demote themselves.
	UpdateUser(ctx context.Context, user string, req UpdateUserRequest) (*UserView, error)
	Plans(ctx context.Context) ([]*Plan, error)
	// CreatePlan makes a plan; limits left out are the default plan's.
	CreatePlan(ctx context.Context, req PlanRequest) (*Plan, error)
	// UpdatePlan changes a plan found by id or name.
	UpdatePlan(ctx context.Context, plan string, req PlanRequest) (*Plan, error)
	DeletePlan(ctx context.Context, plan string) error
	// Figures counts the platform (FigureDays of deployments per day)
	// and this process's edge traffic.
	Figures(ctx context.Context) (*AdminFigures, error)
	// AllProjects returns every project with its owner and newest
	// deployment.
	AllProjects(ctx context.Context) ([]*AdminProjectView, error)
	// RecentDeployments returns the newest deployments of every project,
	// at most limit (1 to 1000).
	RecentDeployments(ctx context.Context, limit int) ([]*DeploymentView, error)
	// Invite makes an invitation; its URL is in this answer only.
	Invite(ctx context.Context, req InviteRequest) (*NewInvite, error)
	// Invites returns the pending invitations, oldest first.
	Invites(ctx context.Context) ([]*Invite, error)
	RevokeInvite(ctx context.Context, id string) error
}

// FigureDays is how many days of deployments the admin figures count,
// today (UTC) included.
const FigureDays = 30
