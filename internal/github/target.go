package github

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/oauth2"

	"github.com/apogee-dev/apogee"
)

// target is one repository on GitHub as one poster: a user through their
// OAuth token, or the GitHub App through an installation's token. The
// statuses, comments, deployments and check runs of a build go through
// it, whichever way its project reaches GitHub.
type target struct {
	c      *Client
	hc     *http.Client
	repo   string // "owner/name"
	path   string // "/repos/owner/name"
	poster string // "user:<id>" or "app:<installation>"
	app    bool   // an installation's token: check runs instead of commit statuses
}

// userTarget is repository fullName as the user.
func (c *Client) userTarget(ctx context.Context, userID, fullName string) (*target, error) {
	p, err := repoPath(fullName)
	if err != nil {
		return nil, err
	}
	return &target{c: c, hc: oauth2.NewClient(c.ctx(ctx), c.TokenSource(ctx, userID)), repo: fullName, path: p, poster: "user:" + userID}, nil
}

// target is repository fullName as installation id.
func (a *App) target(id int64, fullName string) (*target, error) {
	p, err := repoPath(fullName)
	if err != nil {
		return nil, err
	}
	return &target{c: a.c, hc: &http.Client{Transport: a.installation(id), Timeout: a.c.http.Timeout}, repo: fullName, path: p,
		poster: "app:" + strconv.FormatInt(id, 10), app: true}, nil
}

func (t *target) setStatus(ctx context.Context, sha string, st Status) error {
	if sha == "" || strings.ContainsAny(sha, "/?#") {
		return apogee.Errorf(apogee.EINVALID, "commit %q is not a commit id", sha)
	}
	in := map[string]string{"state": st.State, "description": st.Description, "target_url": st.TargetURL, "context": st.Context}
	return t.c.call(ctx, t.hc, "POST", t.path+"/statuses/"+sha, in, nil)
}

func (t *target) createComment(ctx context.Context, number int, body string) (int64, error) {
	if number <= 0 {
		return 0, apogee.Errorf(apogee.EINVALID, "pull request number %d is not one", number)
	}
	var out struct {
		ID int64 `json:"id"`
	}
	if err := t.c.call(ctx, t.hc, "POST", t.path+"/issues/"+strconv.Itoa(number)+"/comments", map[string]string{"body": body}, &out); err != nil {
		return 0, err
	}
	return out.ID, nil
}

func (t *target) updateComment(ctx context.Context, id int64, body string) error {
	return t.c.call(ctx, t.hc, "PATCH", t.path+"/issues/comments/"+strconv.FormatInt(id, 10), map[string]string{"body": body}, nil)
}

func (t *target) deleteComment(ctx context.Context, id int64) error {
	return t.c.call(ctx, t.hc, "DELETE", t.path+"/issues/comments/"+strconv.FormatInt(id, 10), nil, nil)
}

// createDeployment creates a GitHub Deployment of commit sha to
// environment and returns its id. It asks for no status checks to have
// passed (Apogee's own status is pending while it builds) and merges
// nothing; a preview's environment is transient (GitHub may mark it
// inactive once a newer one is deployed).
func (t *target) createDeployment(ctx context.Context, sha, environment, description string, production bool) (int64, error) {
	in := map[string]any{"ref": sha, "environment": environment, "description": description, "auto_merge": false,
		"required_contexts": []string{}, "production_environment": production, "transient_environment": !production}
	var out struct {
		ID int64 `json:"id"`
	}
	if err := t.c.call(ctx, t.hc, "POST", t.path+"/deployments", in, &out); err != nil {
		return 0, err
	}
	return out.ID, nil
}

func (t *target) setDeploymentStatus(ctx context.Context, id int64, st DeploymentStatus) error {
	in := map[string]any{"state": st.State, "description": st.Description, "log_url": st.LogURL}
	if st.EnvironmentURL != "" {
		in["environment_url"] = st.EnvironmentURL
	}
	return t.c.call(ctx, t.hc, "POST", t.path+"/deployments/"+strconv.FormatInt(id, 10)+"/statuses", in, nil)
}
