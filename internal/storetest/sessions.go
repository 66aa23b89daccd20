package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

func sessionHash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func testSessions(t *testing.T, s apogee.Store) {
	ctx := context.Background()
	alice := &apogee.User{ID: "alice", Email: "alice@example.com", Password: "x", CreatedAt: base}
	bob := &apogee.User{ID: "bob", Email: "bob@example.com", Password: "x", CreatedAt: base}
	for _, u := range []*apogee.User{alice, bob} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	mk := func(id, user string, expires time.Time) *apogee.Session {
		t.Helper()
		sess := &apogee.Session{Hash: sessionHash(id), UserID: user, CreatedAt: base, ExpiresAt: expires, LastSeen: base}
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
		return sess
	}
	a1 := mk("a1", "alice", base.Add(time.Hour))
	mk("a2", "alice", base.Add(time.Hour))
	mk("a3", "alice", base.Add(-time.Minute)) // expired
	mk("b1", "bob", base.Add(time.Hour))

	wantCode(t, s.CreateSession(ctx, &apogee.Session{Hash: sessionHash("x"), UserID: "nobody", CreatedAt: base, ExpiresAt: base, LastSeen: base}), apogee.ENOTFOUND)

	got, err := s.SessionByHash(ctx, a1.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if got.UserID != "alice" || !got.CreatedAt.Equal(base) || !got.ExpiresAt.Equal(base.Add(time.Hour)) || !got.Valid(base) || got.Valid(base.Add(time.Hour)) {
		t.Fatalf("session = %+v", got)
	}
	if _, err := s.SessionByHash(ctx, sessionHash("nope")); !errors.Is(err, apogee.ErrNotFound) {
		t.Fatalf("missing session: %v", err)
	}

	if err := s.TouchSession(ctx, a1.Hash, base.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchSession(ctx, a1.Hash, base.Add(time.Second)); err != nil { // older: ignored
		t.Fatal(err)
	}
	if got, _ := s.SessionByHash(ctx, a1.Hash); !got.LastSeen.Equal(base.Add(time.Minute)) {
		t.Fatalf("last seen %v, want %v", got.LastSeen, base.Add(time.Minute))
	}

	if n, err := s.DeleteExpiredSessions(ctx, base); err != nil || n != 1 {
		t.Fatalf("DeleteExpiredSessions = %d, %v; want 1", n, err)
	}
	if n, err := s.DeleteUserSessions(ctx, "alice", a1.Hash); err != nil || n != 1 {
		t.Fatalf("DeleteUserSessions(keep a1) = %d, %v; want 1 (a2)", n, err)
	}
	if _, err := s.SessionByHash(ctx, a1.Hash); err != nil {
		t.Fatalf("kept session gone: %v", err)
	}
	if err := s.DeleteSession(ctx, a1.Hash); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSession(ctx, a1.Hash); err != nil {
		t.Fatalf("deleting a missing session: %v", err)
	}
	if _, err := s.SessionByHash(ctx, sessionHash("b1")); err != nil {
		t.Fatalf("another user's session was deleted: %v", err)
	}
	if n, err := s.DeleteUserSessions(ctx, "bob", nil); err != nil || n != 1 {
		t.Fatalf("DeleteUserSessions(bob, nil) = %d, %v; want 1", n, err)
	}

	if err := s.SetPassword(ctx, "alice", "new-hash"); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.UserByID(ctx, "alice"); u.Password != "new-hash" {
		t.Fatalf("password = %q", u.Password)
	}
	wantCode(t, s.SetPassword(ctx, "nobody", "h"), apogee.ENOTFOUND)
}
