package api

import (
	"encoding/json"
	"net/http"

	"github.com/apogee-dev/apogee"
)

// githubRepo is a repository as GitHub's payloads describe it.
type githubRepo struct {
	FullName string `json:"full_name"`
	CloneURL string `json:"clone_url"`
	HTMLURL  string `json:"html_url"`
	SSHURL   string `json:"ssh_url"`
	GitURL   string `json:"git_url"`
}

// githubPullRequestPayload is what Apogee reads of a pull_request event.
type githubPullRequestPayload struct {
	Action      string `json:"action"`
	Number      int    `json:"number"`
	PullRequest *struct {
		Number  int    `json:"number"`
		Title   string `json:"title"`
		HTMLURL string `json:"html_url"`
		Merged  bool   `json:"merged"`
		Head    struct {
			Ref  string      `json:"ref"`
			SHA  string      `json:"sha"`
			Repo *githubRepo `json:"repo"` // null when the fork was deleted
		} `json:"head"`
		Base struct {
			SHA string `json:"sha"`
		} `json:"base"`
	} `json:"pull_request"`
	Repository *githubRepo `json:"repository"`
}

// githubPullRequest answers a pull_request event: opened, synchronize and
// reopened build a preview of the head commit (a fork's from the fork),
// closed takes the pull request's previews off their branch host; other
// actions are acknowledged. The signature is checked as for a push, by
// the build service, before anything changes.
func (a *API) githubPullRequest(w http.ResponseWriter, r *http.Request, body, payload []byte) error {
	in, repo, ignored, err := readPullRequest(payload)
	if err != nil {
		return err
	}
	in.Body, in.Signature = body, r.Header.Get("X-Hub-Signature-256")
	res, err := a.svc.Builds.SignedPullRequest(r.Context(), in)
	if err != nil {
		return err
	}
	a.log.Info("github pull request", "delivery", r.Header.Get("X-GitHub-Delivery"), "repository", repo,
		"number", in.Number, "action", in.Action, "fork", in.HeadRepo != "", "projects", len(res.Projects))
	writePullRequestAnswer(w, in, ignored, res)
	return nil
}

// readPullRequest reads a pull_request event's payload, for the
// repository webhook and the GitHub App alike: the pull request (Action
// "" when the action builds nothing, and ignored says why) and the base
// repository's full name.
func readPullRequest(payload []byte) (in apogee.SignedPullRequest, repo, ignored string, err error) {
	var p githubPullRequestPayload
	if err := json.Unmarshal(payload, &p); err != nil {
		return in, "", "", apogee.Errorf(apogee.EINVALID, "webhook payload is not a GitHub pull_request event: %v", err)
	}
	if p.Repository == nil || p.PullRequest == nil {
		return in, "", "", apogee.Errorf(apogee.EINVALID, "webhook payload has no repository or pull request")
	}
	pr := p.PullRequest
	in = apogee.SignedPullRequest{
		RepoURLs: []string{p.Repository.CloneURL, p.Repository.HTMLURL, p.Repository.SSHURL, p.Repository.GitURL},
		Action:   p.Action, Number: pr.Number, Title: pr.Title, URL: pr.HTMLURL, Merged: pr.Merged,
		HeadBranch: pr.Head.Ref, HeadCommit: pr.Head.SHA, BaseCommit: pr.Base.SHA,
	}
	if in.Number == 0 {
		in.Number = p.Number
	}
	switch {
	case p.Action != "opened" && p.Action != "synchronize" && p.Action != "reopened" && p.Action != "closed":
		ignored = "pull request action " + p.Action + " is not built"
		in.Action = ""
	case pr.Head.Repo == nil && p.Action != "closed":
		ignored = "the pull request's head repository was deleted"
		in.Action = ""
	case pr.Head.Repo != nil && pr.Head.Repo.FullName != p.Repository.FullName:
		in.HeadRepo = pr.Head.Repo.CloneURL // a fork
	}
	return in, p.Repository.FullName, ignored, nil
}

// writePullRequestAnswer answers a pull_request delivery: 200 for an
// ignored action or a close, 202 with the deployments for a build.
func writePullRequestAnswer(w http.ResponseWriter, in apogee.SignedPullRequest, ignored string, res *apogee.PushResult) {
	switch {
	case ignored != "":
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "ignored": ignored})
	case in.Action == "closed":
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "closed": in.Number})
	default:
		answer := map[string]any{"ok": true, "deployments": res.Deployments}
		if len(res.Refused) > 0 {
			answer["refused"] = res.Refused
		}
		writeJSON(w, http.StatusAccepted, answer)
	}
}
