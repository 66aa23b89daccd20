package githubtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"
)

// Installation is an installation of the fake's GitHub App: the account
// it is installed on and the repositories it was granted.
type Installation struct {
	ID      int64
	Account string // login of the user or organization
	Repos   []Repo
}

type app struct {
	gitRoot       string          // ServeGit: bare repositories by full name
	served        map[string]bool // lower-case full names served
	id            int64
	slug          string
	key           *rsa.PublicKey
	installations map[int64]*Installation
	minted        int
	jwts          int
	gitFetches    int
}

// AppKey makes an RSA key for a GitHub App and returns it in PEM
// (PKCS#1, as GitHub's "Generate a private key" downloads it).
func AppKey(t testing.TB) ([]byte, *rsa.PrivateKey) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), k
}

// SetApp makes the fake a GitHub App with id whose JWTs must be signed
// by the private half of key.
func (s *Server) SetApp(id int64, slug string, key *rsa.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.app = &app{id: id, slug: slug, key: key, installations: map[int64]*Installation{}}
}

// Install installs the app (or changes an installation's repositories).
func (s *Server) Install(in Installation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := in
	c.Repos = slices.Clone(in.Repos)
	s.app.installations[in.ID] = &c
}

// Uninstall removes an installation; its tokens stop working.
func (s *Server) Uninstall(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.app.installations, id)
	for k, t := range s.access {
		if t.installation == id {
			delete(s.access, k)
		}
	}
}

// Minted is how many installation tokens the fake issued.
func (s *Server) Minted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.app.minted
}

// InstallationTokens returns the live tokens of installation id.
func (s *Server) InstallationTokens(id int64) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k, t := range s.access {
		if t.installation == id && (t.expires.IsZero() || s.Now().Before(t.expires)) {
			out = append(out, k)
		}
	}
	return out
}

func (s *Server) appRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v3/app", s.asApp(s.getApp))
	mux.HandleFunc("GET /api/v3/app/installations", s.asApp(s.listInstallations))
	mux.HandleFunc("GET /api/v3/repos/{owner}/{repo}/installation", s.asApp(s.repoInstallation))
	mux.HandleFunc("POST /api/v3/app/installations/{id}/access_tokens", s.asApp(s.accessTokens))
	mux.HandleFunc("GET /api/v3/installation/repositories", s.installationRepos)
	mux.HandleFunc("/{owner}/{repo}/", s.gitHTTP)
}

// ServeGit serves the bare repository dir as fullName's clone URL
// ({URL}/owner/name.git) over Git's smart HTTP (git http-backend), to
// clients that authenticate as GitHub wants, Basic x-access-token:TOKEN
// with a live installation token granted the repository; others get 401
// (no credentials) or 404, as on GitHub for a private repository.
func (s *Server) ServeGit(t testing.TB, fullName, dir string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.app.gitRoot == "" {
		s.app.gitRoot = t.TempDir()
		s.app.served = map[string]bool{}
	}
	owner, _, _ := strings.Cut(fullName, "/")
	if err := os.MkdirAll(filepath.Join(s.app.gitRoot, owner), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dir, filepath.Join(s.app.gitRoot, fullName+".git")); err != nil {
		t.Fatal(err)
	}
	s.app.served[strings.ToLower(fullName)] = true
}

// gitHTTP is a served repository's smart HTTP.
func (s *Server) gitHTTP(w http.ResponseWriter, r *http.Request) {
	full := r.PathValue("owner") + "/" + strings.TrimSuffix(r.PathValue("repo"), ".git")
	s.mu.Lock()
	if s.app == nil || !s.app.served[strings.ToLower(full)] || !strings.HasSuffix(r.PathValue("repo"), ".git") {
		s.mu.Unlock()
		http.NotFound(w, r)
		return
	}
	user, tok, ok := r.BasicAuth()
	t := s.access[tok]
	allowed := ok && user == "x-access-token" && t != nil && t.installation != 0 &&
		(t.expires.IsZero() || s.Now().Before(t.expires)) && s.installationReaches(t.installation, full)
	root := s.app.gitRoot
	s.app.gitFetches++
	s.mu.Unlock()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="GitHub"`)
		http.Error(w, "Authentication required", http.StatusUnauthorized)
		return
	}
	if !allowed {
		http.Error(w, "Repository not found.", http.StatusNotFound)
		return
	}
	r2 := r.Clone(r.Context())
	r2.Header.Del("Authorization")
	h := &cgi.Handler{Path: "git", Args: []string{"http-backend"}, Dir: root,
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "HOME=" + root}}
	if p, err := exec.LookPath("git"); err == nil {
		h.Path = p
	}
	h.ServeHTTP(w, r2)
}

// GitFetches is how many smart HTTP requests reached served repositories.
func (s *Server) GitFetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.app == nil {
		return 0
	}
	return s.app.gitFetches
}

// installationReaches reports whether installation id was granted repo
// (s.mu held).
func (s *Server) installationReaches(id int64, full string) bool {
	if s.app == nil || s.app.installations[id] == nil {
		return false
	}
	return slices.ContainsFunc(s.app.installations[id].Repos, func(r Repo) bool { return strings.EqualFold(r.FullName, full) })
}

func apiError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"message": msg, "documentation_url": "https://docs.github.com/rest"})
}

// asApp checks the request's JWT as GitHub does: RS256 under the app's
// key, issuer the app's id, issued in the past (60 s of skew allowed) and
// expiring in the future but at most 10 minutes after it was issued.
// The handler runs with s.mu held.
func (s *Server) asApp(h func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.apiCalls[r.URL.Path]++
		if s.app == nil {
			apiError(w, http.StatusNotFound, "Not Found")
			return
		}
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			apiError(w, http.StatusUnauthorized, "A JSON web token could not be decoded")
			return
		}
		var claims jwt.RegisteredClaims
		_, err := jwt.ParseWithClaims(raw, &claims, func(t *jwt.Token) (any, error) { return s.app.key, nil },
			jwt.WithValidMethods([]string{"RS256"}), jwt.WithoutClaimsValidation())
		if err != nil {
			apiError(w, http.StatusUnauthorized, "A JSON web token could not be decoded")
			return
		}
		now := s.Now()
		switch {
		case claims.Issuer != strconv.FormatInt(s.app.id, 10):
			apiError(w, http.StatusUnauthorized, "'Issuer' claim ('iss') must be an Integer")
		case claims.IssuedAt == nil || claims.IssuedAt.After(now.Add(60*time.Second)):
			apiError(w, http.StatusUnauthorized, "'Issued at' claim ('iat') must be an Integer representing a time in the past")
		case claims.ExpiresAt == nil || !claims.ExpiresAt.After(now):
			apiError(w, http.StatusUnauthorized, "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires")
		case claims.ExpiresAt.Sub(claims.IssuedAt.Time) > 10*time.Minute:
			apiError(w, http.StatusUnauthorized, "'Expiration time' claim ('exp') is too far in the future")
		default:
			s.app.jwts++
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			h(w, r)
		}
	}
}

func (s *Server) installationJSON(in *Installation) map[string]any {
	return map[string]any{"id": in.ID, "app_id": s.app.id, "app_slug": s.app.slug, "target_type": "Organization",
		"account":              map[string]any{"login": in.Account, "type": "Organization"},
		"repository_selection": "selected", "access_tokens_url": s.APIURL() + "/app/installations/" + strconv.FormatInt(in.ID, 10) + "/access_tokens",
		"permissions": map[string]string{"contents": "read", "metadata": "read", "statuses": "write", "pull_requests": "write", "deployments": "write"},
		"events":      []string{"push", "pull_request"}}
}

// getApp is GET /app.
func (s *Server) getApp(w http.ResponseWriter, r *http.Request) {
	json.NewEncoder(w).Encode(map[string]any{"id": s.app.id, "slug": s.app.slug, "name": s.app.slug,
		"html_url": s.URL + "/apps/" + s.app.slug, "installations_count": len(s.app.installations)})
}

// listInstallations is GET /app/installations (per_page, page), oldest
// first.
func (s *Server) listInstallations(w http.ResponseWriter, r *http.Request) {
	ids := make([]int64, 0, len(s.app.installations))
	for id := range s.app.installations {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	if per <= 0 || per > 100 {
		per = 30
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	page = max(page, 1)
	out := []map[string]any{}
	for i := (page - 1) * per; i < len(ids) && i < page*per; i++ {
		out = append(out, s.installationJSON(s.app.installations[ids[i]]))
	}
	json.NewEncoder(w).Encode(out)
}

// repoInstallation is GET /repos/{owner}/{repo}/installation.
func (s *Server) repoInstallation(w http.ResponseWriter, r *http.Request) {
	full := r.PathValue("owner") + "/" + r.PathValue("repo")
	ids := make([]int64, 0, len(s.app.installations))
	for id := range s.app.installations {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if s.installationReaches(id, full) {
			json.NewEncoder(w).Encode(s.installationJSON(s.app.installations[id]))
			return
		}
	}
	apiError(w, http.StatusNotFound, "Not Found")
}

// accessTokens is POST /app/installations/{id}/access_tokens.
func (s *Server) accessTokens(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	in := s.app.installations[id]
	if in == nil {
		apiError(w, http.StatusNotFound, "Not Found")
		return
	}
	tok := random("ghs_")
	exp := s.Now().Add(time.Hour).UTC().Truncate(time.Second)
	s.access[tok] = &token{installation: id, expires: exp}
	s.app.minted++
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]any{"token": tok, "expires_at": exp.Format(time.RFC3339),
		"permissions": s.installationJSON(in)["permissions"], "repository_selection": "selected"})
}

// installationRepos is GET /installation/repositories (per_page, page).
func (s *Server) installationRepos(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apiCalls[r.URL.Path]++
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "token "); ok {
		tok = t
	}
	t := s.access[tok]
	if t == nil || t.installation == 0 || (!t.expires.IsZero() && !s.Now().Before(t.expires)) || s.app.installations[t.installation] == nil {
		apiError(w, http.StatusUnauthorized, "Bad credentials")
		return
	}
	repos := s.app.installations[t.installation].Repos
	per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	if per <= 0 || per > 100 {
		per = 30
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	page = max(page, 1)
	out := []map[string]any{}
	for i := (page - 1) * per; i < len(repos) && i < page*per; i++ {
		rp := repos[i]
		out = append(out, map[string]any{"id": 1000 + i, "full_name": rp.FullName, "name": rp.FullName[strings.Index(rp.FullName, "/")+1:],
			"private": rp.Private, "default_branch": rp.DefaultBranch,
			"clone_url": s.URL + "/" + rp.FullName + ".git", "html_url": s.URL + "/" + rp.FullName})
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(map[string]any{"total_count": len(repos), "repository_selection": "selected", "repositories": out})
}
