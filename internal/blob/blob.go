// Package blob is Apogee's content-addressed blob store, built on
// gocloud.dev/blob so that the backend is chosen by URL: a folder on disk
// (file://), S3 or an S3-compatible service such as MinIO (s3://), or Azure
// Blob Storage (azblob://).
//
// A blob with SHA-256 h is stored under the key "sha256/<h[:2]>/<h>".
package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/azureblob" // registers azblob://
	_ "gocloud.dev/blob/fileblob"  // registers file://
	_ "gocloud.dev/blob/s3blob"    // registers s3://
	"gocloud.dev/gcerrors"
	"golang.org/x/sync/errgroup"

	"github.com/apogee-dev/apogee"
)

// Schemes are the URL schemes Open accepts.
var Schemes = []string{"file", "s3", "azblob"}

// keyPrefix is the folder every blob key starts with, named after the hash
// so that another algorithm could sit beside it one day.
const keyPrefix = "sha256/"

// missingConcurrency bounds the Exists calls one Missing call runs at once.
const missingConcurrency = 16

// Store is an apogee.Blobs on a gocloud bucket. It is safe for concurrent
// use.
type Store struct {
	bucket *blob.Bucket
}

var _ apogee.Blobs = (*Store)(nil)

// Open opens the blob store at rawURL:
//
//	file:///var/lib/apogee/blobs            a folder, created if missing
//	/var/lib/apogee/blobs                   the same; a bare path means file://
//	s3://bucket?region=us-east-1            AWS S3, credentials from the usual AWS sources
//	s3://bucket?endpoint=http://minio:9000&region=us-east-1&use_path_style=true
//	azblob://container                      Azure, account from AZURE_STORAGE_* variables
//
// Every backend also accepts prefix=some/folder/ to share a bucket. The
// query parameters are gocloud's; see gocloud.dev/blob/s3blob and
// gocloud.dev/aws for S3's. S3-compatible services that reject the AWS
// SDK's default CRC checksums want request_checksum_calculation=when_required
// and response_checksum_validation=when_required.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	u, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	b, err := blob.OpenBucket(ctx, u.String())
	if err != nil {
		return nil, fmt.Errorf("blob: open %s: %w", redact(u), err)
	}
	return &Store{bucket: b}, nil
}

// parseURL checks the scheme of rawURL and, for file://, adds the options
// a data folder needs unless the URL sets them itself.
func parseURL(rawURL string) (*url.URL, error) {
	if rawURL == "" {
		return nil, apogee.Errorf(apogee.EINVALID, "the blob store URL is empty; use one of %s", schemeList())
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" || len(u.Scheme) == 1 { // one letter: a Windows drive
		abs, err := filepath.Abs(rawURL)
		if err != nil {
			return nil, fmt.Errorf("blob: open %s: %w", rawURL, err)
		}
		u = &url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}
	}
	switch u.Scheme {
	case "file":
		q := u.Query()
		setDefault(q, "create_dir", "true")
		// Write temporary files beside their final path: os.TempDir is
		// often on another mount than the data folder, and rename(2)
		// cannot cross mounts.
		setDefault(q, "no_tmp_dir", "true")
		// The blob's name is its checksum; a sidecar attributes file per
		// blob would only double the number of files.
		setDefault(q, "metadata", "skip")
		u.RawQuery = q.Encode()
	case "s3", "azblob":
	default:
		return nil, apogee.Errorf(apogee.EINVALID, "blob store URL scheme %q is not supported; use one of %s", u.Scheme, schemeList())
	}
	return u, nil
}

func setDefault(q url.Values, key, value string) {
	if !q.Has(key) {
		q.Set(key, value)
	}
}

func schemeList() string {
	s := make([]string, len(Schemes))
	for i, scheme := range Schemes {
		s[i] = scheme + "://"
	}
	return strings.Join(s, ", ")
}

// redact returns u without user info, for error messages.
func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

// blobKey returns the bucket key of the blob with the given hash.
func blobKey(hash string) string {
	return keyPrefix + hash[:2] + "/" + hash
}

// hashOf returns the hash a key names, or false for a key that is not a
// blob, such as a temporary file left by a crash.
func hashOf(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, keyPrefix)
	if !ok {
		return "", false
	}
	dir, hash, ok := strings.Cut(rest, "/")
	if !ok || !apogee.ValidHash(hash) || dir != hash[:2] {
		return "", false
	}
	return hash, true
}

func checkHash(hash string) error {
	if !apogee.ValidHash(hash) {
		return apogee.Errorf(apogee.EINVALID, "%q is not a sha256: want 64 lower-case hex digits", hash)
	}
	return nil
}

// Missing returns, in input order, the hashes that are not stored. It
// returns EINVALID, and checks nothing, if any hash is malformed.
func (s *Store) Missing(ctx context.Context, hashes []string) ([]string, error) {
	for _, h := range hashes {
		if err := checkHash(h); err != nil {
			return nil, err
		}
	}
	exists := make([]bool, len(hashes))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(missingConcurrency)
	for i, h := range hashes {
		g.Go(func() error {
			ok, err := s.bucket.Exists(ctx, blobKey(h))
			if err != nil {
				return fmt.Errorf("blob: exists %s: %w", h, err)
			}
			exists[i] = ok
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var missing []string
	for i, h := range hashes {
		if !exists[i] {
			missing = append(missing, h)
		}
	}
	return missing, nil
}

// Put stores the blob read from r under hash and returns the number of
// bytes read. It returns EINVALID if hash is malformed or the bytes do not
// hash to it, and ETOOLARGE once more than max bytes arrive (max <= 0: no
// limit). On any error, cancellation included, nothing is stored.
//
// If the blob is stored already, Put still reads and checks the bytes, so
// that a caller cannot claim a hash it does not have, but does not write
// them again.
func (s *Store) Put(ctx context.Context, hash string, r io.Reader, max int64) (int64, error) {
	if err := checkHash(hash); err != nil {
		return 0, err
	}
	key := blobKey(hash)
	n, err := s.put(ctx, hash, key, r, max)
	if err != nil {
		return n, fmt.Errorf("blob: put %s: %w", hash, storageError(err))
	}
	return n, nil
}

// storageError gives a write that failed for want of room or of
// permission its code: ESTORAGEFULL (507) for a full disk or quota,
// EUNAVAILABLE (503) for a read-only or forbidden folder, the cause kept
// for the log. Other errors are returned as they are.
func storageError(err error) error {
	var e *apogee.Error
	if errors.As(err, &e) {
		return err // a refusal of the upload itself (ETOOLARGE, EINVALID)
	}
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return &apogee.Error{Code: apogee.ESTORAGEFULL, Err: err,
			Message: "storage full: the server has no room for this file; nothing was stored (its admin must free space or add some)"}
	case errors.Is(err, syscall.EROFS), errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return &apogee.Error{Code: apogee.EUNAVAILABLE, Err: err,
			Message: "storage not writable: the server cannot store files now; nothing was stored (its admin must check the blob store), try again later"}
	}
	return err
}

func (s *Store) put(ctx context.Context, hash, key string, r io.Reader, max int64) (int64, error) {
	exists, err := s.bucket.Exists(ctx, key)
	if err != nil {
		return 0, err
	}
	if exists {
		return verify(ctx, hash, io.Discard, r, max)
	}

	// Cancelling wctx before Close is gocloud's way to abort a write: the
	// file driver removes its temporary file instead of renaming it, and
	// the S3 driver never completes the upload.
	wctx, abort := context.WithCancel(ctx)
	defer abort()
	var file *os.File // the file driver's temporary file
	w, err := s.bucket.NewWriter(wctx, key, &blob.WriterOptions{
		ContentType: "application/octet-stream",
		BeforeWrite: func(as func(any) bool) error {
			as(&file)
			return nil
		},
	})
	if err != nil {
		return 0, err
	}
	n, err := verify(ctx, hash, w, r, max)
	if err == nil && file != nil {
		// A blob's name promises its bytes, and once it exists Missing
		// never asks for it again: get them on disk before the file driver
		// renames the file into place, or a crash could leave an empty
		// file under the name for good. (A lost rename is harmless: the
		// blob is just missing.)
		err = file.Sync()
	}
	if err != nil {
		abort()
		_ = w.Close() // reports the cancellation we asked for
		return n, err
	}
	return n, w.Close()
}

// verify copies r to w while hashing it, and fails if r holds more than max
// bytes (max > 0), if its bytes do not hash to hash, or if ctx ends first.
func verify(ctx context.Context, hash string, w io.Writer, r io.Reader, max int64) (int64, error) {
	if max > 0 {
		r = io.LimitReader(r, max+1)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), ctxReader{ctx, r})
	if err != nil {
		return n, err
	}
	if err := ctx.Err(); err != nil {
		return n, err
	}
	if max > 0 && n > max {
		return n, apogee.Errorf(apogee.ETOOLARGE, "file is larger than the limit of %d bytes", max)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != hash {
		return n, apogee.Errorf(apogee.EINVALID, "bytes do not match sha256 %s (they hash to %s); the upload was corrupted or the manifest is wrong", hash, got)
	}
	return n, nil
}

// ctxReader stops reading once ctx ends, so that a cancelled Put does not
// wait for a slow client to finish sending.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Get returns the bytes of the blob with the given hash, or an error
// matching apogee.ErrNotFound if it is not stored.
func (s *Store) Get(ctx context.Context, hash string) ([]byte, error) {
	if err := checkHash(hash); err != nil {
		return nil, err
	}
	b, err := s.bucket.ReadAll(ctx, blobKey(hash))
	if err != nil {
		return nil, fmt.Errorf("blob: get %s: %w", hash, notFound(hash, err))
	}
	return b, nil
}

// Size returns the size in bytes of the blob with the given hash, or an
// error matching apogee.ErrNotFound if it is not stored.
func (s *Store) Size(ctx context.Context, hash string) (int64, error) {
	if err := checkHash(hash); err != nil {
		return 0, err
	}
	a, err := s.bucket.Attributes(ctx, blobKey(hash))
	if err != nil {
		return 0, fmt.Errorf("blob: size of %s: %w", hash, notFound(hash, err))
	}
	return a.Size, nil
}

// Open returns a reader of length bytes of the blob with the given hash
// from offset (length < 0: up to its end; past the end it reads what
// there is), or an error matching apogee.ErrNotFound if it is not stored.
// offset must lie inside the blob: S3 refuses a range that starts at or
// past the end. Open reads only that range from the backend (a ranged GET
// on S3 and Azure, a seek on a folder), so a caller can stream a blob of
// any size, or a part of it, in bounded memory. Reads fail once ctx ends;
// the caller must close the reader.
func (s *Store) Open(ctx context.Context, hash string, offset, length int64) (io.ReadCloser, error) {
	if err := checkHash(hash); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, apogee.Errorf(apogee.EINVALID, "blob %s: negative offset %d", hash, offset)
	}
	r, err := s.bucket.NewRangeReader(ctx, blobKey(hash), offset, length, nil)
	if err != nil {
		return nil, fmt.Errorf("blob: open %s: %w", hash, notFound(hash, err))
	}
	// The file driver reads on after ctx ends; the others do not.
	return struct {
		io.Reader
		io.Closer
	}{ctxReader{ctx, r}, r}, nil
}

// notFound turns gocloud's NotFound into an apogee ENOTFOUND error that
// keeps the cause.
func notFound(hash string, err error) error {
	if gcerrors.Code(err) == gcerrors.NotFound {
		return &apogee.Error{Code: apogee.ENOTFOUND, Message: fmt.Sprintf("blob %s is not stored", hash), Err: err}
	}
	return err
}

// Delete removes the blob with the given hash. Deleting a blob that is not
// stored is not an error. Callers must make sure no deployment refers to
// the blob and no upload of it is under way.
func (s *Store) Delete(ctx context.Context, hash string) error {
	if err := checkHash(hash); err != nil {
		return err
	}
	err := s.bucket.Delete(ctx, blobKey(hash))
	if err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("blob: delete %s: %w", hash, err)
	}
	return nil
}

// Walk calls fn for every stored blob, in no promised order, and stops at
// the first error fn returns, which it returns as is. Blobs put or deleted
// during the walk may or may not be seen. Keys that do not name a blob,
// such as temporary files, are skipped.
func (s *Store) Walk(ctx context.Context, fn func(hash string, size int64, modTime time.Time) error) error {
	it := s.bucket.List(&blob.ListOptions{Prefix: keyPrefix})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("blob: walk: %w", err)
		}
		hash, ok := hashOf(obj.Key)
		if !ok || obj.IsDir {
			continue
		}
		if err := fn(hash, obj.Size, obj.ModTime); err != nil {
			return err
		}
	}
}

// Close closes the bucket. Calls in flight must have returned.
func (s *Store) Close() error {
	if err := s.bucket.Close(); err != nil {
		return fmt.Errorf("blob: close: %w", err)
	}
	return nil
}
