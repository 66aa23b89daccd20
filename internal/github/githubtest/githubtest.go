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
	user                string
	redirect, challenge string
	expires             time.Time
}

type token struct {
	user    string
	expires time.Time // zero: never
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
}

// New starts a fake GitHub with the given OAuth App credentials; it stops
// when the test ends. Access tokens last 8 hours and refresh tokens six
// months, as GitHub's do.
func New(t testing.TB, clientID, clientSecret string) *Server {
	s := &Server{ClientID: clientID, ClientSecret: clientSecret, AccessTTL: 8 * time.Hour, RefreshTTL: 184 * 24 * time.Hour,
		Now: time.Now, users: map[string]*User{}, codes: map[string]*code{}, access: map[string]*token{},
		refresh: map[string]*token{}, apiCalls: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/oauth/authorize", s.authorize)
	mux.HandleFunc("POST /login/oauth/access_token", s.token)
	mux.HandleFunc("GET /api/v3/user", s.api(s.user))
	mux.HandleFunc("GET /api/v3/user/emails", s.api(s.emails))
	mux.HandleFunc("GET /api/v3/user/repos", s.api(s.repos))
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
		s.codes[c] = &code{user: s.current, redirect: redirect, challenge: q.Get("code_challenge"), expires: s.Now().Add(10 * time.Minute)}
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
	var user string
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
		user = c.user
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		t := s.refresh[rt]
		delete(s.refresh, rt) // rotated: the old one stops working
		if t == nil || (!t.expires.IsZero() && now.After(t.expires)) {
			fail(w, r, "bad_refresh_token", "The refresh token passed is incorrect or expired.")
			return
		}
		user = t.user
		s.refreshes++
	default:
		fail(w, r, "unsupported_grant_type", "The grant type is not supported.")
		return
	}
	at := random("ghu_")
	resp := map[string]any{"access_token": at, "token_type": "bearer", "scope": ""}
	if s.AccessTTL > 0 {
		s.access[at] = &token{user: user, expires: now.Add(s.AccessTTL)}
		rt := random("ghr_")
		s.refresh[rt] = &token{user: user, expires: now.Add(s.RefreshTTL)}
		resp["expires_in"] = int64(s.AccessTTL / time.Second)
		resp["refresh_token"] = rt
		resp["refresh_token_expires_in"] = int64(s.RefreshTTL / time.Second)
	} else {
		s.access[at] = &token{user: user}
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
