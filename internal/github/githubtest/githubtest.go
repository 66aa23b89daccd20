// Package githubtest is a fake GitHub for tests: an httptest server that
// speaks the OAuth and API endpoints Apogee uses, on the wire as GitHub
// does, so the real client (golang.org/x/oauth2 and net/http) is tested
// end to end without the internet.
//
//	GET  /login/oauth/authorize     checks client_id and redirect_uri, then
//	                                 redirects back with a code (the signed-in
//	                                 user consents) or error=access_denied
//	POST /login/oauth/access_token   authorization_code (code, redirect_uri,
//	                                 PKCE code_verifier) and refresh_token
//	                                 grants; client_id/client_secret in the
//	                                 form or Basic auth; answers form-encoded
//	                                 unless Accept asks for JSON; errors come
//	                                 in a 200 answer, as GitHub sends them
//	GET  /api/v3/user, /api/v3/user/emails, /api/v3/user/repos
//	POST /api/v3/repos/{owner}/{repo}/hooks, GET …/hooks   (recorded: Hooks)
//	POST /api/v3/repos/{owner}/{repo}/statuses/{sha}       (recorded: Statuses)
//	POST/GET /api/v3/repos/{owner}/{repo}/issues/{n}/comments,
//	PATCH/DELETE …/issues/comments/{id}                    (recorded: Comments)
//	POST /api/v3/repos/{owner}/{repo}/deployments, …/deployments/{id}/statuses
//	                                                        (recorded: Deployments)
//
// SendEvent delivers a webhook event to the hooks of a repository as
// GitHub does (signed with each hook's secret); PullRequestPayload and
// PushPayload make the events' bodies in GitHub's shape.
//
// With SetApp, it is also a GitHub App (app.go): the app's endpoints take
// an RS256 JWT signed with the app's key (issuer the app id, at most 10
// minutes), as GitHub checks it:
//
//	GET  /api/v3/app                                   the app
//	GET  /api/v3/repos/{owner}/{repo}/installation     the installation granting a repository
//	POST /api/v3/app/installations/{id}/access_tokens  an installation token (1 hour)
//	GET  /api/v3/installation/repositories             with an installation token
//
// and installation tokens reach the installation's repositories for the
// repository calls above.
//
// Tokens carry the scopes asked at authorize; repository calls without
// an accepted scope get 404, as on GitHub, with X-OAuth-Scopes and
// X-Accepted-OAuth-Scopes.
//
// The API sits under /api/v3 as on GitHub Enterprise. Access tokens expire
// after AccessTTL and refresh tokens are rotated on every refresh, as with
// a GitHub App's expiring user tokens. The server's clock is Now.
package githubtest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Email is one of a user's addresses.
type Email struct {
	Email    string `json:"email"`
	Primary  bool   `json:"primary"`
	Verified bool   `json:"verified"`
}

// Repo is a repository a user can reach.
type Repo struct {
	FullName      string `json:"full_name"`
	Private       bool   `json:"private"`
	DefaultBranch string `json:"default_branch"`
}

// User is an account of the fake.
type User struct {
	ID     int64
	Login  string
	Name   string
	Emails []Email
	Repos  []Repo
}

type code struct {
	user, scope         string
	redirect, challenge string
	expires             time.Time
}

type token struct {
	user         string
	installation int64     // an installation token (user "")
	scope        string    // granted scopes, comma-separated as GitHub writes them
	expires      time.Time // zero: never
}

// Server is the fake GitHub. Its fields may be set before the first
// request; methods are safe for concurrent use.
type Server struct {
	*httptest.Server
	ClientID, ClientSecret string
	// CallbackURL is the registered callback: redirect_uri must start with it.
	CallbackURL string
	// AccessTTL is how long access tokens last (0: they never expire and
	// no refresh token is issued, as with an OAuth App).
	AccessTTL  time.Duration
	RefreshTTL time.Duration
	Now        func() time.Time
	// Grant, when not nil, is every scope the fake grants: a scope asked
	// but not in it is left out of the token, as in a token issued
	// before the app asked for more.
	Grant []string

	mu            sync.Mutex
	users         map[string]*User // by login
	current       string           // the user signed in at the fake's web side
	deny          bool
	codes         map[string]*code
	access        map[string]*token
	refresh       map[string]*token
	refreshes     int
	apiCalls      map[string]int
	lastAuthorize url.Values
	hooks         map[string][]Hook       // by repository full name
	statuses      map[string][]Status     // by repository full name
	comments      map[string][]Comment    // by repository full name
	deployments   map[string][]Deployment // by repository full name
	checkRuns     map[string][]CheckRun   // by repository full name
	nextID        int64
	app           *app // app.go
}

// HookConfig is a webhook's config as GitHub takes it.
type HookConfig struct {
	URL         string `json:"url"`
	ContentType string `json:"content_type"`
	Secret      string `json:"secret,omitempty"`
	InsecureSSL string `json:"insecure_ssl"`
}

// Hook is a repository webhook the fake was asked to create.
type Hook struct {
	ID     int64      `json:"id"`
	Name   string     `json:"name"`
	Active bool       `json:"active"`
	Events []string   `json:"events"`
	Config HookConfig `json:"config"`
}

// Status is a commit status the fake was asked to set.
type Status struct {
	SHA         string `json:"-"`
	State       string `json:"state"`
	TargetURL   string `json:"target_url"`
	Description string `json:"description"`
	Context     string `json:"context"`
}

// New starts a fake GitHub with the given OAuth App credentials; it stops
// when the test ends. Access tokens last 8 hours and refresh tokens six
// months, as GitHub's do.
func New(t testing.TB, clientID, clientSecret string) *Server {
	s := &Server{ClientID: clientID, ClientSecret: clientSecret, AccessTTL: 8 * time.Hour, RefreshTTL: 184 * 24 * time.Hour,
		Now: time.Now, users: map[string]*User{}, codes: map[string]*code{}, access: map[string]*token{},
		refresh: map[string]*token{}, apiCalls: map[string]int{}, hooks: map[string][]Hook{}, statuses: map[string][]Status{},
		comments: map[string][]Comment{}, deployments: map[string][]Deployment{}, checkRuns: map[string][]CheckRun{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/oauth/authorize", s.authorize)
	mux.HandleFunc("POST /login/oauth/access_token", s.token)
	mux.HandleFunc("GET /api/v3/user", s.api(s.user))
	mux.HandleFunc("GET /api/v3/user/emails", s.api(s.emails))
	mux.HandleFunc("GET /api/v3/user/repos", s.api(s.repos))
	mux.HandleFunc("GET /api/v3/repos/{owner}/{repo}", s.getRepo)
	mux.HandleFunc("POST /api/v3/repos/{owner}/{repo}/hooks", s.createHook)
	mux.HandleFunc("GET /api/v3/repos/{owner}/{repo}/hooks", s.listHooks)
	mux.HandleFunc("POST /api/v3/repos/{owner}/{repo}/statuses/{sha}", s.createStatus)
	mux.HandleFunc("POST /api/v3/repos/{owner}/{repo}/issues/{number}/comments", s.createComment)
	mux.HandleFunc("GET /api/v3/repos/{owner}/{repo}/issues/{number}/comments", s.listComments)
	mux.HandleFunc("PATCH /api/v3/repos/{owner}/{repo}/issues/comments/{id}", s.updateComment)
	mux.HandleFunc("DELETE /api/v3/repos/{owner}/{repo}/issues/comments/{id}", s.deleteComment)
	mux.HandleFunc("POST /api/v3/repos/{owner}/{repo}/deployments", s.createDeployment)
	mux.HandleFunc("POST /api/v3/repos/{owner}/{repo}/deployments/{id}/statuses", s.createDeploymentStatus)
	mux.HandleFunc("POST /api/v3/repos/{owner}/{repo}/check-runs", s.createCheckRun)
	mux.HandleFunc("PATCH /api/v3/repos/{owner}/{repo}/check-runs/{id}", s.updateCheckRun)
	s.appRoutes(mux)
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// WebURL and APIURL are what to configure the client with.
func (s *Server) WebURL() string { return s.URL }
func (s *Server) APIURL() string { return s.URL + "/api/v3" }

// AddUser adds an account; SignIn makes it the one that consents.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := u
	s.users[u.Login] = &c
}

// SignIn makes login the user who consents at the authorize page.
func (s *Server) SignIn(login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.current = login
}

// Deny makes the user refuse consent (error=access_denied) or not.
func (s *Server) Deny(deny bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deny = deny
}

// Revoke invalidates every token of login, as revoking the app's
// authorization on GitHub does.
func (s *Server) Revoke(login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range []map[string]*token{s.access, s.refresh} {
		for k, t := range m {
			if t.user == login {
				delete(m, k)
			}
		}
	}
}

// Refreshes is how many refresh grants succeeded.
func (s *Server) Refreshes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshes
}

// APICalls is how many API requests for path were answered (any status).
func (s *Server) APICalls(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.apiCalls[path]
}

// LastAuthorize returns the query of the last authorize request.
func (s *Server) LastAuthorize() url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastAuthorize
}

// HasToken reports whether tok is a live access or refresh token.
func (s *Server) HasToken(tok string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.access[tok] != nil || s.refresh[tok] != nil
}

// Tokens returns every live access and refresh token of login.
func (s *Server) Tokens(login string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range []map[string]*token{s.access, s.refresh} {
		for k, t := range m {
			if t.user == login {
				out = append(out, k)
			}
		}
	}
	return out
}

func random(prefix string) string {
	b := make([]byte, 20)
	rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastAuthorize = q
	if q.Get("client_id") != s.ClientID {
		http.Error(w, "404: the client_id is not that of a registered application", http.StatusNotFound)
		return
	}
	redirect := q.Get("redirect_uri")
	if redirect == "" || (s.CallbackURL != "" && !strings.HasPrefix(redirect, s.CallbackURL)) {
		// GitHub shows a page and does not redirect.
		http.Error(w, "The redirect_uri is not associated with this application.", http.StatusBadRequest)
		return
	}
	back, _ := url.Parse(redirect)
	v := back.Query()
	if st := q.Get("state"); st != "" {
		v.Set("state", st)
	}
	switch {
	case s.deny:
		v.Set("error", "access_denied")
		v.Set("error_description", "The user has denied your application access.")
		v.Set("error_uri", "https://docs.github.com/apps/troubleshooting-authorization-requests#access-denied")
	case s.users[s.current] == nil:
		http.Error(w, "fake GitHub: no user signed in (call SignIn)", http.StatusInternalServerError)
		return
	default:
		if q.Get("code_challenge") != "" && q.Get("code_challenge_method") != "S256" {
			http.Error(w, "code_challenge_method must be S256", http.StatusBadRequest)
			return
		}
		c := random("")
		var scopes []string
		for _, sc := range strings.Fields(q.Get("scope")) {
			if s.Grant == nil || slices.Contains(s.Grant, sc) {
				scopes = append(scopes, sc)
			}
		}
		s.codes[c] = &code{user: s.current, scope: strings.Join(scopes, ","), redirect: redirect, challenge: q.Get("code_challenge"), expires: s.Now().Add(10 * time.Minute)}
		v.Set("code", c)
	}
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// answer writes v form-encoded, or as JSON when the request accepts it,
// always with 200: GitHub's token endpoint reports errors that way.
func answer(w http.ResponseWriter, r *http.Request, v map[string]any) {
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		json.NewEncoder(w).Encode(v)
		return
	}
	f := url.Values{}
	for k, x := range v {
		switch x := x.(type) {
		case string:
			f.Set(k, x)
		case int64:
			f.Set(k, strconv.FormatInt(x, 10))
		}
	}
	w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	w.Write([]byte(f.Encode()))
}

func fail(w http.ResponseWriter, r *http.Request, code, desc string) {
	answer(w, r, map[string]any{"error": code, "error_description": desc,
		"error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"})
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		id, secret = u, p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id != s.ClientID || secret != s.ClientSecret {
		fail(w, r, "incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect.")
		return
	}
	now := s.Now()
	var user, scope string
	switch r.PostForm.Get("grant_type") {
	case "", "authorization_code":
		c := s.codes[r.PostForm.Get("code")]
		delete(s.codes, r.PostForm.Get("code")) // a code is good once
		if c == nil || now.After(c.expires) {
			fail(w, r, "bad_verification_code", "The code passed is incorrect or expired.")
			return
		}
		if ru := r.PostForm.Get("redirect_uri"); ru != "" && ru != c.redirect {
			fail(w, r, "redirect_uri_mismatch", "The redirect_uri MUST match the registered callback URL for this application.")
			return
		}
		if c.challenge != "" {
			sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
			if base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge {
				fail(w, r, "bad_verification_code", "The code_verifier does not match the code_challenge.")
				return
			}
		}
		user, scope = c.user, c.scope
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		t := s.refresh[rt]
		delete(s.refresh, rt) // rotated: the old one stops working
		if t == nil || (!t.expires.IsZero() && now.After(t.expires)) {
			fail(w, r, "bad_refresh_token", "The refresh token passed is incorrect or expired.")
			return
		}
		user, scope = t.user, t.scope
		s.refreshes++
	default:
		fail(w, r, "unsupported_grant_type", "The grant type is not supported.")
		return
	}
	at := random("ghu_")
	resp := map[string]any{"access_token": at, "token_type": "bearer", "scope": scope}
	if s.AccessTTL > 0 {
		s.access[at] = &token{user: user, scope: scope, expires: now.Add(s.AccessTTL)}
		rt := random("ghr_")
		s.refresh[rt] = &token{user: user, scope: scope, expires: now.Add(s.RefreshTTL)}
		resp["expires_in"] = int64(s.AccessTTL / time.Second)
		resp["refresh_token"] = rt
		resp["refresh_token_expires_in"] = int64(s.RefreshTTL / time.Second)
	} else {
		s.access[at] = &token{user: user, scope: scope}
	}
	answer(w, r, resp)
}

// api checks the bearer token and passes its user to h.
func (s *Server) api(h func(u *User) any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok {
			tok, ok = strings.CutPrefix(auth, "token ")
		}
		s.mu.Lock()
		s.apiCalls[r.URL.Path]++
		t := s.access[tok]
		var u *User
		if ok && t != nil && (t.expires.IsZero() || s.Now().Before(t.expires)) {
			u = s.users[t.user]
		}
		var body any
		if u != nil {
			body = h(u)
		}
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		if u == nil {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
			return
		}
		json.NewEncoder(w).Encode(body)
	}
}

func (s *Server) user(u *User) any {
	return map[string]any{"id": u.ID, "login": u.Login, "name": u.Name, "type": "User"}
}

func (s *Server) emails(u *User) any {
	if u.Emails == nil {
		return []Email{}
	}
	return u.Emails
}

func (s *Server) repos(u *User) any {
	out := make([]map[string]any, len(u.Repos))
	for i, r := range u.Repos {
		out[i] = map[string]any{"full_name": r.FullName, "private": r.Private, "default_branch": r.DefaultBranch,
			"clone_url": s.URL + "/" + r.FullName + ".git", "html_url": s.URL + "/" + r.FullName}
	}
	return out
}

// SetClientSecret changes the app's secret (as rotating it on GitHub does).
func (s *Server) SetClientSecret(secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ClientSecret = secret
}

// Hooks returns the webhooks created on repository fullName, in order.
func (s *Server) Hooks(fullName string) []Hook {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Hook(nil), s.hooks[fullName]...)
}

// Statuses returns the commit statuses set on repository fullName, in order.
func (s *Server) Statuses(fullName string) []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Status(nil), s.statuses[fullName]...)
}

// repoCall checks the bearer token, that its user reaches the path's
// repository and that the token has one of the scopes accepted. It
// answers as GitHub does: 401 for a bad token and 404 for a repository
// out of reach or a token without the scope, with the X-OAuth-Scopes and
// X-Accepted-OAuth-Scopes headers. It returns the repository's full name
// with s.mu held, or "" having answered.
func (s *Server) repoCall(w http.ResponseWriter, r *http.Request, accepted ...string) string {
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		tok, ok = strings.CutPrefix(auth, "token ")
	}
	s.mu.Lock()
	s.apiCalls[r.URL.Path]++
	t := s.access[tok]
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if !ok || t == nil || (!t.expires.IsZero() && !s.Now().Before(t.expires)) {
		s.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]string{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
		return ""
	}
	full := r.PathValue("owner") + "/" + r.PathValue("repo")
	if t.installation != 0 {
		// An installation token reaches the installation's repositories
		// with the app's permissions; GitHub sends no scope headers.
		if !s.installationReaches(t.installation, full) {
			s.mu.Unlock()
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]string{"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
			return ""
		}
		return full
	}
	w.Header().Set("X-OAuth-Scopes", strings.ReplaceAll(t.scope, ",", ", "))
	w.Header().Set("X-Accepted-OAuth-Scopes", strings.Join(accepted, ", "))
	reach := false
	for _, repo := range s.users[t.user].Repos {
		reach = reach || repo.FullName == full
	}
	granted := len(accepted) == 0 // reading a repository needs no scope
	for _, sc := range strings.Split(t.scope, ",") {
		for _, a := range accepted {
			granted = granted || sc == a
		}
	}
	if !reach || !granted {
		s.mu.Unlock()
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]string{"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
		return ""
	}
	return full
}

func invalid(w http.ResponseWriter, msg string) {
	w.WriteHeader(http.StatusUnprocessableEntity)
	json.NewEncoder(w).Encode(map[string]string{"message": msg, "documentation_url": "https://docs.github.com/rest"})
}

// getRepo is GET /repos/{owner}/{repo}: any token of a user who reaches
// the repository, or of an installation granted it; 404 otherwise.
func (s *Server) getRepo(w http.ResponseWriter, r *http.Request) {
	full := s.repoCall(w, r)
	if full == "" {
		return
	}
	defer s.mu.Unlock()
	var rp Repo
	for _, u := range s.users {
		for _, x := range u.Repos {
			if strings.EqualFold(x.FullName, full) {
				rp = x
			}
		}
	}
	if s.app != nil {
		for _, in := range s.app.installations {
			for _, x := range in.Repos {
				if strings.EqualFold(x.FullName, full) {
					rp = x
				}
			}
		}
	}
	json.NewEncoder(w).Encode(map[string]any{"full_name": rp.FullName, "private": rp.Private, "default_branch": rp.DefaultBranch,
		"clone_url": s.URL + "/" + rp.FullName + ".git", "html_url": s.URL + "/" + rp.FullName,
		"permissions": map[string]bool{"admin": false, "push": true, "pull": true}})
}

// createHook is POST /repos/{owner}/{repo}/hooks.
func (s *Server) createHook(w http.ResponseWriter, r *http.Request) {
	full := s.repoCall(w, r, "admin:repo_hook", "repo", "write:repo_hook")
	if full == "" {
		return
	}
	defer s.mu.Unlock()
	h := Hook{Name: "web", Active: true, Events: []string{"push"}}
	if err := json.NewDecoder(r.Body).Decode(&h); err != nil {
		http.Error(w, `{"message":"Problems parsing JSON"}`, http.StatusBadRequest)
		return
	}
	if h.Config.URL == "" {
		invalid(w, "Validation Failed: config url is missing")
		return
	}
	for _, old := range s.hooks[full] {
		if old.Config.URL == h.Config.URL {
			invalid(w, "Validation Failed: Hook already exists on this repository")
			return
		}
	}
	if h.Config.InsecureSSL == "" {
		h.Config.InsecureSSL = "0"
	}
	s.nextID++
	h.ID = s.nextID
	s.hooks[full] = append(s.hooks[full], h)
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(s.hookJSON(full, h))
}

// hookJSON is a hook as GitHub answers it: the secret is masked.
func (s *Server) hookJSON(full string, h Hook) map[string]any {
	cfg := map[string]any{"url": h.Config.URL, "content_type": h.Config.ContentType, "insecure_ssl": h.Config.InsecureSSL}
	if h.Config.Secret != "" {
		cfg["secret"] = "********"
	}
	base := s.APIURL() + "/repos/" + full + "/hooks/" + strconv.FormatInt(h.ID, 10)
	now := s.Now().UTC().Format(time.RFC3339)
	return map[string]any{"type": "Repository", "id": h.ID, "name": h.Name, "active": h.Active, "events": h.Events,
		"config": cfg, "created_at": now, "updated_at": now, "url": base, "test_url": base + "/test",
		"ping_url": base + "/pings", "deliveries_url": base + "/deliveries",
		"last_response": map[string]any{"code": nil, "status": "unused", "message": nil}}
}

// listHooks is GET /repos/{owner}/{repo}/hooks.
func (s *Server) listHooks(w http.ResponseWriter, r *http.Request) {
	full := s.repoCall(w, r, "admin:repo_hook", "read:repo_hook", "repo", "write:repo_hook")
	if full == "" {
		return
	}
	defer s.mu.Unlock()
	out := []map[string]any{}
	for _, h := range s.hooks[full] {
		out = append(out, s.hookJSON(full, h))
	}
	json.NewEncoder(w).Encode(out)
}

// createStatus is POST /repos/{owner}/{repo}/statuses/{sha}.
func (s *Server) createStatus(w http.ResponseWriter, r *http.Request) {
	full := s.repoCall(w, r, "repo", "repo:status")
	if full == "" {
		return
	}
	defer s.mu.Unlock()
	var st Status
	if err := json.NewDecoder(r.Body).Decode(&st); err != nil {
		http.Error(w, `{"message":"Problems parsing JSON"}`, http.StatusBadRequest)
		return
	}
	switch st.State {
	case "error", "failure", "pending", "success":
	default:
		invalid(w, "Validation Failed: state is not included in the list")
		return
	}
	if st.Context == "" {
		st.Context = "default"
	}
	st.SHA = r.PathValue("sha")
	s.statuses[full] = append(s.statuses[full], st)
	s.nextID++
	now := s.Now().UTC().Format(time.RFC3339)
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]any{"url": s.APIURL() + "/repos/" + full + "/statuses/" + st.SHA,
		"id": s.nextID, "state": st.State, "description": st.Description, "target_url": st.TargetURL,
		"context": st.Context, "created_at": now, "updated_at": now})
}
