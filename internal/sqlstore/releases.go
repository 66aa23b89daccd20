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

var _ apogee.ReleaseStore = (*Store)(nil)

const releaseCols = "deployment_id, project_id, version, start_command, release_command, health_path, boot_timeout, env, " +
	"description, created_at, released_at, pruned_at, node_version"

// releaseEnv is one variable of a release's snapshot, as stored.
type releaseEnv struct {
	Key    string `json:"key"`
	Value  string `json:"value"` // sealed
	Secret bool   `json:"secret,omitempty"`
}

func scanRelease(row scanner) (*apogee.Release, error) {
	var r apogee.Release
	var env string
	err := row.Scan(&r.DeploymentID, &r.ProjectID, &r.Version, &r.StartCommand, &r.ReleaseCommand, &r.HealthPath,
		&r.BootTimeout, &env, &r.Description, timeCol{&r.CreatedAt}, nullTimeCol{&r.ReleasedAt}, nullTimeCol{&r.PrunedAt}, &r.NodeVersion)
	if err != nil {
		return nil, err
	}
	var vars []releaseEnv
	if err := json.Unmarshal([]byte(env), &vars); err != nil {
		return nil, fmt.Errorf("release %s: environment: %w", r.DeploymentID, err)
	}
	r.Env = make([]apogee.EnvVar, len(vars))
	for i, v := range vars {
		r.Env[i] = apogee.EnvVar{Key: v.Key, Value: v.Value, Secret: v.Secret, UpdatedAt: r.CreatedAt}
	}
	return &r, nil
}

// CreateRelease records r for its deployment, which must be the
// project's and not yet final, with the project's next version.
func (s *Store) CreateRelease(ctx context.Context, r *apogee.Release) error {
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now()
	}
	r.CreatedAt = normTime(r.CreatedAt)
	r.ReleasedAt, r.PrunedAt = nil, nil
	vars := make([]releaseEnv, len(r.Env))
	for i, v := range r.Env {
		vars[i] = releaseEnv{Key: v.Key, Value: v.Value, Secret: v.Secret}
	}
	env, err := json.Marshal(vars)
	if err != nil {
		return wrap("create release", err)
	}
	return s.inTx(ctx, "create release", func(tx *sql.Tx) error {
		// The project's row first (PostgreSQL: concurrent releases of
		// one project take their versions in turn).
		var pid string
		err := tx.QueryRowContext(ctx, "SELECT id FROM projects WHERE id = $1"+s.d.lockRow(), r.ProjectID).Scan(&pid)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("project", r.ProjectID)
		}
		if err != nil {
			return err
		}
		var project string
		var status apogee.Status
		err = tx.QueryRowContext(ctx, "SELECT project_id, status FROM deployments WHERE id = $1", r.DeploymentID).Scan(&project, &status)
		if errors.Is(err, sql.ErrNoRows) || err == nil && project != r.ProjectID {
			return notFound("deployment", r.DeploymentID)
		}
		if err != nil {
			return err
		}
		if status != apogee.StatusUploading && status != apogee.StatusQueued && status != apogee.StatusBuilding {
			return apogee.Errorf(apogee.ECONFLICT, "deployment %q is %s; a release is made before its deployment is final", r.DeploymentID, status)
		}
		if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) + 1 FROM releases WHERE project_id = $1", r.ProjectID).Scan(&r.Version); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO releases ("+releaseCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, NULL, $11)",
			r.DeploymentID, r.ProjectID, r.Version, r.StartCommand, r.ReleaseCommand, r.HealthPath, r.BootTimeout, string(env),
			r.Description, s.d.timeArg(r.CreatedAt), r.NodeVersion)
		if isUnique(err) {
			return apogee.Errorf(apogee.ECONFLICT, "deployment %q has a release already", r.DeploymentID)
		}
		return err
	})
}

// Release returns the release of a deployment.
func (s *Store) Release(ctx context.Context, deploymentID string) (*apogee.Release, error) {
	r, err := scanRelease(s.rdb.QueryRowContext(ctx, "SELECT "+releaseCols+" FROM releases WHERE deployment_id = $1", deploymentID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("release", deploymentID)
	}
	return r, wrap("release", err)
}

// ListReleases returns a project's releases, newest first.
func (s *Store) ListReleases(ctx context.Context, projectID string, limit int) ([]*apogee.Release, error) {
	q := "SELECT " + releaseCols + " FROM releases WHERE project_id = $1 ORDER BY version DESC"
	args := []any{projectID}
	if limit > 0 {
		q += " LIMIT $2"
		args = append(args, limit)
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap("list releases", err)
	}
	rs, err := collect(rows, scanRelease)
	return rs, wrap("list releases", err)
}

// MarkReleased records that the release phase of a release is done; the
// first time counts.
func (s *Store) MarkReleased(ctx context.Context, deploymentID string, at time.Time) error {
	n, err := s.exec(ctx, "UPDATE releases SET released_at = COALESCE(released_at, $2) WHERE deployment_id = $1",
		deploymentID, s.d.timeArg(at))
	if err != nil {
		return wrap("mark released", err)
	}
	if n == 0 {
		return notFound("release", deploymentID)
	}
	return nil
}

// PruneReleases marks pruned the project's final releases beyond the
// newest keep, except production's, and drops their manifests.
func (s *Store) PruneReleases(ctx context.Context, projectID string, keep int, at time.Time) ([]string, error) {
	var pruned []string
	err := s.inTx(ctx, "prune releases", func(tx *sql.Tx) error {
		var production sql.NullString
		err := tx.QueryRowContext(ctx, "SELECT production_id FROM projects WHERE id = $1"+s.d.lockRow(), projectID).Scan(&production)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("project", projectID)
		}
		if err != nil {
			return err
		}
		// Releases whose deployment is still on its way (uploading,
		// queued, building) count towards keep but are never pruned.
		rows, err := tx.QueryContext(ctx, "SELECT r.deployment_id, d.status, r.pruned_at IS NOT NULL FROM releases r "+
			"JOIN deployments d ON d.id = r.deployment_id WHERE r.project_id = $1 ORDER BY r.version DESC", projectID)
		if err != nil {
			return err
		}
		type rel struct {
			id     string
			status apogee.Status
			pruned bool
		}
		all, err := collect(rows, func(row scanner) (r rel, err error) {
			err = row.Scan(&r.id, &r.status, &r.pruned)
			return r, err
		})
		if err != nil {
			return err
		}
		for i, r := range all {
			if i < keep || r.pruned || r.id == production.String || apogee.Building(r.status) || r.status == apogee.StatusUploading {
				continue
			}
			if _, err := tx.ExecContext(ctx, "UPDATE releases SET pruned_at = $2 WHERE deployment_id = $1", r.id, s.d.timeArg(at)); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM deployment_files WHERE deployment_id = $1", r.id); err != nil {
				return err
			}
			pruned = append(pruned, r.id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return pruned, nil
}

// ProductionReleases returns the releases that serve a project's
// production.
func (s *Store) ProductionReleases(ctx context.Context) ([]*apogee.Release, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+prefixed("r.", releaseCols)+" FROM releases r "+
		"JOIN projects p ON p.production_id = r.deployment_id ORDER BY r.project_id")
	if err != nil {
		return nil, wrap("production releases", err)
	}
	rs, err := collect(rows, scanRelease)
	return rs, wrap("production releases", err)
}
