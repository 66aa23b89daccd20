package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
)

var _ apogee.BlobHoldStore = (*Store)(nil)

// HoldBlobs upserts the user's holdings in batches; a known size replaces
// an unknown (-1) one.
func (s *Store) HoldBlobs(ctx context.Context, userID string, blobs []apogee.HeldBlob, at time.Time) error {
	// One row per hash, the known size winning.
	sizes := make(map[string]int64, len(blobs))
	for _, b := range blobs {
		if n, ok := sizes[b.SHA256]; !ok || n < 0 {
			sizes[b.SHA256] = b.Size
		}
	}
	hashes := make([]string, 0, len(sizes))
	for h := range sizes {
		hashes = append(hashes, h)
	}
	slices.Sort(hashes) // the same lock order for concurrent callers
	when := s.d.timeArg(at)
	for chunk := range slices.Chunk(hashes, inListMax/4) {
		var values strings.Builder
		args := make([]any, 0, 4*len(chunk))
		for i, h := range chunk {
			if i > 0 {
				values.WriteString(", ")
			}
			n := 4 * i
			fmt.Fprintf(&values, "($%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4)
			args = append(args, userID, h, sizes[h], when)
		}
		_, err := s.exec(ctx, "INSERT INTO blob_holds (user_id, sha256, size, created_at) VALUES "+values.String()+
			" ON CONFLICT (user_id, sha256) DO UPDATE SET size = excluded.size WHERE blob_holds.size < 0 AND excluded.size >= 0", args...)
		if isForeignKey(err) {
			return notFound("user", userID)
		}
		if err != nil {
			return wrap("hold blobs", err)
		}
	}
	return nil
}

// HeldBlobs looks the hashes up in batches.
func (s *Store) HeldBlobs(ctx context.Context, userID string, hashes []string) (map[string]int64, error) {
	held := make(map[string]int64)
	for chunk := range slices.Chunk(hashes, inListMax) {
		marks, args := inList(chunk)
		rows, err := s.rdb.QueryContext(ctx, "SELECT sha256, size FROM blob_holds WHERE sha256 IN ("+marks+") AND user_id = $"+
			strconv.Itoa(len(chunk)+1), append(args, userID)...)
		if err != nil {
			return nil, wrap("held blobs", err)
		}
		got, err := collect(rows, func(r scanner) (apogee.HeldBlob, error) {
			var b apogee.HeldBlob
			return b, r.Scan(&b.SHA256, &b.Size)
		})
		if err != nil {
			return nil, wrap("held blobs", err)
		}
		for _, b := range got {
			held[b.SHA256] = b.Size
		}
	}
	return held, nil
}
