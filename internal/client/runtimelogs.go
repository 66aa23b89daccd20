package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/apogee-dev/apogee"
)

// RuntimeLogOptions select lines of an app's runtime log. Since and Until
// are RFC 3339 times or durations before the server's now ("15m", "2d").
type RuntimeLogOptions struct {
	Since, Until string
	Instance     string
	Search       string
	// Limit is how many lines at most (0: the server's default).
	Limit int
	// After and Before bound the lines' seq (0: no bound).
	After, Before int64
}

func (o RuntimeLogOptions) values() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"since": o.Since, "until": o.Until, "instance": o.Instance, "search": o.Search} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.After > 0 {
		q.Set("after", strconv.FormatInt(o.After, 10))
	}
	if o.Before > 0 {
		q.Set("before", strconv.FormatInt(o.Before, 10))
	}
	return q
}

// RuntimeLogs returns lines of the project's runtime log: the newest
// o.Limit, or with o.After the oldest after it.
func (c *Client) RuntimeLogs(ctx context.Context, project string, o RuntimeLogOptions) (*apogee.RuntimeLogPage, error) {
	var out apogee.RuntimeLogPage
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/projects/" + esc(project) + "/runtime-logs", query: o.values(), out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// FollowRuntimeLogs streams the project's runtime log, calling fn for
// each line in order: the newest o.Limit lines (default 100; or those
// since o.Since, or after o.After), then each line as the app writes it.
// It reads the Server-Sent Events of GET
// /api/v1/projects/{name}/runtime-logs?follow=1 and, when the connection
// drops, reconnects with Last-Event-ID so no line is lost or repeated. It
// returns nil once o.Until has passed, ctx's error when ctx ends, and
// fn's error when fn fails.
func (c *Client) FollowRuntimeLogs(ctx context.Context, project string, o RuntimeLogOptions, fn func(apogee.LogLine) error) error {
	query := func(int64) url.Values { return o.values() }
	_, err := c.followLines(ctx, "runtime log of "+project, "/api/v1/projects/"+esc(project)+"/runtime-logs", query, o.After, fn)
	return err
}
