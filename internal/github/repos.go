package github

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"github.com/apogee-dev/apogee"
)

// Hook is a repository webhook to create: GitHub sends the events as JSON
// to URL, signed with Secret (X-Hub-Signature-256).
type Hook struct {
	URL    string
	Secret string
	Events []string
}

// CreateHook creates a webhook on repository fullName ("owner/name") as
// the user, and returns its id. Errors match ErrReconnect when the
// connection needs renewing or lacks the webhook scope.
func (c *Client) CreateHook(ctx context.Context, userID, fullName string, h Hook) (int64, error) {
	p, err := repoPath(fullName)
	if err != nil {
		return 0, err
	}
	in := map[string]any{"name": "web", "active": true, "events": h.Events,
		"config": map[string]string{"url": h.URL, "content_type": "json", "secret": h.Secret, "insecure_ssl": "0"}}
	var out struct {
		ID int64 `json:"id"`
	}
	hc := oauth2.NewClient(c.ctx(ctx), c.TokenSource(ctx, userID))
	if err := c.call(ctx, hc, "POST", p+"/hooks", in, &out); err != nil {
		return 0, err
	}
	return out.ID, nil
}

// Commit status states.
const (
	StatePending = "pending"
	StateSuccess = "success"
	StateFailure = "failure"
	StateError   = "error"
)

// Status is a commit status.
type Status struct {
	State       string // StatePending, StateSuccess, StateFailure or StateError
	Description string
	TargetURL   string
	Context     string
}

// SetStatus sets a status on commit sha of repository fullName as the
// user.
func (c *Client) SetStatus(ctx context.Context, userID, fullName, sha string, st Status) error {
	t, err := c.userTarget(ctx, userID, fullName)
	if err != nil {
		return err
	}
	return t.setStatus(ctx, sha, st)
}

// repoPath is "/repos/owner/name" for "owner/name".
func repoPath(fullName string) (string, error) {
	owner, name, ok := strings.Cut(fullName, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", apogee.Errorf(apogee.EINVALID, "%q is not a GitHub repository (owner/name)", fullName)
	}
	return "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(name), nil
}

// RepoOf returns "owner/name" of a clone or web URL on this client's
// GitHub, and false for another host.
func (c *Client) RepoOf(repoURL string) (string, bool) {
	w, err1 := url.Parse(c.web)
	u, err2 := url.Parse(repoURL)
	if err1 != nil || err2 != nil || u.Host == "" || !strings.EqualFold(u.Host, w.Host) {
		return "", false
	}
	p := strings.TrimPrefix(strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), ".git"), strings.TrimSuffix(w.Path, "/"))
	full := strings.TrimPrefix(p, "/")
	if _, err := repoPath(full); err != nil {
		return "", false
	}
	return full, true
}

// Reaches reports whether the user's GitHub account can read repository
// fullName (GET {api}/repos/{owner}/{repo} with their token: 404 for a
// repository they cannot see). The dashboard asks it before linking a
// project to the GitHub App installation that grants the repository, so
// that the app's token builds only repositories their owner can read.
func (c *Client) Reaches(ctx context.Context, userID, fullName string) (bool, error) {
	p, err := repoPath(fullName)
	if err != nil {
		return false, err
	}
	hc := oauth2.NewClient(c.ctx(ctx), c.TokenSource(ctx, userID))
	var out struct {
		FullName string `json:"full_name"`
	}
	err = c.get(ctx, hc, p, &out)
	var ae *errAPI
	if errors.As(err, &ae) && (ae.status == 404 || ae.status == 403) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return strings.EqualFold(out.FullName, fullName), nil
}
