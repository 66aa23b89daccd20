package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/apogee-dev/apogee"
)

var _ apogee.UploadStore = (*Store)(nil)

const uploadCols = "id, project_id, created_by, created_at, expires_at, blob_sha256, size, used_at"

func scanUpload(row scanner) (*apogee.Upload, error) {
	var u apogee.Upload
	err := row.Scan(&u.ID, &u.ProjectID, &u.CreatedBy, timeCol{&u.CreatedAt}, timeCol{&u.ExpiresAt},
		&u.BlobSHA256, &u.Size, nullTimeCol{&u.UsedAt})
	return &u, err
}

// CreateUpload inserts u unused; u's times are normalized to what was
// stored.
func (s *Store) CreateUpload(ctx context.Context, u *apogee.Upload) error {
	u.CreatedAt, u.ExpiresAt = normTime(u.CreatedAt), normTime(u.ExpiresAt)
	u.BlobSHA256, u.Size, u.UsedAt = "", 0, nil
	_, err := s.exec(ctx, "INSERT INTO uploads (id, project_id, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
		u.ID, u.ProjectID, u.CreatedBy, s.d.timeArg(u.CreatedAt), s.d.timeArg(u.ExpiresAt))
	switch {
	case isUnique(err):
		return apogee.Errorf(apogee.ECONFLICT, "upload %q exists", u.ID)
	case isForeignKey(err):
		return notFound("project", u.ProjectID)
	}
	return wrap("create upload", err)
}

func (s *Store) UploadByID(ctx context.Context, id string) (*apogee.Upload, error) {
	u, err := scanUpload(s.rdb.QueryRowContext(ctx, "SELECT "+uploadCols+" FROM uploads WHERE id = $1", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("upload", id)
	}
	if err != nil {
		return nil, wrap("upload by id", err)
	}
	return u, nil
}

// UseUpload sets the upload's blob, size and used_at in one conditional
// UPDATE, so of two racing calls exactly one wins.
func (s *Store) UseUpload(ctx context.Context, id, hash string, size int64, at time.Time) (*apogee.Upload, error) {
	u, err := scanUpload(s.db.QueryRowContext(ctx,
		"UPDATE uploads SET blob_sha256 = $2, size = $3, used_at = $4 WHERE id = $1 AND used_at IS NULL RETURNING "+uploadCols,
		id, hash, size, s.d.timeArg(at)))
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := s.UploadByID(ctx, id); err != nil {
			return nil, err
		}
		return nil, apogee.Errorf(apogee.ECONFLICT, "upload %s has received its ZIP already", id)
	}
	if err != nil {
		return nil, wrap("use upload", err)
	}
	return u, nil
}

// DeleteStaleUploads deletes old uploads no waiting or running build
// reads.
func (s *Store) DeleteStaleUploads(ctx context.Context, olderThan time.Time) (int64, error) {
	n, err := s.exec(ctx, `DELETE FROM uploads WHERE created_at < $1 AND NOT EXISTS (
		SELECT 1 FROM deployments d WHERE d.source_blob = uploads.blob_sha256 AND uploads.blob_sha256 <> ''
		AND d.status IN ($2, $3))`, s.d.timeArg(olderThan), apogee.StatusQueued, apogee.StatusBuilding)
	return n, wrap("delete stale uploads", err)
}
