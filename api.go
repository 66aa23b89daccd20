package apogee

// Wire types of the REST API under /api/v1, shared by the server and the
// client. The OpenAPI document in internal/api/openapi.json describes them.

// ErrorBody is the body of every error response.
type ErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Data    any    `json:"data,omitempty"`
	} `json:"error"`
}

// LoginRequest exchanges a password for an API token.
type LoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	// TokenName names the token made; default "cli".
	TokenName string `json:"token_name,omitempty"`
	// Address is the client's IP address, set by the server from the
	// connection, never from the body.
	Address string `json:"-"`
}

// SignInRequest is a password sign-in from the client at Address (its
// IP address, from the connection: forwarded headers are not trusted).
type SignInRequest struct {
	Email, Password, Address string
}

// TokenResponse carries a new token's secret, shown only once.
type TokenResponse struct {
	Token  string `json:"token"`
	Detail *Token `json:"detail"`
	User   *User  `json:"user,omitempty"`
}

// CreateTokenRequest makes a new API token for the caller.
type CreateTokenRequest struct {
	Name string `json:"name"`
	// ExpiresIn is a Go duration ("720h"); empty means no expiry.
	ExpiresIn string `json:"expires_in,omitempty"`
	// Team scopes the token to a team of the caller's (its projects and
	// the team); ReadOnly makes a token that changes nothing.
	Team     string `json:"team,omitempty"`
	ReadOnly bool   `json:"read_only,omitempty"`
}

// CreateProjectRequest makes a project, optionally built from a Git
// repository (pushes to Git.Branch deploy to production).
type CreateProjectRequest struct {
	Name string     `json:"name"`
	Git  *GitSource `json:"git,omitempty"`
	// Team makes the project a team's (the caller needs the member role
	// or more there); "" makes it the caller's own.
	Team string `json:"team,omitempty"`
	// App sets the project's app settings from the start (kind, start
	// command, health check, instances).
	App *AppSettings `json:"app,omitempty"`
}

// BuildRequest asks the platform to build a project from its repository.
type BuildRequest struct {
	// Ref is a branch, tag or commit; empty means the project's branch.
	Ref string `json:"ref,omitempty"`
	// Target is "production" or "preview"; empty means production for the
	// project's branch and preview for any other ref.
	Target string `json:"target,omitempty"`
	// NoCache skips the dependency cache.
	NoCache bool `json:"no_cache,omitempty"`
	// UploadID builds the ZIP received by that upload (see
	// UploadResponse) instead of the repository; Ref must then be empty.
	UploadID string `json:"upload_id,omitempty"`
}

// RedeployRequest is the optional body of POST
// /api/v1/deployments/{id}/redeploy.
type RedeployRequest struct {
	// NoCache skips the dependency cache.
	NoCache bool `json:"no_cache,omitempty"`
}

// ProjectView is a project with its production URL.
type ProjectView struct {
	*Project
	URL string `json:"url"`
	// WebhookSecret is the project's webhook secret in plain text, shown
	// only to its owner by GET /projects/{name} and on creation. It
	// shadows Project.WebhookSecret, the sealed form, which is never
	// marshalled.
	WebhookSecret string `json:"webhook_secret,omitempty"`
	// PushURL is where `git push` sends this project's source (the
	// platform's own repository of it).
	PushURL string `json:"push_url"`
	// GitHosted says the project builds from that repository: Git.URL is
	// then a path on the server, and PushURL is what people use.
	GitHosted bool `json:"git_hosted,omitempty"`
	// Branches are the stable URLs of the project's branches, each
	// serving the branch's newest ready deployment (GET of one project).
	Branches []BranchURL `json:"branches,omitempty"`
	// Team is the name of the team that owns the project; "" for a
	// person's.
	Team string `json:"team,omitempty"`
}

// BranchURL is a branch's stable URL and the deployment it serves.
type BranchURL struct {
	Branch       string `json:"branch"`
	URL          string `json:"url"`
	DeploymentID string `json:"deployment_id"`
}

// CreateDeploymentRequest starts a deployment by sending its manifest.
type CreateDeploymentRequest struct {
	Files []File `json:"files"`
	// Target is "production" (promote on finalize) or "preview" (default).
	Target string `json:"target,omitempty"`
	// Build says the files are a project's source folder: finalize
	// queues a build of them (status queued) instead of serving them, and
	// the deployment's files become what the build makes.
	Build bool `json:"build,omitempty"`
	// NoCache, with Build, builds without the project's dependency cache.
	NoCache bool `json:"no_cache,omitempty"`
}

// DeploymentView is a deployment as the API shows it.
type DeploymentView struct {
	*Deployment
	Project    string `json:"project"`
	URL        string `json:"url"`
	Production bool   `json:"production"`
	// PullRequestTitle and PullRequestState describe the pull request a
	// listed deployment is a preview of (Deployment.PullRequest): its
	// title and "open" or "closed".
	PullRequestTitle string `json:"pull_request_title,omitempty"`
	PullRequestState string `json:"pull_request_state,omitempty"`
	// Missing lists, on creation, the hashes the server lacks: upload
	// these with PUT /api/v1/deployments/{id}/files/{sha256}.
	Missing []string `json:"missing,omitempty"`
}

// PromoteRequest names the deployment to promote or roll back to.
type PromoteRequest struct {
	DeploymentID string `json:"deployment_id"`
}
