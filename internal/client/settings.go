package client

import (
	"context"
	"net/http"

	"github.com/apogee-dev/apogee"
)

// UpdateProjectSettings merges patch into the settings of the project
// named name (a JSON merge patch: PATCH /api/v1/projects/{name}). patch
// maps a section ("serve", "build") to the keys to change; a nil value
// resets a key to its default. It returns the project as stored.
func (c *Client) UpdateProjectSettings(ctx context.Context, name string, patch map[string]map[string]any) (*apogee.ProjectView, error) {
	var out apogee.ProjectView
	in := map[string]any{"settings": patch}
	if err := c.do(ctx, request{method: http.MethodPatch, path: "/api/v1/projects/" + esc(name), in: in, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}
