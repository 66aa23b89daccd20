// Package testbed opens the platform's real backends for tests: a SQLite
// store and a file blob store in the test's temporary folder, closed when
// the test ends. Tests across packages use it so that each talks to the
// real thing the same way.
package testbed

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/apogee-dev/apogee"
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

// DefaultPostgres is the PostgreSQL tests use unless APOGEE_TEST_POSTGRES
// names another.
const DefaultPostgres = "postgres://root@127.0.0.1:5432/test?sslmode=disable"

// PostgresStore opens a store on PostgreSQL in a schema of its own,
// dropped when the test ends. It fails the test, saying what to do, when
// PostgreSQL cannot be reached.
func PostgresStore(tb testing.TB) *sqlstore.Store {
	tb.Helper()
	base := os.Getenv("APOGEE_TEST_POSTGRES")
	if base == "" {
		base = DefaultPostgres
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { admin.Close() })
	schema := "apogee_test_" + apogee.NewID()
	if _, err := admin.ExecContext(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("PostgreSQL is not reachable (%v): install and start it (trust auth, user root, database test), or set APOGEE_TEST_POSTGRES", err)
	}
	tb.Cleanup(func() { admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	st, err := sqlstore.Open(context.Background(), u.String(), Quiet)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}
