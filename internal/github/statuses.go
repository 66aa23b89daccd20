package github

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/notify"
)

// StatusContext is the context of Apogee's commit statuses.
const StatusContext = "Apogee"

// ProjectStore is what Statuses reads and writes: the project of a
// notification, its pull requests, the comment on each (one per
// repository and poster, a row per project) and the GitHub Deployments
// and check runs made for builds.
type ProjectStore interface {
	ProjectByID(ctx context.Context, id string) (*apogee.Project, error)
	PullRequest(ctx context.Context, projectID string, number int) (*apogee.PullRequest, error)
	NewestPullRequestDeployment(ctx context.Context, projectID string, number int) (*apogee.Deployment, error)
	RepoComment(ctx context.Context, repo string, number int, poster string) (int64, error)
	SetRepoComment(ctx context.Context, repo string, number int, poster string, old, commentID int64) (bool, error)
	SaveCommentRow(ctx context.Context, row *apogee.CommentRow) error
	CommentRows(ctx context.Context, repo string, number int, poster string) ([]*apogee.CommentRow, error)
	GitHubDeployment(ctx context.Context, deploymentID string) (int64, error)
	SetGitHubDeployment(ctx context.Context, deploymentID string, githubID int64) error
	CheckRun(ctx context.Context, deploymentID string) (int64, error)
	SetCheckRun(ctx context.Context, deploymentID string, githubID int64) error
}

// Statuses tells GitHub what a build of a project whose repository is on
// this GitHub did. It is a notify.Reporter. A project linked to an
// installation of the GitHub App is reported as the installation, with a
// check run "Apogee — <project>" per deployment (queued, in_progress,
// completed: success, failure, cancelled or skipped); any other, as its
// owner (who connected GitHub), with a commit status (pending, success,
// failure, error; success "Skipped: …" for a monorepo's skipped build).
// Either way: for a pull request's preview, one comment on the pull
// request per repository, a row per project, edited in place as builds
// go and when it closes (comments.go); and a GitHub Deployment per build
// with its statuses, to environment production, or to the transient
// environment Preview ("Preview – <project>" for a project in a folder
// of a monorepo). GitHub not answering is logged and changes nothing
// else: a build never fails for it.
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
	case notify.DeploymentSkipped:
		st.State, st.Description = StateSuccess, skipDescription(d.Error)
	default:
		return Status{}, false
	}
	return st, true
}

// skipDescription is a skipped build's reason within the 140 characters
// GitHub keeps of a status's description.
func skipDescription(reason string) string {
	if reason == "" {
		reason = "Skipped"
	}
	if r := []rune(reason); len(r) > 140 {
		reason = string(r[:139]) + "…"
	}
	return reason
}

// Report queues the commit status of note, when it is about a Git build,
// for the goroutine the first Report starts; it lives as long as ctx (the
// notifier's).
func (s *Statuses) Report(ctx context.Context, note notify.Notification) {
	if d := note.Deployment; d == nil || d.Source != apogee.SourceGit || d.Commit == "" {
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

// set tells GitHub the news of note when its project's repository is on
// this GitHub: through the GitHub App when the project is linked to an
// installation, else as its owner if they connected GitHub.
func (s *Statuses) set(ctx context.Context, note notify.Notification) {
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
	t, err := s.target(ctx, p)
	if err != nil || t == nil {
		if err != nil {
			s.log.Warn("commit status: how to reach GitHub", "project", p.Name, "err", err)
		}
		return
	}
	d := note.Deployment
	log := s.log.With("project", p.Name, "repository", t.repo, "poster", t.poster, "commit", d.Commit, "type", note.Type)
	if t.app {
		s.check(ctx, t, p, note, log)
	} else if st, ok := status(note); ok {
		if err := t.setStatus(ctx, d.Commit, st); err != nil {
			log.Warn("commit status not set", "err", err)
		} else {
			log.Debug("commit status set", "state", st.State)
		}
	}
	if d.PullRequest != 0 && note.Type != notify.DeploymentQueued {
		s.comment(ctx, t, p, note, log)
	}
	s.deploy(ctx, t, p, note, log)
}

// target is how p's news reaches GitHub: as the installation of the
// GitHub App p is linked to, else as p's owner when p's repository is on
// this GitHub and they connected GitHub; nil when neither.
func (s *Statuses) target(ctx context.Context, p *apogee.Project) (*target, error) {
	if s.app != nil {
		l, err := s.links.AppProject(ctx, p.ID)
		if err == nil {
			if repo, ok := s.app.RepoOf(p.Git.URL); ok && strings.EqualFold(repo, l.Repo) {
				return s.app.target(l.InstallationID, l.Repo)
			}
		} else if !errors.Is(err, apogee.ErrNotFound) {
			return nil, fmt.Errorf("GitHub App link: %w", err)
		}
	}
	if s.c == nil {
		return nil, nil
	}
	repo, ok := s.c.RepoOf(p.Git.URL)
	if !ok {
		return nil, nil
	}
	if _, err := s.c.Identity(ctx, p.OwnerID); err != nil {
		if errors.Is(err, apogee.ErrNotFound) {
			return nil, nil // the owner has not connected GitHub
		}
		return nil, fmt.Errorf("GitHub connection: %w", err)
	}
	return s.c.userTarget(ctx, p.OwnerID, repo)
}

// CheckName is the name of a project's check runs.
func CheckName(project string) string { return "Apogee — " + project }

// checkRun is the check run a notification brings its deployment's to.
func checkRun(p *apogee.Project, note notify.Notification) (CheckRun, bool) {
	d := note.Deployment
	cr := CheckRun{Name: CheckName(p.Name), ExternalID: d.ID, DetailsURL: d.DashboardURL, At: note.At}
	switch note.Type {
	case notify.DeploymentQueued:
		cr.Status, cr.Title = CheckQueued, "Queued"
		cr.Summary = "The build of " + p.Name + " is queued."
	case apogee.NotifyDeploymentBuilding:
		cr.Status, cr.Title = CheckInProgress, "Building"
		cr.Summary = "Building " + p.Name + ": [build log](" + d.DashboardURL + ")."
	case apogee.NotifyDeploymentReady:
		cr.Status, cr.Conclusion, cr.DetailsURL, cr.Title = CheckCompleted, ConclusionSuccess, d.URL, "Preview ready"
		if d.Production || d.Target == apogee.TargetProduction {
			cr.Title = "Production ready"
		}
		cr.Summary = "[Visit " + p.Name + "](" + d.URL + ") · [Inspect](" + d.DashboardURL + ")"
	case apogee.NotifyDeploymentError:
		cr.Status, cr.Conclusion, cr.Title = CheckCompleted, ConclusionFailure, "Build failed"
		cr.Summary = "The build of " + p.Name + " failed: [build log](" + d.DashboardURL + ")."
		if d.Error != "" {
			cr.Summary += "\n\n```\n" + d.Error + "\n```"
		}
	case apogee.NotifyDeploymentCanceled:
		cr.Status, cr.Conclusion, cr.Title = CheckCompleted, ConclusionCancelled, "Build canceled"
		cr.Summary = "The build of " + p.Name + " was canceled."
	case notify.DeploymentSkipped:
		cr.Status, cr.Conclusion, cr.Title = CheckCompleted, ConclusionSkipped, skipDescription(d.Error)
		cr.Summary = d.Error
		if cr.Summary == "" {
			cr.Summary = "Skipped"
		}
	default:
		return CheckRun{}, false
	}
	return cr, true
}

// check creates the deployment's check run at its first news and
// updates it at the next ones.
func (s *Statuses) check(ctx context.Context, t *target, p *apogee.Project, note notify.Notification, log *slog.Logger) {
	cr, ok := checkRun(p, note)
	if !ok {
		return
	}
	d := note.Deployment
	id, err := s.projects.CheckRun(ctx, d.ID)
	if err != nil {
		log.Warn("check run: read its id", "err", err)
		return
	}
	if id != 0 {
		if err := t.updateCheckRun(ctx, id, cr); err != nil {
			log.Warn("check run not updated", "check_run", id, "err", err)
			return
		}
		log.Debug("check run updated", "check_run", id, "status", cr.Status, "conclusion", cr.Conclusion)
		return
	}
	if id, err = t.createCheckRun(ctx, d.Commit, cr); err != nil {
		log.Warn("check run not created", "err", err)
		return
	}
	if err := s.projects.SetCheckRun(ctx, d.ID, id); err != nil {
		log.Warn("check run: remember its id", "check_run", id, "err", err)
		return
	}
	log.Debug("check run created", "check_run", id, "status", cr.Status, "conclusion", cr.Conclusion)
}
