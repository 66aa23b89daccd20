package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/apogee-dev/apogee"
)

const projectCols = "id, name, owner_id, production_id, created_at, git_url, git_branch, webhook_secret, settings"

func scanProject(row scanner) (*apogee.Project, error) {
	var p apogee.Project
	var prod sql.NullString
	var gitURL, gitBranch, settings string
	err := row.Scan(&p.ID, &p.Name, &p.OwnerID, &prod, timeCol{&p.CreatedAt}, &gitURL, &gitBranch, &p.WebhookSecret, &settings)
	if err != nil {
		return nil, err
	}
	p.ProductionID = prod.String
	if gitURL != "" {
		p.Git = &apogee.GitSource{URL: gitURL, Branch: gitBranch}
	}
	if err := json.Unmarshal([]byte(settings), &p.Settings); err != nil {
		return nil, fmt.Errorf("project %s: settings: %w", p.ID, err)
	}
	return &p, nil
}

// projectFields returns the columns CreateProject and UpdateProject write
// besides the identity: git_url, git_branch, webhook_secret, settings.
func projectFields(p *apogee.Project) ([]any, error) {
	settings, err := json.Marshal(p.Settings)
	if err != nil {
		return nil, fmt.Errorf("project settings: %w", err)
	}
	var url, branch string
	if p.Git != nil {
		url, branch = p.Git.URL, p.Git.Branch
	}
	return []any{url, branch, p.WebhookSecret, string(settings)}, nil
}

// CreateProject inserts p, filling in an empty ID and a zero CreatedAt;
// p is updated to what was stored. A new project has no production
// deployment, whatever p.ProductionID says. ErrNotFound if the owner does
// not exist.
func (s *Store) CreateProject(ctx context.Context, p *apogee.Project) error {
	if p.ID == "" {
		p.ID = apogee.NewID()
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = time.Now()
	}
	p.CreatedAt = normTime(p.CreatedAt)
	p.ProductionID = ""
	fields, err := projectFields(p)
	if err != nil {
		return wrap("create project", err)
	}
	_, err = s.exec(ctx, "INSERT INTO projects (id, name, owner_id, created_at, git_url, git_branch, webhook_secret, settings) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
		append([]any{p.ID, p.Name, p.OwnerID, s.d.timeArg(p.CreatedAt)}, fields...)...)
	switch {
	case isUnique(err):
		return apogee.Errorf(apogee.ECONFLICT, "project %q exists already", p.Name)
	case isForeignKey(err):
		return notFound("user", p.OwnerID)
	}
	return wrap("create project", err)
}

func (s *Store) ProjectByName(ctx context.Context, name string) (*apogee.Project, error) {
	p, err := scanProject(s.rdb.QueryRowContext(ctx, "SELECT "+projectCols+" FROM projects WHERE name = $1", name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("project", name)
	}
	if err != nil {
		return nil, wrap("project by name", err)
	}
	return p, nil
}

func (s *Store) ProjectByID(ctx context.Context, id string) (*apogee.Project, error) {
	p, err := scanProject(s.rdb.QueryRowContext(ctx, "SELECT "+projectCols+" FROM projects WHERE id = $1", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("project", id)
	}
	if err != nil {
		return nil, wrap("project by id", err)
	}
	return p, nil
}

func (s *Store) ListProjects(ctx context.Context, ownerID string) ([]*apogee.Project, error) {
	var (
		rows *sql.Rows
		err  error
	)
	if ownerID == "" {
		rows, err = s.rdb.QueryContext(ctx, "SELECT "+projectCols+" FROM projects ORDER BY name")
	} else {
		rows, err = s.rdb.QueryContext(ctx,
			"SELECT "+projectCols+" FROM projects WHERE owner_id = $1 ORDER BY name", ownerID)
	}
	if err != nil {
		return nil, wrap("list projects", err)
	}
	projects, err := collect(rows, scanProject)
	return projects, wrap("list projects", err)
}

// UpdateProject writes p's Git source, webhook secret and settings.
func (s *Store) UpdateProject(ctx context.Context, p *apogee.Project) error {
	fields, err := projectFields(p)
	if err != nil {
		return wrap("update project", err)
	}
	n, err := s.exec(ctx, "UPDATE projects SET git_url = $1, git_branch = $2, webhook_secret = $3, settings = $4 WHERE id = $5",
		append(fields, p.ID)...)
	if err != nil {
		return wrap("update project", err)
	}
	if n == 0 {
		return notFound("project", p.ID)
	}
	return nil
}

// ProjectsByGitURL returns the projects built from the repository url,
// by name.
func (s *Store) ProjectsByGitURL(ctx context.Context, url string) ([]*apogee.Project, error) {
	if url == "" {
		return nil, nil
	}
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+projectCols+" FROM projects WHERE git_url = $1 ORDER BY name", url)
	if err != nil {
		return nil, wrap("projects by git url", err)
	}
	projects, err := collect(rows, scanProject)
	return projects, wrap("projects by git url", err)
}

// RenameProject renames project id and bumps the route version.
func (s *Store) RenameProject(ctx context.Context, id, name string) error {
	err := s.inTx(ctx, "rename project", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE projects SET name = $1 WHERE id = $2", name, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err == nil {
				err = notFound("project", id)
			}
			return err
		}
		return bumpRoutes(ctx, tx, id)
	})
	if isUnique(err) {
		return apogee.Errorf(apogee.ECONFLICT, "project %q exists already", name)
	}
	return err
}

// DeleteProject removes the project; foreign keys cascade the delete to
// its deployments and their manifests. Every host of it stops serving,
// so the route version moves in the same transaction.
func (s *Store) DeleteProject(ctx context.Context, id string) error {
	return s.inTx(ctx, "delete project", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM projects WHERE id = $1", id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err == nil {
				err = notFound("project", id)
			}
			return err
		}
		return bumpRoutes(ctx, tx, id)
	})
}
