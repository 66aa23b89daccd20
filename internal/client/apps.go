package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/apogee-dev/apogee"
)

// CreateProjectWith creates a project as req says (its repository, its
// app settings).
func (c *Client) CreateProjectWith(ctx context.Context, req apogee.CreateProjectRequest) (*apogee.ProjectView, error) {
	var out apogee.ProjectView
	if err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/projects", in: req, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// AppStatus returns an app's releases and the instances running them.
func (c *Client) AppStatus(ctx context.Context, project string) (*apogee.AppStatus, error) {
	var out apogee.AppStatus
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/projects/" + url.PathEscape(project) + "/app", out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// ScaleApp changes an app's scaling settings (a fixed number of
// instances, or the autoscaler's min, max and concurrency); it returns
// once the instances its new bounds ask for run.
func (c *Client) ScaleApp(ctx context.Context, project string, req apogee.ScaleRequest) (*apogee.AppStatus, error) {
	var out apogee.AppStatus
	err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/projects/" + url.PathEscape(project) + "/app/scale",
		in: req, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// RestartApp replaces every instance of an app's production, with no
// downtime; it returns once the new ones serve.
func (c *Client) RestartApp(ctx context.Context, project string) (*apogee.AppStatus, error) {
	var out apogee.AppStatus
	if err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/projects/" + url.PathEscape(project) + "/app/restart", out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}
