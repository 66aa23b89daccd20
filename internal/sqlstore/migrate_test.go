package sqlstore

import (
	"context"
	"database/sql"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/apogee-dev/apogee"
)

// TestMigrateStoredBytesAndClaims runs the migrations up to 00023 on each
// dialect, writes what an older server left (a ready deployment, a
// received ZIP, a custom domain), runs the rest, and checks what 00024
// (blob holdings) and 00025 (domain claims) made of it.
func TestMigrateStoredBytesAndClaims(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			ctx := t.Context()
			var raw *sql.DB
			var openURL string
			gd := goose.DialectSQLite3
			ts := func(s string) any { return s }
			if dialect == "sqlite" {
				path := filepath.Join(t.TempDir(), "old.db")
				var err error
				if raw, err = sql.Open("sqlite", sqliteDSN(path, true)); err != nil {
					t.Fatal(err)
				}
				openURL = "sqlite://" + filepath.ToSlash(path)
			} else {
				base := os.Getenv("APOGEE_TEST_POSTGRES")
				if base == "" {
					base = "postgres://root@127.0.0.1:5432/test?sslmode=disable"
				}
				admin, err := sql.Open("pgx", base)
				if err != nil {
					t.Fatal(err)
				}
				defer admin.Close()
				schema := "apogee_migrate_" + apogee.NewID()
				if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
					t.Fatalf("PostgreSQL at %s: %v (install and start it; see TestPostgres)", base, err)
				}
				t.Cleanup(func() { admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
				u, _ := url.Parse(base)
				q := u.Query()
				q.Set("search_path", schema)
				u.RawQuery = q.Encode()
				openURL = u.String()
				if raw, err = sql.Open("pgx", openURL); err != nil {
					t.Fatal(err)
				}
				gd = goose.DialectPostgres
				ts = func(s string) any { tt, _ := time.Parse(timeLayout, s); return tt }
			}
			defer raw.Close()
			fsys, _ := fs.Sub(migrations, "migrations/"+dialect)
			p, err := goose.NewProvider(gd, raw, fsys, goose.WithDisableGlobalRegistry(true))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.UpTo(ctx, 23); err != nil {
				t.Fatal(err)
			}
			now := "2026-03-01T12:00:00.000000Z"
			h1, h2, hz := sha("1"), sha("2"), sha("z")
			for _, q := range []struct {
				sql  string
				args []any
			}{
				{"INSERT INTO users (id, email, password, created_at) VALUES ('u1', 'a@example.com', 'x', $1)", []any{ts(now)}},
				{"INSERT INTO users (id, email, password, created_at) VALUES ('u2', 'b@example.com', 'x', $1)", []any{ts(now)}},
				{"INSERT INTO projects (id, name, owner_id, created_at) VALUES ('p1', 'web', 'u1', $1)", []any{ts(now)}},
				{"INSERT INTO projects (id, name, owner_id, created_at) VALUES ('p2', 'blog', 'u2', $1)", []any{ts(now)}},
				{"INSERT INTO deployments (id, project_id, status, target, host, files, size, created_at) VALUES ('d1', 'p1', 'ready', 'preview', 'web-d1', 2, 10, $1)", []any{ts(now)}},
				{"INSERT INTO deployments (id, project_id, status, target, host, files, size, created_at) VALUES ('d2', 'p2', 'uploading', 'preview', 'blog-d2', 1, 9, $1)", []any{ts(now)}},
				{"INSERT INTO deployment_files (deployment_id, path, sha256, size) VALUES ('d1', 'a.txt', $1, 5), ('d1', 'b.txt', $1, 5), ('d2', 'x', $2, 9)", []any{h1, h2}},
				{"INSERT INTO uploads (id, project_id, created_by, created_at, expires_at, blob_sha256, size, used_at) VALUES ('up1', 'p2', 'u2', $1, $1, $2, 77, $1)", []any{ts(now), hz}},
				{"INSERT INTO domains (name, project_id, token, verified_at, created_at) VALUES ('www.example.com', 'p1', 't', $1, $1)", []any{ts(now)}},
			} {
				if _, err := raw.ExecContext(ctx, q.sql, q.args...); err != nil {
					t.Fatalf("%s: %v", q.sql, err)
				}
			}
			raw.Close()

			s, err := Open(ctx, openURL, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			held, err := s.HeldBlobs(ctx, "u1", []string{h1, h2, hz})
			if err != nil || len(held) != 1 || held[h1] != -1 {
				t.Errorf("u1 holds %v, %v; want %s (size unknown) only", held, err, h1)
			}
			held, err = s.HeldBlobs(ctx, "u2", []string{h1, h2, hz})
			if err != nil || len(held) != 1 || held[hz] != 77 {
				t.Errorf("u2 holds %v, %v; want the ZIP %s of 77 bytes only (d2 never finalized)", held, err, hz)
			}
			claims, err := s.DomainClaims(ctx, "www.example.com")
			if err != nil || len(claims) != 1 || !claims[0].Verified() || claims[0].ProjectID != "p1" {
				t.Fatalf("claims after the migration: %+v, %v", claims, err)
			}
			// The new rules hold on the migrated table.
			if err := s.CreateDomain(ctx, &apogee.Domain{Name: "www.example.com", ProjectID: "p2", Token: "t2"}); apogee.ErrorCode(err) != apogee.ECONFLICT {
				t.Errorf("claiming a verified name: %v", err)
			}
			if err := s.CreateDomain(ctx, &apogee.Domain{Name: "shop.example.com", ProjectID: "p2", Token: "t2"}); err != nil {
				t.Fatal(err)
			}
			if err := s.CreateDomain(ctx, &apogee.Domain{Name: "shop.example.com", ProjectID: "p1", Token: "t1"}); err != nil {
				t.Errorf("a second unverified claim: %v", err)
			}
		})
	}
}

func sha(s string) string {
	const hex = "0123456789abcdef"
	b := make([]byte, 64)
	for i := range b {
		b[i] = hex[(int(s[0])+i)%16]
	}
	return string(b)
}
