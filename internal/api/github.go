package api

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/apogee-dev/apogee"
)

// maxWebhookBody is GitHub's own limit on a webhook payload.
const maxWebhookBody = 25 << 20

// githubPayload is what Apogee reads of GitHub's ping and push events.
type githubPayload struct {
	Zen        string      `json:"zen"`
	Ref        string      `json:"ref"`
	After      string      `json:"after"`
	Deleted    bool        `json:"deleted"`
	Repository *githubRepo `json:"repository"`
}

// githubWebhook answers GitHub's webhooks at POST /api/v1/webhooks/github.
// It needs no token: the payload must be signed (X-Hub-Signature-256)
// with the webhook secret of a project built from the payload's
// repository, which the build service checks. A push to a branch builds
// the pushed commit; a pull request event goes to githubPullRequest; a
// ping is answered; tag pushes and branch deletions are acknowledged and
// ignored.
//
// The order of checks is body size (413), JSON (400), then signature
// (401), which a repository no project builds from fails too, with the
// same answer. Nothing changes before the signature is verified.
func (a *API) githubWebhook(w http.ResponseWriter, r *http.Request) error {
	body, payload, err := readGitHubWebhook(w, r)
	if err != nil {
		return err
	}
	event := r.Header.Get("X-GitHub-Event")
	if event == "pull_request" {
		return a.githubPullRequest(w, r, body, payload)
	}
	var p githubPayload
	if err := json.Unmarshal(payload, &p); err != nil {
		return apogee.Errorf(apogee.EINVALID, "webhook payload is not a GitHub event: %v", err)
	}
	if p.Repository == nil {
		return apogee.Errorf(apogee.EINVALID, "webhook payload has no repository")
	}
	push := apogee.SignedPush{
		RepoURLs:  []string{p.Repository.CloneURL, p.Repository.HTMLURL, p.Repository.SSHURL, p.Repository.GitURL},
		Body:      body,
		Signature: r.Header.Get("X-Hub-Signature-256"),
	}
	var ignored string
	branch, isBranch := strings.CutPrefix(p.Ref, "refs/heads/")
	switch {
	case event == "ping":
	case event != "push":
		ignored = "event " + event + " is not built"
	case !isBranch:
		ignored = "only branch pushes are built, not " + p.Ref
	case p.Deleted || strings.Trim(p.After, "0") == "":
		ignored = "branch " + branch + " was deleted"
	default:
		push.Branch, push.Commit = branch, p.After
		push.Before, push.Changed, push.ChangedKnown = pushChanges(payload)
	}
	res, err := a.svc.Builds.SignedPush(r.Context(), push)
	if err != nil {
		return err
	}
	log := a.log.With("event", event, "delivery", r.Header.Get("X-GitHub-Delivery"), "repository", p.Repository.FullName)
	switch {
	case event == "ping":
		log.Info("github webhook ping", "projects", len(res.Projects))
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	case ignored != "":
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "ignored": ignored})
	default:
		answer := map[string]any{"ok": true, "deployments": res.Deployments}
		if len(res.Skipped) > 0 {
			answer["skipped"] = res.Skipped
		}
		if len(res.Refused) > 0 {
			answer["refused"] = res.Refused
		}
		writeJSON(w, http.StatusAccepted, answer)
	}
	return nil
}

// readGitHubWebhook reads a GitHub delivery's body, at most
// maxWebhookBody (ETOOLARGE beyond), and its JSON payload (githubJSON).
func readGitHubWebhook(w http.ResponseWriter, r *http.Request) (body, payload []byte, err error) {
	body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, nil, apogee.Errorf(apogee.ETOOLARGE, "webhook payload is larger than %d bytes", maxWebhookBody)
		}
		return nil, nil, apogee.Errorf(apogee.EINVALID, "webhook payload cannot be read: %v", err)
	}
	payload, err = githubJSON(r.Header.Get("Content-Type"), body)
	return body, payload, err
}

// githubJSON returns the JSON of a payload sent as application/json or,
// as GitHub also can, as a form with the JSON in its "payload" field.
func githubJSON(contentType string, body []byte) ([]byte, error) {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt != "application/x-www-form-urlencoded" {
		return body, nil
	}
	v, err := url.ParseQuery(string(body))
	if err != nil || v.Get("payload") == "" {
		return nil, apogee.Errorf(apogee.EINVALID, "webhook form has no payload field")
	}
	return []byte(v.Get("payload")), nil
}
