package apogee

import (
	"context"
	"time"
)

// Upload is a pre-signed slot for one ZIP of a project's source tree: it
// is created by the project's owner, takes exactly one PUT of the ZIP
// without a token before ExpiresAt, and is then built with
// BuildRequest.UploadID. BlobSHA256 and Size are set, and UsedAt, when the
// ZIP arrived.
type Upload struct {
	ID         string     `json:"id"`
	ProjectID  string     `json:"project_id"`
	CreatedBy  string     `json:"created_by,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	BlobSHA256 string     `json:"sha256,omitempty"`
	Size       int64      `json:"size,omitempty"`
	UsedAt     *time.Time `json:"used_at,omitempty"`
}

// UploadStore keeps ZIP upload slots. Errors follow the Store
// conventions.
type UploadStore interface {
	// CreateUpload inserts u (unused).
	CreateUpload(ctx context.Context, u *Upload) error
	UploadByID(ctx context.Context, id string) (*Upload, error)
	// UseUpload records that the upload received the blob hash of size
	// bytes at at. It is atomic: of two racing calls one wins and the
	// other gets ECONFLICT, as does any call once the upload is used.
	UseUpload(ctx context.Context, id, hash string, size int64, at time.Time) (*Upload, error)
	// DeleteStaleUploads deletes the uploads created before olderThan
	// whose ZIP no queued or building deployment is built from, and
	// returns how many it deleted: their ZIPs are garbage then, and stop
	// counting against their owner's storage.
	DeleteStaleUploads(ctx context.Context, olderThan time.Time) (int64, error)
}

// UploadResponse answers POST /api/v1/projects/{name}/uploads: PUT the
// ZIP to UploadURL (no token: the URL is signed) before ExpiresAt, then
// POST /api/v1/projects/{name}/builds with {"upload_id": ID}.
type UploadResponse struct {
	ID        string    `json:"id"`
	UploadURL string    `json:"upload_url"`
	ExpiresAt time.Time `json:"expires_at"`
}
