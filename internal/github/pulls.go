package github

import (
	"context"
)

// CreateComment posts body as a comment on issue or pull request number
// of repository fullName as the user, and returns the comment's id.
func (c *Client) CreateComment(ctx context.Context, userID, fullName string, number int, body string) (int64, error) {
	t, err := c.userTarget(ctx, userID, fullName)
	if err != nil {
		return 0, err
	}
	return t.createComment(ctx, number, body)
}

// UpdateComment replaces the body of comment id of repository fullName
// as the user.
func (c *Client) UpdateComment(ctx context.Context, userID, fullName string, id int64, body string) error {
	t, err := c.userTarget(ctx, userID, fullName)
	if err != nil {
		return err
	}
	return t.updateComment(ctx, id, body)
}

// DeleteComment deletes comment id of repository fullName as the user.
func (c *Client) DeleteComment(ctx context.Context, userID, fullName string, id int64) error {
	t, err := c.userTarget(ctx, userID, fullName)
	if err != nil {
		return err
	}
	return t.deleteComment(ctx, id)
}

// Deployment states of GitHub's deployment statuses.
const (
	DeployInProgress = "in_progress"
	DeploySuccess    = "success"
	DeployFailure    = "failure"
	DeployError      = "error"
)

// CreateDeployment creates a GitHub Deployment of commit sha to
// environment as the user, and returns its id (target.createDeployment;
// environment production is the production environment, any other a
// transient one).
func (c *Client) CreateDeployment(ctx context.Context, userID, fullName, sha, environment, description string) (int64, error) {
	t, err := c.userTarget(ctx, userID, fullName)
	if err != nil {
		return 0, err
	}
	return t.createDeployment(ctx, sha, environment, description, environment == "production")
}

// DeploymentStatus is a status of a GitHub Deployment.
type DeploymentStatus struct {
	State          string // DeployInProgress, DeploySuccess, DeployFailure or DeployError
	Description    string
	LogURL         string
	EnvironmentURL string
}

// SetDeploymentStatus adds a status to GitHub Deployment id as the user.
func (c *Client) SetDeploymentStatus(ctx context.Context, userID, fullName string, id int64, st DeploymentStatus) error {
	t, err := c.userTarget(ctx, userID, fullName)
	if err != nil {
		return err
	}
	return t.setDeploymentStatus(ctx, id, st)
}

// notFound reports whether err is GitHub's 404 (a comment deleted).
func notFound(err error) bool {
	ae, ok := err.(*errAPI)
	return ok && ae.status == 404
}
