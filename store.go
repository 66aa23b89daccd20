package apogee

import (
	"context"
	"time"
)

// The store interfaces below are the domain's persistence contract. One
// implementation (internal/sqlstore) serves SQLite and PostgreSQL and must
// pass the shared suite in internal/storetest. All methods are safe for
// concurrent use, honour ctx cancellation, return an error matching
// ErrNotFound (errors.Is) for a missing record and an *Error with
// ECONFLICT for a duplicate or a record in the wrong state.

// UserStore keeps users.
type UserStore interface {
	// CreateUser inserts u; ECONFLICT if the email is taken (emails are
	// compared case-insensitively and stored lower-case).
	CreateUser(ctx context.Context, u *User) error
	UserByEmail(ctx context.Context, email string) (*User, error)
	UserByID(ctx context.Context, id string) (*User, error)
	ListUsers(ctx context.Context) ([]*User, error)
}

// TokenStore keeps API tokens by the hash of their secret.
type TokenStore interface {
	CreateToken(ctx context.Context, t *Token) error
	// TokenByHash returns the token whose secret hashes to hash, revoked or
	// expired ones included: the caller decides with Token.Valid.
	TokenByHash(ctx context.Context, hash []byte) (*Token, error)
	ListTokens(ctx context.Context, userID string) ([]*Token, error)
	// RevokeToken marks the user's token revoked at at; ErrNotFound if the
	// token does not exist or is another user's.
	RevokeToken(ctx context.Context, userID, id string, at time.Time) error
	// TouchToken records the last use of a token; it may be lossy.
	TouchToken(ctx context.Context, id string, at time.Time) error
}

// ProjectStore keeps projects.
type ProjectStore interface {
	// CreateProject inserts p; ECONFLICT if the name is taken.
	CreateProject(ctx context.Context, p *Project) error
	ProjectByName(ctx context.Context, name string) (*Project, error)
	ProjectByID(ctx context.Context, id string) (*Project, error)
	// ListProjects returns the owner's projects by name, or every project
	// when ownerID is "".
	ListProjects(ctx context.Context, ownerID string) ([]*Project, error)
	// UpdateProject writes p's Git source, WebhookSecret and Settings;
	// ErrNotFound if the project does not exist.
	UpdateProject(ctx context.Context, p *Project) error
	// ProjectsByGitURL returns the projects built from the repository at
	// url, by name (none for "").
	ProjectsByGitURL(ctx context.Context, url string) ([]*Project, error)
	// RenameProject gives project id the name name and moves the route
	// version, in one transaction: its production host becomes the new
	// name; deployments keep their own hosts. ECONFLICT if the name is
	// taken, ErrNotFound if the project does not exist.
	RenameProject(ctx context.Context, id, name string) error
	// DeleteProject removes the project, its deployments and manifests,
	// and moves the route version, in one transaction. Blobs stay: they
	// may be shared with other deployments.
	DeleteProject(ctx context.Context, id string) error
}

// DeploymentStore keeps deployments, their manifests and the production
// alias. Every method that moves the alias does it in one transaction.
type DeploymentStore interface {
	// CreateDeployment inserts d (status StatusUploading) with its
	// manifest in one transaction.
	CreateDeployment(ctx context.Context, d *Deployment, files []File) error
	DeploymentByID(ctx context.Context, id string) (*Deployment, error)
	// DeploymentFiles returns a deployment's manifest ordered by path.
	DeploymentFiles(ctx context.Context, id string) ([]File, error)
	// HasFile reports whether hash is in the deployment's manifest.
	HasFile(ctx context.Context, deploymentID, hash string) (bool, error)
	// ListDeployments returns a project's deployments, newest first, at
	// most limit of them (limit <= 0: all).
	ListDeployments(ctx context.Context, projectID string, limit int) ([]*Deployment, error)
	// FinalizeDeployment turns an uploading deployment ready at at and, if
	// promote, points its project's production alias at it, in one
	// transaction that bumps the route version. ECONFLICT if the
	// deployment is not uploading.
	FinalizeDeployment(ctx context.Context, id string, at time.Time, promote bool) (*Deployment, error)
	// SetProduction points the project's production alias at a ready
	// deployment of that project, in one transaction that bumps the route
	// version. ErrNotFound if the deployment is not the project's;
	// ECONFLICT if it is not ready.
	SetProduction(ctx context.Context, projectID, deploymentID string) error
	// RollbackTarget returns the newest ready production-target
	// deployment created before the project's current production one,
	// other than an app's pruned release: where a rollback goes. ECONFLICT if there is none. It changes
	// nothing: SetProduction moves the alias.
	RollbackTarget(ctx context.Context, projectID string) (*Deployment, error)
	// ExpireUploads marks deployments still uploading that were created
	// before olderThan as StatusExpired, drops their manifests and returns
	// their ids.
	ExpireUploads(ctx context.Context, olderThan time.Time) ([]string, error)
	// HashesInUse returns those of hashes that any deployment's manifest
	// holds (expired uploads hold none), or that are a recorded variant
	// (VariantStore) of a hash a manifest holds, or the uploaded ZIP
	// (SourceBlob) of a queued or building deployment, in no particular
	// order.
	// The blob garbage collector deletes the others.
	HashesInUse(ctx context.Context, hashes []string) ([]string, error)
}

// RouteStore is what the edge serves and how it changed. Every change of
// a route (a deployment becomes ready, a production alias moves, a custom
// domain is verified or removed, a project is deleted) bumps the route
// version by one in the transaction that makes it and records which
// project it changed, so that an edge that lost an event catches up by
// reloading only those projects.
type RouteStore interface {
	// Routes returns what the edge serves: one route per project with a
	// production deployment (Host = project name), one per ready
	// deployment (Host = its own host label) and one per verified custom
	// domain of a project with a production deployment (Host = the full
	// domain name: a Host with a dot is a full host, never a label).
	Routes(ctx context.Context) ([]Route, error)
	// ProjectRoutes returns the routes of one project, as Routes has
	// them; none for a project that does not exist (any more).
	ProjectRoutes(ctx context.Context, projectID string) ([]Route, error)
	// RouteVersion returns the current route version (0 before any
	// change). Read it before Routes: a change between the two is then
	// seen again, never missed.
	RouteVersion(ctx context.Context) (int64, error)
	// RouteChanges returns, oldest first, at most limit changes with a
	// version after since. Versions have no gaps, so a first change
	// other than since+1 means older changes are no longer kept (the
	// store keeps the newest MaxRouteChanges): reload everything.
	RouteChanges(ctx context.Context, since int64, limit int) ([]RouteChange, error)
}

// BranchStore keeps the stable hosts of branches (BranchAlias).
type BranchStore interface {
	// SetBranchAlias points a branch's stable host at a ready deployment
	// of the project and moves the route version, in one transaction,
	// unless the branch's host serves a newer deployment already (an
	// older build finishing late changes nothing). A host another branch
	// holds is ECONFLICT. Routes and ProjectRoutes include branch hosts
	// (Host = the label), except one equal to a project's name: a
	// project's own host always wins.
	SetBranchAlias(ctx context.Context, a BranchAlias) error
	// BranchAliases returns a project's branch hosts by branch.
	BranchAliases(ctx context.Context, projectID string) ([]BranchAlias, error)
}

// RouteChange is one bump of the route version: the project whose
// routes it changed.
type RouteChange struct {
	Version   int64
	ProjectID string
}

// MaxRouteChanges is how many route changes the store keeps at least.
const MaxRouteChanges = 10_000

// Store is every record the platform keeps.
type Store interface {
	UserStore
	TokenStore
	ProjectStore
	DeploymentStore
	RouteStore
	BranchStore
	DomainStore
	ZoneStore
	LogStore
	RuntimeLogStore
	RequestStore
	ServingStore
	VariantStore
	BuildStore
	EnvStore
	UploadStore
	BlobHoldStore
	AccountStore
	WebhookStore
	PlanStore
	UsageStore
	IdentityStore
	AdminStore
	InviteStore
	ReleaseStore
	PullRequestStore
	GitRepoStore
	WebhookOutboxStore
	GitHubAppStore
	TeamStore
	AuditStore
	Close() error
}
