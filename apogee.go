package apogee

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"
)

// User is a person who signs in. Password holds the argon2id hash in PHC
// string form, never the password itself.
type User struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Password  string    `json:"-"` // argon2id PHC hash; "" = no password (HasPassword)
	Admin     bool      `json:"admin"`
	CreatedAt time.Time `json:"created_at"`
	// PlanID is the user's plan; "" means the default plan (plans.go).
	PlanID string `json:"plan_id,omitempty"`
	// DisabledAt is when an admin disabled the account: a disabled user
	// cannot sign in, their tokens and sessions stop working and pushes
	// and webhooks of their projects build nothing. Their sites keep
	// serving.
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
	// Scope is what the credential the user acts with allows (a token
	// scoped to a team, a read-only token); nil allows everything the
	// user may do. AccountService.Authenticate sets it from the token;
	// it is never stored with the user.
	Scope *Scope `json:"-"`
}

// HasPassword reports whether a password signs in to the account. An
// account made through GitHub sign-in has none (Password is "") until its
// owner sets one on the Account page.
func (u *User) HasPassword() bool { return u.Password != "" }

// Disabled reports whether an admin disabled the account.
func (u *User) Disabled() bool { return u.DisabledAt != nil }

// Token is an API token. Only the SHA-256 of the secret is kept; the
// secret itself is shown once, when the token is made.
type Token struct {
	ID        string     `json:"id"`
	UserID    string     `json:"user_id"`
	Name      string     `json:"name"`
	Hash      []byte     `json:"-"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	LastUsed  *time.Time `json:"last_used_at,omitempty"`
	// TeamID scopes the token to one team (its projects and the team
	// itself); "" lets it act for its user everywhere. ReadOnly tokens
	// change nothing.
	TeamID   string `json:"team_id,omitempty"`
	ReadOnly bool   `json:"read_only,omitempty"`
}

// Valid reports whether the token may be used at now.
func (t *Token) Valid(now time.Time) bool {
	if t.RevokedAt != nil {
		return false
	}
	return t.ExpiresAt == nil || now.Before(*t.ExpiresAt)
}

// Project is a site or app with a name that is also its host label.
// ProductionID is the alias: the ready deployment its production host
// serves, or "" before the first production deployment.
type Project struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	OwnerID      string    `json:"owner_id"`
	ProductionID string    `json:"production_deployment_id,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	// Git is the repository the platform builds from, if any.
	Git *GitSource `json:"git,omitempty"`
	// WebhookSecret signs the repository's push webhooks. The store keeps
	// it as given; callers seal it before storing (secrets are encrypted at
	// rest) and never put it in JSON except for the project's owner.
	WebhookSecret string          `json:"-"`
	Settings      ProjectSettings `json:"settings"`
}

// MayAccess reports whether u owns p in person or is an admin. Members of
// a team that owns p may too, by their role: the platform's access check
// asks the store about those.
func (p *Project) MayAccess(u *User) bool { return u.Admin || p.OwnerID == u.ID }

// GitSource is a project's repository: pushes to Branch deploy to
// production, pushes to other branches make previews.
type GitSource struct {
	URL    string `json:"url"`
	Branch string `json:"branch"`
}

// ProjectSettings are a project's own switches, kept as one document.
type ProjectSettings struct {
	Build BuildSettings `json:"build"`
	Serve ServeSettings `json:"serve"`
	App   AppSettings   `json:"app"`
}

// BuildSettings override what framework detection finds; nil means
// "detect".
type BuildSettings struct {
	Framework      *string `json:"framework,omitempty"`
	InstallCommand *string `json:"install_command,omitempty"`
	BuildCommand   *string `json:"build_command,omitempty"`
	OutputDir      *string `json:"output_dir,omitempty"`
	RootDir        *string `json:"root_dir,omitempty"`
	// NodeVersion is the Node.js builds run with: a version, a range as
	// npm writes them (">=22") or an nvm alias (lts/*); nil: what the
	// tree asks for (engines.node, .nvmrc, .node-version), else the
	// current LTS.
	NodeVersion *string `json:"node_version,omitempty"`
	// WatchPaths are the folders and files, besides RootDir, whose change
	// builds the project (a monorepo's shared packages): a push that
	// touches neither the root folder nor one of them is skipped, as
	// Vercel skips unaffected projects. Relative to the repository's top;
	// a path ending in "/" or naming a folder covers what is inside it.
	// Nil or empty with no RootDir: every push builds.
	WatchPaths []string `json:"watch_paths,omitempty"`
	// IgnoreCommand is the "ignored build step": a shell command run in
	// the build sandbox in the checked-out tree (in RootDir) before the
	// install; exit code 0 skips the build, any other builds.
	IgnoreCommand *string `json:"ignore_command,omitempty"`
}

// ServeSettings are the edge's per-project switches for the common cases
// that need no vercel.json or _redirects. A deployment's own config files
// win over them.
type ServeSettings struct {
	SPA           bool  `json:"spa,omitempty"`            // unknown paths serve /index.html
	CleanURLs     bool  `json:"clean_urls,omitempty"`     // /about serves about.html
	TrailingSlash *bool `json:"trailing_slash,omitempty"` // true: add, false: remove, nil: leave
	HSTS          bool  `json:"hsts,omitempty"`           // Strict-Transport-Security on HTTPS
	NoSniff       bool  `json:"nosniff,omitempty"`        // X-Content-Type-Options: nosniff
}

// Status is the state of a deployment.
type Status string

// Deployment states. A deployment is created "uploading", becomes "ready"
// in the transaction that finalizes it and never changes after that.
// Uploads that never finalize become "expired" and are cleaned up.
//
// A deployment built by the platform goes queued → building → ready, or
// ends in error or canceled with the reason in Error; it never changes
// after it is ready, error or canceled.
const (
	StatusQueued    Status = "queued"
	StatusBuilding  Status = "building"
	StatusUploading Status = "uploading"
	StatusReady     Status = "ready"
	StatusError     Status = "error"
	StatusCanceled  Status = "canceled"
	StatusExpired   Status = "expired"
)

// Building reports whether a deployment in status may still change: a
// build waits for it or runs it, so its log may still grow.
func Building(status Status) bool {
	return status == StatusQueued || status == StatusBuilding
}

// Deployment sources.
const (
	SourceUpload = "upload" // files sent by `apogee deploy`
	SourceGit    = "git"    // built from the project's repository
	SourceZip    = "zip"    // built from an uploaded ZIP of the source
	// SourceFolder is a project's source folder sent by `apogee deploy`
	// through the deploy protocol (CreateDeploymentRequest.Build) and
	// built by the platform: its manifest is the source until the build
	// replaces it with the output.
	SourceFolder = "folder"
)

// Deployment targets.
const (
	TargetProduction = "production"
	TargetPreview    = "preview"
)

// Deployment is one immutable version of a project. Host is its own
// permanent host label (see DeploymentHost).
type Deployment struct {
	ID        string     `json:"id"`
	ProjectID string     `json:"project_id"`
	Status    Status     `json:"status"`
	Target    string     `json:"target"`
	Host      string     `json:"host"`
	Files     int        `json:"files"`
	Size      int64      `json:"size"`
	CreatedBy string     `json:"created_by,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	ReadyAt   *time.Time `json:"ready_at,omitempty"`

	Source string `json:"source"`
	Branch string `json:"branch,omitempty"`
	Commit string `json:"commit,omitempty"`
	// CommitMessage, CommitAuthor and CommitURL describe the commit a
	// Git deployment built: its subject line, its author's name and a
	// link to it on the repository's host ("" where none is known).
	CommitMessage string `json:"commit_message,omitempty"`
	CommitAuthor  string `json:"commit_author,omitempty"`
	CommitURL     string `json:"commit_url,omitempty"`
	// Framework is the preset a build detected or was told to use (its
	// identifier: "vite", "nextjs", "static", …; see framework.Presets);
	// NodeVersion is the Node.js release the build ran with. Both are ""
	// for uploaded files, for apps (which build with the server's
	// Node.js) and until the build gets that far.
	Framework       string     `json:"framework,omitempty"`
	NodeVersion     string     `json:"node_version,omitempty"`
	Error           string     `json:"error,omitempty"`
	BuildStartedAt  *time.Time `json:"build_started_at,omitempty"`
	BuildFinishedAt *time.Time `json:"build_finished_at,omitempty"`
	// NoCache asks the build to skip the project's dependency cache.
	NoCache bool `json:"no_cache,omitempty"`
	// Skipped marks a build that did not run because the push did not
	// touch the project (its root folder and watch paths) or its ignored
	// build step said so: its status is canceled and Error says why.
	Skipped bool `json:"skipped,omitempty"`
	// DiffBase is the commit a push moved the branch from, when what it
	// changed is not known yet: the build compares it with Commit to
	// decide whether the project is affected ("" = build).
	DiffBase string `json:"-"`
	// SourceBlob is the hash of the uploaded ZIP a zip build unpacks.
	SourceBlob string `json:"-"`
	// PullRequest is the number of the pull request a Git build is a
	// preview of (0: none); ForkRepo is the clone URL of the fork it was
	// built from when that is not the project's repository. A fork's
	// build gets none of the project's variables or tokens.
	PullRequest int    `json:"pull_request,omitempty"`
	ForkRepo    string `json:"fork_repo,omitempty"`
	// Warnings are the rules of its routing files the deployment was
	// made without, and why (recorded while it is prepared).
	Warnings []RuleWarning `json:"warnings,omitempty"`
}

// File is one entry of a deployment's manifest. Path is relative, slash
// separated, without a leading slash (see CleanPath).
type File struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	Mode   uint32 `json:"mode,omitempty"`
}

// Route says which ready deployment a host serves. The edge keeps one per
// production host and one per deployment host, whose Host is a label
// served under the platform's domain, and one per verified custom domain,
// whose Host is the full domain name: a Host with a dot is a full host.
type Route struct {
	Host         string
	DeploymentID string
	ProjectID    string
	// App is set when the deployment is an app's release: its requests
	// go to its instances, not to files.
	App bool
	// Wildcard is set for the routes of a wildcard domain: Host
	// "*.example.com" (production) and "<branch label>.example.com" (a
	// branch, see BranchLabel). They serve a host only when no other
	// route names it exactly.
	Wildcard bool
}

// NewID returns a random 12-character lower-case identifier that is also a
// valid part of a DNS label.
func NewID() string {
	const alphabet = "0123456789abcdefghjkmnpqrstvwxyz" // Crockford base32
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("apogee: crypto/rand failed: " + err.Error())
	}
	for i := range b {
		b[i] = alphabet[b[i]&31]
	}
	return string(b[:])
}

// NewSecret returns a random secret of n bytes, hex encoded.
func NewSecret(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("apogee: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// DeploymentHost returns the permanent host label of a deployment:
// "<project>--<id>". Project names may not contain "--", so the label can
// never be taken by a project. The project part is cut to keep the label
// within 63 characters.
func DeploymentHost(project, id string) string {
	max := 63 - len(id) - 2
	if len(project) > max {
		project = strings.TrimRight(project[:max], "-")
	}
	return project + "--" + id
}
