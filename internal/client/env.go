package client

import (
	"context"
	"net/http"

	"github.com/apogee-dev/apogee"
)

// ListEnv returns project's environment variables by key. Secret ones
// come without their value.
func (c *Client) ListEnv(ctx context.Context, project string) ([]apogee.EnvVarView, error) {
	var out struct {
		Env []apogee.EnvVarView `json:"env"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/projects/" + esc(project) + "/env", out: &out}); err != nil {
		return nil, err
	}
	return out.Env, nil
}

// SetEnv sets project's variable key to value, replacing any; a secret
// value is never shown again.
func (c *Client) SetEnv(ctx context.Context, project, key, value string, secret bool) (*apogee.EnvVarView, error) {
	var out apogee.EnvVarView
	err := c.do(ctx, request{method: http.MethodPut, path: "/api/v1/projects/" + esc(project) + "/env/" + esc(key),
		in: apogee.SetEnvRequest{Value: &value, Secret: secret}, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteEnv removes project's variable key.
func (c *Client) DeleteEnv(ctx context.Context, project, key string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/api/v1/projects/" + esc(project) + "/env/" + esc(key)})
}
