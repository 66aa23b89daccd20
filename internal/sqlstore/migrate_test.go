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
// oldDB is an empty database of dialect with goose's provider of the
// migrations over it (raw), the URL Open takes for it, and ts, which
// makes a stored time of an RFC 3339 text as the dialect keeps it.
func oldDB(t *testing.T, dialect string) (raw *sql.DB, p *goose.Provider, openURL string, ts func(string) any) {
	t.Helper()
	ctx := t.Context()
	gd := goose.DialectSQLite3
	ts = func(s string) any { return s }
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
		t.Cleanup(func() { admin.Close() })
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
	t.Cleanup(func() { raw.Close() })
	fsys, _ := fs.Sub(migrations, "migrations/"+dialect)
	p, err := goose.NewProvider(gd, raw, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	return raw, p, openURL, ts
}

func TestMigrateStoredBytesAndClaims(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			ctx := t.Context()
			raw, p, openURL, ts := oldDB(t, dialect)
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

// TestMigrateTeamWebhooks runs the migrations up to 00086 on each
// dialect, leaves a project's webhook with a delivery in the outbox, runs
// 00087 (webhooks of teams; SQLite makes both tables again) and checks
// that both survived, that the outbox's foreign key still names the
// webhooks (a removed webhook takes its deliveries), and that a team's
// webhook can be made.
func TestMigrateTeamWebhooks(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			ctx := t.Context()
			raw, p, openURL, ts := oldDB(t, dialect)
			if _, err := p.UpTo(ctx, 86); err != nil {
				t.Fatal(err)
			}
			now := "2026-12-01T12:00:00.000000Z"
			for _, q := range []struct {
				sql  string
				args []any
			}{
				{"INSERT INTO users (id, email, password, created_at) VALUES ('u1', 'a@example.com', 'x', $1)", []any{ts(now)}},
				{"INSERT INTO projects (id, name, owner_id, created_at) VALUES ('p1', 'web', 'u1', $1)", []any{ts(now)}},
				{"INSERT INTO webhooks (id, project_id, url, secret, events, created_at) VALUES ('h1', 'p1', 'https://hooks.example/x', 'v1:s', 'deployment.ready', $1)", []any{ts(now)}},
				{"INSERT INTO webhook_outbox (id, webhook_id, project_id, event, body, attempts, due_at, created_at) VALUES ('d1', 'h1', 'p1', 'deployment.ready', '{}', 1, $1, $1)", []any{ts(now)}},
			} {
				if _, err := raw.ExecContext(ctx, q.sql, q.args...); err != nil {
					t.Fatalf("%s: %v", q.sql, err)
				}
			}
			if _, err := p.Up(ctx); err != nil {
				t.Fatal(err)
			}
			s, err := Open(ctx, openURL, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			hs, err := s.ListWebhooks(ctx, "p1")
			if err != nil || len(hs) != 1 || hs[0].ID != "h1" || hs[0].TeamID != "" || hs[0].URL != "https://hooks.example/x" ||
				len(hs[0].Events) != 1 || hs[0].Events[0] != apogee.NotifyDeploymentReady {
				t.Fatalf("the project's webhooks after 00087: %+v, %v", hs, err)
			}
			at, _ := time.Parse(timeLayout, now)
			items, err := s.ClaimWebhookDeliveries(ctx, "m", at, at.Add(time.Minute), 10)
			if err != nil || len(items) != 1 || items[0].ID != "d1" || items[0].WebhookID != "h1" || items[0].Attempts != 1 {
				t.Fatalf("the outbox after 00087: %+v, %v", items, err)
			}
			team := &apogee.Team{Name: "acme", CreatedBy: "u1", CreatedAt: at}
			if err := s.CreateTeam(ctx, team, "u1"); err != nil {
				t.Fatal(err)
			}
			th := &apogee.Webhook{ID: "h2", TeamID: team.ID, URL: "https://hooks.example/team", Secret: "v1:t"}
			if err := s.CreateWebhook(ctx, th); err != nil {
				t.Fatalf("a team's webhook after 00087: %v", err)
			}
			if _, err := raw.ExecContext(ctx, "INSERT INTO webhooks (id, url, secret, created_at) VALUES ('h3', 'https://x.example/', 's', $1)", ts(now)); err == nil {
				t.Error("a webhook of no one was stored")
			}
			if err := s.DeleteWebhook(ctx, "p1", "h1"); err != nil {
				t.Fatal(err)
			}
			if n, err := s.PendingWebhookDeliveries(ctx); err != nil || n != 0 {
				t.Errorf("%d deliveries of a removed webhook after 00087 (%v); want them gone with it", n, err)
			}

			// Down: the team's webhook goes; projects' webhooks work as
			// before 00087.
			s.Close()
			if _, err := p.Down(ctx); err != nil {
				t.Fatalf("00087 down: %v", err)
			}
			var n int
			if err := raw.QueryRowContext(ctx, "SELECT COUNT(*) FROM webhooks").Scan(&n); err != nil || n != 0 {
				t.Errorf("%d webhooks after 00087 down (%v); want the team's gone", n, err)
			}
			if _, err := raw.ExecContext(ctx, "INSERT INTO webhooks (id, project_id, url, secret, created_at) VALUES ('h4', 'p1', 'https://x.example/', 's', $1)", ts(now)); err != nil {
				t.Errorf("a project's webhook after 00087 down: %v", err)
			}
			if _, err := raw.ExecContext(ctx, "INSERT INTO webhook_outbox (id, webhook_id, project_id, event, body, due_at, created_at) VALUES ('d2', 'h4', 'p1', 'ping', '{}', $1, $1)", ts(now)); err != nil {
				t.Errorf("a delivery after 00087 down: %v", err)
			}
		})
	}
}
