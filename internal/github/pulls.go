package github

import (
	"context"
	"strconv"

	"golang.org/x/oauth2"

	"github.com/apogee-dev/apogee"
)

// CreateComment posts body as a comment on issue or pull request number
// of repository fullName as the user, and returns the comment's id.
func (c *Client) CreateComment(ctx context.Context, userID, fullName string, number int, body string) (int64, error) {
	p, err := repoPath(fullName)
	if err != nil {
		return 0, err
	}
	if number <= 0 {
		return 0, apogee.Errorf(apogee.EINVALID, "pull request number %d is not one", number)
	}
	var out struct {
		ID int64 `json:"id"`
	}
	hc := oauth2.NewClient(c.ctx(ctx), c.TokenSource(ctx, userID))
	if err := c.call(ctx, hc, "POST", p+"/issues/"+strconv.Itoa(number)+"/comments", map[string]string{"body": body}, &out); err != nil {
		return 0, err
	}
	return out.ID, nil
}

// UpdateComment replaces the body of comment id of repository fullName
// as the user.
func (c *Client) UpdateComment(ctx context.Context, userID, fullName string, id int64, body string) error {
	p, err := repoPath(fullName)
	if err != nil {
		return err
	}
	hc := oauth2.NewClient(c.ctx(ctx), c.TokenSource(ctx, userID))
	return c.call(ctx, hc, "PATCH", p+"/issues/comments/"+strconv.FormatInt(id, 10), map[string]string{"body": body}, nil)
}

// DeleteComment deletes comment id of repository fullName as the user.
func (c *Client) DeleteComment(ctx context.Context, userID, fullName string, id int64) error {
	p, err := repoPath(fullName)
	if err != nil {
		return err
	}
	hc := oauth2.NewClient(c.ctx(ctx), c.TokenSource(ctx, userID))
	return c.call(ctx, hc, "DELETE", p+"/issues/comments/"+strconv.FormatInt(id, 10), nil, nil)
}

// Deployment states of GitHub's deployment statuses.
const (
	DeployInProgress = "in_progress"
	DeploySuccess    = "success"
	DeployFailure    = "failure"
	DeployError      = "error"
)

// CreateDeployment creates a GitHub Deployment of commit sha to
// environment as the user, and returns its id. It asks for no status
// checks to have passed (Apogee's own status is pending while it
// builds) and merges nothing.
func (c *Client) CreateDeployment(ctx context.Context, userID, fullName, sha, environment, description string) (int64, error) {
	p, err := repoPath(fullName)
	if err != nil {
		return 0, err
	}
	in := map[string]any{"ref": sha, "environment": environment, "description": description, "auto_merge": false,
		"required_contexts": []string{}, "production_environment": environment == "production", "transient_environment": false}
	var out struct {
		ID int64 `json:"id"`
	}
	hc := oauth2.NewClient(c.ctx(ctx), c.TokenSource(ctx, userID))
	if err := c.call(ctx, hc, "POST", p+"/deployments", in, &out); err != nil {
		return 0, err
	}
	return out.ID, nil
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
	p, err := repoPath(fullName)
	if err != nil {
		return err
	}
	in := map[string]any{"state": st.State, "description": st.Description, "log_url": st.LogURL}
	if st.EnvironmentURL != "" {
		in["environment_url"] = st.EnvironmentURL
	}
	hc := oauth2.NewClient(c.ctx(ctx), c.TokenSource(ctx, userID))
	return c.call(ctx, hc, "POST", p+"/deployments/"+strconv.FormatInt(id, 10)+"/statuses", in, nil)
}

// notFound reports whether err is GitHub's 404 (a comment deleted).
func notFound(err error) bool {
	ae, ok := err.(*errAPI)
	return ok && ae.status == 404
}
