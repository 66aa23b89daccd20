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
// up to date, as Vercel's bot does: one comment per repository and
// poster, with a row per project built from the repository (a
// monorepo's), posted the first time (its id kept), edited in place
// afterwards, posted again if someone deleted it. News of a build older
// than the project's newest of the pull request (an earlier commit's
// build ending late) leaves its row on the newest.
func (s *Statuses) comment(ctx context.Context, t *target, p *apogee.Project, note notify.Notification, log *slog.Logger) {
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
	repo, number := strings.ToLower(t.repo), pr.Number
	row := &apogee.CommentRow{Repo: repo, Number: number, Poster: t.poster, ProjectID: p.ID, Project: p.Name,
		DeploymentID: d.ID, Status: string(d.Status), InspectURL: d.DashboardURL, Commit: d.Commit,
		Closed: pr.State == apogee.PullRequestClosed, UpdatedAt: note.At}
	if d.Status == apogee.StatusReady {
		row.PreviewURL = d.URL
	}
	if note.Type == notify.DeploymentSkipped {
		row.Status = statusSkipped
	}
	if err := s.projects.SaveCommentRow(ctx, row); err != nil {
		log.Warn("pull request comment: save the project's row", "err", err)
		return
	}
	rows, err := s.projects.CommentRows(ctx, repo, number, t.poster)
	if err != nil {
		log.Warn("pull request comment: rows", "err", err)
		return
	}
	body := commentBody(rows)
	old, err := s.projects.RepoComment(ctx, repo, number, t.poster)
	if err != nil {
		log.Warn("pull request comment: its id", "err", err)
		return
	}
	if old != 0 {
		err := t.updateComment(ctx, old, body)
		if err == nil {
			log.Debug("pull request comment edited", "comment", old)
			return
		}
		if !notFound(err) {
			log.Warn("pull request comment not edited", "comment", old, "err", err)
			return
		}
		log.Info("pull request comment was deleted on GitHub; posting it again", "comment", old)
	}
	id, err := t.createComment(ctx, number, body)
	if err != nil {
		log.Warn("pull request comment not posted", "err", err)
		return
	}
	won, err := s.projects.SetRepoComment(ctx, repo, number, t.poster, old, id)
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
	if err := t.deleteComment(ctx, id); err != nil {
		log.Warn("second pull request comment not deleted", "comment", id, "err", err)
	}
	if rows, err = s.projects.CommentRows(ctx, repo, number, t.poster); err == nil {
		body = commentBody(rows)
	}
	if cur, err := s.projects.RepoComment(ctx, repo, number, t.poster); err == nil && cur != 0 {
		if err := t.updateComment(ctx, cur, body); err != nil {
			log.Warn("pull request comment not edited", "comment", cur, "err", err)
		}
	}
}

// statusSkipped is a comment row's status for a skipped build (the
// deployment's own is canceled).
const statusSkipped = "skipped"

// commentBody is the comment on a pull request, as Vercel's bot writes
// it: a table of the latest preview of each project built from the
// repository, by name.
func commentBody(rows []*apogee.CommentRow) string {
	var b strings.Builder
	b.WriteString("<!-- apogee:pull-request-comment -->\n")
	b.WriteString("**The latest updates on your projects** (Apogee):\n\n")
	b.WriteString("| Name | Status | Preview | Commit | Updated (UTC) |\n| :--- | :----- | :------ | :----- | :------------ |\n")
	closed := false
	for _, r := range rows {
		var status string
		switch apogee.Status(r.Status) {
		case apogee.StatusQueued:
			status = "⏳ Queued"
		case apogee.StatusBuilding:
			status = "🔨 Building"
		case apogee.StatusReady:
			status = "✅ Ready"
		case apogee.StatusCanceled:
			status = "🚫 Canceled"
		case statusSkipped:
			status = "⏭ Skipped (no changes in its folders)"
		default:
			status = "❌ Failed"
		}
		preview := "—"
		if r.PreviewURL != "" {
			preview = fmt.Sprintf("[Visit Preview](%s)", r.PreviewURL)
		}
		fmt.Fprintf(&b, "| **%s** | %s ([Inspect](%s)) | %s | `%s` | %s |\n", r.Project, status, r.InspectURL, preview,
			r.Commit[:min(7, len(r.Commit))], r.UpdatedAt.UTC().Format("Jan 2, 2006 3:04pm"))
		closed = closed || r.Closed
	}
	if closed {
		b.WriteString("\nThis pull request is closed: its previews stay at their own URLs and no longer serve its branch URL.\n")
	}
	return b.String()
}

// environment is the GitHub environment of a deployment of p: production
// for a production build, else Preview, or "Preview – <project>" for a
// project in a folder of a monorepo (as Vercel names them), so that each
// project's previews are their own environment.
func environment(p *apogee.Project, d *notify.Deployment) (string, bool) {
	if d.Target == apogee.TargetProduction {
		return "production", true
	}
	if len(p.Settings.Build.Watched()) > 0 {
		return "Preview – " + p.Name, false
	}
	return "Preview", false
}

// deploy records a build as a GitHub Deployment: made when the build
// starts (or at its first news), then a status per notification
// (in_progress, success with the deployment's URL, failure or error with
// the build log).
func (s *Statuses) deploy(ctx context.Context, t *target, p *apogee.Project, note notify.Notification, log *slog.Logger) {
	d := note.Deployment
	st := DeploymentStatus{LogURL: d.DashboardURL}
	switch note.Type {
	case apogee.NotifyDeploymentBuilding:
		st.State, st.Description = DeployInProgress, "Building"
	case apogee.NotifyDeploymentReady:
		st.State, st.Description, st.EnvironmentURL = DeploySuccess, "Preview ready", d.URL
		if d.Target == apogee.TargetProduction {
			st.Description = "Production ready"
		}
	case apogee.NotifyDeploymentError:
		st.State, st.Description = DeployFailure, "Build failed"
	case apogee.NotifyDeploymentCanceled:
		st.State, st.Description = DeployError, "Build canceled"
	default:
		return
	}
	env, production := environment(p, d)
	log = log.With("environment", env)
	id, err := s.projects.GitHubDeployment(ctx, d.ID)
	if err != nil {
		log.Warn("GitHub deployment: read its id", "err", err)
		return
	}
	if id == 0 {
		if note.Type == apogee.NotifyDeploymentCanceled {
			return // canceled before it started: nothing was deployed
		}
		if id, err = t.createDeployment(ctx, d.Commit, env, "Apogee deployment "+d.ID, production); err != nil {
			log.Warn("GitHub deployment not created", "err", err)
			return
		}
		if err := s.projects.SetGitHubDeployment(ctx, d.ID, id); err != nil {
			log.Warn("GitHub deployment: remember its id", "github_deployment", id, "err", err)
		}
	}
	if err := t.setDeploymentStatus(ctx, id, st); err != nil {
		log.Warn("GitHub deployment status not set", "github_deployment", id, "err", err)
		return
	}
	log.Debug("GitHub deployment status set", "github_deployment", id, "state", st.State)
}
