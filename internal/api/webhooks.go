package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/source"
)

// maxWebhookBody is GitHub's own limit on a webhook payload.
const maxWebhookBody = 25 << 20

// githubPayload is what Apogee reads of GitHub's ping and push events.
type githubPayload struct {
	Zen        string `json:"zen"`
	Ref        string `json:"ref"`
	After      string `json:"after"`
	Deleted    bool   `json:"deleted"`
	Repository *struct {
		FullName string `json:"full_name"`
		CloneURL string `json:"clone_url"`
		HTMLURL  string `json:"html_url"`
		SSHURL   string `json:"ssh_url"`
		GitURL   string `json:"git_url"`
	} `json:"repository"`
}

// githubWebhook answers GitHub's webhooks at POST /api/v1/webhooks/github.
// It needs no token: the payload must be signed (X-Hub-Signature-256,
// HMAC-SHA256 of the raw body) with the webhook secret of a project whose
// repository URL is the payload's repository. A push to a branch queues
// a build of the pushed commit: production for the project's branch, a
// preview for any other; a ping is answered; tag pushes and branch
// deletions are acknowledged and ignored.
//
// The order of checks is body size (413), JSON (400), repository (404),
// then signature (401): the secret to check with depends on the
// repository. Nothing changes before the signature is verified.
func (a *API) githubWebhook(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return apogee.Errorf(apogee.ETOOLARGE, "webhook payload is larger than %d bytes", maxWebhookBody)
		}
		return apogee.Errorf(apogee.EINVALID, "webhook payload cannot be read: %v", err)
	}
	event := r.Header.Get("X-GitHub-Event")
	delivery := r.Header.Get("X-GitHub-Delivery")
	payload, err := githubJSON(r.Header.Get("Content-Type"), body)
	if err != nil {
		return err
	}
	var p githubPayload
	if err := json.Unmarshal(payload, &p); err != nil {
		return apogee.Errorf(apogee.EINVALID, "webhook payload is not a GitHub event: %v", err)
	}
	if p.Repository == nil {
		return apogee.Errorf(apogee.EINVALID, "webhook payload has no repository")
	}
	projects, err := a.projectsByRepository(r.Context(), p.Repository.CloneURL, p.Repository.HTMLURL, p.Repository.SSHURL, p.Repository.GitURL)
	if err != nil {
		return err
	}
	if len(projects) == 0 {
		return apogee.Errorf(apogee.ENOTFOUND, "no project is built from repository %s; connect one with `apogee projects create NAME --git %s`",
			p.Repository.FullName, p.Repository.CloneURL)
	}
	signed, err := a.signedBy(projects, r.Header.Get("X-Hub-Signature-256"), body)
	if err != nil {
		return err
	}
	log := a.log.With("event", event, "delivery", delivery, "repository", p.Repository.FullName)

	switch event {
	case "ping":
		log.Info("github webhook ping", "projects", len(signed))
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
		return nil
	case "push":
	default:
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "ignored": "event " + event + " is not built"})
		return nil
	}
	branch, ok := strings.CutPrefix(p.Ref, "refs/heads/")
	switch {
	case !ok:
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "ignored": "only branch pushes are built, not " + p.Ref})
		return nil
	case p.Deleted || strings.Trim(p.After, "0") == "":
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "ignored": "branch " + branch + " was deleted"})
		return nil
	}
	// A project whose owner's plan refuses the build (quota, disabled
	// owner) is listed under "refused"; the others build. When none
	// builds, the first refusal is the answer (402 or 403).
	var views []*apogee.DeploymentView
	var refused []map[string]string
	var firstRefusal error
	for _, proj := range signed {
		d, err := a.EnqueuePush(r.Context(), proj, "", branch, p.After)
		if code := apogee.ErrorCode(err); code == apogee.EQUOTA || code == apogee.EFORBIDDEN {
			log.Info("github push refused", "project", proj.Name, "branch", branch, "reason", apogee.ErrorMessage(err))
			refused = append(refused, map[string]string{"project": proj.Name, "error": apogee.ErrorMessage(err)})
			if firstRefusal == nil {
				firstRefusal = err
			}
			continue
		}
		if err != nil {
			return err
		}
		log.Info("github push queued a build", "project", proj.Name, "deployment", d.ID, "branch", branch, "target", d.Target)
		views = append(views, a.view(d, proj))
	}
	if len(views) == 0 && firstRefusal != nil {
		return firstRefusal
	}
	answer := map[string]any{"ok": true, "deployments": views}
	if len(refused) > 0 {
		answer["refused"] = refused
	}
	writeJSON(w, http.StatusAccepted, answer)
	return nil
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

// signedBy returns those of projects whose webhook secret signed body,
// checking each in constant time. None is EUNAUTHORIZED.
func (a *API) signedBy(projects []*apogee.Project, header string, body []byte) ([]*apogee.Project, error) {
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	sig, err := hex.DecodeString(hexSig)
	if !ok || err != nil || len(sig) != sha256.Size {
		return nil, apogee.Errorf(apogee.EUNAUTHORIZED, "X-Hub-Signature-256 is missing or malformed; set the webhook's secret to the project's (`apogee projects show NAME --json` shows webhook_secret)")
	}
	var signed []*apogee.Project
	for _, p := range projects {
		secret, err := p.OpenWebhookSecret(a.box)
		if err != nil {
			a.log.Error("open webhook secret", "project", p.Name, "err", err)
			continue
		}
		if secret == "" {
			continue
		}
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		if hmac.Equal(mac.Sum(nil), sig) {
			signed = append(signed, p)
		}
	}
	if len(signed) == 0 {
		return nil, apogee.Errorf(apogee.EUNAUTHORIZED, "X-Hub-Signature-256 does not match the webhook secret of the project; set the webhook's secret to the project's (`apogee projects show NAME --json` shows webhook_secret)")
	}
	return signed, nil
}

// projectsByRepository returns the projects whose Git URL is one of urls,
// give or take a trailing ".git" or "/" and the case of the host.
func (a *API) projectsByRepository(ctx context.Context, urls ...string) ([]*apogee.Project, error) {
	seen := map[string]bool{}
	var out []*apogee.Project
	for _, c := range repoURLVariants(urls...) {
		ps, err := a.store.ProjectsByGitURL(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("api: projects by repository: %w", err)
		}
		for _, p := range ps {
			if !seen[p.ID] {
				seen[p.ID] = true
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// repoURLVariants returns the spellings a project may have stored for the
// repositories at urls: each with and without ".git", the host in lower
// case (as projects store it).
func repoURLVariants(urls ...string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, raw := range urls {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		if u, err := url.Parse(raw); err == nil && u.Host != "" {
			u.Host = strings.ToLower(u.Host)
			raw = u.String()
		}
		base := strings.TrimSuffix(strings.TrimRight(raw, "/"), ".git")
		add(base)
		add(base + ".git")
		add(base + "/")
	}
	return out
}

// EnqueuePush queues a build of commit, the new head of branch after a
// push by userID ("" for a webhook): production when branch is the
// project's branch, a preview otherwise. The git push endpoint and the
// GitHub webhook both call it.
func (a *API) EnqueuePush(ctx context.Context, p *apogee.Project, userID, branch, commit string) (*apogee.Deployment, error) {
	if err := source.ValidRef(branch); err != nil {
		return nil, err
	}
	commit = strings.ToLower(commit)
	if len(commit) != 40 && len(commit) != 64 || !isHex(commit) {
		return nil, apogee.Errorf(apogee.EINVALID, "%q is not a full commit hash", commit)
	}
	target := apogee.TargetPreview
	if p.Git != nil && branch == p.Git.Branch {
		target = apogee.TargetProduction
	}
	return a.queue(ctx, p, &apogee.Deployment{
		Target: target, CreatedBy: userID,
		Source: apogee.SourceGit, Branch: branch, Commit: commit,
	})
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
