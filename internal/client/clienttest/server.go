// Package clienttest is an in-memory test double of Apogee's REST API
// (/api/v1), faithful enough to test the client and the CLI against: it
// checks bearer tokens, verifies the SHA-256 of every upload, reports the
// hashes it lacks and refuses to finalize while any is missing.
//
// It is a stand-in until end-to-end tests run against the real server;
// it is not the server and must not grow into one.
package clienttest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/api"
)

// Server is a running test double. Its zero value is not usable; use New.
type Server struct {
	*httptest.Server

	mu          sync.Mutex
	users       map[string]*user // by email
	tokens      map[string]*apogee.Token
	tokenSecret map[string]string // token ID → secret
	projects    map[string]*apogee.Project
	deployments map[string]*deployment
	blobs       map[string][]byte
	history     map[string][]string // project → production deployment IDs, oldest first
	puts        int
	drop        int
	hostSuffix  string
}

type user struct {
	apogee.User
	password string
}

type deployment struct {
	apogee.Deployment
	project string
	files   []apogee.File
}

// New starts a test double on 127.0.0.1 that is closed when t ends.
func New(t testing.TB) *Server {
	s := &Server{
		users:       map[string]*user{},
		tokens:      map[string]*apogee.Token{},
		tokenSecret: map[string]string{},
		projects:    map[string]*apogee.Project{},
		deployments: map[string]*deployment{},
		blobs:       map[string][]byte{},
		history:     map[string][]string{},
	}
	s.Server = httptest.NewServer(s.routes())
	u, _ := url.Parse(s.URL)
	s.hostSuffix = ".localhost:" + u.Port()
	t.Cleanup(s.Close)
	return s
}

// AddUser makes a user and returns an API token for it.
func (s *Server) AddUser(email, password string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := &user{User: apogee.User{ID: apogee.NewID(), Email: email, CreatedAt: time.Now().UTC()}, password: password}
	s.users[email] = u
	secret, _ := s.newToken(u, "test", nil)
	return secret
}

// Puts returns how many file uploads the server accepted.
func (s *Server) Puts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.puts
}

// ResetPuts sets the upload count to zero.
func (s *Server) ResetPuts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.puts = 0
}

// DropUploads makes the server acknowledge the next n uploads without
// keeping them, as if the blob store had lost them, so that finalize
// answers missing_files.
func (s *Server) DropUploads(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop = n
}

// Blob returns the stored bytes of a hash.
func (s *Server) Blob(hash string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.blobs[hash]
	return b, ok
}

// Manifest returns the files of deployment id.
func (s *Server) Manifest(id string) []apogee.File {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.deployments[id]; ok {
		return slices.Clone(d.files)
	}
	return nil
}

func (s *Server) newToken(u *user, name string, expires *time.Time) (string, *apogee.Token) {
	secret := "apg_" + apogee.NewSecret(20)
	tok := &apogee.Token{ID: apogee.NewID(), UserID: u.ID, Name: name, CreatedAt: time.Now().UTC(), ExpiresAt: expires}
	s.tokens[secret] = tok
	s.tokenSecret[tok.ID] = secret
	return secret, tok
}

type handler func(w http.ResponseWriter, r *http.Request, u *user)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/auth/login", s.login)
	auth := func(pattern string, h handler) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			defer s.mu.Unlock()
			u := s.authenticate(r)
			if u == nil {
				writeErr(w, apogee.Errorf(apogee.EUNAUTHORIZED, "missing or invalid API token"))
				return
			}
			h(w, r, u)
		})
	}
	auth("GET /api/v1/user", func(w http.ResponseWriter, r *http.Request, u *user) { writeJSON(w, 200, u.User) })
	auth("GET /api/v1/tokens", s.listTokens)
	auth("POST /api/v1/tokens", s.createToken)
	auth("DELETE /api/v1/tokens/{id}", s.revokeToken)
	auth("GET /api/v1/projects", s.listProjects)
	auth("POST /api/v1/projects", s.createProject)
	auth("GET /api/v1/projects/{name}", s.getProject)
	auth("DELETE /api/v1/projects/{name}", s.deleteProject)
	auth("GET /api/v1/projects/{name}/deployments", s.listDeployments)
	auth("POST /api/v1/projects/{name}/deployments", s.createDeployment)
	auth("GET /api/v1/deployments/{id}", s.getDeployment)
	auth("PUT /api/v1/deployments/{id}/files/{sha256}", s.putFile)
	auth("POST /api/v1/deployments/{id}/finalize", s.finalize)
	auth("POST /api/v1/projects/{name}/promote", s.promote)
	auth("POST /api/v1/projects/{name}/rollback", s.rollback)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, apogee.Errorf(apogee.ENOTFOUND, "no route %s %s", r.Method, r.URL.Path))
	})
	return mux
}

func (s *Server) authenticate(r *http.Request) *user {
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) <= len(prefix) || h[:len(prefix)] != prefix {
		return nil
	}
	tok, ok := s.tokens[h[len(prefix):]]
	if !ok || !tok.Valid(time.Now()) {
		return nil
	}
	for _, u := range s.users {
		if u.ID == tok.UserID {
			return u
		}
	}
	return nil
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req apogee.LoginRequest
	if !readJSON(w, r, &req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[req.Email]
	if !ok || u.password != req.Password {
		writeErr(w, apogee.Errorf(apogee.EUNAUTHORIZED, "wrong email or password"))
		return
	}
	if req.TokenName == "" {
		req.TokenName = "cli"
	}
	secret, tok := s.newToken(u, req.TokenName, nil)
	writeJSON(w, 200, apogee.TokenResponse{Token: secret, Detail: tok, User: &u.User})
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, u *user) {
	out := []apogee.Token{}
	for _, t := range s.tokens {
		if t.UserID == u.ID {
			out = append(out, *t)
		}
	}
	slices.SortFunc(out, func(a, b apogee.Token) int { return a.CreatedAt.Compare(b.CreatedAt) })
	writeJSON(w, 200, map[string]any{"tokens": out})
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, u *user) {
	var req apogee.CreateTokenRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.Name == "" {
		writeErr(w, apogee.Errorf(apogee.EINVALID, "token name is empty"))
		return
	}
	var expires *time.Time
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 {
			writeErr(w, apogee.Errorf(apogee.EINVALID, "expires_in %q is not a positive duration such as \"720h\"", req.ExpiresIn))
			return
		}
		t := time.Now().Add(d).UTC()
		expires = &t
	}
	secret, tok := s.newToken(u, req.Name, expires)
	writeJSON(w, 201, apogee.TokenResponse{Token: secret, Detail: tok})
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, u *user) {
	secret, ok := s.tokenSecret[r.PathValue("id")]
	if !ok || s.tokens[secret].UserID != u.ID {
		writeErr(w, apogee.Errorf(apogee.ENOTFOUND, "token %q not found", r.PathValue("id")))
		return
	}
	now := time.Now().UTC()
	s.tokens[secret].RevokedAt = &now
	w.WriteHeader(204)
}

func (s *Server) projectView(p *apogee.Project) apogee.ProjectView {
	cp := *p
	return apogee.ProjectView{Project: &cp, URL: "http://" + p.Name + s.hostSuffix + "/"}
}

func (s *Server) project(w http.ResponseWriter, name string, u *user) *apogee.Project {
	p, ok := s.projects[name]
	if !ok || (p.OwnerID != u.ID && !u.Admin) {
		writeErr(w, apogee.Errorf(apogee.ENOTFOUND, "project %q not found", name))
		return nil
	}
	return p
}

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request, u *user) {
	out := []apogee.ProjectView{}
	for _, p := range s.projects {
		if p.MayAccess(&u.User) {
			out = append(out, s.projectView(p))
		}
	}
	slices.SortFunc(out, func(a, b apogee.ProjectView) int { return strings.Compare(a.Name, b.Name) })
	writeJSON(w, 200, map[string]any{"projects": out})
}

func (s *Server) createProject(w http.ResponseWriter, r *http.Request, u *user) {
	var req apogee.CreateProjectRequest
	if !readJSON(w, r, &req) {
		return
	}
	if err := apogee.ValidateProjectName(req.Name); err != nil {
		writeErr(w, err)
		return
	}
	if _, ok := s.projects[req.Name]; ok {
		writeErr(w, apogee.Errorf(apogee.ECONFLICT, "project %q exists already", req.Name))
		return
	}
	p := &apogee.Project{ID: apogee.NewID(), Name: req.Name, OwnerID: u.ID, CreatedAt: time.Now().UTC()}
	s.projects[p.Name] = p
	writeJSON(w, 201, s.projectView(p))
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request, u *user) {
	if p := s.project(w, r.PathValue("name"), u); p != nil {
		writeJSON(w, 200, s.projectView(p))
	}
}

func (s *Server) deleteProject(w http.ResponseWriter, r *http.Request, u *user) {
	p := s.project(w, r.PathValue("name"), u)
	if p == nil {
		return
	}
	delete(s.projects, p.Name)
	delete(s.history, p.Name)
	for id, d := range s.deployments {
		if d.ProjectID == p.ID {
			delete(s.deployments, id)
		}
	}
	w.WriteHeader(204)
}

func (s *Server) view(d *deployment) apogee.DeploymentView {
	cp := d.Deployment
	p := s.projects[d.project]
	return apogee.DeploymentView{
		Deployment: &cp,
		Project:    d.project,
		URL:        "http://" + d.Host + s.hostSuffix + "/",
		Production: p != nil && p.ProductionID == d.ID,
	}
}

func (s *Server) listDeployments(w http.ResponseWriter, r *http.Request, u *user) {
	p := s.project(w, r.PathValue("name"), u)
	if p == nil {
		return
	}
	limit := 20
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			writeErr(w, apogee.Errorf(apogee.EINVALID, "limit %q is not a number from 1 to 100", v))
			return
		}
		limit = n
	}
	out := []apogee.DeploymentView{}
	for _, d := range s.deployments {
		if d.ProjectID == p.ID {
			out = append(out, s.view(d))
		}
	}
	slices.SortFunc(out, func(a, b apogee.DeploymentView) int { return b.CreatedAt.Compare(a.CreatedAt) })
	if len(out) > limit {
		out = out[:limit]
	}
	writeJSON(w, 200, map[string]any{"deployments": out})
}

func (s *Server) createDeployment(w http.ResponseWriter, r *http.Request, u *user) {
	p := s.project(w, r.PathValue("name"), u)
	if p == nil {
		return
	}
	var req apogee.CreateDeploymentRequest
	if !readJSON(w, r, &req) {
		return
	}
	files, err := apogee.ValidateManifest(req.Files, 0)
	if err != nil {
		writeErr(w, err)
		return
	}
	switch req.Target {
	case "":
		req.Target = apogee.TargetPreview
	case apogee.TargetPreview, apogee.TargetProduction:
	default:
		writeErr(w, apogee.Errorf(apogee.EINVALID, "target %q is neither %q nor %q", req.Target, apogee.TargetProduction, apogee.TargetPreview))
		return
	}
	id := apogee.NewID()
	d := &deployment{
		Deployment: apogee.Deployment{
			ID: id, ProjectID: p.ID, Status: apogee.StatusUploading, Target: req.Target,
			Host: apogee.DeploymentHost(p.Name, id), Files: len(files), CreatedBy: u.ID,
			CreatedAt: time.Now().UTC(),
		},
		project: p.Name,
		files:   files,
	}
	for _, f := range files {
		d.Size += f.Size
	}
	s.deployments[id] = d
	v := s.view(d)
	v.Missing = s.missing(d)
	writeJSON(w, 201, v)
}

func (s *Server) missing(d *deployment) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, f := range d.files {
		if _, ok := s.blobs[f.SHA256]; !ok && !seen[f.SHA256] {
			seen[f.SHA256] = true
			out = append(out, f.SHA256)
		}
	}
	return out
}

func (s *Server) deployment(w http.ResponseWriter, id string, u *user) *deployment {
	d, ok := s.deployments[id]
	if ok {
		if p := s.projects[d.project]; p != nil && p.MayAccess(&u.User) {
			return d
		}
	}
	writeErr(w, apogee.Errorf(apogee.ENOTFOUND, "deployment %q not found", id))
	return nil
}

func (s *Server) getDeployment(w http.ResponseWriter, r *http.Request, u *user) {
	if d := s.deployment(w, r.PathValue("id"), u); d != nil {
		writeJSON(w, 200, s.view(d))
	}
}

func (s *Server) putFile(w http.ResponseWriter, r *http.Request, u *user) {
	d := s.deployment(w, r.PathValue("id"), u)
	if d == nil {
		return
	}
	want := r.PathValue("sha256")
	if !apogee.ValidHash(want) {
		writeErr(w, apogee.Errorf(apogee.EINVALID, "%q is not a SHA-256", want))
		return
	}
	if d.Status != apogee.StatusUploading {
		writeErr(w, apogee.Errorf(apogee.ECONFLICT, "deployment %s is %s; it takes no more files", d.ID, d.Status))
		return
	}
	if r.ContentLength < 0 {
		writeErr(w, apogee.Errorf(apogee.EINVALID, "an upload needs a Content-Length"))
		return
	}
	if !slices.ContainsFunc(d.files, func(f apogee.File) bool { return f.SHA256 == want }) {
		writeErr(w, apogee.Errorf(apogee.EINVALID, "%s is not in the manifest of deployment %s", want, d.ID))
		return
	}
	// Reading the body without the lock lets uploads run in parallel.
	s.mu.Unlock()
	b, err := io.ReadAll(r.Body)
	s.mu.Lock()
	if err != nil {
		writeErr(w, apogee.Errorf(apogee.EINVALID, "read upload: %v", err))
		return
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != want {
		writeErr(w, apogee.Errorf(apogee.EINVALID, "upload has SHA-256 %s, not %s", got, want))
		return
	}
	s.puts++
	if s.drop > 0 {
		s.drop--
	} else {
		s.blobs[want] = b
	}
	w.WriteHeader(204)
}

func (s *Server) finalize(w http.ResponseWriter, r *http.Request, u *user) {
	d := s.deployment(w, r.PathValue("id"), u)
	if d == nil {
		return
	}
	if d.Status != apogee.StatusUploading {
		writeErr(w, apogee.Errorf(apogee.ECONFLICT, "deployment %s is %s already; it cannot be finalized again", d.ID, d.Status))
		return
	}
	if missing := s.missing(d); len(missing) > 0 {
		writeErr(w, &apogee.Error{Code: apogee.EMISSING,
			Message: strconv.Itoa(len(missing)) + " files are still missing",
			Data:    map[string]any{"missing": missing}})
		return
	}
	now := time.Now().UTC()
	d.Status, d.ReadyAt = apogee.StatusReady, &now
	if d.Target == apogee.TargetProduction {
		s.setProduction(d)
	}
	writeJSON(w, 200, s.view(d))
}

func (s *Server) setProduction(d *deployment) {
	s.projects[d.project].ProductionID = d.ID
	s.history[d.project] = append(s.history[d.project], d.ID)
}

func (s *Server) promote(w http.ResponseWriter, r *http.Request, u *user) {
	p := s.project(w, r.PathValue("name"), u)
	if p == nil {
		return
	}
	var req apogee.PromoteRequest
	if !readJSON(w, r, &req) {
		return
	}
	s.promoteTo(w, p, req.DeploymentID)
}

func (s *Server) rollback(w http.ResponseWriter, r *http.Request, u *user) {
	p := s.project(w, r.PathValue("name"), u)
	if p == nil {
		return
	}
	var req apogee.PromoteRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.DeploymentID != "" {
		s.promoteTo(w, p, req.DeploymentID)
		return
	}
	h := s.history[p.Name]
	// Drop the current production and any repeats of it.
	for len(h) > 0 && h[len(h)-1] == p.ProductionID {
		h = h[:len(h)-1]
	}
	if len(h) == 0 {
		writeErr(w, apogee.Errorf(apogee.ECONFLICT, "project %q has no earlier production deployment to roll back to", p.Name))
		return
	}
	s.history[p.Name] = h
	d := s.deployments[h[len(h)-1]]
	p.ProductionID = d.ID
	writeJSON(w, 200, s.view(d))
}

func (s *Server) promoteTo(w http.ResponseWriter, p *apogee.Project, id string) {
	d := s.readyDeployment(w, p, id)
	if d == nil {
		return
	}
	if p.ProductionID != d.ID {
		s.setProduction(d)
	}
	writeJSON(w, 200, s.view(d))
}

func (s *Server) readyDeployment(w http.ResponseWriter, p *apogee.Project, id string) *deployment {
	d, ok := s.deployments[id]
	if !ok || d.ProjectID != p.ID {
		writeErr(w, apogee.Errorf(apogee.ENOTFOUND, "deployment %q not found in project %q", id, p.Name))
		return nil
	}
	if d.Status != apogee.StatusReady {
		writeErr(w, apogee.Errorf(apogee.ECONFLICT, "deployment %s is %s, not ready", id, d.Status))
		return nil
	}
	return d
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields() // as the real server does
	if err := dec.Decode(v); err != nil {
		writeErr(w, apogee.Errorf(apogee.EINVALID, "malformed JSON body: %v", err))
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, err error) {
	var body apogee.ErrorBody
	body.Error.Code = apogee.ErrorCode(err)
	body.Error.Message = apogee.ErrorMessage(err)
	if e, ok := err.(*apogee.Error); ok {
		body.Error.Data = e.Data
	}
	writeJSON(w, api.StatusOf(body.Error.Code), body)
}
