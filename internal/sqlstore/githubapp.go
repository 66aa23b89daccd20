package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
)

var _ apogee.GitHubAppStore = (*Store)(nil)

// LinkAppProject implements apogee.GitHubAppStore.
func (s *Store) LinkAppProject(ctx context.Context, l apogee.AppProject) error {
	if l.CreatedAt.IsZero() {
		l.CreatedAt = time.Now()
	}
	_, err := s.exec(ctx, `INSERT INTO github_app_projects (project_id, installation_id, repo, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (project_id) DO UPDATE SET installation_id = excluded.installation_id, repo = excluded.repo, created_at = excluded.created_at`,
		l.ProjectID, l.InstallationID, strings.ToLower(l.Repo), s.d.timeArg(l.CreatedAt))
	if isForeignKey(err) {
		return notFound("project", l.ProjectID)
	}
	return wrap("link app project", err)
}

func scanAppProject(row scanner) (*apogee.AppProject, error) {
	var l apogee.AppProject
	err := row.Scan(&l.ProjectID, &l.InstallationID, &l.Repo, timeCol{&l.CreatedAt})
	return &l, err
}

// AppProject implements apogee.GitHubAppStore.
func (s *Store) AppProject(ctx context.Context, projectID string) (*apogee.AppProject, error) {
	l, err := scanAppProject(s.rdb.QueryRowContext(ctx,
		"SELECT project_id, installation_id, repo, created_at FROM github_app_projects WHERE project_id = $1", projectID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apogee.Errorf(apogee.ENOTFOUND, "project %s is not built through the GitHub App", projectID)
	}
	if err != nil {
		return nil, wrap("app project", err)
	}
	return l, nil
}

// AppProjects implements apogee.GitHubAppStore.
func (s *Store) AppProjects(ctx context.Context, installationID int64, repo string) ([]apogee.AppProject, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT project_id, installation_id, repo, created_at FROM github_app_projects
		WHERE installation_id = $1 AND ($2 = '' OR repo = $2) ORDER BY repo, project_id`, installationID, strings.ToLower(repo))
	if err != nil {
		return nil, wrap("app projects", err)
	}
	defer rows.Close()
	var out []apogee.AppProject
	for rows.Next() {
		l, err := scanAppProject(rows)
		if err != nil {
			return nil, wrap("app projects", err)
		}
		out = append(out, *l)
	}
	return out, wrap("app projects", rows.Err())
}

// UnlinkAppProjects implements apogee.GitHubAppStore.
func (s *Store) UnlinkAppProjects(ctx context.Context, installationID int64, repos []string) (int, error) {
	if repos == nil {
		n, err := s.exec(ctx, "DELETE FROM github_app_projects WHERE installation_id = $1", installationID)
		return int(n), wrap("unlink app projects", err)
	}
	total := 0
	for _, r := range repos {
		n, err := s.exec(ctx, "DELETE FROM github_app_projects WHERE installation_id = $1 AND repo = $2", installationID, strings.ToLower(r))
		if err != nil {
			return total, wrap("unlink app projects", err)
		}
		total += int(n)
	}
	return total, nil
}
