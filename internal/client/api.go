package client

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/apogee-dev/apogee"
)

// Login exchanges an email and password for a new API token. It needs no
// token; the client's own token is not changed.
func (c *Client) Login(ctx context.Context, req apogee.LoginRequest) (*apogee.TokenResponse, error) {
	var out apogee.TokenResponse
	err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/auth/login", in: req, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// WhoAmI returns the user the token belongs to.
func (c *Client) WhoAmI(ctx context.Context) (*apogee.User, error) {
	var out apogee.User
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/user", out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateToken makes a new API token for the caller. The secret is in the
// answer only.
func (c *Client) CreateToken(ctx context.Context, req apogee.CreateTokenRequest) (*apogee.TokenResponse, error) {
	var out apogee.TokenResponse
	if err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/tokens", in: req, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListTokens returns the caller's tokens, without their secrets.
func (c *Client) ListTokens(ctx context.Context) ([]apogee.Token, error) {
	var out struct {
		Tokens []apogee.Token `json:"tokens"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/tokens", out: &out}); err != nil {
		return nil, err
	}
	return out.Tokens, nil
}

// RevokeToken revokes one of the caller's tokens.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/api/v1/tokens/" + esc(id)})
}

// CreateProject makes a project named name.
func (c *Client) CreateProject(ctx context.Context, name string) (*apogee.ProjectView, error) {
	var out apogee.ProjectView
	err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/projects", in: apogee.CreateProjectRequest{Name: name}, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ListProjects returns the projects the caller can see.
func (c *Client) ListProjects(ctx context.Context) ([]apogee.ProjectView, error) {
	var out struct {
		Projects []apogee.ProjectView `json:"projects"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/projects", out: &out}); err != nil {
		return nil, err
	}
	return out.Projects, nil
}

// GetProject returns the project named name.
func (c *Client) GetProject(ctx context.Context, name string) (*apogee.ProjectView, error) {
	var out apogee.ProjectView
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/projects/" + esc(name), out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteProject deletes the project named name and its deployments.
func (c *Client) DeleteProject(ctx context.Context, name string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/api/v1/projects/" + esc(name)})
}

// CreateDeployment starts a deployment of project by sending its
// manifest. The answer's Missing lists the hashes to upload before
// Finalize.
func (c *Client) CreateDeployment(ctx context.Context, project string, req apogee.CreateDeploymentRequest) (*apogee.DeploymentView, error) {
	var out apogee.DeploymentView
	err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/projects/" + esc(project) + "/deployments", in: req, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// UploadFile sends the size bytes of body, whose SHA-256 is sha256 (lower
// case hex), to deployment id. body is streamed, not buffered; only the
// context bounds how long it may take.
func (c *Client) UploadFile(ctx context.Context, id, sha256 string, body io.Reader, size int64) error {
	return c.do(ctx, request{
		method: http.MethodPut,
		path:   "/api/v1/deployments/" + esc(id) + "/files/" + esc(sha256),
		body:   body,
		size:   size,
		upload: true,
	})
}

// Finalize makes deployment id ready. While files are missing it fails
// with code apogee.EMISSING; MissingHashes(err) lists them.
func (c *Client) Finalize(ctx context.Context, id string) (*apogee.DeploymentView, error) {
	var out apogee.DeploymentView
	if err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/deployments/" + esc(id) + "/finalize", out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetDeployment returns deployment id.
func (c *Client) GetDeployment(ctx context.Context, id string) (*apogee.DeploymentView, error) {
	var out apogee.DeploymentView
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/deployments/" + esc(id), out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListDeployments returns the newest deployments of project, at most
// limit of them (0: the server's default).
func (c *Client) ListDeployments(ctx context.Context, project string, limit int) ([]apogee.DeploymentView, error) {
	var q url.Values
	if limit > 0 {
		q = url.Values{"limit": {strconv.Itoa(limit)}}
	}
	var out struct {
		Deployments []apogee.DeploymentView `json:"deployments"`
	}
	err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/projects/" + esc(project) + "/deployments", query: q, out: &out})
	if err != nil {
		return nil, err
	}
	return out.Deployments, nil
}

// Promote points project's production alias at the ready deployment id.
func (c *Client) Promote(ctx context.Context, project, id string) (*apogee.DeploymentView, error) {
	var out apogee.DeploymentView
	err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/projects/" + esc(project) + "/promote", in: apogee.PromoteRequest{DeploymentID: id}, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Rollback points project's production alias back at deployment id, or,
// when id is "", at the deployment production served before the current
// one. It returns the deployment production now serves.
func (c *Client) Rollback(ctx context.Context, project, id string) (*apogee.DeploymentView, error) {
	var out apogee.DeploymentView
	err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/projects/" + esc(project) + "/rollback", in: apogee.PromoteRequest{DeploymentID: id}, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}
