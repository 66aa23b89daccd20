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

// SetBuildCommit records the commit a queued or building deployment
// builds.
func (s *Store) SetBuildCommit(ctx context.Context, id string, c apogee.CommitInfo) error {
	return s.inTx(ctx, "set build commit", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE deployments SET commit_sha = $2, commit_message = $3, commit_author = $4, commit_url = $5
			WHERE id = $1 AND status IN ($6, $7)`,
			id, c.SHA, c.Message, c.Author, c.URL, apogee.StatusQueued, apogee.StatusBuilding)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		return s.notIn(ctx, tx, id, apogee.StatusBuilding)
	})
}

// SetBuildInfo records what a queued or building deployment builds with.
func (s *Store) SetBuildInfo(ctx context.Context, id string, b apogee.BuildInfo) error {
	return s.inTx(ctx, "set build info", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE deployments SET framework = $2, node_version = $3
			WHERE id = $1 AND status IN ($4, $5)`,
			id, b.Framework, b.NodeVersion, apogee.StatusQueued, apogee.StatusBuilding)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		return s.notIn(ctx, tx, id, apogee.StatusBuilding)
	})
}

// QueueUploaded turns an uploading source folder into a queued build.
func (s *Store) QueueUploaded(ctx context.Context, id string) (*apogee.Deployment, error) {
	var d *apogee.Deployment
	err := s.inTx(ctx, "queue uploaded source", func(tx *sql.Tx) error {
		var err error
		d, err = scanDeployment(tx.QueryRowContext(ctx, `UPDATE deployments SET status = $2
			WHERE id = $1 AND status = $3 AND source = $4 RETURNING `+deploymentCols,
			id, apogee.StatusQueued, apogee.StatusUploading, apogee.SourceFolder))
		if errors.Is(err, sql.ErrNoRows) {
			return s.notIn(ctx, tx, id, apogee.StatusUploading)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// ClaimBuild marks the oldest queued deployment building for worker,
// skipping deployments whose owner already has as many builds building as
// their plan's concurrent_builds allows. PostgreSQL skips rows other
// workers are claiming; SQLite has one writer.
//
// On PostgreSQL two workers may each pick a build of the same owner at
// once, both seeing the other's claim as not yet made. So after its
// UPDATE a claim locks the owner's user row and counts again: the second
// of two racing claims waits for the first to commit, sees it, and if
// the owner is now over the limit it rolls back and tries again (and
// then skips that owner's builds).
func (s *Store) ClaimBuild(ctx context.Context, worker string, at time.Time) (*apogee.Deployment, error) {
	for attempt := 0; ; attempt++ {
		d, err := s.claimBuild(ctx, worker, at)
		if errors.Is(err, errOverLimit) && attempt < 20 {
			continue
		}
		if errors.Is(err, errOverLimit) {
			return nil, apogee.Errorf(apogee.ENOTFOUND, "no build is queued that its owner's plan lets start now")
		}
		return d, err
	}
}

// errOverLimit rolls back a claim that took an owner over their plan's
// concurrent builds.
var errOverLimit = errors.New("sqlstore: claim over the owner's concurrent builds")

// claimable is the oldest queued deployment whose owner has fewer builds
// building than their plan allows ($1 building, $4 queued, $5 true).
const claimable = `SELECT d.id FROM deployments d
	JOIN projects p ON p.id = d.project_id
	JOIN users u ON u.id = p.owner_id
	LEFT JOIN plans pl ON pl.id = COALESCE(u.plan_id, (SELECT dp.id FROM plans dp WHERE dp.is_default = $5))
	WHERE d.status = $4 AND (pl.id IS NULL OR pl.concurrent_builds < 0 OR pl.concurrent_builds > (
		SELECT COUNT(*) FROM deployments b JOIN projects bp ON bp.id = b.project_id
		WHERE b.status = $1 AND bp.owner_id = p.owner_id))
	ORDER BY d.created_at, d.id LIMIT 1`

func (s *Store) claimBuild(ctx context.Context, worker string, at time.Time) (*apogee.Deployment, error) {
	skip := ""
	if s.d == dialectPostgres {
		skip = " FOR UPDATE OF d SKIP LOCKED"
	}
	var d *apogee.Deployment
	err := s.inTx(ctx, "claim build", func(tx *sql.Tx) error {
		var err error
		d, err = scanDeployment(tx.QueryRowContext(ctx, `UPDATE deployments
			SET status = $1, build_worker = $2, build_started_at = $3, build_heartbeat_at = $3
			WHERE status = $4 AND id = (`+claimable+skip+`)
			RETURNING `+deploymentCols,
			apogee.StatusBuilding, worker, s.d.timeArg(at), apogee.StatusQueued, true))
		if errors.Is(err, sql.ErrNoRows) {
			return apogee.Errorf(apogee.ENOTFOUND, "no build is queued")
		}
		if err != nil || s.d != dialectPostgres {
			return err
		}
		var owner string
		var limit sql.NullInt64
		err = tx.QueryRowContext(ctx, `SELECT u.id, pl.concurrent_builds FROM projects p
			JOIN users u ON u.id = p.owner_id
			LEFT JOIN plans pl ON pl.id = COALESCE(u.plan_id, (SELECT dp.id FROM plans dp WHERE dp.is_default))
			WHERE p.id = $1`, d.ProjectID).Scan(&owner, &limit)
		if err != nil || !limit.Valid || limit.Int64 < 0 {
			return err
		}
		if _, err := tx.ExecContext(ctx, "SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE", owner); err != nil {
			return err
		}
		var building int64
		err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM deployments b JOIN projects bp ON bp.id = b.project_id
			WHERE b.status = $1 AND bp.owner_id = $2`, apogee.StatusBuilding, owner).Scan(&building)
		if err != nil {
			return err
		}
		if building > limit.Int64 {
			return errOverLimit
		}
		return nil
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
	return s.makeReady(ctx, "finish build", id, apogee.StatusBuilding, at, files, promote)
}

// EndBuild ends a queued or building deployment as error or canceled.
func (s *Store) EndBuild(ctx context.Context, id string, status apogee.Status, reason string, at time.Time) (*apogee.Deployment, error) {
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
			return s.notIn(ctx, tx, id, apogee.StatusBuilding)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// SkipBuild ends a queued or building deployment as skipped.
func (s *Store) SkipBuild(ctx context.Context, id, reason string, at time.Time) (*apogee.Deployment, error) {
	var d *apogee.Deployment
	err := s.inTx(ctx, "skip build", func(tx *sql.Tx) error {
		var err error
		d, err = scanDeployment(tx.QueryRowContext(ctx, `UPDATE deployments
			SET status = $2, error = $3, build_finished_at = $4, skipped = $5
			WHERE id = $1 AND status IN ($6, $7) RETURNING `+deploymentCols,
			id, apogee.StatusCanceled, reason, s.d.timeArg(at), true, apogee.StatusQueued, apogee.StatusBuilding))
		if errors.Is(err, sql.ErrNoRows) {
			return s.notIn(ctx, tx, id, apogee.StatusBuilding)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// RequeueStaleBuilds queues again the stale builds taken over fewer than
// maxTakeovers times.
func (s *Store) RequeueStaleBuilds(ctx context.Context, before time.Time, workerPrefix string, maxTakeovers int) ([]*apogee.Deployment, error) {
	prefix := ""
	if workerPrefix != "" {
		prefix = workerPrefix + "/"
	}
	rows, err := s.db.QueryContext(ctx, `UPDATE deployments
		SET status = $1, build_worker = '', build_heartbeat_at = NULL, build_attempts = build_attempts + 1
		WHERE status = $2 AND (build_heartbeat_at < $3 OR ($4 <> '' AND substr(build_worker, 1, $5) = $4)) AND build_attempts < $6
		RETURNING `+deploymentCols,
		apogee.StatusQueued, apogee.StatusBuilding, s.d.timeArg(before), prefix, len(prefix), maxTakeovers)
	if err != nil {
		return nil, wrap("requeue stale builds", err)
	}
	ds, err := collect(rows, scanDeployment)
	return ds, wrap("requeue stale builds", err)
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
