package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/apogee-dev/apogee"
)

var _ apogee.EnvStore = (*Store)(nil)

const envCols = "key, value, secret, updated_at"

func scanEnvVar(row scanner) (*apogee.EnvVar, error) {
	var v apogee.EnvVar
	err := row.Scan(&v.Key, &v.Value, &v.Secret, timeCol{&v.UpdatedAt})
	return &v, err
}

// SetEnv upserts v in one transaction that first locks the project row
// (on PostgreSQL; SQLite's writer holds the database), so the count
// checked against apogee.MaxEnvVars cannot be passed by concurrent calls.
// v.UpdatedAt is set to what was stored.
func (s *Store) SetEnv(ctx context.Context, projectID string, v *apogee.EnvVar) error {
	if v.UpdatedAt.IsZero() {
		v.UpdatedAt = time.Now()
	}
	v.UpdatedAt = normTime(v.UpdatedAt)
	return s.inTx(ctx, "set env", func(tx *sql.Tx) error {
		var id string
		err := tx.QueryRowContext(ctx, "SELECT id FROM projects WHERE id = $1"+s.d.lockRow(), projectID).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("project", projectID)
		}
		if err != nil {
			return err
		}
		var others int
		err = tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM project_env WHERE project_id = $1 AND key <> $2",
			projectID, v.Key).Scan(&others)
		if err != nil {
			return err
		}
		if others >= apogee.MaxEnvVars {
			return apogee.Errorf(apogee.ETOOLARGE,
				"the project has %d environment variables; the limit is %d: remove one before adding %s", others, apogee.MaxEnvVars, v.Key)
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO project_env (project_id, "+envCols+") VALUES ($1, $2, $3, $4, $5) "+
			"ON CONFLICT (project_id, key) DO UPDATE SET value = excluded.value, secret = excluded.secret, updated_at = excluded.updated_at",
			projectID, v.Key, v.Value, v.Secret, s.d.timeArg(v.UpdatedAt))
		return err
	})
}

func (s *Store) ListEnv(ctx context.Context, projectID string) ([]*apogee.EnvVar, error) {
	rows, err := s.rdb.QueryContext(ctx,
		"SELECT "+envCols+" FROM project_env WHERE project_id = $1 ORDER BY key", projectID)
	if err != nil {
		return nil, wrap("list env", err)
	}
	vs, err := collect(rows, scanEnvVar)
	return vs, wrap("list env", err)
}

func (s *Store) DeleteEnv(ctx context.Context, projectID, key string) error {
	n, err := s.exec(ctx, "DELETE FROM project_env WHERE project_id = $1 AND key = $2", projectID, key)
	if err != nil {
		return wrap("delete env", err)
	}
	if n == 0 {
		return notFound("environment variable", key)
	}
	return nil
}
