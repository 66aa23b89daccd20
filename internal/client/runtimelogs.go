package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

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
	failures := 0
	after := o.After
	for {
		got, ended, err := c.followRuntimeOnce(ctx, project, o, &after, fn)
		if ended {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var fnErr *callbackError
		if errors.As(err, &fnErr) {
			return fnErr.err
		}
		var ae *apogee.Error
		var se *StatusError
		if errors.As(err, &ae) || errors.As(err, &se) && se.StatusCode < 500 {
			return err // the server said no: retrying will not help
		}
		if got {
			failures = 0
		}
		failures++
		if failures > FollowRetries {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("follow runtime log of %s: connection lost %d times: %w", project, failures, err)
		}
		wait := min(time.Duration(1<<min(failures-1, 6))*c.followWait(), 5*time.Second)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// followRuntimeOnce makes one SSE connection, advancing *after past every
// line delivered.
func (c *Client) followRuntimeOnce(ctx context.Context, project string, o RuntimeLogOptions, after *int64, fn func(apogee.LogLine) error) (got, ended bool, err error) {
	if c.base == "" {
		return false, false, apogee.Errorf(apogee.EINVALID, "no server URL configured")
	}
	q := o.values()
	q.Set("follow", "1")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/api/v1/projects/"+esc(project)+"/runtime-logs?"+q.Encode(), nil)
	if err != nil {
		return false, false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("User-Agent", c.userAgent)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if *after > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(*after, 10))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return false, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return false, false, decodeError(req, resp)
	}
	err = readEvents(resp.Body, func(ev event) error {
		got = true
		switch ev.name {
		case "line", "":
			var l apogee.LogLine
			if err := json.Unmarshal([]byte(ev.data), &l); err != nil {
				return fmt.Errorf("follow runtime log of %s: bad line event: %w", project, err)
			}
			if l.Seq <= *after {
				return nil // already delivered before a reconnect
			}
			if err := fn(l); err != nil {
				return &callbackError{err}
			}
			*after = l.Seq
		case "end":
			ended = true
			return errEndOfStream
		}
		return nil
	})
	if errors.Is(err, errEndOfStream) {
		err = nil
	}
	return got, ended, err
}
