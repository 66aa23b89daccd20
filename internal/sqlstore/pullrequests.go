package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strconv"

	"github.com/apogee-dev/apogee"
)

const pullRequestCols = "project_id, number, title, url, head_branch, head_repo, state, merged, updated_at, closed_at"

func scanPullRequest(row scanner) (*apogee.PullRequest, error) {
	var pr apogee.PullRequest
	err := row.Scan(&pr.ProjectID, &pr.Number, &pr.Title, &pr.URL, &pr.HeadBranch, &pr.HeadRepo, &pr.State, &pr.Merged,
		timeCol{&pr.UpdatedAt}, nullTimeCol{&pr.ClosedAt})
	return &pr, err
}

// SavePullRequest inserts or updates a pull request.
func (s *Store) SavePullRequest(ctx context.Context, pr *apogee.PullRequest) error {
	if pr.Number <= 0 || (pr.State != apogee.PullRequestOpen && pr.State != apogee.PullRequestClosed) {
		return apogee.Errorf(apogee.EINVALID, "pull request #%d in state %q is not one to keep", pr.Number, pr.State)
	}
	_, err := s.exec(ctx, `INSERT INTO pull_requests (`+pullRequestCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (project_id, number) DO UPDATE SET title = excluded.title, url = excluded.url,
			head_branch = excluded.head_branch, head_repo = excluded.head_repo, state = excluded.state,
			merged = excluded.merged, updated_at = excluded.updated_at, closed_at = excluded.closed_at`,
		pr.ProjectID, pr.Number, pr.Title, pr.URL, pr.HeadBranch, pr.HeadRepo, pr.State, pr.Merged,
		s.d.timeArg(pr.UpdatedAt), s.d.nullTimeArg(pr.ClosedAt))
	if isForeignKey(err) {
		return notFound("project", pr.ProjectID)
	}
	return wrap("save pull request", err)
}

// PullRequest returns one pull request of a project.
func (s *Store) PullRequest(ctx context.Context, projectID string, number int) (*apogee.PullRequest, error) {
	pr, err := scanPullRequest(s.rdb.QueryRowContext(ctx, "SELECT "+pullRequestCols+" FROM pull_requests WHERE project_id = $1 AND number = $2", projectID, number))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("pull request", "#"+strconv.Itoa(number))
	}
	return pr, wrap("pull request", err)
}

// PullRequests returns a project's pull requests, newest number first.
func (s *Store) PullRequests(ctx context.Context, projectID string) ([]*apogee.PullRequest, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+pullRequestCols+" FROM pull_requests WHERE project_id = $1 ORDER BY number DESC", projectID)
	if err != nil {
		return nil, wrap("pull requests", err)
	}
	out, err := collect(rows, scanPullRequest)
	return out, wrap("pull requests", err)
}

// NewestPullRequestDeployment returns the newest deployment of a pull
// request.
func (s *Store) NewestPullRequestDeployment(ctx context.Context, projectID string, number int) (*apogee.Deployment, error) {
	d, err := scanDeployment(s.rdb.QueryRowContext(ctx, "SELECT "+deploymentCols+` FROM deployments
		WHERE project_id = $1 AND pr_number = $2 ORDER BY created_at DESC, id DESC LIMIT 1`, projectID, number))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("deployment of pull request", "#"+strconv.Itoa(number))
	}
	return d, wrap("newest pull request deployment", err)
}

// QueueGitBuildOnce queues d unless a deployment of the same commit,
// branch and repository is queued, building or ready. The project's row
// is locked first (SQLite's writer holds the database), so two events of
// one commit wait for each other and the second finds the first's build.
func (s *Store) QueueGitBuildOnce(ctx context.Context, d *apogee.Deployment) (*apogee.Deployment, error) {
	if d.Source != apogee.SourceGit || d.Commit == "" {
		return nil, apogee.Errorf(apogee.EINVALID, "only a Git build of a commit is queued once")
	}
	if err := prepareDeployment(d, nil, apogee.StatusQueued); err != nil {
		return nil, err
	}
	var existing *apogee.Deployment
	err := s.inTx(ctx, "queue git build once", func(tx *sql.Tx) error {
		var id string
		err := tx.QueryRowContext(ctx, "SELECT id FROM projects WHERE id = $1"+s.d.lockRow(), d.ProjectID).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("project", d.ProjectID)
		}
		if err != nil {
			return err
		}
		existing, err = scanDeployment(tx.QueryRowContext(ctx, "SELECT "+deploymentCols+` FROM deployments
			WHERE project_id = $1 AND source = $2 AND commit_sha = $3 AND branch = $4 AND fork_repo = $5
				AND status IN ($6, $7, $8)
			ORDER BY created_at DESC, id DESC LIMIT 1`,
			d.ProjectID, apogee.SourceGit, d.Commit, d.Branch, d.ForkRepo,
			apogee.StatusQueued, apogee.StatusBuilding, apogee.StatusReady))
		if errors.Is(err, sql.ErrNoRows) {
			existing = nil
			return s.insertNew(ctx, tx, d, nil)
		}
		if err != nil {
			return err
		}
		if d.PullRequest != 0 && existing.PullRequest == 0 {
			if _, err := tx.ExecContext(ctx, "UPDATE deployments SET pr_number = $2 WHERE id = $1", existing.ID, d.PullRequest); err != nil {
				return err
			}
			existing.PullRequest = d.PullRequest
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return existing, nil
}

// DropBranchAlias removes a branch host that serves a deployment of pull
// request number.
func (s *Store) DropBranchAlias(ctx context.Context, projectID, branch string, number int) (bool, error) {
	dropped := false
	err := s.inTx(ctx, "drop branch alias", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM branch_aliases WHERE project_id = $1 AND branch = $2
			AND deployment_id IN (SELECT id FROM deployments WHERE project_id = $1 AND pr_number = $3)`, projectID, branch, number)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		dropped = true
		return bumpRoutes(ctx, tx, projectID)
	})
	return dropped, err
}

// GitHubDeployment returns the GitHub Deployment id of a deployment, 0
// if none.
func (s *Store) GitHubDeployment(ctx context.Context, deploymentID string) (int64, error) {
	return s.githubID(ctx, "github_deployments", deploymentID)
}

// SetGitHubDeployment records the GitHub Deployment id of a deployment.
func (s *Store) SetGitHubDeployment(ctx context.Context, deploymentID string, githubID int64) error {
	return s.setGitHubID(ctx, "github_deployments", deploymentID, githubID)
}

// CheckRun returns the id of the check run reported for a deployment.
func (s *Store) CheckRun(ctx context.Context, deploymentID string) (int64, error) {
	return s.githubID(ctx, "github_check_runs", deploymentID)
}

// SetCheckRun records the check run id of a deployment.
func (s *Store) SetCheckRun(ctx context.Context, deploymentID string, githubID int64) error {
	return s.setGitHubID(ctx, "github_check_runs", deploymentID, githubID)
}

// githubID reads the id GitHub gave to what it holds of a deployment, in
// table (github_deployments, github_check_runs: a constant, never
// input); 0 if none.
func (s *Store) githubID(ctx context.Context, table, deploymentID string) (int64, error) {
	var id int64
	err := s.rdb.QueryRowContext(ctx, "SELECT github_id FROM "+table+" WHERE deployment_id = $1", deploymentID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return id, wrap(table, err)
}

// setGitHubID records that id in table.
func (s *Store) setGitHubID(ctx context.Context, table, deploymentID string, githubID int64) error {
	_, err := s.exec(ctx, "INSERT INTO "+table+` (deployment_id, github_id) VALUES ($1, $2)
		ON CONFLICT (deployment_id) DO UPDATE SET github_id = excluded.github_id`, deploymentID, githubID)
	if isForeignKey(err) {
		return notFound("deployment", deploymentID)
	}
	return wrap("set "+table, err)
}

// RepoComment returns the id of the comment on a repository's pull
// request posted as poster.
func (s *Store) RepoComment(ctx context.Context, repo string, number int, poster string) (int64, error) {
	var id int64
	err := s.rdb.QueryRowContext(ctx, "SELECT comment_id FROM github_pr_comments WHERE repo = $1 AND number = $2 AND poster = $3",
		repo, number, poster).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return id, wrap("pull request comment", err)
}

// SetRepoComment records the comment's id if the recorded one is still
// old (0: none recorded).
func (s *Store) SetRepoComment(ctx context.Context, repo string, number int, poster string, old, commentID int64) (bool, error) {
	var n int64
	var err error
	if old == 0 {
		n, err = s.exec(ctx, `INSERT INTO github_pr_comments (repo, number, poster, comment_id) VALUES ($1, $2, $3, $4)
			ON CONFLICT (repo, number, poster) DO UPDATE SET comment_id = excluded.comment_id WHERE github_pr_comments.comment_id = 0`,
			repo, number, poster, commentID)
	} else {
		n, err = s.exec(ctx, "UPDATE github_pr_comments SET comment_id = $5 WHERE repo = $1 AND number = $2 AND poster = $3 AND comment_id = $4",
			repo, number, poster, old, commentID)
	}
	if err != nil {
		return false, wrap("set pull request comment", err)
	}
	return n == 1, nil
}

const commentRowCols = "repo, number, poster, project_id, project, deployment_id, status, inspect_url, preview_url, commit_sha, closed, updated_at"

// SaveCommentRow inserts or replaces a project's row of a comment.
func (s *Store) SaveCommentRow(ctx context.Context, r *apogee.CommentRow) error {
	_, err := s.exec(ctx, `INSERT INTO github_pr_comment_rows (`+commentRowCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (repo, number, poster, project_id) DO UPDATE SET project = excluded.project, deployment_id = excluded.deployment_id,
			status = excluded.status, inspect_url = excluded.inspect_url, preview_url = excluded.preview_url,
			commit_sha = excluded.commit_sha, closed = excluded.closed, updated_at = excluded.updated_at`,
		r.Repo, r.Number, r.Poster, r.ProjectID, r.Project, r.DeploymentID, r.Status, r.InspectURL, r.PreviewURL, r.Commit, r.Closed,
		s.d.timeArg(r.UpdatedAt))
	if isForeignKey(err) {
		return notFound("project", r.ProjectID)
	}
	return wrap("save pull request comment row", err)
}

// CommentRows returns a comment's rows by project name.
func (s *Store) CommentRows(ctx context.Context, repo string, number int, poster string) ([]*apogee.CommentRow, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+commentRowCols+` FROM github_pr_comment_rows
		WHERE repo = $1 AND number = $2 AND poster = $3 ORDER BY project`, repo, number, poster)
	if err != nil {
		return nil, wrap("pull request comment rows", err)
	}
	out, err := collect(rows, func(row scanner) (*apogee.CommentRow, error) {
		var r apogee.CommentRow
		err := row.Scan(&r.Repo, &r.Number, &r.Poster, &r.ProjectID, &r.Project, &r.DeploymentID, &r.Status, &r.InspectURL,
			&r.PreviewURL, &r.Commit, &r.Closed, timeCol{&r.UpdatedAt})
		return &r, err
	})
	return out, wrap("pull request comment rows", err)
}
