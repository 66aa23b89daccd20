package github

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/notify"
)

// comment brings Apogee's one comment on the notification's pull request
// up to date: posted the first time (its id kept with the pull request),
// edited in place afterwards, posted again if someone deleted it. News of
// a build older than the pull request's newest (an earlier commit's build
// ending late) leaves the comment on the newest.
func (s *Statuses) comment(ctx context.Context, p *apogee.Project, repo string, note notify.Notification, log *slog.Logger) {
	d := note.Deployment
	log = log.With("pull_request", d.PullRequest)
	newest, err := s.projects.NewestPullRequestDeployment(ctx, p.ID, d.PullRequest)
	if err != nil {
		log.Warn("pull request comment: newest deployment", "err", err)
		return
	}
	if newest.ID != d.ID {
		log.Debug("pull request comment left on the newest deployment", "newest", newest.ID)
		return
	}
	pr, err := s.projects.PullRequest(ctx, p.ID, d.PullRequest)
	if err != nil {
		log.Warn("pull request comment: pull request", "err", err)
		return
	}
	body := commentBody(p, pr, note)
	if pr.CommentID != 0 {
		err := s.c.UpdateComment(ctx, p.OwnerID, repo, pr.CommentID, body)
		if err == nil {
			log.Debug("pull request comment edited", "comment", pr.CommentID)
			return
		}
		if !notFound(err) {
			log.Warn("pull request comment not edited", "comment", pr.CommentID, "err", err)
			return
		}
		log.Info("pull request comment was deleted on GitHub; posting it again", "comment", pr.CommentID)
	}
	id, err := s.c.CreateComment(ctx, p.OwnerID, repo, pr.Number, body)
	if err != nil {
		log.Warn("pull request comment not posted", "err", err)
		return
	}
	won, err := s.projects.SetPullRequestComment(ctx, p.ID, pr.Number, pr.CommentID, id)
	if err != nil {
		log.Warn("pull request comment: remember its id", "comment", id, "err", err)
		return
	}
	if won {
		log.Debug("pull request comment posted", "comment", id)
		return
	}
	// Another server posted one at the same time and recorded it first:
	// one comment stays, theirs, with this news.
	if err := s.c.DeleteComment(ctx, p.OwnerID, repo, id); err != nil {
		log.Warn("second pull request comment not deleted", "comment", id, "err", err)
	}
	if pr, err = s.projects.PullRequest(ctx, p.ID, pr.Number); err == nil && pr.CommentID != 0 {
		if err := s.c.UpdateComment(ctx, p.OwnerID, repo, pr.CommentID, body); err != nil {
			log.Warn("pull request comment not edited", "comment", pr.CommentID, "err", err)
		}
	}
}

// commentBody is the comment on a pull request, as Vercel's bot writes
// it: a table of the project's latest preview of the pull request.
func commentBody(p *apogee.Project, pr *apogee.PullRequest, note notify.Notification) string {
	d := note.Deployment
	var status string
	switch d.Status {
	case apogee.StatusQueued:
		status = "⏳ Queued"
	case apogee.StatusBuilding:
		status = "🔨 Building"
	case apogee.StatusReady:
		status = "✅ Ready"
	case apogee.StatusCanceled:
		status = "🚫 Canceled"
	default:
		status = "❌ Failed"
	}
	preview := "—"
	if d.Status == apogee.StatusReady {
		preview = fmt.Sprintf("[Visit Preview](%s)", d.URL)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<!-- apogee:project=%s -->\n", p.Name)
	b.WriteString("**The latest updates on your project** (Apogee):\n\n")
	b.WriteString("| Name | Status | Preview | Commit | Updated (UTC) |\n| :--- | :----- | :------ | :----- | :------------ |\n")
	fmt.Fprintf(&b, "| **%s** | %s ([Inspect](%s)) | %s | `%s` | %s |\n", p.Name, status, d.DashboardURL, preview,
		d.Commit[:min(7, len(d.Commit))], note.At.UTC().Format("Jan 2, 2006 3:04pm"))
	if pr.State == apogee.PullRequestClosed {
		b.WriteString("\nThis pull request is closed: its previews stay at their own URLs and no longer serve its branch URL.\n")
	}
	return b.String()
}

// deploy records a production build as a GitHub Deployment to
// environment production: made when the build starts (or at its first
// news), then a status per notification (in_progress, success with the
// site's URL, failure or error with the build log).
func (s *Statuses) deploy(ctx context.Context, p *apogee.Project, repo string, note notify.Notification, log *slog.Logger) {
	d := note.Deployment
	st := DeploymentStatus{LogURL: d.DashboardURL}
	switch note.Type {
	case apogee.NotifyDeploymentBuilding:
		st.State, st.Description = DeployInProgress, "Building"
	case apogee.NotifyDeploymentReady:
		st.State, st.Description, st.EnvironmentURL = DeploySuccess, "Production ready", d.URL
	case apogee.NotifyDeploymentError:
		st.State, st.Description = DeployFailure, "Build failed"
	case apogee.NotifyDeploymentCanceled:
		st.State, st.Description = DeployError, "Build canceled"
	default:
		return
	}
	id, err := s.projects.GitHubDeployment(ctx, d.ID)
	if err != nil {
		log.Warn("GitHub deployment: read its id", "err", err)
		return
	}
	if id == 0 {
		if note.Type == apogee.NotifyDeploymentCanceled {
			return // canceled before it started: nothing was deployed
		}
		if id, err = s.c.CreateDeployment(ctx, p.OwnerID, repo, d.Commit, "production", "Apogee deployment "+d.ID); err != nil {
			log.Warn("GitHub deployment not created", "err", err)
			return
		}
		if err := s.projects.SetGitHubDeployment(ctx, d.ID, id); err != nil {
			log.Warn("GitHub deployment: remember its id", "github_deployment", id, "err", err)
		}
	}
	if err := s.c.SetDeploymentStatus(ctx, p.OwnerID, repo, id, st); err != nil {
		log.Warn("GitHub deployment status not set", "github_deployment", id, "err", err)
		return
	}
	log.Debug("GitHub deployment status set", "github_deployment", id, "state", st.State)
}
