package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// testBlobHolds: who holds which blob, per user; a known size replaces an
// unknown one, never the other way; holdings outlive projects but not
// their user.
func testBlobHolds(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	bob := user(t, s, "bob@example.com")
	h := func(i int) string { return fmt.Sprintf("%064x", i) }

	must(t, s.HoldBlobs(ctx, alice.ID, []apogee.HeldBlob{{SHA256: h(1), Size: 10}, {SHA256: h(2), Size: -1}, {SHA256: h(2), Size: 20}, {SHA256: h(3), Size: -1}}, base))
	got, err := s.HeldBlobs(ctx, alice.ID, []string{h(1), h(2), h(3), h(4)})
	must(t, err)
	equal(t, "alice's", got, map[string]int64{h(1): 10, h(2): 20, h(3): -1})
	got, err = s.HeldBlobs(ctx, bob.ID, []string{h(1), h(2)})
	must(t, err)
	equal(t, "bob's", got, map[string]int64{})

	// Again: an unknown size is learned, a known one kept.
	must(t, s.HoldBlobs(ctx, alice.ID, []apogee.HeldBlob{{SHA256: h(1), Size: 99}, {SHA256: h(3), Size: 30}, {SHA256: h(1), Size: -1}}, base.Add(time.Minute)))
	got, err = s.HeldBlobs(ctx, alice.ID, []string{h(1), h(3)})
	must(t, err)
	equal(t, "alice's after again", got, map[string]int64{h(1): 10, h(3): 30})

	// Many at once, across batches.
	var many []apogee.HeldBlob
	var hashes []string
	for i := range 1200 {
		many = append(many, apogee.HeldBlob{SHA256: h(1000 + i), Size: int64(i)})
		hashes = append(hashes, h(1000+i))
	}
	must(t, s.HoldBlobs(ctx, bob.ID, many, base))
	got, err = s.HeldBlobs(ctx, bob.ID, hashes)
	must(t, err)
	if len(got) != 1200 || got[h(1000+777)] != 777 {
		t.Fatalf("bob holds %d blobs (777: %d)", len(got), got[h(1777)])
	}

	if err := s.HoldBlobs(ctx, "nobody", []apogee.HeldBlob{{SHA256: h(1), Size: 1}}, base); !errors.Is(err, apogee.ErrNotFound) {
		t.Fatalf("HoldBlobs for a missing user: %v", err)
	}
	must(t, s.HoldBlobs(ctx, alice.ID, nil, base))
}
