// Package gitserve lets people push to the platform, Heroku-style:
//
//	git push http://x:<token>@localhost:8080/git/web.git main
//
// It serves Git's smart HTTP protocol with the real `git http-backend`
// through net/http/cgi, and nothing else: the ref advertisement
// (info/refs?service=git-receive-pack|git-upload-pack) and the two RPCs
// (git-receive-pack, git-upload-pack). The dumb protocol's plain file
// reads are 404.
//
// Every request authenticates with HTTP Basic: an API token as the
// password (any user name), or the account's email and password, which
// go through the same sign-in limits as the API and the dashboard. Only the project's owner, or an admin, may
// push or fetch; another user gets 404, as if the project did not
// exist. A project's bare repository is <root>/<project id>.git (by id,
// so a deleted project's history never reaches a new project of the same
// name), made on the first push. With Repos backed by the store and the
// blob store (internal/gitrepo) that folder is the node's cache of a
// repository every node serves: a push is acknowledged only once it is
// stored there, and pushes to one repository are serialized across
// nodes. After a push, every branch that moved
// is built: the project's branch to production, others as previews. A
// project without a repository adopts the platform's on its first push.
package gitserve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/api"
	"github.com/apogee-dev/apogee/internal/auth"
	"github.com/apogee-dev/apogee/internal/gitrepo"
)

// Auth authenticates a pusher by the API token they give as the password,
// or by their email and password (apogee.AccountService implements it):
// EUNAUTHORIZED for a bad one, ETOOMANY past the sign-in limits.
type Auth interface {
	Authenticate(ctx context.Context, secret string) (*apogee.User, error)
	SignIn(ctx context.Context, req apogee.SignInRequest) (*apogee.User, error)
}

// Projects finds the project a push or fetch names, if its user may use
// it (apogee.ProjectService implements it): ENOTFOUND otherwise.
type Projects interface {
	Project(ctx context.Context, name string) (*apogee.ProjectView, error)
}

// Builds is what a push asks of the build service (apogee.BuildService
// implements it), as the pushing user.
type Builds interface {
	// CheckPush returns the error a build of the project would be
	// refused with now (EQUOTA, or EFORBIDDEN for a disabled owner), or
	// nil: a push is refused before git receives anything.
	CheckPush(ctx context.Context, project string) (*apogee.Project, error)
	// Pushed queues a build of every branch the push moved; a project
	// without a repository adopts the platform's at repoURL.
	Pushed(ctx context.Context, project, repoURL string, moved []apogee.PushedBranch) ([]*apogee.DeploymentView, error)
}

// Config is what a Server needs. Root, Auth, Projects and Builds are
// required.
type Config struct {
	// Root holds the bare repositories (<data>/git) when Repos is nil.
	Root string
	// Repos keeps the repositories (nil: on this node's disk at Root
	// only).
	Repos    *gitrepo.Repos
	Auth     Auth
	Projects Projects
	Builds   Builds
	// Prefix is the URL path the handler is mounted at (default "/git").
	Prefix string
	// MaxPush bounds the body of one push (default 1 GiB).
	MaxPush int64
	// Git is the git binary (default "git" on $PATH).
	Git string
	// Logs, if set, lets a push follow the builds it queued and print
	// their logs (see report.go); without it a push prints their ids
	// and URLs only.
	Logs BuildLogs
	Log  *slog.Logger
	Now  func() time.Time
}

// DefaultMaxPush bounds one push.
const DefaultMaxPush = 1 << 30

// Server is the http.Handler of /git/. It is safe for concurrent use.
type Server struct {
	cfg   Config
	log   *slog.Logger
	repos *gitrepo.Repos
}

// New returns a Server; it checks that the git binary can be found.
func New(cfg Config) (*Server, error) {
	if (cfg.Root == "" && cfg.Repos == nil) || cfg.Auth == nil || cfg.Projects == nil || cfg.Builds == nil {
		return nil, errors.New("gitserve: Root, Auth, Projects and Builds are required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "/git"
	}
	cfg.Prefix = "/" + strings.Trim(cfg.Prefix, "/")
	if cfg.MaxPush <= 0 {
		cfg.MaxPush = DefaultMaxPush
	}
	if cfg.Git == "" {
		cfg.Git = "git"
	}
	git, err := exec.LookPath(cfg.Git)
	if err != nil {
		return nil, fmt.Errorf("gitserve: git push needs the git binary: %w", err)
	}
	cfg.Git = git
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	repos := cfg.Repos
	if repos == nil {
		var err error
		if repos, err = gitrepo.New(gitrepo.Config{Root: cfg.Root, Git: cfg.Git, Log: cfg.Log, Now: cfg.Now}); err != nil {
			return nil, fmt.Errorf("gitserve: %w", err)
		}
	}
	cfg.Root = repos.Root()
	return &Server{cfg: cfg, log: cfg.Log, repos: repos}, nil
}

// RepoURL is the file:// URL of project id's repository on this
// machine: a project that adopts the platform's repository records it
// (any node recognizes it by the project id: gitrepo.IsPlatform).
func (s *Server) RepoURL(projectID string) string {
	return s.repos.URL(projectID)
}

// The smart HTTP services.
const (
	receivePack = "git-receive-pack"
	uploadPack  = "git-upload-pack"
)

// route parses /git/<name>[.git]/<action> into the project name and the
// service; ok is false for anything but the smart protocol's requests.
func (s *Server) route(r *http.Request) (name, service string, advertise, ok bool) {
	rest, found := strings.CutPrefix(r.URL.Path, s.cfg.Prefix+"/")
	if !found {
		return "", "", false, false
	}
	name, action, found := strings.Cut(rest, "/")
	if !found {
		return "", "", false, false
	}
	name = strings.TrimSuffix(name, ".git")
	if apogee.ValidateProjectName(name) != nil {
		return "", "", false, false
	}
	switch {
	case action == "info/refs" && r.Method == http.MethodGet:
		service = r.URL.Query().Get("service")
		if service != receivePack && service != uploadPack {
			return "", "", false, false
		}
		return name, service, true, true
	case (action == receivePack || action == uploadPack) && r.Method == http.MethodPost:
		return name, action, false, true
	}
	return "", "", false, false
}

// ServeHTTP serves one request of the smart HTTP protocol.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, service, advertise, ok := s.route(r)
	if !ok {
		gitError(w, http.StatusNotFound, "not a Git smart HTTP request; push with: git push http://x:TOKEN@HOST/git/PROJECT.git BRANCH")
		return
	}
	u, err := s.authenticate(r)
	if err != nil {
		if apogee.ErrorCode(err) == apogee.ETOOMANY {
			api.SetRetryAfter(w, err)
			gitError(w, http.StatusTooManyRequests, apogee.ErrorMessage(err))
			return
		}
		if apogee.ErrorCode(err) == apogee.EUNAUTHORIZED {
			w.Header().Set("WWW-Authenticate", `Basic realm="apogee"`)
			if errors.Is(err, auth.ErrDisabled) {
				gitError(w, http.StatusUnauthorized, apogee.ErrorMessage(err))
				return
			}
			gitError(w, http.StatusUnauthorized, "sign in with an API token as the password: git push http://x:TOKEN@HOST/git/PROJECT.git (make one with `apogee tokens create git`), or with your email and password")
			return
		}
		s.internalError(w, r, err)
		return
	}
	// The services act for the pusher from here on.
	ctx := apogee.NewContextWithClient(apogee.NewContextWithUser(r.Context(), u), r.RemoteAddr)
	r = r.WithContext(ctx)
	pv, err := s.cfg.Projects.Project(ctx, name)
	if apogee.ErrorCode(err) == apogee.ENOTFOUND {
		gitError(w, http.StatusNotFound, "You have no project "+name+". Create it with `apogee projects create "+name+"`, then push again (`apogee projects list` lists yours).")
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	p := pv.Project
	platform := s.RepoURL(p.ID)
	if service == receivePack && p.Git != nil && !gitrepo.IsPlatform(p.Git.URL, p.ID) {
		gitError(w, http.StatusForbidden, fmt.Sprintf("project %s builds from %s: push there (its webhook or `apogee deploy --git` builds it)", p.Name, p.Git.URL))
		return
	}
	if service == uploadPack {
		_, exists, err := s.repos.Sync(ctx, p.ID)
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		if !exists {
			gitError(w, http.StatusNotFound, "project "+name+" has no repository on the platform yet; push to it first")
			return
		}
		s.cgi(w, r, p, u, service, advertise)
		return
	}

	if _, err := s.cfg.Builds.CheckPush(ctx, p.Name); err != nil {
		if code := apogee.ErrorCode(err); code != apogee.EINTERNAL {
			gitError(w, api.StatusOf(code), apogee.ErrorMessage(err))
			return
		}
		s.internalError(w, r, err)
		return
	}
	sb, moved, ok := s.receive(w, r, p, u, advertise)
	if !ok || advertise {
		return
	}
	var ds []*apogee.DeploymentView
	if len(moved) > 0 {
		// Failures are logged: the push itself has succeeded.
		ds, err = s.cfg.Builds.Pushed(context.WithoutCancel(ctx), p.Name, platform, moved)
		if err != nil {
			s.log.Error("git push: queue builds", "project", p.Name, "err", err)
			if sb != nil && apogee.ErrorCode(err) != apogee.EINTERNAL {
				sb.say("Apogee: nothing was built: %s", apogee.ErrorMessage(err))
			}
		}
	}
	if sb != nil {
		sb.finish(s.report(ctx, sb, p, ds))
	}
}

// receive runs git-receive-pack (or its advertisement) for a push with
// the repository leased to this node (gitrepo.Repos.Push), which it
// releases before the builds are followed. git's report-status is held
// until the push is stored: a push that could not be stored is reported
// rejected, ref by ref, and undone. For a push it returns the sideband
// filter the answer went through (nil when the client asked for no side
// band: then the answer is complete) and the branches that moved; ok is
// false when it answered with an error.
func (s *Server) receive(w http.ResponseWriter, r *http.Request, p *apogee.Project, u *apogee.User, advertise bool) (sb *sideband, moved []apogee.PushedBranch, ok bool) {
	ctx := r.Context()
	if advertise {
		if _, err := s.repos.Open(ctx, p.ID); err != nil {
			s.internalError(w, r, err)
			return nil, nil, false
		}
		s.cgi(w, r, p, u, receivePack, true)
		return nil, nil, true
	}
	if r.ContentLength > s.cfg.MaxPush {
		gitError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("push of %d bytes is over the limit of %d", r.ContentLength, s.cfg.MaxPush))
		return nil, nil, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxPush)
	caps, body, gzipped, err := pushCaps(r.Body, r.Header.Get("Content-Encoding"))
	if err != nil {
		gitError(w, http.StatusBadRequest, "the push's gzip body cannot be read: "+err.Error())
		return nil, nil, false
	}
	r.Body = body
	if gzipped {
		r.Header.Del("Content-Encoding")
	}
	var out http.ResponseWriter
	var held *heldResponse
	if caps["side-band-64k"] || caps["side-band"] {
		sb = newSideband(w, !caps["side-band-64k"])
		out = sb
	} else {
		held = &heldResponse{header: http.Header{}}
		out = held
	}
	start := s.cfg.Now()
	err = s.repos.Push(ctx, p.ID, func(ctx context.Context, dir string) error {
		before, err := s.branches(ctx, dir)
		if err != nil {
			return err
		}
		s.cgi(out, r, p, u, receivePack, false)
		after, err := s.branches(context.WithoutCancel(ctx), dir)
		if err != nil {
			return fmt.Errorf("read branches after the push: %w", err)
		}
		moved = movedBranches(before, after)
		return nil
	})
	if err != nil {
		s.log.Error("git push not stored", "project", p.Name, "user", u.ID, "err", err)
		msg := "the push was not stored; push again"
		if code := apogee.ErrorCode(err); code != apogee.EINTERNAL {
			msg = apogee.ErrorMessage(err)
		}
		if sb != nil {
			sb.say("Apogee: %s", msg)
			failed := map[string]string{}
			for _, ref := range okRefs(sb.report) {
				failed[ref] = "not stored on the platform"
			}
			sb.finish(failed)
			return nil, nil, false
		}
		status := http.StatusInternalServerError
		if apogee.ErrorCode(err) == apogee.ECONFLICT {
			status = http.StatusConflict
		}
		gitError(w, status, msg)
		return nil, nil, false
	}
	if held != nil {
		held.replay(w)
	}
	s.log.Info("git push", "project", p.Name, "user", u.ID, "moved", len(moved), "took", s.cfg.Now().Sub(start).Round(time.Millisecond))
	return sb, moved, true
}

// heldResponse holds git's whole answer to a push without side band
// until the push is stored.
type heldResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (h *heldResponse) Header() http.Header { return h.header }
func (h *heldResponse) WriteHeader(status int) {
	if h.status == 0 {
		h.status = status
	}
}
func (h *heldResponse) Write(p []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	return h.body.Write(p)
}

func (h *heldResponse) replay(w http.ResponseWriter) {
	for k, v := range h.header {
		w.Header()[k] = v
	}
	if h.status == 0 {
		h.status = http.StatusOK
	}
	w.WriteHeader(h.status)
	w.Write(h.body.Bytes())
}

// authenticate returns the user whose API token is the Basic password,
// or, when the user name is an email and the password no token, whose
// email and password they are.
func (s *Server) authenticate(r *http.Request) (*apogee.User, error) {
	user, secret, ok := r.BasicAuth()
	if !ok || secret == "" {
		return nil, apogee.Errorf(apogee.EUNAUTHORIZED, "bad or missing token")
	}
	if strings.Contains(user, "@") && !strings.HasPrefix(secret, auth.TokenPrefix) {
		return s.cfg.Auth.SignIn(r.Context(), apogee.SignInRequest{Email: user, Password: secret, Address: r.RemoteAddr})
	}
	return s.cfg.Auth.Authenticate(r.Context(), secret)
}

// cgi runs git http-backend for the request, on the project's own
// repository whatever name the URL used.
func (s *Server) cgi(w http.ResponseWriter, r *http.Request, p *apogee.Project, u *apogee.User, service string, advertise bool) {
	action := "info/refs"
	if !advertise {
		action = service
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = s.cfg.Prefix + "/" + p.ID + ".git/" + action
	r2.URL.RawPath = ""
	r2.Header.Del("Authorization")
	if r2.ContentLength > 0 {
		// Without CONTENT_LENGTH git http-backend reads its input to EOF.
		// With it, git (2.39 at least) spins forever on a body that ends
		// early: a client that hangs up, or a push cut at MaxPush.
		r2.ContentLength = -1
		r2.Header.Del("Content-Length")
	}
	h := &cgi.Handler{
		Path: s.cfg.Git,
		Args: []string{"http-backend"},
		Root: s.cfg.Prefix,
		Dir:  s.cfg.Root,
		Env: []string{
			"GIT_PROJECT_ROOT=" + s.cfg.Root,
			"GIT_HTTP_EXPORT_ALL=1",
			"REMOTE_USER=" + u.Email,
			"GIT_CONFIG_NOSYSTEM=1",
			"HOME=" + s.cfg.Root,
			"GIT_TERMINAL_PROMPT=0",
		},
		Logger: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		Stderr: &logWriter{log: s.log, project: p.Name},
	}
	h.ServeHTTP(w, r2)
}

// branches returns the repository's branches and their commits.
func (s *Server) branches(ctx context.Context, dir string) (map[string]string, error) {
	out, err := s.git(ctx, "--git-dir", dir, "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads/")
	if err != nil {
		return nil, fmt.Errorf("gitserve: list branches: %w: %s", err, bytes.TrimSpace(out))
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		commit, name, ok := strings.Cut(line, " ")
		if ok {
			m[strings.TrimPrefix(name, "refs/heads/")] = commit
		}
	}
	return m, nil
}

// movedBranches returns the branches that are new or point elsewhere in
// after, by name; deleted branches are not builds.
func movedBranches(before, after map[string]string) []apogee.PushedBranch {
	var moved []apogee.PushedBranch
	for b, c := range after {
		if before[b] != c {
			moved = append(moved, apogee.PushedBranch{Branch: b, Commit: c, Before: before[b]})
		}
	}
	slices.SortFunc(moved, func(a, b apogee.PushedBranch) int { return strings.Compare(a.Branch, b.Branch) })
	return moved
}

func (s *Server) git(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, s.cfg.Git, args...)
	cmd.Env = []string{"GIT_CONFIG_NOSYSTEM=1", "HOME=" + s.cfg.Root, "PATH=" + os.Getenv("PATH")}
	return cmd.CombinedOutput()
}

func (s *Server) internalError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("git request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	gitError(w, http.StatusInternalServerError, "internal error; the server's log says more")
}

// gitError answers in text/plain, which git shows to the person pushing
// ("remote: …").
func gitError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	io.WriteString(w, msg+"\n")
}

// logWriter sends git http-backend's stderr to the log, line by line.
type logWriter struct {
	log     *slog.Logger
	project string
}

func (l *logWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimSpace(string(p)), "\n") {
		if line != "" {
			l.log.Warn("git http-backend", "project", l.project, "stderr", line)
		}
	}
	return len(p), nil
}
