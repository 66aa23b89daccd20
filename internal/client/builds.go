package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/apogee-dev/apogee"
)

// CreateGitProject makes a project built from the repository git: pushes
// to git.Branch (default "main") deploy to production, other branches
// make previews.
func (c *Client) CreateGitProject(ctx context.Context, name string, git apogee.GitSource) (*apogee.ProjectView, error) {
	var out apogee.ProjectView
	err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/projects",
		in: apogee.CreateProjectRequest{Name: name, Git: &git}, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// QueueBuild asks the platform to build project from its repository (or
// from an uploaded ZIP with req.UploadID). The deployment comes back
// queued; follow its log with FollowLogs.
func (c *Client) QueueBuild(ctx context.Context, project string, req apogee.BuildRequest) (*apogee.DeploymentView, error) {
	var out apogee.DeploymentView
	err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/projects/" + esc(project) + "/builds", in: req, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Cancel ends a queued or building deployment as canceled. A deployment
// that has ended already is apogee.ECONFLICT.
func (c *Client) Cancel(ctx context.Context, id string) (*apogee.DeploymentView, error) {
	var out apogee.DeploymentView
	if err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/deployments/" + esc(id) + "/cancel", out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// Redeploy queues a new build of a Git deployment's commit, with its
// branch and target.
func (c *Client) Redeploy(ctx context.Context, id string, noCache bool) (*apogee.DeploymentView, error) {
	var out apogee.DeploymentView
	in := apogee.RedeployRequest{NoCache: noCache}
	if err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/deployments/" + esc(id) + "/redeploy", in: in, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// LogPage is the stored log of a deployment after some line, and the
// deployment's status when it was read.
type LogPage struct {
	Lines  []apogee.LogLine `json:"lines"`
	Status apogee.Status    `json:"status"`
}

// Logs returns the stored lines of deployment id with Seq > after.
func (c *Client) Logs(ctx context.Context, id string, after int64) (*LogPage, error) {
	var q url.Values
	if after > 0 {
		q = url.Values{"after": {strconv.FormatInt(after, 10)}}
	}
	var out LogPage
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/deployments/" + esc(id) + "/logs", query: q, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// FollowLogs streams the log of deployment id from the line after after,
// calling fn for each line in order, until the build ends; it returns the
// deployment's final status (ready, error, canceled). It reads the
// Server-Sent Events of GET /api/v1/deployments/{id}/logs?follow=1 and,
// when the connection drops before the stream's end, reconnects with
// Last-Event-ID so no line is lost or repeated. An error from fn stops it
// and is returned. Only ctx bounds how long it runs.
func (c *Client) FollowLogs(ctx context.Context, id string, after int64, fn func(apogee.LogLine) error) (status apogee.Status, err error) {
	query := func(after int64) url.Values {
		q := url.Values{}
		if after > 0 {
			q.Set("after", strconv.FormatInt(after, 10))
		}
		return q
	}
	end, err := c.followLines(ctx, "log of "+id, "/api/v1/deployments/"+esc(id)+"/logs", query, after, fn)
	if err != nil {
		return "", err
	}
	var e struct {
		Status apogee.Status `json:"status"`
	}
	_ = json.Unmarshal([]byte(end), &e)
	return e.Status, nil
}

var errEndOfStream = errors.New("end of stream")

// event is one Server-Sent Event.
type event struct {
	id, name, data string
}

// maxEventLine bounds one line of the stream (a log line is cut at 16 KiB
// by the server; its JSON may be a few times longer).
const maxEventLine = 1 << 20

// readEvents parses a text/event-stream body and calls fn per event until
// the body ends or fn fails. It follows the WHATWG rules that matter
// here: "field: value" lines, comments from ":", several data lines
// joined by "\n", an empty line dispatching the event.
func readEvents(r io.Reader, fn func(event) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventLine)
	var ev event
	var data []string
	hasData := false
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" {
			if hasData || ev.name != "" {
				ev.data = strings.Join(data, "\n")
				if err := fn(ev); err != nil {
					return err
				}
			}
			ev, data, hasData = event{}, nil, false
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			ev.id = value
		case "event":
			ev.name = value
		case "data":
			data = append(data, value)
			hasData = true
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return io.ErrUnexpectedEOF // the stream ended without its end event
}

// CreateUpload asks for a pre-signed URL that takes one ZIP of project's
// source tree.
func (c *Client) CreateUpload(ctx context.Context, project string) (*apogee.UploadResponse, error) {
	var out apogee.UploadResponse
	if err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/projects/" + esc(project) + "/uploads", out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// PutUpload sends the size bytes of body to the pre-signed uploadURL of
// CreateUpload, without the token (the URL is its own credential). A
// relative URL is taken relative to the client's server. body is
// streamed; only ctx bounds how long it may take.
func (c *Client) PutUpload(ctx context.Context, uploadURL string, body io.Reader, size int64) error {
	base, err := url.Parse(c.base + "/")
	if err != nil {
		return fmt.Errorf("upload: server URL: %w", err)
	}
	ref, err := url.Parse(uploadURL)
	if err != nil {
		return fmt.Errorf("upload: bad upload URL: %w", err)
	}
	u := base.ResolveReference(ref)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.String(), body)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	req.ContentLength = size
	if size == 0 {
		req.Body = http.NoBody
	}
	req.Header.Set("Content-Type", "application/zip")
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return decodeError(req, resp)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return nil
}
