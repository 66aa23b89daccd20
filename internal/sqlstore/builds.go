package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/apogee-dev/apogee"
)

// QueueBuild inserts d as a queued build with no files.
func (s *Store) QueueBuild(ctx context.Context, d *apogee.Deployment) error {
	return s.createDeployment(ctx, d, nil, apogee.StatusQueued)
}

// ClaimBuild marks the oldest queued deployment building for worker.
// PostgreSQL skips rows other workers are claiming; SQLite has one writer.
func (s *Store) ClaimBuild(ctx context.Context, worker string, at time.Time) (*apogee.Deployment, error) {
	skip := ""
	if s.d == dialectPostgres {
		skip = " FOR UPDATE SKIP LOCKED"
	}
	var d *apogee.Deployment
	err := s.inTx(ctx, "claim build", func(tx *sql.Tx) error {
		var err error
		d, err = scanDeployment(tx.QueryRowContext(ctx, `UPDATE deployments
			SET status = $1, build_worker = $2, build_started_at = $3, build_heartbeat_at = $3
			WHERE status = $4 AND id = (SELECT id FROM deployments WHERE status = $4 ORDER BY created_at, id LIMIT 1`+skip+`)
			RETURNING `+deploymentCols,
			apogee.StatusBuilding, worker, s.d.timeArg(at), apogee.StatusQueued))
		if errors.Is(err, sql.ErrNoRows) {
			return apogee.Errorf(apogee.ENOTFOUND, "no build is queued")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// BuildHeartbeat records that worker still builds id.
func (s *Store) BuildHeartbeat(ctx context.Context, id, worker string, at time.Time) error {
	n, err := s.exec(ctx, "UPDATE deployments SET build_heartbeat_at = $1 WHERE id = $2 AND build_worker = $3 AND status = $4",
		s.d.timeArg(at), id, worker, apogee.StatusBuilding)
	if err != nil {
		return wrap("build heartbeat", err)
	}
	if n == 0 {
		return apogee.Errorf(apogee.ECONFLICT, "deployment %q is not being built by %s", id, worker)
	}
	return nil
}

// FinishBuild stores the manifest of a building deployment and makes it
// ready (and production, if promote) in one transaction.
func (s *Store) FinishBuild(ctx context.Context, id string, files []apogee.File, at time.Time, promote bool) (*apogee.Deployment, error) {
	var size int64
	for _, f := range files {
		size += f.Size
	}
	var d *apogee.Deployment
	err := s.inTx(ctx, "finish build", func(tx *sql.Tx) error {
		var projectID string
		err := tx.QueryRowContext(ctx, "SELECT project_id FROM deployments WHERE id = $1", id).Scan(&projectID)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("deployment", id)
		}
		if err != nil {
			return err
		}
		if _, _, err := s.lockProject(ctx, tx, projectID); err != nil {
			if errors.Is(err, apogee.ErrNotFound) {
				return notFound("deployment", id)
			}
			return err
		}
		d, err = scanDeployment(tx.QueryRowContext(ctx, `UPDATE deployments
			SET status = $2, ready_at = $3, build_finished_at = $3, files = $4, size = $5
			WHERE id = $1 AND status = $6 RETURNING `+deploymentCols,
			id, apogee.StatusReady, s.d.timeArg(at), len(files), size, apogee.StatusBuilding))
		if errors.Is(err, sql.ErrNoRows) {
			return s.notBuilding(ctx, tx, id)
		}
		if err != nil {
			return err
		}
		if err := s.insertFiles(ctx, tx, id, files); err != nil {
			if isUnique(err) {
				return apogee.Errorf(apogee.EINVALID, "the build output lists a path twice")
			}
			return err
		}
		if promote {
			return setProduction(ctx, tx, projectID, id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// notBuilding explains why a deployment is not in a building state.
func (s *Store) notBuilding(ctx context.Context, tx *sql.Tx, id string) error {
	var status string
	err := tx.QueryRowContext(ctx, "SELECT status FROM deployments WHERE id = $1", id).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("deployment", id)
	}
	if err != nil {
		return err
	}
	return apogee.Errorf(apogee.ECONFLICT, "deployment %q is %s, not building", id, status)
}

// EndBuild ends a queued or building deployment as error or canceled.
func (s *Store) EndBuild(ctx context.Context, id, status, reason string, at time.Time) (*apogee.Deployment, error) {
	if status != apogee.StatusError && status != apogee.StatusCanceled {
		return nil, apogee.Errorf(apogee.EINVALID, "a build ends as %q or %q, not %q", apogee.StatusError, apogee.StatusCanceled, status)
	}
	var d *apogee.Deployment
	err := s.inTx(ctx, "end build", func(tx *sql.Tx) error {
		var err error
		d, err = scanDeployment(tx.QueryRowContext(ctx, `UPDATE deployments
			SET status = $2, error = $3, build_finished_at = $4
			WHERE id = $1 AND status IN ($5, $6) RETURNING `+deploymentCols,
			id, status, reason, s.d.timeArg(at), apogee.StatusQueued, apogee.StatusBuilding))
		if errors.Is(err, sql.ErrNoRows) {
			return s.notBuilding(ctx, tx, id)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// FailStaleBuilds ends builds whose worker stopped beating or belonged
// to a previous run of this node.
func (s *Store) FailStaleBuilds(ctx context.Context, before time.Time, workerPrefix, reason string) ([]*apogee.Deployment, error) {
	prefix := ""
	if workerPrefix != "" {
		prefix = workerPrefix + "/"
	}
	rows, err := s.db.QueryContext(ctx, `UPDATE deployments
		SET status = $1, error = $2, build_finished_at = $3
		WHERE status = $4 AND (build_heartbeat_at < $5 OR ($6 <> '' AND substr(build_worker, 1, $7) = $6))
		RETURNING `+deploymentCols,
		apogee.StatusError, reason, s.d.timeArg(time.Now()), apogee.StatusBuilding, s.d.timeArg(before), prefix, len(prefix))
	if err != nil {
		return nil, wrap("fail stale builds", err)
	}
	ds, err := collect(rows, scanDeployment)
	return ds, wrap("fail stale builds", err)
}
