package github

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/notify"
)

// StatusContext is the context of Apogee's commit statuses.
const StatusContext = "Apogee"

// ProjectStore is what Statuses reads and writes: the project of a
// notification, its pull requests (the comment's id) and the GitHub
// Deployments made for production builds.
type ProjectStore interface {
	ProjectByID(ctx context.Context, id string) (*apogee.Project, error)
	PullRequest(ctx context.Context, projectID string, number int) (*apogee.PullRequest, error)
	NewestPullRequestDeployment(ctx context.Context, projectID string, number int) (*apogee.Deployment, error)
	SetPullRequestComment(ctx context.Context, projectID string, number int, old, commentID int64) (bool, error)
	GitHubDeployment(ctx context.Context, deploymentID string) (int64, error)
	SetGitHubDeployment(ctx context.Context, deploymentID string, githubID int64) error
}

// Statuses tells GitHub, as the project's owner, what a build of a
// project whose repository is on this GitHub did. It is a
// notify.Reporter. A commit status when the build starts (pending), is
// ready (success), fails (failure) or is canceled (error); for the
// preview of a pull request, one comment on it with the preview's URL,
// edited in place as builds go and when it closes (comments.go); for a
// production build, a GitHub Deployment to environment production with
// its statuses. GitHub not answering is logged and changes nothing else:
// a build never fails for it.
//
// Report only queues: one goroutine sets the statuses in the order their
// notifications came (pending before success), so that a slow GitHub
// never holds up the notifier's loop.
type Statuses struct {
	c        *Client // nil: only the app's statuses
	app      *App    // nil: no GitHub App
	links    apogee.GitHubAppStore
	log      *slog.Logger
	projects ProjectStore
	timeout  time.Duration
	once     sync.Once
	queue    chan queued
}

type queued struct {
	ctx  context.Context
	note notify.Notification
}

// statusQueue bounds the statuses waiting for GitHub; past it a status is
// dropped and logged.
const statusQueue = 256

var _ notify.Reporter = (*Statuses)(nil)

// Statuses returns the reporter of the client's commit statuses.
func (c *Client) Statuses(projects ProjectStore) *Statuses {
	return &Statuses{c: c, log: c.log, projects: projects, timeout: 10 * time.Second, queue: make(chan queued, statusQueue)}
}

// WithApp has s set the statuses of projects built through the GitHub App
// (linked in links) as their installation; c may be nil then, for a
// server with the app and no sign-in with GitHub.
func WithApp(s *Statuses, app *App, links apogee.GitHubAppStore, projects ProjectStore) *Statuses {
	if s == nil {
		s = &Statuses{log: app.log, projects: projects, timeout: 10 * time.Second, queue: make(chan queued, statusQueue)}
	}
	s.app, s.links = app, links
	return s
}

// status is the commit status a notification sets, if any.
func status(note notify.Notification) (Status, bool) {
	d := note.Deployment
	if d == nil || d.Source != apogee.SourceGit || d.Commit == "" {
		return Status{}, false
	}
	st := Status{Context: StatusContext, TargetURL: d.DashboardURL}
	switch note.Type {
	case apogee.NotifyDeploymentBuilding:
		st.State, st.Description = StatePending, "Building"
	case apogee.NotifyDeploymentReady:
		st.State, st.Description, st.TargetURL = StateSuccess, "Preview ready", d.URL
		if d.Production || d.Target == apogee.TargetProduction {
			st.Description = "Production ready"
		}
	case apogee.NotifyDeploymentError:
		st.State, st.Description = StateFailure, "Build failed"
	case apogee.NotifyDeploymentCanceled:
		st.State, st.Description = StateError, "Build canceled"
	default:
		return Status{}, false
	}
	return st, true
}

// Report queues the commit status of note, when it is about a Git build,
// for the goroutine the first Report starts; it lives as long as ctx (the
// notifier's).
func (s *Statuses) Report(ctx context.Context, note notify.Notification) {
	if _, ok := status(note); !ok && !(note.Type == notify.PullRequestChanged && note.Deployment != nil) {
		return
	}
	s.once.Do(func() {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case q := <-s.queue:
					s.set(q.ctx, q.note)
				}
			}
		}()
	})
	select {
	case s.queue <- queued{ctx: ctx, note: note}:
	default:
		s.log.Warn("commit status dropped: too many waiting for GitHub", "project", note.Project, "type", note.Type)
	}
}

// set sets the commit status of note on GitHub when its project's
// repository is on this GitHub.
func (s *Statuses) set(ctx context.Context, note notify.Notification) {
	st, hasStatus := status(note)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	p, err := s.projects.ProjectByID(ctx, note.ProjectID())
	if err != nil {
		s.log.Warn("commit status: project", "project", note.Project, "err", err)
		return
	}
	if p.Git == nil {
		return
	}
	if s.app != nil {
		if l, err := s.links.AppProject(ctx, p.ID); err == nil {
			log := s.log.With("project", p.Name, "repository", l.Repo, "installation", l.InstallationID, "commit", note.Deployment.Commit, "state", st.State)
			if err := s.app.SetStatus(ctx, l.InstallationID, l.Repo, note.Deployment.Commit, st); err != nil {
				log.Warn("commit status not set", "err", err)
				return
			}
			log.Debug("commit status set")
			return
		} else if !errors.Is(err, apogee.ErrNotFound) {
			s.log.Warn("commit status: GitHub App link", "project", p.Name, "err", err)
			return
		}
	}
	if s.c == nil {
		return
	}
	repo, ok := s.c.RepoOf(p.Git.URL)
	if !ok {
		return
	}
	log := s.log.With("project", p.Name, "repository", repo, "commit", note.Deployment.Commit, "state", st.State)
	if _, err := s.c.Identity(ctx, p.OwnerID); err != nil {
		if !errors.Is(err, apogee.ErrNotFound) {
			log.Warn("commit status: GitHub connection", "err", err)
		}
		return // the owner has not connected GitHub
	}
	if hasStatus {
		if err := s.c.SetStatus(ctx, p.OwnerID, repo, note.Deployment.Commit, st); err != nil {
			log.Warn("commit status not set", "err", err)
		} else {
			log.Debug("commit status set")
		}
	}
	if note.Deployment.PullRequest != 0 {
		s.comment(ctx, p, repo, note, log)
	}
	if hasStatus && note.Deployment.Target == apogee.TargetProduction && note.Deployment.PullRequest == 0 {
		s.deploy(ctx, p, repo, note, log)
	}
}
