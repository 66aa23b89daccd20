package storetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

func testInvites(t *testing.T, s apogee.Store) {
	ctx := context.Background()
	admin := &apogee.User{ID: "admin", Email: "admin@example.com", Password: "x", Admin: true, CreatedAt: base}
	taken := &apogee.User{ID: "taken", Email: "taken@example.com", Password: "x", CreatedAt: base}
	for _, u := range []*apogee.User{admin, taken} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	mk := func(id, email string, expires time.Time) *apogee.Invite {
		t.Helper()
		i := &apogee.Invite{ID: id, Email: email, Hash: sessionHash("invite-" + id), InvitedBy: "admin", CreatedAt: base, ExpiresAt: expires}
		if err := s.CreateInvite(ctx, i); err != nil {
			t.Fatal(err)
		}
		return i
	}
	carol := mk("carol", "Carol@Example.com", base.Add(time.Hour))
	mk("old", "old@example.com", base.Add(-time.Minute))
	mk("dave", "dave@example.com", base.Add(2*time.Hour))
	mk("taken", "taken@example.com", base.Add(time.Hour))

	if carol.Email != "carol@example.com" {
		t.Fatalf("email stored as %q, want lower-case", carol.Email)
	}
	wantCode(t, s.CreateInvite(ctx, &apogee.Invite{Email: "x@example.com", Hash: sessionHash("x"), InvitedBy: "nobody", CreatedAt: base, ExpiresAt: base.Add(time.Hour)}), apogee.ENOTFOUND)
	wantCode(t, s.CreateInvite(ctx, &apogee.Invite{Email: "x@example.com", Hash: carol.Hash, InvitedBy: "admin", CreatedAt: base, ExpiresAt: base.Add(time.Hour)}), apogee.ECONFLICT)

	got, err := s.InviteByHash(ctx, carol.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "carol" || got.Email != "carol@example.com" || got.InvitedBy != "admin" || !got.CreatedAt.Equal(base) ||
		!got.ExpiresAt.Equal(base.Add(time.Hour)) || got.UsedAt != nil || !got.Pending(base) || got.Pending(base.Add(time.Hour)) {
		t.Fatalf("invite = %+v", got)
	}
	if _, err := s.InviteByHash(ctx, sessionHash("nope")); !errors.Is(err, apogee.ErrNotFound) {
		t.Fatalf("missing invite: %v", err)
	}

	listIDs := func(now time.Time) []string {
		t.Helper()
		list, err := s.ListInvites(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, i := range list {
			ids = append(ids, i.ID)
		}
		return ids
	}
	if ids := listIDs(base); !slices.Equal(ids, []string{"carol", "dave", "taken"}) {
		t.Fatalf("pending at base = %v", ids)
	}
	if ids := listIDs(base.Add(90 * time.Minute)); !slices.Equal(ids, []string{"dave"}) {
		t.Fatalf("pending later = %v", ids)
	}

	// Accepting: the user is made and the invite marked used, together.
	at := base.Add(time.Minute)
	u := &apogee.User{Email: "carol@example.com", Password: "hash", CreatedAt: at}
	if err := s.AcceptInvite(ctx, "carol", u); err != nil {
		t.Fatal(err)
	}
	if u.ID == "" {
		t.Fatal("AcceptInvite left the user's ID empty")
	}
	if got, err := s.UserByEmail(ctx, "carol@example.com"); err != nil || got.ID != u.ID || got.Admin {
		t.Fatalf("accepted user = %+v, %v", got, err)
	}
	if got, _ := s.InviteByHash(ctx, carol.Hash); got.UsedAt == nil || !got.UsedAt.Equal(at) || got.Pending(at) {
		t.Fatalf("used invite = %+v", got)
	}
	if ids := listIDs(at); !slices.Equal(ids, []string{"dave", "taken"}) {
		t.Fatalf("pending after use = %v", ids)
	}

	// Used twice, expired, revoked: refused, nothing made.
	cases := []struct {
		name, invite, email string
		at                  time.Time
		want                error
	}{
		{"used twice", "carol", "carol2@example.com", at, apogee.ErrInviteUsed},
		{"expired", "old", "old@example.com", at, apogee.ErrInviteUsed},
		{"expired at the instant", "dave", "dave@example.com", base.Add(2 * time.Hour), apogee.ErrInviteUsed},
		{"no such invite", "nope", "nope@example.com", at, apogee.ErrInviteUsed},
	}
	for _, c := range cases {
		err := s.AcceptInvite(ctx, c.invite, &apogee.User{Email: c.email, Password: "h", CreatedAt: c.at})
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
		if _, err := s.UserByEmail(ctx, c.email); !errors.Is(err, apogee.ErrNotFound) {
			t.Errorf("%s: a user %s was made: %v", c.name, c.email, err)
		}
	}

	// An email taken meanwhile: ECONFLICT, and the invite stays pending.
	wantCode(t, s.AcceptInvite(ctx, "taken", &apogee.User{Email: "TAKEN@example.com", Password: "h", CreatedAt: at}), apogee.ECONFLICT)
	if got, _ := s.InviteByHash(ctx, sessionHash("invite-taken")); got.UsedAt != nil {
		t.Fatalf("a conflicting sign-up used the invite: %+v", got)
	}

	// Revoking deletes; a second revoke is ENOTFOUND; the link then fails.
	if err := s.DeleteInvite(ctx, "dave"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.DeleteInvite(ctx, "dave"), apogee.ENOTFOUND)
	if err := s.AcceptInvite(ctx, "dave", &apogee.User{Email: "dave@example.com", Password: "h", CreatedAt: at}); !errors.Is(err, apogee.ErrInviteUsed) {
		t.Fatalf("revoked invite accepted: %v", err)
	}

	// Two sign-ups racing on one link: exactly one account.
	race := mk("race", "race@example.com", base.Add(time.Hour))
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for n := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[n] = s.AcceptInvite(ctx, race.ID, &apogee.User{Email: "race@example.com", Password: "h", CreatedAt: at})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, apogee.ErrInviteUsed), apogee.ErrorCode(err) == apogee.ECONFLICT:
		default:
			t.Errorf("racing accept: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d racing sign-ups succeeded, want 1", ok)
	}
}
