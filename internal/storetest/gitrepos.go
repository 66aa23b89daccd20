package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// testGitRepos: the record of a pushed repository, its lease (one holder
// at a time, taken over once lapsed) and its version, compared and set.
func testGitRepos(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	web := project(t, s, alice, "web")
	bundle := func(name string) string {
		h := sha256.Sum256([]byte(name))
		return hex.EncodeToString(h[:])
	}

	_, err := s.GitRepo(ctx, web.ID)
	wantNotFound(t, err, web.ID)
	_, err = s.LeaseGitRepo(ctx, "no-such-project", "a", base.Add(time.Minute), base)
	wantNotFound(t, err, "no-such-project")

	rec, err := s.LeaseGitRepo(ctx, web.ID, "a", base.Add(time.Minute), base)
	must(t, err)
	equal(t, "a new record's version", rec.Version, int64(0))
	equal(t, "a new record's bundles", rec.Bundles, []string{})
	equal(t, "the lease's holder", rec.LeaseHolder, "a")
	// Another holder waits while the lease runs; the same holder renews.
	_, err = s.LeaseGitRepo(ctx, web.ID, "b", base.Add(2*time.Minute), base.Add(30*time.Second))
	wantCode(t, err, apogee.ECONFLICT)
	_, err = s.LeaseGitRepo(ctx, web.ID, "a", base.Add(2*time.Minute), base.Add(30*time.Second))
	must(t, err)

	// Saving: one past the stored version, by the holder.
	one := &apogee.GitRepo{ProjectID: web.ID, Version: 1, Refs: "aaa refs/heads/main\n", Bundles: []string{bundle("1")}, UpdatedAt: base}
	wantCode(t, s.SaveGitRepo(ctx, one, "b"), apogee.ECONFLICT)
	skip := &apogee.GitRepo{ProjectID: web.ID, Version: 2, Refs: "x", Bundles: []string{}, UpdatedAt: base}
	wantCode(t, s.SaveGitRepo(ctx, skip, "a"), apogee.ECONFLICT)
	must(t, s.SaveGitRepo(ctx, one, "a"))
	wantCode(t, s.SaveGitRepo(ctx, one, "a"), apogee.ECONFLICT) // version 1 again
	got, err := s.GitRepo(ctx, web.ID)
	must(t, err)
	equal(t, "the saved refs", got.Refs, one.Refs)
	equal(t, "the saved bundles", got.Bundles, one.Bundles)
	equal(t, "the saved version", got.Version, int64(1))
	inUse, err := s.HashesInUse(ctx, []string{bundle("1"), bundle("2")})
	must(t, err)
	equal(t, "HashesInUse keeps the bundles", inUse, []string{bundle("1")})

	// Released, another takes it; a lapsed lease is taken over, and its
	// former holder can no longer save.
	must(t, s.ReleaseGitRepo(ctx, web.ID, "a"))
	_, err = s.LeaseGitRepo(ctx, web.ID, "b", base.Add(time.Minute), base)
	must(t, err)
	must(t, s.ReleaseGitRepo(ctx, web.ID, "a")) // not a's: left alone
	_, err = s.LeaseGitRepo(ctx, web.ID, "a", base.Add(3*time.Minute), base.Add(30*time.Second))
	wantCode(t, err, apogee.ECONFLICT)
	rec, err = s.LeaseGitRepo(ctx, web.ID, "a", base.Add(3*time.Minute), base.Add(time.Minute))
	must(t, err)
	equal(t, "the version a lapsed lease's taker sees", rec.Version, int64(1))
	two := &apogee.GitRepo{ProjectID: web.ID, Version: 2, Refs: "bbb refs/heads/main\n", Bundles: []string{bundle("1"), bundle("2")}, UpdatedAt: base}
	wantCode(t, s.SaveGitRepo(ctx, two, "b"), apogee.ECONFLICT)
	must(t, s.SaveGitRepo(ctx, two, "a"))
	// A compaction replaces the bundles.
	three := &apogee.GitRepo{ProjectID: web.ID, Version: 3, Refs: "bbb refs/heads/main\n", Bundles: []string{bundle("3")}, UpdatedAt: base}
	must(t, s.SaveGitRepo(ctx, three, "a"))
	got, err = s.GitRepo(ctx, web.ID)
	must(t, err)
	equal(t, "the bundles after a compaction", got.Bundles, []string{bundle("3")})

	// The record goes with its project.
	must(t, s.DeleteProject(ctx, web.ID))
	_, err = s.GitRepo(ctx, web.ID)
	wantNotFound(t, err, web.ID)
}
