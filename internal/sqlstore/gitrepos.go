package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/apogee-dev/apogee"
)

var _ apogee.GitRepoStore = (*Store)(nil)

// gitRepo reads project id's record and its bundles through q.
func (s *Store) gitRepo(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}, projectID string) (*apogee.GitRepo, error) {
	r := &apogee.GitRepo{ProjectID: projectID}
	var until *time.Time
	err := q.QueryRowContext(ctx, "SELECT version, refs, lease_holder, lease_until, updated_at FROM git_repos WHERE project_id = $1", projectID).
		Scan(&r.Version, &r.Refs, &r.LeaseHolder, nullTimeCol{&until}, timeCol{&r.UpdatedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("repository of project", projectID)
	}
	if err != nil {
		return nil, err
	}
	if until != nil {
		r.LeaseUntil = *until
	}
	rows, err := q.QueryContext(ctx, "SELECT sha256 FROM git_bundles WHERE project_id = $1 ORDER BY seq", projectID)
	if err != nil {
		return nil, err
	}
	r.Bundles, err = collect(rows, func(row scanner) (h string, err error) {
		err = row.Scan(&h)
		return h, err
	})
	if err != nil {
		return nil, err
	}
	if r.Bundles == nil {
		r.Bundles = []string{}
	}
	return r, nil
}

func (s *Store) GitRepo(ctx context.Context, projectID string) (*apogee.GitRepo, error) {
	r, err := s.gitRepo(ctx, s.rdb, projectID)
	return r, wrap("git repository", err)
}

func (s *Store) LeaseGitRepo(ctx context.Context, projectID, holder string, until, now time.Time) (*apogee.GitRepo, error) {
	if holder == "" {
		return nil, apogee.Errorf(apogee.EINVALID, "a git repository lease needs a holder")
	}
	var r *apogee.GitRepo
	err := s.inTx(ctx, "lease git repository", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO git_repos (project_id, updated_at) VALUES ($1, $2) ON CONFLICT (project_id) DO NOTHING",
			projectID, s.d.timeArg(now))
		if isForeignKey(err) {
			return notFound("project", projectID)
		}
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE git_repos SET lease_holder = $2, lease_until = $3
			WHERE project_id = $1 AND (lease_holder = '' OR lease_holder = $2 OR lease_until IS NULL OR lease_until <= $4)`,
			projectID, holder, s.d.timeArg(until), s.d.timeArg(now))
		if err != nil {
			return err
		}
		r, err = s.gitRepo(ctx, tx, projectID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return apogee.Errorf(apogee.ECONFLICT, "another push to this project's repository is under way (on %s, until %s)",
				r.LeaseHolder, r.LeaseUntil.UTC().Format(time.RFC3339))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (s *Store) SaveGitRepo(ctx context.Context, r *apogee.GitRepo, holder string) error {
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = time.Now()
	}
	r.UpdatedAt = normTime(r.UpdatedAt)
	return s.inTx(ctx, "save git repository", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE git_repos SET version = $2, refs = $3, updated_at = $4
			WHERE project_id = $1 AND version = $5 AND lease_holder = $6`,
			r.ProjectID, r.Version, r.Refs, s.d.timeArg(r.UpdatedAt), r.Version-1, holder)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return apogee.Errorf(apogee.ECONFLICT, "the repository of project %s changed meanwhile, or this push's lease was taken over: push again", r.ProjectID)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM git_bundles WHERE project_id = $1", r.ProjectID); err != nil {
			return err
		}
		for i, h := range r.Bundles {
			if !apogee.ValidHash(h) {
				return apogee.Errorf(apogee.EINVALID, "bundle %q is not a blob hash", h)
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO git_bundles (project_id, seq, sha256) VALUES ($1, $2, $3)", r.ProjectID, i, h); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Store) ReleaseGitRepo(ctx context.Context, projectID, holder string) error {
	_, err := s.exec(ctx, "UPDATE git_repos SET lease_holder = '', lease_until = NULL WHERE project_id = $1 AND lease_holder = $2", projectID, holder)
	return wrap("release git repository", err)
}
