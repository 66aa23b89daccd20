package api_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apogee-dev/apogee"
)

func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func payload(t *testing.T, name string, replace ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.NewReplacer(replace...).Replace(string(b)))
}

// hook posts a GitHub webhook delivery with signature sig ("" for none).
func (e *env) hook(event string, body []byte, sig, contentType string) resp {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/webhooks/github", bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "GitHub-Hookshot/5e1b0bd")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
	if sig != "" {
		req.Header.Set("X-Hub-Signature-256", sig)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(res.Body)
	return resp{res.StatusCode, buf.Bytes()}
}

func (e *env) deployments(project string) []*apogee.Deployment {
	e.t.Helper()
	p, err := e.store.ProjectByName(context.Background(), project)
	if err != nil {
		e.t.Fatal(err)
	}
	ds, err := e.store.ListDeployments(context.Background(), p.ID, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return ds
}

func TestGitHubWebhook(t *testing.T) {
	e := newEnv(t)
	tok := e.user("a@example.com")
	var web, other apogee.ProjectView
	// The host's case and the missing ".git" differ from the payload's.
	e.must(e.call("POST", "/api/v1/projects", tok, apogee.CreateProjectRequest{Name: "web",
		Git: &apogee.GitSource{URL: "https://GitHub.com/acme/web", Branch: "main"}}), 201, &web)
	e.must(e.call("POST", "/api/v1/projects", tok, apogee.CreateProjectRequest{Name: "other",
		Git: &apogee.GitSource{URL: "https://github.com/acme/other.git"}}), 201, &other)
	if web.WebhookSecret == "" || other.WebhookSecret == "" || web.WebhookSecret == other.WebhookSecret {
		t.Fatalf("webhook secrets %q, %q", web.WebhookSecret, other.WebhookSecret)
	}
	const js = "application/json"
	const head = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"

	ping := payload(t, "github_ping.json")
	r := e.hook("ping", ping, sign(web.WebhookSecret, ping), js)
	if r.status != 200 || !strings.Contains(string(r.body), `"ok": true`) {
		t.Fatalf("ping: %d %s", r.status, r.body)
	}

	// Refused deliveries queue nothing.
	push := payload(t, "github_push.json")
	e.wantErr(e.hook("push", push, "", js), 401, apogee.EUNAUTHORIZED)
	e.wantErr(e.hook("push", push, "sha256=zz", js), 401, apogee.EUNAUTHORIZED)
	e.wantErr(e.hook("push", push, sign(other.WebhookSecret, push), js), 401, apogee.EUNAUTHORIZED)
	e.wantErr(e.hook("push", push, sign(web.WebhookSecret, append(push, ' ')), js), 401, apogee.EUNAUTHORIZED)
	e.wantErr(e.hook("push", push, "sha1="+strings.TrimPrefix(sign(web.WebhookSecret, push), "sha256="), js), 401, apogee.EUNAUTHORIZED)
	unknown := payload(t, "github_push.json", "acme/web", "acme/nothing")
	// A repository no project builds from is answered as a wrong
	// signature, word for word: whether one does is not for the caller.
	gotUnknown := e.wantErr(e.hook("push", unknown, sign(web.WebhookSecret, unknown), js), 401, apogee.EUNAUTHORIZED)
	gotWrong := e.wantErr(e.hook("push", push, sign(other.WebhookSecret, push), js), 401, apogee.EUNAUTHORIZED)
	if gotUnknown.Error.Message != gotWrong.Error.Message {
		t.Errorf("unknown repository %q, wrong secret %q: the answers differ", gotUnknown.Error.Message, gotWrong.Error.Message)
	}
	e.wantErr(e.hook("push", unknown, "", js), 401, apogee.EUNAUTHORIZED)
	bad := []byte(`{"ref": "refs/heads/main", "repository": `)
	e.wantErr(e.hook("push", bad, sign(web.WebhookSecret, bad), js), 400, apogee.EINVALID)
	big := bytes.Repeat([]byte(" "), 25<<20+1)
	e.wantErr(e.hook("push", big, sign(web.WebhookSecret, big), js), 413, apogee.ETOOLARGE)
	if ds := e.deployments("web"); len(ds) != 0 {
		t.Fatalf("refused deliveries queued %d builds", len(ds))
	}

	// A push to the production branch builds production at the pushed commit.
	var out struct {
		Deployments []apogee.DeploymentView `json:"deployments"`
	}
	e.must(e.hook("push", push, sign(web.WebhookSecret, push), js), 202, &out)
	if len(out.Deployments) != 1 {
		t.Fatalf("push queued %+v", out)
	}
	d := out.Deployments[0]
	if d.Project != "web" || d.Status != apogee.StatusQueued || d.Target != apogee.TargetProduction ||
		d.Branch != "main" || d.Commit != head || d.Source != apogee.SourceGit {
		t.Fatalf("push to main queued %+v", d.Deployment)
	}

	// Another branch builds a preview; GitHub's form encoding works too.
	feature := payload(t, "github_push.json", "refs/heads/main", "refs/heads/feature-x")
	form := []byte(url.Values{"payload": {string(feature)}}.Encode())
	e.must(e.hook("push", form, sign(web.WebhookSecret, form), "application/x-www-form-urlencoded"), 202, &out)
	if d := out.Deployments[0]; d.Target != apogee.TargetPreview || d.Branch != "feature-x" || d.Commit != head {
		t.Fatalf("push to feature-x queued %+v", d.Deployment)
	}

	// Tags, deleted branches and other events are acknowledged, not built.
	for _, c := range []struct{ event, file string }{
		{"push", "github_push_tag.json"}, {"push", "github_push_delete.json"}, {"issues", "github_ping.json"},
	} {
		b := payload(t, c.file)
		r := e.hook(c.event, b, sign(web.WebhookSecret, b), js)
		if r.status != 200 || !strings.Contains(string(r.body), "ignored") {
			t.Errorf("%s %s: %d %s", c.event, c.file, r.status, r.body)
		}
	}
	if ds := e.deployments("web"); len(ds) != 2 {
		t.Fatalf("%d builds queued, want 2", len(ds))
	}
}

// TestGitHubPullRequestWebhook: pull_request deliveries as GitHub sends
// them. Unsigned or wrongly signed ones change nothing; opened builds a
// preview of the head; a fork builds from the fork and a fork on a host
// the server may not fetch from is refused; other actions and a deleted
// head repository are acknowledged; closed marks the pull request.
func TestGitHubPullRequestWebhook(t *testing.T) {
	e := newEnv(t)
	tok := e.user("a@example.com")
	var web apogee.ProjectView
	e.must(e.call("POST", "/api/v1/projects", tok, apogee.CreateProjectRequest{Name: "web",
		Git: &apogee.GitSource{URL: "https://github.com/acme/web.git", Branch: "main"}}), 201, &web)
	const js = "application/json"
	const head = "4f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6"
	same := payload(t, "github_pull_request.json", "HEADUSER", "acme", "HEADCLONE", "https://github.com/acme/web.git")

	e.wantErr(e.hook("pull_request", same, "", js), 401, apogee.EUNAUTHORIZED)
	e.wantErr(e.hook("pull_request", same, sign("not the secret", same), js), 401, apogee.EUNAUTHORIZED)
	if ds := e.deployments("web"); len(ds) != 0 {
		t.Fatalf("refused deliveries queued %d builds", len(ds))
	}

	var out struct {
		Deployments []apogee.DeploymentView `json:"deployments"`
	}
	e.must(e.hook("pull_request", same, sign(web.WebhookSecret, same), js), 202, &out)
	if len(out.Deployments) != 1 {
		t.Fatalf("opened queued %+v", out)
	}
	if d := out.Deployments[0]; d.PullRequest != 12 || d.Branch != "pricing" || d.Commit != head || d.Target != apogee.TargetPreview || d.ForkRepo != "" {
		t.Fatalf("opened queued %+v", d.Deployment)
	}
	// A redelivery of the same commit queues nothing more.
	e.must(e.hook("pull_request", same, sign(web.WebhookSecret, same), js), 202, &out)
	if ds := e.deployments("web"); len(ds) != 1 || out.Deployments[0].ID != ds[0].ID {
		t.Fatalf("redelivery: %d builds, answered %+v", len(ds), out.Deployments)
	}

	fork := payload(t, "github_pull_request.json", `"number": 12`, `"number": 13`, "HEADUSER", "eve", "HEADCLONE", "https://github.com/eve/web.git")
	e.must(e.hook("pull_request", fork, sign(web.WebhookSecret, fork), js), 202, &out)
	if d := out.Deployments[0]; d.PullRequest != 13 || d.ForkRepo != "https://github.com/eve/web.git" || d.Target != apogee.TargetPreview {
		t.Fatalf("fork queued %+v", d.Deployment)
	}
	// Redeployed, a fork's preview is built from the fork again (so
	// without the project's variables), still the pull request's.
	var again apogee.DeploymentView
	e.must(e.call("POST", "/api/v1/deployments/"+out.Deployments[0].ID+"/redeploy", tok, nil), 201, &again)
	if again.ForkRepo != "https://github.com/eve/web.git" || again.PullRequest != 13 {
		t.Fatalf("redeploy of a fork's preview: %+v", again.Deployment)
	}
	local := payload(t, "github_pull_request.json", `"number": 12`, `"number": 14`, "HEADUSER", "mallory", "HEADCLONE", "http://127.0.0.1/mallory/web.git")
	r := e.wantErr(e.hook("pull_request", local, sign(web.WebhookSecret, local), js), 400, apogee.EINVALID)
	if !strings.Contains(r.Error.Message, "head repository cannot be built") {
		t.Errorf("a fork on a private address: %q", r.Error.Message)
	}

	for name, b := range map[string][]byte{
		"edited":       payload(t, "github_pull_request.json", `"action": "opened"`, `"action": "edited"`, "HEADUSER", "acme", "HEADCLONE", "https://github.com/acme/web.git"),
		"deleted fork": []byte(strings.Replace(string(fork), `"repo": {`, `"repo": null, "gone": {`, 1)),
	} {
		r := e.hook("pull_request", b, sign(web.WebhookSecret, b), js)
		if r.status != 200 || !strings.Contains(string(r.body), "ignored") {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	if ds := e.deployments("web"); len(ds) != 3 {
		t.Fatalf("%d builds queued, want 3", len(ds))
	}

	closed := payload(t, "github_pull_request.json", `"action": "opened"`, `"action": "closed"`, "HEADUSER", "acme", "HEADCLONE", "https://github.com/acme/web.git")
	r2 := e.hook("pull_request", closed, sign(web.WebhookSecret, closed), js)
	if r2.status != 200 || !strings.Contains(string(r2.body), `"closed": 12`) {
		t.Fatalf("closed: %d %s", r2.status, r2.body)
	}
	var list struct {
		Deployments []apogee.DeploymentView `json:"deployments"`
	}
	e.must(e.call("GET", "/api/v1/projects/web/deployments", tok, nil), 200, &list)
	states := map[int]string{}
	for _, d := range list.Deployments {
		states[d.PullRequest] = d.PullRequestTitle + "/" + d.PullRequestState
	}
	if states[12] != "New pricing page/closed" || states[13] != "New pricing page/open" {
		t.Fatalf("listed pull requests %v", states)
	}
}
