package storetest

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

func testUploads(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	web := project(t, s, alice, "web")

	up := &apogee.Upload{ID: apogee.NewID(), ProjectID: web.ID, CreatedBy: alice.ID, CreatedAt: base, ExpiresAt: base.Add(15 * time.Minute)}
	must(t, s.CreateUpload(ctx, up))
	got, err := s.UploadByID(ctx, up.ID)
	must(t, err)
	if got.ProjectID != web.ID || got.CreatedBy != alice.ID || !got.CreatedAt.Equal(base) || !got.ExpiresAt.Equal(base.Add(15*time.Minute)) ||
		got.UsedAt != nil || got.BlobSHA256 != "" || got.Size != 0 {
		t.Fatalf("UploadByID = %+v", got)
	}
	wantCode(t, s.CreateUpload(ctx, &apogee.Upload{ID: up.ID, ProjectID: web.ID, CreatedAt: base, ExpiresAt: base}), apogee.ECONFLICT)
	if err := s.CreateUpload(ctx, &apogee.Upload{ID: apogee.NewID(), ProjectID: "nope", CreatedAt: base, ExpiresAt: base}); !errors.Is(err, apogee.ErrNotFound) {
		t.Fatalf("CreateUpload for a missing project: %v", err)
	}
	if _, err := s.UploadByID(ctx, "nope"); !errors.Is(err, apogee.ErrNotFound) {
		t.Fatalf("UploadByID of a missing upload: %v", err)
	}

	hash := strings.Repeat("ab", 32)
	used, err := s.UseUpload(ctx, up.ID, hash, 1234, base.Add(time.Minute))
	must(t, err)
	if used.BlobSHA256 != hash || used.Size != 1234 || used.UsedAt == nil || !used.UsedAt.Equal(base.Add(time.Minute)) {
		t.Fatalf("UseUpload = %+v", used)
	}
	_, err = s.UseUpload(ctx, up.ID, strings.Repeat("cd", 32), 1, base.Add(2*time.Minute))
	wantCode(t, err, apogee.ECONFLICT)
	got, err = s.UploadByID(ctx, up.ID)
	must(t, err)
	if got.BlobSHA256 != hash || got.Size != 1234 {
		t.Fatalf("a second UseUpload changed the upload: %+v", got)
	}
	if _, err := s.UseUpload(ctx, "nope", hash, 1, base); !errors.Is(err, apogee.ErrNotFound) {
		t.Fatalf("UseUpload of a missing upload: %v", err)
	}

	// Uploads go with their project.
	must(t, s.DeleteProject(ctx, web.ID))
	if _, err := s.UploadByID(ctx, up.ID); !errors.Is(err, apogee.ErrNotFound) {
		t.Fatalf("upload of a deleted project: %v", err)
	}
}

// testConcurrentUseUpload: of many racing UseUpload calls exactly one wins.
func testConcurrentUseUpload(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	web := project(t, s, alice, "web")
	up := &apogee.Upload{ID: apogee.NewID(), ProjectID: web.ID, CreatedAt: base, ExpiresAt: base.Add(time.Hour)}
	must(t, s.CreateUpload(ctx, up))
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, conflicts := 0, 0
	for i := range 8 {
		wg.Go(func() {
			_, err := s.UseUpload(ctx, up.ID, strings.Repeat(string("0123456789"[i]), 64), int64(i), base)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case apogee.ErrorCode(err) == apogee.ECONFLICT:
				conflicts++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if wins != 1 || conflicts != 7 {
		t.Fatalf("%d wins and %d conflicts, want 1 and 7", wins, conflicts)
	}
}
