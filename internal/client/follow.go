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

// FollowRetries is how many reconnections in a row FollowLogs and
// FollowRuntimeLogs make without receiving anything before they give up.
const FollowRetries = 8

// followLines streams the log lines of the Server-Sent Events at path
// (with the query that query(after) gives, and follow=1) from the line
// after after, calling fn for each in order, until the stream's "end"
// event, whose data it returns. When the connection drops it reconnects
// with Last-Event-ID, so no line is lost or repeated; an answer that
// says no (4xx) and an error from fn end it at once. what names the log
// in errors.
func (c *Client) followLines(ctx context.Context, what, path string, query func(after int64) url.Values, after int64, fn func(apogee.LogLine) error) (end string, err error) {
	failures := 0
	for {
		got, end, ended, err := c.followLinesOnce(ctx, what, path, query(after), &after, fn)
		if ended {
			return end, nil
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		var fnErr *callbackError
		if errors.As(err, &fnErr) {
			return "", fnErr.err
		}
		var ae *apogee.Error
		var se *StatusError
		if errors.As(err, &ae) || errors.As(err, &se) && se.StatusCode < 500 {
			return "", err // the server said no: retrying will not help
		}
		if got {
			failures = 0
		}
		failures++
		if failures > FollowRetries {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return "", fmt.Errorf("follow %s: connection lost %d times: %w", what, failures, err)
		}
		wait := min(time.Duration(1<<min(failures-1, 6))*c.followWait(), 5*time.Second)
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(wait):
		}
	}
}

// followLinesOnce makes one SSE connection. It advances *after past every
// line delivered and reports whether any event arrived, and whether the
// stream reached its end (with the end event's data).
func (c *Client) followLinesOnce(ctx context.Context, what, path string, q url.Values, after *int64, fn func(apogee.LogLine) error) (got bool, end string, ended bool, err error) {
	if c.base == "" {
		return false, "", false, apogee.Errorf(apogee.EINVALID, "no server URL configured")
	}
	q.Set("follow", "1")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path+"?"+q.Encode(), nil)
	if err != nil {
		return false, "", false, err
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
		return false, "", false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return false, "", false, decodeError(req, resp)
	}
	err = readEvents(resp.Body, func(ev event) error {
		got = true
		switch ev.name {
		case "line", "":
			var l apogee.LogLine
			if err := json.Unmarshal([]byte(ev.data), &l); err != nil {
				return fmt.Errorf("follow %s: bad line event: %w", what, err)
			}
			if l.Seq <= *after {
				return nil // already delivered before a reconnect
			}
			if err := fn(l); err != nil {
				return &callbackError{err}
			}
			*after = l.Seq
		case "end":
			end, ended = ev.data, true
			return errEndOfStream
		}
		return nil
	})
	if errors.Is(err, errEndOfStream) {
		err = nil
	}
	return got, end, ended, err
}

// WithFollowBackoff sets the first wait of FollowLogs before it
// reconnects (default 250 ms); each further failure doubles it, up to
// 5 s.
func WithFollowBackoff(d time.Duration) Option { return func(c *Client) { c.followBackoff = d } }

func (c *Client) followWait() time.Duration {
	if c.followBackoff > 0 {
		return c.followBackoff
	}
	return 250 * time.Millisecond
}

// callbackError carries an error of FollowLogs' fn out of the stream.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }
