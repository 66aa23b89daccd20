package github

import (
	"context"
	"errors"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/notify"
)

// StatusContext is the context of Apogee's commit statuses.
const StatusContext = "Apogee"

// ProjectStore is what Statuses reads: the project of a notification.
type ProjectStore interface {
	ProjectByID(ctx context.Context, id string) (*apogee.Project, error)
}

// Statuses sets a commit status on GitHub, as the project's owner, when a
// build of a project whose repository is on this GitHub starts (pending),
// is ready (success) or fails (failure). It is a notify.Reporter. GitHub
// not answering is logged and changes nothing else: a build never fails
// for it.
type Statuses struct {
	c        *Client
	projects ProjectStore
	timeout  time.Duration
}

var _ notify.Reporter = (*Statuses)(nil)

// Statuses returns the reporter of the client's commit statuses.
func (c *Client) Statuses(projects ProjectStore) *Statuses {
	return &Statuses{c: c, projects: projects, timeout: 10 * time.Second}
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
	default:
		return Status{}, false
	}
	return st, true
}

// Report sets the commit status of note, when it is about a Git build of
// a repository on this GitHub.
func (s *Statuses) Report(ctx context.Context, note notify.Notification) {
	st, ok := status(note)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	p, err := s.projects.ProjectByID(ctx, note.ProjectID())
	if err != nil {
		s.c.log.Warn("commit status: project", "project", note.Project, "err", err)
		return
	}
	if p.Git == nil {
		return
	}
	repo, ok := s.c.RepoOf(p.Git.URL)
	if !ok {
		return
	}
	log := s.c.log.With("project", p.Name, "repository", repo, "commit", note.Deployment.Commit, "state", st.State)
	if _, err := s.c.Identity(ctx, p.OwnerID); err != nil {
		if !errors.Is(err, apogee.ErrNotFound) {
			log.Warn("commit status: GitHub connection", "err", err)
		}
		return // the owner has not connected GitHub
	}
	if err := s.c.SetStatus(ctx, p.OwnerID, repo, note.Deployment.Commit, st); err != nil {
		log.Warn("commit status not set", "err", err)
		return
	}
	log.Debug("commit status set")
}
