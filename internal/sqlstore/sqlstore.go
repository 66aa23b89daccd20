// Package sqlstore implements apogee.Store over database/sql, once, for
// two databases: SQLite (modernc.org/sqlite, pure Go) and PostgreSQL
// (github.com/jackc/pgx/v5). The queries are shared; the dialect type holds
// the few places where the two differ (time values, row locks).
//
// On SQLite, writes go through one connection whose transactions begin
// IMMEDIATE, so writers queue in Go instead of failing with SQLITE_BUSY,
// and reads use a pool of read-only connections that WAL mode lets run
// beside the writer. synchronous=FULL makes every commit durable: a kill -9
// of the server loses nothing that was committed.
//
// On PostgreSQL, every transaction that moves a production alias first
// locks the project row, so concurrent promotes and rollbacks of one
// project serialize.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/apogee-dev/apogee"
)

//go:embed migrations
var migrations embed.FS

// Store is an apogee.Store on SQLite or PostgreSQL. It is safe for
// concurrent use.
type Store struct {
	db  *sql.DB // transactions and writes
	rdb *sql.DB // reads; the same pool as db on PostgreSQL
	d   dialect
	log *slog.Logger
}

var _ apogee.Store = (*Store)(nil)

// Open connects to the database named by rawURL and migrates its schema
// to the latest version. Accepted URLs:
//
//	sqlite:///abs/path/apogee.db   an absolute path
//	sqlite://relative/path.db      a path relative to the working directory
//	postgres://user@host:5432/db?sslmode=disable (or postgresql://)
//
// For SQLite, Open creates the file and its parent directory if needed.
// Any other scheme is an *apogee.Error with EINVALID.
func Open(ctx context.Context, rawURL string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "sqlstore")
	scheme, rest, ok := strings.Cut(rawURL, "://")
	switch {
	case ok && scheme == "sqlite":
		return openSQLite(ctx, rest, log)
	case ok && (scheme == "postgres" || scheme == "postgresql"):
		return openPostgres(ctx, rawURL, log)
	}
	// Only the scheme is shown: the rest of a URL may hold a password.
	if !ok {
		scheme = ""
	}
	return nil, apogee.Errorf(apogee.EINVALID,
		"database URL scheme %q is not supported; use sqlite:///abs/path.db, sqlite://relative/path.db or postgres://user@host/db",
		scheme)
}

func openSQLite(ctx context.Context, path string, log *slog.Logger) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, apogee.Errorf(apogee.EINVALID,
			"SQLite URL needs a file path without query, as in sqlite:///var/lib/apogee/apogee.db")
	}
	path, err := filepath.Abs(filepath.FromSlash(path))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: sqlite path: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlstore: create database directory: %w", err)
	}

	db, err := sql.Open("sqlite", sqliteDSN(path, true))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open %s: %w", path, err)
	}
	// One writer: database/sql queues writers on this connection, so
	// they never meet SQLITE_BUSY from each other. Connections keep the
	// page cache warm, so they are never recycled.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	s := &Store{db: db, rdb: db, d: dialectSQLite, log: log.With("db", "sqlite", "path", path)}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}

	rdb, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlstore: open %s for reading: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	rdb.SetMaxOpenConns(n)
	rdb.SetMaxIdleConns(n)
	rdb.SetConnMaxLifetime(0)
	rdb.SetConnMaxIdleTime(0)
	s.rdb = rdb
	return s, nil
}

// sqliteDSN returns the modernc.org/sqlite DSN of path. The writer begins
// its transactions IMMEDIATE: a transaction that reads before it writes
// then holds the write lock from its start and cannot fail to upgrade.
// Readers are query-only, so a bug cannot write around the single writer.
func sqliteDSN(path string, writer bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", "10000") // another process (a backup, the CLI) may hold the lock
	q.Set("_foreign_keys", "1")
	q.Set("_synchronous", "FULL")
	if writer {
		q.Set("_journal_mode", "WAL")
		q.Set("_txlock", "immediate")
	} else {
		q.Set("_query_only", "1")
	}
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}
	return u.String()
}

func openPostgres(ctx context.Context, rawURL string, log *slog.Logger) (*Store, error) {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		// The pgx error quotes the URL, and may miss a password when it
		// redacts a malformed one; say only that it is malformed.
		return nil, apogee.Errorf(apogee.EINVALID,
			"the PostgreSQL URL is malformed; the form is postgres://user:password@host:5432/db?sslmode=disable")
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlstore: connect to postgres: %w", err)
	}
	s := &Store{db: db, rdb: db, d: dialectPostgres, log: log.With("db", "postgres")}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// migrate runs the embedded migrations of s's dialect that have not run
// yet. On PostgreSQL an advisory lock, one per schema, keeps two servers
// starting at once from migrating together.
func (s *Store) migrate(ctx context.Context) error {
	fsys, err := fs.Sub(migrations, "migrations/"+s.d.name())
	if err != nil {
		return fmt.Errorf("sqlstore: migrations: %w", err)
	}
	// Out of order: migrations are numbered when work starts and land when
	// it is done, so a lower number can arrive after a higher one has run;
	// each migration stands alone, so applying it late is safe.
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true)}
	gd := goose.DialectSQLite3
	if s.d == dialectPostgres {
		gd = goose.DialectPostgres
		var schema string
		if err := s.db.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
			return fmt.Errorf("sqlstore: migrate: current schema: %w", err)
		}
		h := fnv.New64a()
		h.Write([]byte("apogee migrations " + schema))
		locker, err := lock.NewPostgresSessionLocker(
			lock.WithLockID(int64(h.Sum64())),
			lock.WithLockTimeout(1, 300), // retry every second for five minutes
		)
		if err != nil {
			return fmt.Errorf("sqlstore: migrate: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(gd, s.db, fsys, opts...)
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	for _, r := range results {
		s.log.Info("migrated schema", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// Ping tells whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return wrap("ping", s.db.PingContext(ctx))
}

// Close closes the database connections.
func (s *Store) Close() error {
	err := s.db.Close()
	if s.rdb != s.db {
		err = errors.Join(err, s.rdb.Close())
	}
	return err
}

// dialect names the database behind a Store. Queries use $n placeholders,
// which both drivers accept.
type dialect int

const (
	dialectSQLite dialect = iota
	dialectPostgres
)

func (d dialect) name() string {
	if d == dialectPostgres {
		return "postgres"
	}
	return "sqlite"
}

// lockRow is appended to a SELECT of the one row that a transaction
// serializes on. SQLite needs none: its writer holds the database lock
// from BEGIN IMMEDIATE. FOR NO KEY UPDATE, unlike FOR UPDATE, does not
// block inserts of rows that reference the locked one.
func (d dialect) lockRow() string {
	if d == dialectPostgres {
		return " FOR NO KEY UPDATE"
	}
	return ""
}

// octets is the SQL for the length in bytes of the text column col.
func (d dialect) octets(col string) string {
	if d == dialectPostgres {
		return "OCTET_LENGTH(" + col + ")"
	}
	return "LENGTH(CAST(" + col + " AS BLOB))"
}

// timeLayout is how SQLite stores times: fixed width, UTC, microseconds,
// so that string order is time order.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// normTime is the form of t a round trip through the store returns.
func normTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func normTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	n := normTime(*t)
	return &n
}

// timeArg returns t as a query argument.
func (d dialect) timeArg(t time.Time) any {
	t = normTime(t)
	if d == dialectSQLite {
		return t.Format(timeLayout)
	}
	return t
}

func (d dialect) nullTimeArg(t *time.Time) any {
	if t == nil {
		return nil
	}
	return d.timeArg(*t)
}

// timeCol scans a time column of either dialect into *t.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(v any) error {
	t, err := parseTime(v)
	if err != nil {
		return err
	}
	*c.t = t
	return nil
}

// nullTimeCol scans a nullable time column into **t.
type nullTimeCol struct{ t **time.Time }

func (c nullTimeCol) Scan(v any) error {
	if v == nil {
		*c.t = nil
		return nil
	}
	t, err := parseTime(v)
	if err != nil {
		return err
	}
	*c.t = &t
	return nil
}

func parseTime(v any) (time.Time, error) {
	switch v := v.(type) {
	case time.Time:
		return normTime(v), nil
	case string:
		return time.Parse(timeLayout, v)
	case []byte:
		return time.Parse(timeLayout, string(v))
	}
	return time.Time{}, fmt.Errorf("sqlstore: cannot scan %T into a time", v)
}

// isUnique reports whether err is a unique or primary key violation.
func isUnique(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505" // unique_violation
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// isForeignKey reports whether err is a foreign key violation.
func isForeignKey(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23503" // foreign_key_violation
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	return false
}

// notFound returns an ENOTFOUND error naming what was not found, e.g.
// notFound("project", "web") says `project "web" not found`.
func notFound(what, key string) error {
	return apogee.Errorf(apogee.ENOTFOUND, "%s %q not found", what, key)
}

// wrap adds "sqlstore: op: " to err unless it is nil or an *apogee.Error,
// whose message is meant for the caller as it is.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var ae *apogee.Error
	if errors.As(err, &ae) {
		return err
	}
	return fmt.Errorf("sqlstore: %s: %w", op, err)
}

// inTx runs fn in a write transaction and commits it if fn returns nil.
// Errors are wrapped with op.
func (s *Store) inTx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrap(op, err)
	}
	defer tx.Rollback() // a no-op after Commit
	if err := fn(tx); err != nil {
		return wrap(op, err)
	}
	return wrap(op, tx.Commit())
}

// exec runs one write statement and returns the number of rows it
// affected.
func (s *Store) exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := s.db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }
