package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/apogee-dev/apogee"
)

// Traffic returns the project's traffic since a time (RFC 3339 or a
// duration before the server's now: "24h", "7d"; "" the last 24 hours).
func (c *Client) Traffic(ctx context.Context, project, since string) (*apogee.Traffic, error) {
	q := url.Values{}
	if since != "" {
		q.Set("since", since)
	}
	var out apogee.Traffic
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/projects/" + esc(project) + "/analytics", query: q, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// RequestOptions select records of a project's request log.
type RequestOptions struct {
	Since  string // RFC 3339 or a duration before now
	Status string // a class: "5xx"
	Path   string // exact, or a prefix ending in "*"
	After  int64  // only records with a larger id
	Limit  int    // 0: the server's default
}

// Requests returns records of the project's request log, oldest first.
func (c *Client) Requests(ctx context.Context, project string, o RequestOptions) ([]apogee.Request, error) {
	q := url.Values{}
	for k, v := range map[string]string{"since": o.Since, "status": o.Status, "path": o.Path} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if o.After > 0 {
		q.Set("after", strconv.FormatInt(o.After, 10))
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	var out []apogee.Request
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/projects/" + esc(project) + "/requests", query: q, out: &out}); err != nil {
		return nil, err
	}
	return out, nil
}
