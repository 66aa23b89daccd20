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
	CommentID  int64      `json:"-"`
	UpdatedAt  time.Time  `json:"updated_at"`
	ClosedAt   *time.Time `json:"closed_at,omitempty"`
}

// PullRequestStore keeps pull requests and the GitHub records Apogee
// made for deployments.
type PullRequestStore interface {
	// SavePullRequest inserts or updates a pull request (its title, URL,
	// head, state, merged and times; the comment id is kept).
	SavePullRequest(ctx context.Context, pr *PullRequest) error
	// PullRequest returns one (ErrNotFound if none).
	PullRequest(ctx context.Context, projectID string, number int) (*PullRequest, error)
	// PullRequests returns a project's pull requests, newest number first.
	PullRequests(ctx context.Context, projectID string) ([]*PullRequest, error)
	// NewestPullRequestDeployment returns the newest deployment of a
	// pull request (ErrNotFound if none).
	NewestPullRequestDeployment(ctx context.Context, projectID string, number int) (*Deployment, error)
	// SetPullRequestComment records commentID as the id of Apogee's
	// comment on it if the recorded one is still old (compare and set:
	// servers posting at once agree on one comment), and reports whether
	// it did.
	SetPullRequestComment(ctx context.Context, projectID string, number int, old, commentID int64) (bool, error)
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
