package githubtest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Comment is an issue comment the fake holds (edits replace Body).
type Comment struct {
	ID     int64
	Issue  int
	Body   string
	Edits  int // how many times it was edited
	Author string
}

// Deployment is a GitHub Deployment the fake was asked to create, with
// its statuses in order.
type Deployment struct {
	ID                    int64
	Ref                   string
	Environment           string
	Description           string
	ProductionEnvironment bool
	TransientEnvironment  bool
	Statuses              []DeploymentStatus
}

// DeploymentStatus is a status of a Deployment.
type DeploymentStatus struct {
	State          string `json:"state"`
	Description    string `json:"description"`
	LogURL         string `json:"log_url"`
	EnvironmentURL string `json:"environment_url"`
}

// Comments returns the comments on repository fullName that still exist,
// in order of creation.
func (s *Server) Comments(fullName string) []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Comment(nil), s.comments[fullName]...)
}

// Deployments returns the deployments of repository fullName.
func (s *Server) Deployments(fullName string) []Deployment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Deployment, len(s.deployments[fullName]))
	for i, d := range s.deployments[fullName] {
		d.Statuses = append([]DeploymentStatus(nil), d.Statuses...)
		out[i] = d
	}
	return out
}

// DeleteComment removes a comment, as a person can on GitHub.
func (s *Server) DeleteComment(fullName string, id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.comments[fullName] = slices.DeleteFunc(s.comments[fullName], func(c Comment) bool { return c.ID == id })
}

// private reports whether some user's repository fullName is private
// (s.mu held).
func (s *Server) private(fullName string) bool {
	for _, u := range s.users {
		for _, r := range u.Repos {
			if r.FullName == fullName && r.Private {
				return true
			}
		}
	}
	return false
}

// issueScopes are the scopes that may write issue comments: public_repo
// reaches public repositories only.
func (s *Server) issueScopes(r *http.Request) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.private(r.PathValue("owner") + "/" + r.PathValue("repo")) {
		return []string{"repo"}
	}
	return []string{"repo", "public_repo"}
}

func (s *Server) user0(r *http.Request) *User {
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		tok, _ = strings.CutPrefix(auth, "token ")
	}
	if t := s.access[tok]; t != nil {
		if t.installation != 0 && s.app != nil {
			return &User{Login: s.app.slug + "[bot]"} // an installation writes as the app's bot
		}
		return s.users[t.user]
	}
	return &User{}
}

func userJSON(u *User) map[string]any {
	return map[string]any{"login": u.Login, "id": u.ID, "type": "User", "site_admin": false}
}

func (s *Server) commentJSON(full string, c Comment) map[string]any {
	now := s.Now().UTC().Format(time.RFC3339)
	id := strconv.FormatInt(c.ID, 10)
	return map[string]any{"id": c.ID, "node_id": "IC_" + id, "body": c.Body,
		"url":       s.APIURL() + "/repos/" + full + "/issues/comments/" + id,
		"html_url":  s.URL + "/" + full + "/pull/" + strconv.Itoa(c.Issue) + "#issuecomment-" + id,
		"issue_url": s.APIURL() + "/repos/" + full + "/issues/" + strconv.Itoa(c.Issue),
		"user":      map[string]any{"login": c.Author, "type": "User"}, "created_at": now, "updated_at": now,
		"author_association": "OWNER"}
}

type bodyIn struct {
	Body *string `json:"body"`
}

// createComment is POST /repos/{owner}/{repo}/issues/{number}/comments.
func (s *Server) createComment(w http.ResponseWriter, r *http.Request) {
	full := s.repoCall(w, r, s.issueScopes(r)...)
	if full == "" {
		return
	}
	defer s.mu.Unlock()
	n, err := strconv.Atoi(r.PathValue("number"))
	if err != nil || n <= 0 {
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]string{"message": "Not Found"})
		return
	}
	var in bodyIn
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, `{"message":"Problems parsing JSON"}`, http.StatusBadRequest)
		return
	}
	if in.Body == nil || *in.Body == "" {
		invalid(w, "Validation Failed: body is missing")
		return
	}
	s.nextID++
	c := Comment{ID: s.nextID, Issue: n, Body: *in.Body, Author: s.user0(r).Login}
	s.comments[full] = append(s.comments[full], c)
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(s.commentJSON(full, c))
}

// listComments is GET /repos/{owner}/{repo}/issues/{number}/comments.
func (s *Server) listComments(w http.ResponseWriter, r *http.Request) {
	full := s.repoCall(w, r, s.issueScopes(r)...)
	if full == "" {
		return
	}
	defer s.mu.Unlock()
	out := []map[string]any{}
	for _, c := range s.comments[full] {
		if strconv.Itoa(c.Issue) == r.PathValue("number") {
			out = append(out, s.commentJSON(full, c))
		}
	}
	json.NewEncoder(w).Encode(out)
}

// updateComment is PATCH /repos/{owner}/{repo}/issues/comments/{id}.
func (s *Server) updateComment(w http.ResponseWriter, r *http.Request) {
	full := s.repoCall(w, r, s.issueScopes(r)...)
	if full == "" {
		return
	}
	defer s.mu.Unlock()
	var in bodyIn
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, `{"message":"Problems parsing JSON"}`, http.StatusBadRequest)
		return
	}
	if in.Body == nil {
		invalid(w, "Validation Failed: body is missing")
		return
	}
	for i, c := range s.comments[full] {
		if strconv.FormatInt(c.ID, 10) == r.PathValue("id") {
			c.Body = *in.Body
			c.Edits++
			s.comments[full][i] = c
			json.NewEncoder(w).Encode(s.commentJSON(full, c))
			return
		}
	}
	w.WriteHeader(http.StatusNotFound)
	json.NewEncoder(w).Encode(map[string]string{"message": "Not Found", "documentation_url": "https://docs.github.com/rest/issues/comments#update-an-issue-comment"})
}

// deleteComment is DELETE /repos/{owner}/{repo}/issues/comments/{id}.
func (s *Server) deleteComment(w http.ResponseWriter, r *http.Request) {
	full := s.repoCall(w, r, s.issueScopes(r)...)
	if full == "" {
		return
	}
	defer s.mu.Unlock()
	before := len(s.comments[full])
	s.comments[full] = slices.DeleteFunc(s.comments[full], func(c Comment) bool { return strconv.FormatInt(c.ID, 10) == r.PathValue("id") })
	if len(s.comments[full]) == before {
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]string{"message": "Not Found"})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// createDeployment is POST /repos/{owner}/{repo}/deployments. As on
// GitHub, without required_contexts every commit status context of the
// ref must be success, else 409.
func (s *Server) createDeployment(w http.ResponseWriter, r *http.Request) {
	full := s.repoCall(w, r, "repo", "repo_deployment")
	if full == "" {
		return
	}
	defer s.mu.Unlock()
	var in struct {
		Ref                   string    `json:"ref"`
		Environment           string    `json:"environment"`
		Description           string    `json:"description"`
		AutoMerge             *bool     `json:"auto_merge"`
		RequiredContexts      *[]string `json:"required_contexts"`
		ProductionEnvironment *bool     `json:"production_environment"`
		TransientEnvironment  bool      `json:"transient_environment"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, `{"message":"Problems parsing JSON"}`, http.StatusBadRequest)
		return
	}
	if in.Ref == "" {
		invalid(w, "Validation Failed: ref is missing")
		return
	}
	if in.Environment == "" {
		in.Environment = "production"
	}
	if in.RequiredContexts == nil {
		latest := map[string]string{}
		for _, st := range s.statuses[full] {
			if st.SHA == in.Ref {
				latest[st.Context] = st.State
			}
		}
		for _, state := range latest {
			if state != "success" {
				w.WriteHeader(http.StatusConflict)
				json.NewEncoder(w).Encode(map[string]string{"message": "Conflict: Commit status checks failed for " + in.Ref + "."})
				return
			}
		}
	}
	prod := in.Environment == "production"
	if in.ProductionEnvironment != nil {
		prod = *in.ProductionEnvironment
	}
	s.nextID++
	d := Deployment{ID: s.nextID, Ref: in.Ref, Environment: in.Environment, Description: in.Description, ProductionEnvironment: prod,
		TransientEnvironment: in.TransientEnvironment}
	s.deployments[full] = append(s.deployments[full], d)
	now := s.Now().UTC().Format(time.RFC3339)
	id := strconv.FormatInt(d.ID, 10)
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]any{"id": d.ID, "node_id": "DE_" + id, "sha": in.Ref, "ref": in.Ref, "task": "deploy",
		"payload": map[string]any{}, "original_environment": d.Environment, "environment": d.Environment,
		"description": d.Description, "creator": userJSON(s.user0(r)), "created_at": now, "updated_at": now,
		"statuses_url":           s.APIURL() + "/repos/" + full + "/deployments/" + id + "/statuses",
		"repository_url":         s.APIURL() + "/repos/" + full,
		"url":                    s.APIURL() + "/repos/" + full + "/deployments/" + id,
		"transient_environment":  d.TransientEnvironment,
		"production_environment": prod})
}

// createDeploymentStatus is POST /repos/{owner}/{repo}/deployments/{id}/statuses.
func (s *Server) createDeploymentStatus(w http.ResponseWriter, r *http.Request) {
	full := s.repoCall(w, r, "repo", "repo_deployment")
	if full == "" {
		return
	}
	defer s.mu.Unlock()
	var st DeploymentStatus
	if err := json.NewDecoder(r.Body).Decode(&st); err != nil {
		http.Error(w, `{"message":"Problems parsing JSON"}`, http.StatusBadRequest)
		return
	}
	switch st.State {
	case "error", "failure", "inactive", "in_progress", "queued", "pending", "success":
	default:
		invalid(w, "Validation Failed: state is not included in the list")
		return
	}
	for i, d := range s.deployments[full] {
		if strconv.FormatInt(d.ID, 10) != r.PathValue("id") {
			continue
		}
		s.deployments[full][i].Statuses = append(s.deployments[full][i].Statuses, st)
		s.nextID++
		now := s.Now().UTC().Format(time.RFC3339)
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"id": s.nextID, "node_id": "DES_" + strconv.FormatInt(s.nextID, 10),
			"state": st.State, "description": st.Description, "environment": d.Environment, "target_url": st.LogURL,
			"log_url": st.LogURL, "environment_url": st.EnvironmentURL, "creator": userJSON(s.user0(r)),
			"created_at": now, "updated_at": now,
			"deployment_url": s.APIURL() + "/repos/" + full + "/deployments/" + r.PathValue("id"),
			"repository_url": s.APIURL() + "/repos/" + full})
		return
	}
	w.WriteHeader(http.StatusNotFound)
	json.NewEncoder(w).Encode(map[string]string{"message": "Not Found"})
}

// repoJSON is a repository as webhook payloads describe it.
func (s *Server) repoJSON(fullName string) map[string]any {
	owner, name, _ := strings.Cut(fullName, "/")
	s.mu.Lock()
	private := s.private(fullName)
	s.mu.Unlock()
	host := strings.TrimPrefix(strings.TrimPrefix(s.URL, "http://"), "https://")
	return map[string]any{"id": len(fullName)*1000 + len(owner), "node_id": "R_" + fullName, "name": name, "full_name": fullName,
		"private": private, "owner": map[string]any{"login": owner, "type": "User"},
		"html_url": s.URL + "/" + fullName, "url": s.APIURL() + "/repos/" + fullName, "fork": false,
		"clone_url": s.URL + "/" + fullName + ".git", "git_url": "git://" + host + "/" + fullName + ".git",
		"ssh_url": "git@" + host + ":" + fullName + ".git", "default_branch": "main"}
}

// PullRequestEvent says what a pull_request event is about.
type PullRequestEvent struct {
	Action string // opened, synchronize, reopened, closed, edited, …
	Number int
	Title  string
	Base   string // the repository, "owner/name"
	// HeadRepo is the head's repository ("" for Base; another for a fork).
	HeadRepo   string
	HeadBranch string
	HeadSHA    string
	Before     string // synchronize: the previous head
	BaseSHA    string // the base branch's commit (default "bbb…")
	Merged     bool   // closed: merged or not
	Sender     string
	// HeadDeleted: the head repository (a fork) was deleted; GitHub then
	// sends "repo": null in head.
	HeadDeleted bool
}

// PullRequestPayload is the body of a pull_request event as GitHub sends
// it (the fields GitHub documents; what Apogee reads among them).
func (s *Server) PullRequestPayload(ev PullRequestEvent) []byte {
	if ev.HeadRepo == "" {
		ev.HeadRepo = ev.Base
	}
	headRepo := s.repoJSON(ev.HeadRepo)
	if ev.HeadRepo != ev.Base {
		headRepo["fork"] = true
	}
	headOwner, _, _ := strings.Cut(ev.HeadRepo, "/")
	baseOwner, _, _ := strings.Cut(ev.Base, "/")
	now := s.Now().UTC().Format(time.RFC3339)
	state, closedAt, mergedAt := "open", any(nil), any(nil)
	if ev.Action == "closed" {
		state, closedAt = "closed", now
		if ev.Merged {
			mergedAt = now
		}
	}
	num := strconv.Itoa(ev.Number)
	sender := map[string]any{"login": ev.Sender, "type": "User"}
	pr := map[string]any{
		"url": s.APIURL() + "/repos/" + ev.Base + "/pulls/" + num, "id": 1000 + ev.Number, "node_id": "PR_" + num,
		"html_url": s.URL + "/" + ev.Base + "/pull/" + num, "diff_url": s.URL + "/" + ev.Base + "/pull/" + num + ".diff",
		"issue_url": s.APIURL() + "/repos/" + ev.Base + "/issues/" + num, "number": ev.Number, "state": state,
		"locked": false, "title": ev.Title, "user": sender, "body": nil, "created_at": now, "updated_at": now,
		"closed_at": closedAt, "merged_at": mergedAt, "merge_commit_sha": nil, "draft": false, "merged": ev.Merged,
		"head": map[string]any{"label": headOwner + ":" + ev.HeadBranch, "ref": ev.HeadBranch, "sha": ev.HeadSHA,
			"user": map[string]any{"login": headOwner, "type": "User"}, "repo": headRepo},
		"base": map[string]any{"label": baseOwner + ":main", "ref": "main", "sha": cmp.Or(ev.BaseSHA, strings.Repeat("b", 40)),
			"user": map[string]any{"login": baseOwner, "type": "User"}, "repo": s.repoJSON(ev.Base)},
		"author_association": "CONTRIBUTOR", "commits": 1, "additions": 1, "deletions": 0, "changed_files": 1,
	}
	body := map[string]any{"action": ev.Action, "number": ev.Number, "pull_request": pr,
		"repository": s.repoJSON(ev.Base), "sender": sender}
	if ev.Action == "synchronize" {
		body["before"], body["after"] = ev.Before, ev.HeadSHA
	}
	if ev.HeadDeleted {
		pr["head"].(map[string]any)["repo"] = nil
	}
	b, _ := json.Marshal(body)
	return b
}

// PushPayload is the body of a push event of branch from before to after
// as GitHub sends it.
func (s *Server) PushPayload(fullName, branch, before, after, sender string) []byte {
	repo := s.repoJSON(fullName)
	b, _ := json.Marshal(map[string]any{"ref": "refs/heads/" + branch, "before": before, "after": after,
		"created": false, "deleted": false, "forced": false, "base_ref": nil,
		"compare":     s.URL + "/" + fullName + "/compare/" + before[:12] + "..." + after[:12],
		"commits":     []any{map[string]any{"id": after, "message": "change", "distinct": true}},
		"head_commit": map[string]any{"id": after, "message": "change"},
		"repository":  repo, "pusher": map[string]any{"name": sender}, "sender": map[string]any{"login": sender, "type": "User"}})
	return b
}

// PushPayloadFiles is PushPayload of one commit that modified the files
// given, as GitHub lists them in each commit of a push (added, removed,
// modified).
func (s *Server) PushPayloadFiles(fullName, branch, before, after, sender string, modified []string) []byte {
	var body map[string]any
	json.Unmarshal(s.PushPayload(fullName, branch, before, after, sender), &body)
	body["commits"] = []any{map[string]any{"id": after, "message": "change", "distinct": true,
		"added": []string{}, "removed": []string{}, "modified": modified}}
	b, _ := json.Marshal(body)
	return b
}

// SendAppEvent delivers event with payload to the GitHub App's webhook
// URL as GitHub does: the payload gains the installation
// ({"id", "node_id"}), and the body is signed with the app's webhook
// secret (X-Hub-Signature-256), with the X-GitHub-Hook-Installation-Target
// headers of an app.
func (s *Server) SendAppEvent(ctx context.Context, url, secret string, installation int64, event string, payload []byte) (Delivery, error) {
	var body map[string]any
	if err := json.Unmarshal(payload, &body); err != nil {
		return Delivery{}, err
	}
	body["installation"] = map[string]any{"id": installation, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9u" + strconv.FormatInt(installation, 10)}
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(b))
	if err != nil {
		return Delivery{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/6c3d5a8")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("%08x-cc78-11e3-81ab-%012x", time.Now().UnixNano()&0xffffffff, installation))
	req.Header.Set("X-GitHub-Hook-Installation-Target-Type", "integration")
	s.mu.Lock()
	if s.app != nil {
		req.Header.Set("X-GitHub-Hook-Installation-Target-ID", strconv.FormatInt(s.app.id, 10))
	}
	s.mu.Unlock()
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(b)
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return Delivery{}, err
	}
	defer res.Body.Close()
	rb, _ := io.ReadAll(res.Body)
	return Delivery{Status: res.StatusCode, Body: string(rb)}, nil
}

// Delivery is the answer to one webhook delivery.
type Delivery struct {
	HookID int64
	Status int
	Body   string
}

// SendEvent delivers event with payload to every active hook of
// repository fullName that subscribed to it, as GitHub does: a JSON POST
// with X-GitHub-Event, X-GitHub-Delivery, X-GitHub-Hook-ID and, when the
// hook has a secret, X-Hub-Signature (HMAC-SHA1) and
// X-Hub-Signature-256 (HMAC-SHA256) of the body.
func (s *Server) SendEvent(ctx context.Context, fullName, event string, payload []byte) ([]Delivery, error) {
	s.mu.Lock()
	hooks := append([]Hook(nil), s.hooks[fullName]...)
	s.mu.Unlock()
	var out []Delivery
	for _, h := range hooks {
		if !h.Active || !slices.Contains(h.Events, event) && !slices.Contains(h.Events, "*") {
			continue
		}
		req, err := http.NewRequestWithContext(ctx, "POST", h.Config.URL, bytes.NewReader(payload))
		if err != nil {
			return out, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "GitHub-Hookshot/6c3d5a8")
		req.Header.Set("X-GitHub-Event", event)
		req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("%08x-cc78-11e3-81ab-%012x", time.Now().UnixNano()&0xffffffff, h.ID))
		req.Header.Set("X-GitHub-Hook-ID", strconv.FormatInt(h.ID, 10))
		req.Header.Set("X-GitHub-Hook-Installation-Target-Type", "repository")
		if h.Config.Secret != "" {
			m1 := hmac.New(sha1.New, []byte(h.Config.Secret))
			m1.Write(payload)
			req.Header.Set("X-Hub-Signature", "sha1="+hex.EncodeToString(m1.Sum(nil)))
			m256 := hmac.New(sha256.New, []byte(h.Config.Secret))
			m256.Write(payload)
			req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m256.Sum(nil)))
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return out, err
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		out = append(out, Delivery{HookID: h.ID, Status: res.StatusCode, Body: string(b)})
	}
	return out, nil
}
