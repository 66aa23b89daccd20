package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/apogee-dev/apogee"
)

const projectCols = "id, name, owner_id, production_id, created_at"

func scanProject(row scanner) (*apogee.Project, error) {
	var p apogee.Project
	var prod sql.NullString
	err := row.Scan(&p.ID, &p.Name, &p.OwnerID, &prod, timeCol{&p.CreatedAt})
	p.ProductionID = prod.String
	return &p, err
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
	_, err := s.exec(ctx, "INSERT INTO projects (id, name, owner_id, created_at) VALUES ($1, $2, $3, $4)",
		p.ID, p.Name, p.OwnerID, s.d.timeArg(p.CreatedAt))
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

// DeleteProject removes the project; foreign keys cascade the delete to
// its deployments and their manifests.
func (s *Store) DeleteProject(ctx context.Context, id string) error {
	n, err := s.exec(ctx, "DELETE FROM projects WHERE id = $1", id)
	if err != nil {
		return wrap("delete project", err)
	}
	if n == 0 {
		return notFound("project", id)
	}
	return nil
}
