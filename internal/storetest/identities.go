package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

func testIdentities(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	bob := user(t, s, "bob@example.com")
	exp, rexp := base.Add(8*time.Hour), base.Add(180*24*time.Hour)
	a := &apogee.Identity{UserID: alice.ID, Provider: apogee.ProviderGitHub, ProviderUserID: "1001", Login: "alice",
		AccessToken: "v1:sealed-access", RefreshToken: "v1:sealed-refresh", AccessExpiresAt: &exp, RefreshExpiresAt: &rexp,
		CreatedAt: base, UpdatedAt: base}
	must(t, s.CreateIdentity(ctx, a))

	for _, tt := range []struct {
		name string
		id   apogee.Identity
		code string
	}{
		{"same account again", apogee.Identity{UserID: bob.ID, Provider: "github", ProviderUserID: "1001", Login: "x", AccessToken: "t"}, apogee.ECONFLICT},
		{"second account for a user", apogee.Identity{UserID: alice.ID, Provider: "github", ProviderUserID: "1002", Login: "x", AccessToken: "t"}, apogee.ECONFLICT},
		{"missing user", apogee.Identity{UserID: "nobody", Provider: "github", ProviderUserID: "1003", Login: "x", AccessToken: "t"}, apogee.ENOTFOUND},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := tt.id
			wantCode(t, s.CreateIdentity(ctx, &id), tt.code)
		})
	}

	got, err := s.IdentityByProviderID(ctx, "github", "1001")
	must(t, err)
	equal(t, "identity by provider id", got, a)
	got, err = s.IdentityOfUser(ctx, alice.ID, "github")
	must(t, err)
	equal(t, "identity of user", got, a)
	for _, err := range []error{
		func() error { _, err := s.IdentityOfUser(ctx, bob.ID, "github"); return err }(),
		func() error { _, err := s.IdentityByProviderID(ctx, "github", "9999"); return err }(),
		func() error { _, err := s.IdentityByProviderID(ctx, "gitlab", "1001"); return err }(),
	} {
		if !errors.Is(err, apogee.ErrNotFound) {
			t.Errorf("missing identity: %v; want ErrNotFound", err)
		}
	}

	// A refresh replaces the pair; a refused one marks the identity.
	b := &apogee.Identity{UserID: bob.ID, Provider: "github", ProviderUserID: "2002", Login: "bob", AccessToken: "classic",
		CreatedAt: base}
	must(t, s.CreateIdentity(ctx, b))
	upd := *a
	exp2 := base.Add(9 * time.Hour)
	upd.Login, upd.AccessToken, upd.RefreshToken, upd.AccessExpiresAt, upd.RefreshExpiresAt = "alice2", "v1:new-access", "v1:new-refresh", &exp2, nil
	upd.Reconnect, upd.UpdatedAt = "GitHub refused the refresh token", base.Add(time.Hour)
	must(t, s.UpdateIdentity(ctx, &upd))
	got, err = s.IdentityOfUser(ctx, alice.ID, "github")
	must(t, err)
	equal(t, "updated identity", got, &upd)
	if got, _ := s.IdentityOfUser(ctx, bob.ID, "github"); got.AccessToken != "classic" || got.AccessExpiresAt != nil || got.RefreshToken != "" {
		t.Errorf("another user's identity changed or lost its nulls: %+v", got)
	}
	wrongUser := upd
	wrongUser.UserID = bob.ID
	wantCode(t, s.UpdateIdentity(ctx, &wrongUser), apogee.ENOTFOUND)

	must(t, s.DeleteIdentity(ctx, alice.ID, "github"))
	wantCode(t, s.DeleteIdentity(ctx, alice.ID, "github"), apogee.ENOTFOUND)
	if _, err := s.IdentityByProviderID(ctx, "github", "1001"); !errors.Is(err, apogee.ErrNotFound) {
		t.Fatalf("deleted identity still found: %v", err)
	}
	// The account may now be linked to someone else.
	a.UserID = bob.ID
	wantCode(t, s.CreateIdentity(ctx, a), apogee.ECONFLICT) // bob has 2002 already
	must(t, s.DeleteIdentity(ctx, bob.ID, "github"))
	must(t, s.CreateIdentity(ctx, a))
}
