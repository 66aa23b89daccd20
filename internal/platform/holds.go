package platform

import (
	"context"
	"fmt"

	"github.com/apogee-dev/apogee"
)

// A blob's hash is a capability: serving a deployment whose manifest
// names a hash serves that blob's bytes, so a manifest may reference a
// blob the server has without sending it only if the project's owner
// holds it (apogee.BlobHoldStore): they uploaded its bytes, or a build of
// theirs produced them. Everyone else is asked for the bytes, as if the
// server lacked them ("missing"): the upload proves possession, and the
// blob is still stored once. Existence of another account's blob is
// never confirmed.

// missingFor returns, in manifest order, the distinct hashes of files
// that ownerID must upload: those the blob store lacks and those the
// owner does not hold. held are the owner's holdings among files.
func (pl *Platform) missingFor(ctx context.Context, ownerID string, files []apogee.File) (missing []string, held map[string]int64, err error) {
	hashes := distinctHashes(files)
	lacking, err := pl.blobs.Missing(ctx, hashes)
	if err != nil {
		return nil, nil, fmt.Errorf("platform: check blobs: %w", err)
	}
	held, err = pl.store.HeldBlobs(ctx, ownerID, hashes)
	if err != nil {
		return nil, nil, fmt.Errorf("platform: check held blobs: %w", err)
	}
	gone := make(map[string]bool, len(lacking))
	for _, h := range lacking {
		gone[h] = true
		delete(held, h) // held once, deleted since: send it again
	}
	missing = []string{}
	for _, h := range hashes {
		if _, ok := held[h]; gone[h] || !ok {
			missing = append(missing, h)
		}
	}
	return missing, held, nil
}

// checkSizes checks that every file of files whose blob ownerID holds
// has the blob's size: a manifest's sizes are what the edge sends as
// Content-Length and what storage quotas count. Sizes recorded before
// they were checked (-1) are asked of the blob store and recorded.
func (pl *Platform) checkSizes(ctx context.Context, ownerID string, files []apogee.File, held map[string]int64) error {
	var learned []apogee.HeldBlob
	for _, f := range files {
		n, ok := held[f.SHA256]
		if !ok {
			continue
		}
		if n < 0 {
			size, err := pl.blobs.Size(ctx, f.SHA256)
			if err != nil {
				return fmt.Errorf("platform: size of a blob: %w", err)
			}
			n, held[f.SHA256] = size, size
			learned = append(learned, apogee.HeldBlob{SHA256: f.SHA256, Size: size})
		}
		if f.Size != n {
			return apogee.Errorf(apogee.EINVALID, "file %s: the manifest says %d bytes, but its content is %d bytes; send the files' real sizes", f.Path, f.Size, n)
		}
	}
	if len(learned) > 0 {
		if err := pl.store.HoldBlobs(ctx, ownerID, learned, pl.now().UTC()); err != nil {
			return fmt.Errorf("platform: record blob sizes: %w", err)
		}
	}
	return nil
}

// hold records that ownerID holds the blobs of files (a build's output,
// whose bytes the server itself read).
func (pl *Platform) hold(ctx context.Context, ownerID string, files []apogee.File) error {
	blobs := make([]apogee.HeldBlob, len(files))
	for i, f := range files {
		blobs[i] = apogee.HeldBlob{SHA256: f.SHA256, Size: f.Size}
	}
	if err := pl.store.HoldBlobs(ctx, ownerID, blobs, pl.now().UTC()); err != nil {
		return fmt.Errorf("platform: record held blobs: %w", err)
	}
	return nil
}
