package apogee

import (
	"context"
	"net/url"
	"strings"
	"time"
)

// Pull request states.
const (
	PullRequestOpen   = "open"
	PullRequestClosed = "closed"
)

// PullRequest is a pull request of a project's repository that Apogee
// builds previews of (issue 20): its head branch and, for a fork, the
// fork's repository; whether it is open; and the id of the one comment
// Apogee keeps up to date on it (0 until posted).
type PullRequest struct {
	ProjectID  string     `json:"-"`
	Number     int        `json:"number"`
	Title      string     `json:"title"`
	URL        string     `json:"url,omitempty"`
	HeadBranch string     `json:"head_branch"`
	HeadRepo   string     `json:"head_repo,omitempty"` // a fork's clone URL; "" for the project's repository
	State      string     `json:"state"`               // PullRequestOpen or PullRequestClosed
	Merged     bool       `json:"merged,omitempty"`
	UpdatedAt  time.Time  `json:"updated_at"`
	ClosedAt   *time.Time `json:"closed_at,omitempty"`
}

// PullRequestStore keeps pull requests and the GitHub records Apogee
// made for deployments.
type PullRequestStore interface {
	// SavePullRequest inserts or updates a pull request (its title, URL,
	// head, state, merged and times).
	SavePullRequest(ctx context.Context, pr *PullRequest) error
	// PullRequest returns one (ErrNotFound if none).
	PullRequest(ctx context.Context, projectID string, number int) (*PullRequest, error)
	// PullRequests returns a project's pull requests, newest number first.
	PullRequests(ctx context.Context, projectID string) ([]*PullRequest, error)
	// NewestPullRequestDeployment returns the newest deployment of a
	// pull request (ErrNotFound if none).
	NewestPullRequestDeployment(ctx context.Context, projectID string, number int) (*Deployment, error)
	// QueueGitBuildOnce queues d (a Git build, see QueueBuild) unless the
	// project has a deployment of the same commit, branch and repository
	// that is queued, building or ready: then it returns that one, with
	// d.PullRequest recorded on it if it had none. Both in one
	// transaction, so that a push and a pull request event of one commit
	// arriving together queue one build.
	QueueGitBuildOnce(ctx context.Context, d *Deployment) (existing *Deployment, err error)
	// DropBranchAlias removes a project's branch host if it serves a
	// deployment of pull request number, and moves the route version; it
	// reports whether it did.
	DropBranchAlias(ctx context.Context, projectID, branch string, number int) (bool, error)
	// GitHubDeployment returns the id of the GitHub Deployment made for a
	// deployment (0 if none); SetGitHubDeployment records it.
	GitHubDeployment(ctx context.Context, deploymentID string) (int64, error)
	SetGitHubDeployment(ctx context.Context, deploymentID string, githubID int64) error
	// CheckRun returns the id of the GitHub check run reported for a
	// deployment (0 if none); SetCheckRun records it.
	CheckRun(ctx context.Context, deploymentID string) (int64, error)
	SetCheckRun(ctx context.Context, deploymentID string, githubID int64) error
	// RepoComment returns the id of Apogee's one comment on pull request
	// number of repo (lower-case "owner/name") posted as poster (0 if
	// none); SetRepoComment records commentID if the recorded id is
	// still old (compare and set) and reports whether it did.
	RepoComment(ctx context.Context, repo string, number int, poster string) (int64, error)
	SetRepoComment(ctx context.Context, repo string, number int, poster string, old, commentID int64) (bool, error)
	// SaveCommentRow inserts or replaces a project's row of a comment;
	// CommentRows returns a comment's rows by project name.
	SaveCommentRow(ctx context.Context, row *CommentRow) error
	CommentRows(ctx context.Context, repo string, number int, poster string) ([]*CommentRow, error)
}

// CommentRow is one project's line in Apogee's comment on a pull
// request: a monorepo's projects share one comment per repository and
// poster (Vercel's bot comment), each row edited as its preview changes.
type CommentRow struct {
	Repo         string // lower-case "owner/name"
	Number       int
	Poster       string // "app:<installation>" or "user:<id>": who posts the comment
	ProjectID    string
	Project      string
	DeploymentID string
	Status       string // the deployment's status
	InspectURL   string // the deployment's page in the dashboard
	PreviewURL   string // its URL once ready
	Commit       string
	Closed       bool // the pull request is closed
	UpdatedAt    time.Time
}

// SignedPullRequest is what a repository host says about a pull request
// (GitHub's pull_request event), signed as a SignedPush is.
type SignedPullRequest struct {
	RepoURLs  []string
	Body      []byte
	Signature string
	// Action is "opened", "synchronize", "reopened" (build the head) or
	// "closed"; Number, Title and URL name the pull request.
	Action string
	Number int
	Title  string
	URL    string
	Merged bool
	// HeadBranch and HeadCommit are the pull request's head; HeadRepo is
	// the head repository's clone URL when it is not the base's (a fork).
	HeadBranch string
	HeadCommit string
	HeadRepo   string
	// BaseCommit is the base branch's commit when the event was sent: a
	// monorepo's project whose folders the pull request did not change
	// (from it to the head) skips its preview, as for a push.
	BaseCommit string
}

// PullRequestAlias is the branch key whose stable host serves a pull
// request's previews: the head branch for the project's own repository,
// "fork/<owner>/<branch>" for a fork (Vercel's "git-fork-<owner>-<branch>"
// host), so that a fork's branch never moves a branch of the project.
func PullRequestAlias(branch, forkRepo string) string {
	if forkRepo == "" {
		return branch
	}
	owner := "fork"
	if u, err := url.Parse(forkRepo); err == nil {
		if o, _, ok := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/"); ok && o != "" {
			owner = o
		}
	}
	return "fork/" + owner + "/" + branch
}
