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
// CreatedAt; d is updated to what was stored. (name, project) is the
// primary key; a name verified by another project is refused here, and
// a race with its verification is settled by VerifyDomain's unique index.
func (s *Store) CreateDomain(ctx context.Context, d *apogee.Domain) error {
	if d.Token == "" {
		d.Token = apogee.NewVerificationToken()
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = time.Now()
	}
	d.CreatedAt = normTime(d.CreatedAt)
	d.VerifiedAt = nil
	n, err := s.exec(ctx, "INSERT INTO domains ("+domainCols+") SELECT $1, $2, $3, NULL, $4"+
		" WHERE NOT EXISTS (SELECT 1 FROM domains WHERE name = $5 AND verified_at IS NOT NULL)",
		d.Name, d.ProjectID, d.Token, s.d.timeArg(d.CreatedAt), d.Name)
	switch {
	case isUnique(err):
		return apogee.Errorf(apogee.ECONFLICT, "domain %q is already added to this project", d.Name)
	case isForeignKey(err):
		return notFound("project", d.ProjectID)
	case err == nil && n == 0:
		// Which project has it is none of the caller's business.
		return apogee.Errorf(apogee.ECONFLICT, "domain %q is already used by another project", d.Name)
	}
	return wrap("create domain", err)
}

// claimOrder puts the verified claim first, then the oldest.
const claimOrder = " ORDER BY (verified_at IS NULL), created_at, project_id"

func (s *Store) DomainByName(ctx context.Context, name string) (*apogee.Domain, error) {
	d, err := scanDomain(s.rdb.QueryRowContext(ctx, "SELECT "+domainCols+" FROM domains WHERE name = $1"+claimOrder+" LIMIT 1", name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("domain", name)
	}
	if err != nil {
		return nil, wrap("domain by name", err)
	}
	return d, nil
}

func (s *Store) DomainClaims(ctx context.Context, name string) ([]*apogee.Domain, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+domainCols+" FROM domains WHERE name = $1"+claimOrder, name)
	if err != nil {
		return nil, wrap("domain claims", err)
	}
	ds, err := collect(rows, scanDomain)
	return ds, wrap("domain claims", err)
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
// transaction. The unique index on verified names makes the first of
// two projects to verify a name the only one.
func (s *Store) VerifyDomain(ctx context.Context, projectID, name string, at time.Time) (*apogee.Domain, error) {
	var d *apogee.Domain
	err := s.inTx(ctx, "verify domain", func(tx *sql.Tx) error {
		var err error
		d, err = scanDomain(tx.QueryRowContext(ctx,
			"UPDATE domains SET verified_at = COALESCE(verified_at, $3) WHERE name = $1 AND project_id = $2 RETURNING "+domainCols,
			name, projectID, s.d.timeArg(at)))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("domain", name)
		}
		if isUnique(err) {
			return errVerifiedElsewhere(name)
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

func errVerifiedElsewhere(name string) error {
	return apogee.Errorf(apogee.ECONFLICT, "domain %q was verified by another project first", name)
}

// DeleteDomain removes a project's claim of a domain and moves the route
// version.
func (s *Store) DeleteDomain(ctx context.Context, projectID, name string) error {
	return s.inTx(ctx, "delete domain", func(tx *sql.Tx) error {
		n, err := tx.ExecContext(ctx, "DELETE FROM domains WHERE name = $1 AND project_id = $2", name, projectID)
		if err != nil {
			return err
		}
		if k, err := n.RowsAffected(); err != nil || k == 0 {
			if err != nil {
				return err
			}
			return notFound("domain", name)
		}
		return bumpRoutes(ctx, tx, projectID)
	})
}
