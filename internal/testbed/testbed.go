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
	"strings"
	"testing"
	"time"

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

// PostgresURL returns the URL of a fresh schema of the test PostgreSQL
// (APOGEE_TEST_POSTGRES, or DefaultPostgres), dropped when the test
// ends. It fails the test, saying what to do, when PostgreSQL cannot be
// reached.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv("APOGEE_TEST_POSTGRES")
	if base == "" {
		base = DefaultPostgres
	}
	admin, err := sql.Open("pgx", base)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = admin.PingContext(ctx)
		cancel()
	}
	if err != nil {
		shown := base
		if u, perr := url.Parse(base); perr == nil {
			shown = u.Redacted()
		}
		tb.Fatalf("PostgreSQL is not reachable at %s: %v\n"+
			"Install and start PostgreSQL (trust auth, user root, database test: bash scripts/test.sh does), "+
			"or set APOGEE_TEST_POSTGRES to the URL of a database the tests may create schemas in.", shown, err)
	}
	schema := "apogee_test_" + strings.ToLower(apogee.NewID())
	if _, err := admin.ExecContext(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		tb.Fatalf("create schema %s: %v", schema, err)
	}
	tb.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// PostgresStore opens a store on PostgreSQL in a schema of its own (see
// PostgresURL), dropped when the test ends.
func PostgresStore(tb testing.TB) *sqlstore.Store {
	tb.Helper()
	st, err := sqlstore.Open(context.Background(), PostgresURL(tb), Quiet)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}
