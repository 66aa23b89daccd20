package platform

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/apogee-dev/apogee"
)

// ZIP uploads: a pre-signed slot takes one ZIP of a project's source,
// without a token (the URL is signed), which a build then unpacks
// (BuildRequest.UploadID). The dashboard's form sends its ZIP in one
// call as the signed-in user (UploadZip).

// sign returns the signature of an upload URL: HMAC-SHA256 under the
// upload key of the upload's id and expiry, base64url without padding.
func (pl *Platform) sign(id string, expires int64) string {
	mac := hmac.New(sha256.New, pl.cfg.UploadKey)
	fmt.Fprintf(mac, "apogee-upload\x00%s\x00%d", id, expires)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// newUpload makes an upload slot of project for the acting user, once
// the owner may build (refused before the ZIP is sent, not after).
func (pl *Platform) newUpload(ctx context.Context, project string) (*apogee.Project, *apogee.Upload, error) {
	u, p, err := pl.project(ctx, project, needChange)
	if err != nil {
		return nil, nil, err
	}
	if _, _, err := pl.checkBuild(ctx, p); err != nil {
		return nil, nil, err
	}
	now := pl.now().UTC()
	up := &apogee.Upload{ID: apogee.NewID(), ProjectID: p.ID, CreatedBy: u.ID, CreatedAt: now,
		ExpiresAt: now.Add(pl.cfg.UploadTTL).Truncate(time.Second)}
	if err := pl.store.CreateUpload(ctx, up); err != nil {
		return nil, nil, fmt.Errorf("platform: create upload: %w", err)
	}
	pl.log.Info("upload created", "project", p.Name, "upload", up.ID, "user", u.ID)
	pl.recordProject(ctx, u, p, "upload.create", up.ID, "")
	return p, up, nil
}

func (pl builds) CreateUpload(ctx context.Context, project, baseURL string) (*apogee.UploadResponse, error) {
	_, up, err := pl.newUpload(ctx, project)
	if err != nil {
		return nil, err
	}
	exp := up.ExpiresAt.Unix()
	return &apogee.UploadResponse{
		ID:        up.ID,
		UploadURL: fmt.Sprintf("%s/api/v1/uploads/%s?expires=%d&sig=%s", baseURL, up.ID, exp, pl.sign(up.ID, exp)),
		ExpiresAt: up.ExpiresAt,
	}, nil
}

// PutUpload checks the signature and expiry (EFORBIDDEN), that the
// upload has no ZIP yet (ECONFLICT) and receives it.
func (pl builds) PutUpload(ctx context.Context, id string, expires int64, sig string, r io.Reader, size int64) (*apogee.Upload, error) {
	if !hmac.Equal([]byte(sig), []byte(pl.sign(id, expires))) {
		return nil, apogee.Errorf(apogee.EFORBIDDEN, "the upload URL's signature is missing or wrong; use the upload URL exactly as it was given")
	}
	if pl.now().Unix() > expires {
		return nil, apogee.Errorf(apogee.EFORBIDDEN, "the upload URL expired at %s; ask for a new one",
			time.Unix(expires, 0).UTC().Format(time.RFC3339))
	}
	up, err := pl.store.UploadByID(ctx, id)
	if errors.Is(err, apogee.ErrNotFound) {
		return nil, apogee.Errorf(apogee.ENOTFOUND, "upload %s not found (its project may have been deleted)", id)
	}
	if err != nil {
		return nil, fmt.Errorf("platform: look up upload: %w", err)
	}
	return pl.receiveZip(ctx, up, r, size)
}

func (pl builds) UploadZip(ctx context.Context, project string, r io.Reader) (*apogee.Upload, error) {
	_, up, err := pl.newUpload(ctx, project)
	if err != nil {
		return nil, err
	}
	return pl.receiveZip(ctx, up, r, -1)
}

// zipMagic are the first bytes of a ZIP: a local file header, or the
// end of central directory record of an empty archive.
var zipMagic = [][]byte{[]byte("PK\x03\x04"), []byte("PK\x05\x06")}

// receiveZip takes the ZIP of upload up from r (size bytes, -1 if not
// known): the size limit (ETOOLARGE), that it is a ZIP (EINVALID); the
// bytes are hashed as they stream to a temporary file and stored as a
// blob; the upload then records it, once: of two racing receipts one wins
// and the other gets ECONFLICT.
func (pl *Platform) receiveZip(ctx context.Context, up *apogee.Upload, r io.Reader, size int64) (*apogee.Upload, error) {
	if up.UsedAt != nil {
		return nil, errUploadUsed(up.ID)
	}
	max := pl.cfg.MaxZipSize
	if size > max {
		return nil, apogee.Errorf(apogee.ETOOLARGE, "the ZIP is %d bytes; the limit is %d", size, max)
	}
	tmp, err := os.CreateTemp("", "apogee-upload-*.zip")
	if err != nil {
		return nil, fmt.Errorf("platform: upload: temporary file: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, max+1))
	if err != nil {
		return nil, apogee.Errorf(apogee.EINVALID, "the ZIP did not arrive whole: %v", err)
	}
	if n > max {
		return nil, apogee.Errorf(apogee.ETOOLARGE, "the ZIP is larger than the limit of %d bytes", max)
	}
	var head [4]byte
	if _, err := tmp.ReadAt(head[:], 0); err != nil || !bytes.Equal(head[:], zipMagic[0]) && !bytes.Equal(head[:], zipMagic[1]) {
		return nil, apogee.Errorf(apogee.EINVALID, "the upload is not a ZIP file; send the bytes of a .zip of the source tree")
	}
	hash := hex.EncodeToString(h.Sum(nil))
	// A ZIP counts against its project owner's storage until it is
	// cleaned up, built or not.
	p, err := pl.store.ProjectByID(ctx, up.ProjectID)
	if err != nil {
		return nil, fmt.Errorf("platform: project of upload %s: %w", up.ID, err)
	}
	if err := pl.checkStorageBytes(ctx, p.OwnerID, n, "the ZIP"); err != nil {
		return nil, err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("platform: upload: %w", err)
	}
	if _, err := pl.blobs.Put(ctx, hash, tmp, max); err != nil {
		return nil, fmt.Errorf("platform: store the ZIP of upload %s: %w", up.ID, err)
	}
	used, err := pl.store.UseUpload(ctx, up.ID, hash, n, pl.now().UTC())
	if apogee.ErrorCode(err) == apogee.ECONFLICT {
		return nil, errUploadUsed(up.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("platform: record upload: %w", err)
	}
	// Whoever sent the bytes holds them, for the project's owner (the
	// ZIP's hash is never logged: it is a capability).
	if err := pl.store.HoldBlobs(ctx, p.OwnerID, []apogee.HeldBlob{{SHA256: hash, Size: n}}, pl.now().UTC()); err != nil {
		return nil, fmt.Errorf("platform: record a held blob: %w", err)
	}
	pl.metrics.uploadBytes.Add(float64(n))
	pl.log.Info("upload received", "upload", up.ID, "project_id", up.ProjectID, "size", n)
	return used, nil
}

func errUploadUsed(id string) error {
	return apogee.Errorf(apogee.ECONFLICT, "upload %s has received its ZIP already; an upload URL takes one ZIP (ask for a new one to send another)", id)
}

// queueZip queues a build of the ZIP an upload of p received. It goes to
// production unless req.Target says otherwise.
func (pl *Platform) queueZip(ctx context.Context, u *apogee.User, p *apogee.Project, req apogee.BuildRequest) (*apogee.Deployment, error) {
	if req.Ref != "" {
		return nil, apogee.Errorf(apogee.EINVALID, "ref is for builds from Git; a ZIP build takes upload_id alone")
	}
	up, err := pl.store.UploadByID(ctx, req.UploadID)
	if errors.Is(err, apogee.ErrNotFound) || err == nil && up.ProjectID != p.ID {
		return nil, apogee.Errorf(apogee.ENOTFOUND, "upload %q of project %s not found", req.UploadID, p.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("platform: look up upload: %w", err)
	}
	if up.UsedAt == nil {
		return nil, apogee.Errorf(apogee.ECONFLICT, "upload %s has not received its ZIP; send the ZIP to its upload URL first", up.ID)
	}
	target := req.Target
	switch target {
	case "":
		target = apogee.TargetProduction
	case apogee.TargetProduction, apogee.TargetPreview:
	default:
		return nil, apogee.Errorf(apogee.EINVALID, "target %q must be \"production\" or \"preview\"", target)
	}
	return pl.queue(ctx, p, &apogee.Deployment{
		Target: target, CreatedBy: u.ID, Source: apogee.SourceZip, SourceBlob: up.BlobSHA256, NoCache: req.NoCache,
	})
}
