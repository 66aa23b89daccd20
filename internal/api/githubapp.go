package api

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/apogee-dev/apogee"
)

// githubAppPayload is what Apogee reads of the GitHub App's events.
type githubAppPayload struct {
	Action       string `json:"action"`
	Ref          string `json:"ref"`
	After        string `json:"after"`
	Deleted      bool   `json:"deleted"`
	Installation *struct {
		ID int64 `json:"id"`
	} `json:"installation"`
	Repository          *githubRepo `json:"repository"`
	RepositoriesRemoved []struct {
		FullName string `json:"full_name"`
	} `json:"repositories_removed"`
}

// githubAppWebhook answers the platform's GitHub App at POST
// /api/v1/webhooks/github-app, the app's one webhook URL. It needs no
// token: the body must be signed (X-Hub-Signature-256) with the app's
// webhook secret. installation (deleted) and installation_repositories
// (removed) unlink the projects built through the app; a push to a
// branch builds the projects linked to the installation for the
// repository (monorepos as for the repository webhook), and a
// pull_request builds or closes their previews as the repository
// webhook's does (readPullRequest, Builds.pullRequest); the rest are
// verified and acknowledged.
//
// The order of checks is body size (413), JSON (400), then signature
// (401); a server without a GitHub App answers 404.
func (a *API) githubAppWebhook(w http.ResponseWriter, r *http.Request) error {
	body, payload, err := readGitHubWebhook(w, r)
	if err != nil {
		return err
	}
	event := r.Header.Get("X-GitHub-Event")
	var p githubAppPayload
	if err := json.Unmarshal(payload, &p); err != nil {
		return apogee.Errorf(apogee.EINVALID, "webhook payload is not a GitHub event: %v", err)
	}
	ev := apogee.GitHubAppEvent{Event: event, Action: p.Action, Body: body, Signature: r.Header.Get("X-Hub-Signature-256")}
	if p.Installation != nil {
		ev.Installation = p.Installation.ID
	}
	for _, rr := range p.RepositoriesRemoved {
		ev.Removed = append(ev.Removed, rr.FullName)
	}
	ignored := ""
	if event == "push" {
		branch, isBranch := strings.CutPrefix(p.Ref, "refs/heads/")
		switch {
		case p.Repository == nil:
			return apogee.Errorf(apogee.EINVALID, "push payload has no repository")
		case !isBranch:
			ignored = "only branch pushes are built, not " + p.Ref
		case p.Deleted || strings.Trim(p.After, "0") == "":
			ignored = "branch " + branch + " was deleted"
		default:
			ev.Repo = p.Repository.FullName
			ev.Push = apogee.SignedPush{Branch: branch, Commit: p.After,
				RepoURLs: []string{p.Repository.CloneURL, p.Repository.HTMLURL, p.Repository.SSHURL, p.Repository.GitURL}}
			ev.Push.Before, ev.Push.Changed, ev.Push.ChangedKnown = pushChanges(payload)
		}
	}
	var prIgnored string
	if event == "pull_request" {
		in, repo, why, err := readPullRequest(payload)
		if err != nil {
			return err
		}
		ev.Repo, ev.PullRequest, prIgnored = repo, &in, why
	}
	res, err := a.svc.Builds.GitHubAppEvent(r.Context(), ev)
	if err != nil {
		return err
	}
	a.log.Info("github app webhook", "event", event, "action", p.Action, "delivery", r.Header.Get("X-GitHub-Delivery"),
		"installation", ev.Installation, "projects", len(res.Projects))
	switch {
	case ev.PullRequest != nil && p.Installation != nil && len(res.Projects) > 0:
		writePullRequestAnswer(w, *ev.PullRequest, prIgnored, res)
	case ignored != "":
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "ignored": ignored})
	case ev.Push.Branch != "" && len(res.Projects) > 0:
		answer := map[string]any{"ok": true, "deployments": res.Deployments}
		if len(res.Skipped) > 0 {
			answer["skipped"] = res.Skipped
		}
		if len(res.Refused) > 0 {
			answer["refused"] = res.Refused
		}
		writeJSON(w, http.StatusAccepted, answer)
	default:
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	}
	return nil
}
