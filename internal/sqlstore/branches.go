package sqlstore

import (
	"context"
	"database/sql"

	"github.com/apogee-dev/apogee"
)

// SetBranchAlias points a branch's host at a deployment unless it serves
// a newer one, and bumps the route version when it moved.
func (s *Store) SetBranchAlias(ctx context.Context, a apogee.BranchAlias) error {
	err := s.inTx(ctx, "set branch alias", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO branch_aliases (project_id, branch, host, deployment_id) VALUES ($1, $2, $3, $4)
			ON CONFLICT (project_id, branch) DO UPDATE SET host = excluded.host, deployment_id = excluded.deployment_id
			WHERE (SELECT created_at FROM deployments WHERE id = excluded.deployment_id) >=
				(SELECT created_at FROM deployments WHERE id = branch_aliases.deployment_id)`,
			a.ProjectID, a.Branch, a.Host, a.DeploymentID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err // a newer deployment serves the branch
		}
		return bumpRoutes(ctx, tx, a.ProjectID)
	})
	switch {
	case isUnique(err):
		return apogee.Errorf(apogee.ECONFLICT, "host %q serves another branch", a.Host)
	case isForeignKey(err):
		return notFound("deployment", a.DeploymentID)
	}
	return err
}

// BranchAliases returns a project's branch hosts by branch.
func (s *Store) BranchAliases(ctx context.Context, projectID string) ([]apogee.BranchAlias, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT project_id, branch, host, deployment_id FROM branch_aliases WHERE project_id = $1 ORDER BY branch", projectID)
	if err != nil {
		return nil, wrap("branch aliases", err)
	}
	as, err := collect(rows, func(row scanner) (a apogee.BranchAlias, err error) {
		err = row.Scan(&a.ProjectID, &a.Branch, &a.Host, &a.DeploymentID)
		return a, err
	})
	return as, wrap("branch aliases", err)
}
