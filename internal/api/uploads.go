package api

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/apogee-dev/apogee"
)

// Defaults of ZIP uploads.
const (
	DefaultMaxZipSize = 500 << 20
	DefaultUploadTTL  = 15 * time.Minute
)

type uploadConfig struct {
	key     []byte
	maxSize int64
	ttl     time.Duration
}

func newUploadConfig(cfg Config) uploadConfig {
	c := uploadConfig{key: cfg.UploadKey, maxSize: cfg.MaxZipSize, ttl: cfg.UploadTTL}
	if len(c.key) == 0 {
		c.key = make([]byte, 32)
		rand.Read(c.key)
	}
	if c.maxSize <= 0 {
		c.maxSize = DefaultMaxZipSize
	}
	if c.ttl <= 0 {
		c.ttl = DefaultUploadTTL
	}
	return c
}

// sign returns the signature of an upload URL: HMAC-SHA256 under the
// upload key of the upload's id and expiry, base64url without padding.
func (c uploadConfig) sign(id string, expires int64) string {
	mac := hmac.New(sha256.New, c.key)
	fmt.Fprintf(mac, "apogee-upload\x00%s\x00%d", id, expires)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// createUpload makes a pre-signed URL that takes one PUT of a ZIP of the
// project's source tree, without a token, until it expires.
func (a *API) createUpload(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	p, err := a.project(r, u, r.PathValue("name"))
	if err != nil {
		return err
	}
	if _, _, err := a.checkBuild(r.Context(), p); err != nil {
		return err // refused before the ZIP is sent, not after
	}
	now := a.now().UTC()
	up := &apogee.Upload{ID: apogee.NewID(), ProjectID: p.ID, CreatedBy: u.ID, CreatedAt: now,
		ExpiresAt: now.Add(a.uploads.ttl).Truncate(time.Second)}
	if err := a.store.CreateUpload(r.Context(), up); err != nil {
		return fmt.Errorf("api: create upload: %w", err)
	}
	exp := up.ExpiresAt.Unix()
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	uploadURL := fmt.Sprintf("%s://%s/api/v1/uploads/%s?expires=%d&sig=%s", scheme, r.Host, up.ID, exp, a.uploads.sign(up.ID, exp))
	a.log.Info("upload created", "project", p.Name, "upload", up.ID, "user", u.ID)
	writeJSON(w, http.StatusCreated, apogee.UploadResponse{ID: up.ID, UploadURL: uploadURL, ExpiresAt: up.ExpiresAt})
	return nil
}

// zipMagic are the first bytes of a ZIP: a local file header, or the
// end of central directory record of an empty archive.
var zipMagic = [][]byte{[]byte("PK\x03\x04"), []byte("PK\x05\x06")}

// putUpload receives the ZIP of a pre-signed upload: the signature
// (403), the expiry (403 with what to do), that the upload has no ZIP
// yet (409) and the size limit (413) are checked; the body is hashed as
// it streams to a temporary file and stored as a blob; the upload then
// records it, once: of two racing PUTs one wins and the other gets 409.
func (a *API) putUpload(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	q := r.URL.Query()
	exp, err := strconv.ParseInt(q.Get("expires"), 10, 64)
	if err != nil || !hmac.Equal([]byte(q.Get("sig")), []byte(a.uploads.sign(id, exp))) {
		return apogee.Errorf(apogee.EFORBIDDEN, "the upload URL's signature is missing or wrong; use upload_url exactly as POST /api/v1/projects/{name}/uploads answered it")
	}
	if now := a.now(); now.Unix() > exp {
		return apogee.Errorf(apogee.EFORBIDDEN, "the upload URL expired at %s; ask for a new one (POST /api/v1/projects/{name}/uploads, or run `apogee deploy --zip` again)",
			time.Unix(exp, 0).UTC().Format(time.RFC3339))
	}
	up, err := a.store.UploadByID(r.Context(), id)
	if errors.Is(err, apogee.ErrNotFound) {
		return apogee.Errorf(apogee.ENOTFOUND, "upload %s not found (its project may have been deleted)", id)
	}
	if err != nil {
		return fmt.Errorf("api: look up upload: %w", err)
	}
	if up.UsedAt != nil {
		return errUploadUsed(id)
	}
	max := a.uploads.maxSize
	if r.ContentLength > max {
		return apogee.Errorf(apogee.ETOOLARGE, "the ZIP is %d bytes; the limit is %d", r.ContentLength, max)
	}

	tmp, err := os.CreateTemp("", "apogee-upload-*.zip")
	if err != nil {
		return fmt.Errorf("api: upload: temporary file: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return apogee.Errorf(apogee.ETOOLARGE, "the ZIP is larger than the limit of %d bytes", max)
		}
		return apogee.Errorf(apogee.EINVALID, "the ZIP did not arrive whole: %v", err)
	}
	var head [4]byte
	if _, err := tmp.ReadAt(head[:], 0); err != nil || !bytes.Equal(head[:], zipMagic[0]) && !bytes.Equal(head[:], zipMagic[1]) {
		return apogee.Errorf(apogee.EINVALID, "the upload is not a ZIP file; send the bytes of a .zip of the source tree")
	}
	hash := hex.EncodeToString(h.Sum(nil))
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("api: upload: %w", err)
	}
	if _, err := a.blobs.Put(r.Context(), hash, tmp, max); err != nil {
		return fmt.Errorf("api: store ZIP %s: %w", hash, err)
	}
	up, err = a.store.UseUpload(r.Context(), id, hash, n, a.now().UTC())
	if apogee.ErrorCode(err) == apogee.ECONFLICT {
		return errUploadUsed(id)
	}
	if err != nil {
		return fmt.Errorf("api: record upload: %w", err)
	}
	a.metrics.uploadBytes.Add(float64(n))
	a.log.Info("upload received", "upload", id, "project_id", up.ProjectID, "size", n, "sha256", hash)
	writeJSON(w, http.StatusCreated, map[string]any{"id": id, "sha256": hash, "size": n})
	return nil
}

func errUploadUsed(id string) error {
	return apogee.Errorf(apogee.ECONFLICT, "upload %s has received its ZIP already; an upload URL takes one PUT (ask for a new one to send another ZIP)", id)
}

// queueZipBuild queues a build of the ZIP an upload of p received. It
// goes to production unless req.Target says otherwise.
func (a *API) queueZipBuild(w http.ResponseWriter, r *http.Request, u *apogee.User, p *apogee.Project, req apogee.BuildRequest) error {
	if req.Ref != "" {
		return apogee.Errorf(apogee.EINVALID, "ref is for builds from Git; a ZIP build takes upload_id alone")
	}
	up, err := a.store.UploadByID(r.Context(), req.UploadID)
	if errors.Is(err, apogee.ErrNotFound) || err == nil && up.ProjectID != p.ID {
		return apogee.Errorf(apogee.ENOTFOUND, "upload %q of project %s not found", req.UploadID, p.Name)
	}
	if err != nil {
		return fmt.Errorf("api: look up upload: %w", err)
	}
	if up.UsedAt == nil {
		return apogee.Errorf(apogee.ECONFLICT, "upload %s has not received its ZIP; PUT the ZIP to its upload_url first", up.ID)
	}
	target := req.Target
	switch target {
	case "":
		target = apogee.TargetProduction
	case apogee.TargetProduction, apogee.TargetPreview:
	default:
		return apogee.Errorf(apogee.EINVALID, "target %q must be \"production\" or \"preview\"", target)
	}
	d, err := a.queue(r.Context(), p, &apogee.Deployment{
		Target: target, CreatedBy: u.ID, Source: apogee.SourceZip, SourceBlob: up.BlobSHA256, NoCache: req.NoCache,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, a.view(d, p))
	return nil
}
