// Package testbed opens the platform's real backends for tests: a SQLite
// store and a file blob store in the test's temporary folder, closed when
// the test ends. Tests across packages use it so that each talks to the
// real thing the same way.
package testbed

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/apogee-dev/apogee/internal/blob"
	"github.com/apogee-dev/apogee/internal/sqlstore"
)

// Quiet is a logger that discards everything.
var Quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// Backends opens a SQLite store and a file blob store in a fresh
// temporary folder, which it returns too.
func Backends(tb testing.TB) (*sqlstore.Store, *blob.Store, string) {
	tb.Helper()
	dir := tb.TempDir()
	return Store(tb, dir), Blobs(tb, dir), dir
}

// Store opens the SQLite store <dir>/apogee.db.
func Store(tb testing.TB, dir string) *sqlstore.Store {
	tb.Helper()
	st, err := sqlstore.Open(context.Background(), "sqlite://"+filepath.Join(dir, "apogee.db"), Quiet)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// Blobs opens the file blob store <dir>/blobs.
func Blobs(tb testing.TB, dir string) *blob.Store {
	tb.Helper()
	bl, err := blob.Open(context.Background(), "file://"+filepath.Join(dir, "blobs"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { bl.Close() })
	return bl
}
