package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/apogee-dev/apogee"
)

const domainCols = "name, project_id, token, verified_at, created_at"

func scanDomain(row scanner) (*apogee.Domain, error) {
	var d apogee.Domain
	err := row.Scan(&d.Name, &d.ProjectID, &d.Token, nullTimeCol{&d.VerifiedAt}, timeCol{&d.CreatedAt})
	return &d, err
}

// CreateDomain inserts d unverified, filling in an empty Token and a zero
// CreatedAt; d is updated to what was stored. The name is the primary
// key, so two projects racing for one name cannot both get it.
func (s *Store) CreateDomain(ctx context.Context, d *apogee.Domain) error {
	if d.Token == "" {
		d.Token = apogee.NewVerificationToken()
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = time.Now()
	}
	d.CreatedAt = normTime(d.CreatedAt)
	d.VerifiedAt = nil
	_, err := s.exec(ctx, "INSERT INTO domains ("+domainCols+") VALUES ($1, $2, $3, NULL, $4)",
		d.Name, d.ProjectID, d.Token, s.d.timeArg(d.CreatedAt))
	switch {
	case isUnique(err):
		// Which project has it is none of the caller's business.
		return apogee.Errorf(apogee.ECONFLICT, "domain %q is already used by another project", d.Name)
	case isForeignKey(err):
		return notFound("project", d.ProjectID)
	}
	return wrap("create domain", err)
}

func (s *Store) DomainByName(ctx context.Context, name string) (*apogee.Domain, error) {
	d, err := scanDomain(s.rdb.QueryRowContext(ctx, "SELECT "+domainCols+" FROM domains WHERE name = $1", name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("domain", name)
	}
	if err != nil {
		return nil, wrap("domain by name", err)
	}
	return d, nil
}

// ListDomains returns the project's domains by name; none for an unknown
// project.
func (s *Store) ListDomains(ctx context.Context, projectID string) ([]*apogee.Domain, error) {
	rows, err := s.rdb.QueryContext(ctx,
		"SELECT "+domainCols+" FROM domains WHERE project_id = $1 ORDER BY name", projectID)
	if err != nil {
		return nil, wrap("list domains", err)
	}
	ds, err := collect(rows, scanDomain)
	return ds, wrap("list domains", err)
}

// VerifyDomain sets verified_at unless it is set already; the domain is
// routed from then on, so the route version moves in the same
// transaction.
func (s *Store) VerifyDomain(ctx context.Context, name string, at time.Time) (*apogee.Domain, error) {
	var d *apogee.Domain
	err := s.inTx(ctx, "verify domain", func(tx *sql.Tx) error {
		var err error
		d, err = scanDomain(tx.QueryRowContext(ctx,
			"UPDATE domains SET verified_at = COALESCE(verified_at, $2) WHERE name = $1 RETURNING "+domainCols,
			name, s.d.timeArg(at)))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("domain", name)
		}
		if err != nil {
			return err
		}
		return bumpRoutes(ctx, tx, d.ProjectID)
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// DeleteDomain removes a domain and moves the route version.
func (s *Store) DeleteDomain(ctx context.Context, name string) error {
	return s.inTx(ctx, "delete domain", func(tx *sql.Tx) error {
		var projectID string
		err := tx.QueryRowContext(ctx, "DELETE FROM domains WHERE name = $1 RETURNING project_id", name).Scan(&projectID)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("domain", name)
		}
		if err != nil {
			return err
		}
		return bumpRoutes(ctx, tx, projectID)
	})
}
