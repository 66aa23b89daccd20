package client

import (
	"context"
	"net/http"

	"github.com/apogee-dev/apogee"
)

// ListWebhooks returns project's outgoing webhooks, oldest first, each
// with its last delivery (never its secret).
func (c *Client) ListWebhooks(ctx context.Context, project string) ([]apogee.WebhookView, error) {
	var out struct {
		Webhooks []apogee.WebhookView `json:"webhooks"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/projects/" + esc(project) + "/webhooks", out: &out}); err != nil {
		return nil, err
	}
	return out.Webhooks, nil
}

// CreateWebhook adds an outgoing webhook to project; the answer holds its
// signing secret, which is never shown again.
func (c *Client) CreateWebhook(ctx context.Context, project string, req apogee.CreateWebhookRequest) (*apogee.WebhookView, error) {
	var out apogee.WebhookView
	if err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/projects/" + esc(project) + "/webhooks", in: req, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteWebhook removes webhook id of project.
func (c *Client) DeleteWebhook(ctx context.Context, project, id string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/api/v1/projects/" + esc(project) + "/webhooks/" + esc(id)})
}

// TestWebhook sends a ping to webhook id of project and returns how it went.
func (c *Client) TestWebhook(ctx context.Context, project, id string) (*apogee.WebhookDelivery, error) {
	var out apogee.WebhookDelivery
	if err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/projects/" + esc(project) + "/webhooks/" + esc(id) + "/test", out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListTeamWebhooks returns team's outgoing webhooks (sent the
// notifications of every project of the team), oldest first, each with
// its last delivery (never its secret).
func (c *Client) ListTeamWebhooks(ctx context.Context, team string) ([]apogee.WebhookView, error) {
	var out struct {
		Webhooks []apogee.WebhookView `json:"webhooks"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/teams/" + esc(team) + "/webhooks", out: &out}); err != nil {
		return nil, err
	}
	return out.Webhooks, nil
}

// CreateTeamWebhook adds an outgoing webhook to team (owners); the answer
// holds its signing secret, which is never shown again.
func (c *Client) CreateTeamWebhook(ctx context.Context, team string, req apogee.CreateWebhookRequest) (*apogee.WebhookView, error) {
	var out apogee.WebhookView
	if err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/teams/" + esc(team) + "/webhooks", in: req, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteTeamWebhook removes webhook id of team (owners).
func (c *Client) DeleteTeamWebhook(ctx context.Context, team, id string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/api/v1/teams/" + esc(team) + "/webhooks/" + esc(id)})
}

// TestTeamWebhook sends a ping to webhook id of team (owners) and returns
// how it went.
func (c *Client) TestTeamWebhook(ctx context.Context, team, id string) (*apogee.WebhookDelivery, error) {
	var out apogee.WebhookDelivery
	if err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/teams/" + esc(team) + "/webhooks/" + esc(id) + "/test", out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}
