package server

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// blobSweeper is what the blob garbage collector needs beyond
// apogee.Blobs; blob.Store has it. A blob store without it is not swept.
type blobSweeper interface {
	Walk(ctx context.Context, fn func(hash string, size int64, modTime time.Time) error) error
	Delete(ctx context.Context, hash string) error
}

// gcBatch is how many hashes one HashesInUse query checks.
const gcBatch = 500

// collectGarbage deletes blobs older than olderThan that no manifest
// holds: files of uploads that expired, or of deleted projects. Blobs
// younger than olderThan are left alone, so an upload in progress keeps
// what it sent even before its manifest exists. A blob deleted while a
// new deployment counts on it is caught by finalize, which checks every
// blob again and asks the client for what is missing.
func (s *Server) collectGarbage(ctx context.Context, olderThan time.Time) (deleted int, freed int64, err error) {
	sw, ok := s.blobs.(blobSweeper)
	if !ok {
		return 0, 0, nil
	}
	batch := make([]string, 0, gcBatch)
	sizes := make(map[string]int64, gcBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		inUse, err := s.store.HashesInUse(ctx, batch)
		if err != nil {
			return fmt.Errorf("hashes in use: %w", err)
		}
		for _, h := range batch {
			if slices.Contains(inUse, h) {
				continue
			}
			if err := sw.Delete(ctx, h); err != nil {
				return fmt.Errorf("delete blob %s: %w", h, err)
			}
			deleted++
			freed += sizes[h]
		}
		batch = batch[:0]
		clear(sizes)
		return nil
	}
	err = sw.Walk(ctx, func(hash string, size int64, mod time.Time) error {
		if !mod.Before(olderThan) {
			return nil
		}
		batch = append(batch, hash)
		sizes[hash] = size
		if len(batch) == gcBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return deleted, freed, fmt.Errorf("collect blob garbage: %w", err)
	}
	return deleted, freed, nil
}
