package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/sqlstore"
	"github.com/apogee-dev/apogee/internal/storetest"
)

func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func openSQLite(t testing.TB, path string) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(t.Context(), "sqlite://"+filepath.ToSlash(path), testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) apogee.Store {
		return openSQLite(t, filepath.Join(t.TempDir(), "apogee.db"))
	})
}

const defaultPostgres = "postgres://root@127.0.0.1:5432/test?sslmode=disable"

func TestPostgres(t *testing.T) {
	storetest.Run(t, func(t *testing.T) apogee.Store { return openPostgres(t) })
}

// openPostgres opens a store in a schema of its own on the PostgreSQL of
// APOGEE_TEST_POSTGRES (or the local default), dropped when t ends.
func openPostgres(t testing.TB) *sqlstore.Store {
	t.Helper()
	base := os.Getenv("APOGEE_TEST_POSTGRES")
	if base == "" {
		base = defaultPostgres
	}
	admin, err := sql.Open("pgx", base)
	if err == nil {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		err = admin.PingContext(ctx)
		cancel()
	}
	if err != nil {
		t.Fatalf("PostgreSQL is not reachable at %s: %v\n"+
			"Install and start PostgreSQL (trust auth, user root, database test), "+
			"or set APOGEE_TEST_POSTGRES to the URL of a database the tests may create schemas in.",
			redact(base), err)
	}
	schema := "apogee_test_" + apogee.NewID()
	if _, err := admin.ExecContext(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	s, err := sqlstore.Open(t.Context(), u.String(), testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() }) // runs before the schema is dropped
	return s
}

// redact hides the password of a database URL.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(malformed URL)"
	}
	return u.Redacted()
}

func TestSQLiteReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "dir", "apogee.db") // Open makes the directories
	s, err := sqlstore.Open(t.Context(), "sqlite://"+path, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	u := &apogee.User{Email: "alice@example.com", Password: "h"}
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openSQLite(t, path) // the migrations run again and change nothing
	got, err := s.UserByEmail(t.Context(), "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != u.ID || !got.CreatedAt.Equal(u.CreatedAt) {
		t.Errorf("after reopening got %+v; want %+v", got, u)
	}
}

func TestSQLiteRelativePath(t *testing.T) {
	t.Chdir(t.TempDir())
	s, err := sqlstore.Open(t.Context(), "sqlite://data/apogee.db", testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(filepath.Join("data", "apogee.db")); err != nil {
		t.Errorf("relative SQLite URL did not create data/apogee.db: %v", err)
	}
}

func TestOpenBadURL(t *testing.T) {
	for _, raw := range []string{
		"mysql://root:secret@localhost/apogee",
		"postgres://root:secret@127.0.0.1:notaport/test",
		"sqlite::memory:",
		"/var/lib/apogee.db",
		"sqlite://",
		"",
	} {
		t.Run(raw, func(t *testing.T) {
			s, err := sqlstore.Open(t.Context(), raw, testLog(t))
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", raw)
			}
			if code := apogee.ErrorCode(err); code != apogee.EINVALID {
				t.Errorf("Open(%q) = %v; want code %s", raw, err, apogee.EINVALID)
			}
			if msg := apogee.ErrorMessage(err); strings.Contains(msg, "secret") {
				t.Errorf("error message %q leaks the URL's password", msg)
			}
		})
	}
}

func BenchmarkCreateDeployment1000Files(b *testing.B) {
	s := openSQLite(b, filepath.Join(b.TempDir(), "apogee.db"))
	ctx := b.Context()
	owner := &apogee.User{Email: "bench@example.com", Password: "h"}
	if err := s.CreateUser(ctx, owner); err != nil {
		b.Fatal(err)
	}
	p := &apogee.Project{Name: "bench", OwnerID: owner.ID}
	if err := s.CreateProject(ctx, p); err != nil {
		b.Fatal(err)
	}
	files := make([]apogee.File, 1000)
	for i := range files {
		files[i] = apogee.File{
			Path:   fmt.Sprintf("assets/%04d.js", i),
			SHA256: fmt.Sprintf("%064x", i),
			Size:   int64(i),
			Mode:   0o644,
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		d := &apogee.Deployment{ProjectID: p.ID, Target: apogee.TargetPreview}
		if err := s.CreateDeployment(ctx, d, files); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendRequests: the access writer's cost per stored request
// record on SQLite and on PostgreSQL, in batches of 2,000 (its default):
// the records/s one writer can store is 1e9 / ns/record.
func BenchmarkAppendRequests(b *testing.B) {
	for _, db := range []struct {
		name string
		open func(b *testing.B) *sqlstore.Store
	}{
		{"sqlite", func(b *testing.B) *sqlstore.Store { return openSQLite(b, filepath.Join(b.TempDir(), "apogee.db")) }},
		{"postgres", func(b *testing.B) *sqlstore.Store { return openPostgres(b) }},
	} {
		b.Run(db.name, func(b *testing.B) {
			s := db.open(b)
			ctx := b.Context()
			batch := make([]apogee.Request, 2000)
			now := time.Now()
			for i := range batch {
				batch[i] = apogee.Request{Time: now, ProjectID: "p1", DeploymentID: "d1", Host: "web.example.com", Method: "GET",
					Path: fmt.Sprintf("/page/%d", i%50), Status: 200, Bytes: 5120, Duration: 180 * time.Microsecond,
					Referrer: "news.ycombinator.com", Device: apogee.DeviceDesktop, Visitor: fmt.Sprintf("v%d", i%300)}
			}
			for b.Loop() {
				if err := s.AppendRequests(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			perRecord := float64(b.Elapsed().Nanoseconds()) / float64(b.N*len(batch))
			b.ReportMetric(perRecord, "ns/record")
			b.ReportMetric(1e9/perRecord, "records/s")
		})
	}
}
