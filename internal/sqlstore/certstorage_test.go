package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/apogee-dev/apogee"
)

// bothDialects runs fn on a fresh SQLite store and a fresh PostgreSQL
// schema. open opens another Store on the same database, as a second
// process would.
func bothDialects(t *testing.T, fn func(t *testing.T, open func() *Store)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "apogee.db")
		fn(t, func() *Store { return openT(t, "sqlite://"+path) })
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		base := os.Getenv("APOGEE_TEST_POSTGRES")
		if base == "" {
			base = "postgres://root@127.0.0.1:5432/test?sslmode=disable"
		}
		admin, err := sql.Open("pgx", base)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { admin.Close() })
		if err := admin.PingContext(t.Context()); err != nil {
			t.Fatalf("PostgreSQL is not reachable (set APOGEE_TEST_POSTGRES): %v", err)
		}
		schema := "apogee_test_" + apogee.NewID()
		if _, err := admin.ExecContext(t.Context(), "CREATE SCHEMA "+schema); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
		u, _ := url.Parse(base)
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		fn(t, func() *Store { return openT(t, u.String()) })
	})
}

func openT(t *testing.T, raw string) *Store {
	t.Helper()
	s, err := Open(t.Context(), raw, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestCertStorageKeys(t *testing.T) {
	bothDialects(t, func(t *testing.T, open func() *Store) {
		ctx := t.Context()
		c := open().CertStorage(0)
		other := open().CertStorage(0) // another process on the same database

		if _, err := c.Load(ctx, "nope"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Load of a missing key: %v; want fs.ErrNotExist", err)
		}
		if _, err := c.Stat(ctx, "nope"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Stat of a missing key: %v; want fs.ErrNotExist", err)
		}
		if _, err := c.List(ctx, "nope", true); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("List of a missing directory: %v; want fs.ErrNotExist", err)
		}
		if c.Exists(ctx, "nope") {
			t.Fatal("a missing key exists")
		}
		if err := c.Delete(ctx, "nope"); err != nil {
			t.Fatalf("Delete of a missing key: %v", err)
		}

		keys := map[string][]byte{
			"certificates/ca/www.example.com/www.example.com.crt":  []byte("crt"),
			"certificates/ca/www.example.com/www.example.com.key":  {0, 1, 2, 0xff}, // binary
			"certificates/ca/www.example.com/www.example.com.json": []byte("{}"),
			"certificates/ca/www.example.com0/x":                   []byte("sibling whose name extends a directory's"),
			"certificates/ca/example.com/example.com.crt":          []byte("apex"),
			"acme/ca/users/me/me.json":                             []byte("account"),
			"empty":                                                {},
		}
		before := time.Now().Add(-time.Second)
		for k, v := range keys {
			if err := c.Store(ctx, k, v); err != nil {
				t.Fatal(err)
			}
		}
		for k, v := range keys {
			got, err := other.Load(ctx, k)
			if err != nil || !bytes.Equal(got, v) {
				t.Errorf("Load(%q) = %q, %v; want %q", k, got, err, v)
			}
		}
		if err := c.Store(ctx, "empty", []byte("now full")); err != nil { // overwrite
			t.Fatal(err)
		}
		if got, _ := other.Load(ctx, "empty"); string(got) != "now full" {
			t.Errorf("after overwrite Load = %q", got)
		}

		info, err := c.Stat(ctx, "certificates/ca/example.com/example.com.crt")
		if err != nil || !info.IsTerminal || info.Size != 4 || info.Modified.Before(before) || info.Key != "certificates/ca/example.com/example.com.crt" {
			t.Errorf("Stat(file) = %+v, %v", info, err)
		}
		info, err = c.Stat(ctx, "certificates/ca")
		if err != nil || info.IsTerminal || info.Modified.Before(before) {
			t.Errorf("Stat(directory) = %+v, %v", info, err)
		}
		for _, k := range []string{"certificates", "certificates/ca/www.example.com", "acme/ca/users/me/me.json"} {
			if !c.Exists(ctx, k) {
				t.Errorf("Exists(%q) = false", k)
			}
		}
		if c.Exists(ctx, "certificates/c") || c.Exists(ctx, "certificates/ca/www") {
			t.Error("a prefix that is not a whole directory name exists")
		}

		got, err := c.List(ctx, "certificates/ca", false)
		want := []string{"certificates/ca/example.com", "certificates/ca/www.example.com", "certificates/ca/www.example.com0"}
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("List(certificates/ca) = %q, %v; want %q", got, err, want)
		}
		got, err = c.List(ctx, "certificates/ca/www.example.com", false)
		want = []string{
			"certificates/ca/www.example.com/www.example.com.crt",
			"certificates/ca/www.example.com/www.example.com.json",
			"certificates/ca/www.example.com/www.example.com.key",
		}
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("List(dir) = %q, %v; want %q", got, err, want)
		}
		got, err = c.List(ctx, "acme", true)
		want = []string{"acme/ca", "acme/ca/users", "acme/ca/users/me", "acme/ca/users/me/me.json"}
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("List(acme, recursive) = %q, %v; want %q", got, err, want)
		}
		got, err = c.List(ctx, "", false)
		want = []string{"acme", "certificates", "empty"}
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("List(root) = %q, %v; want %q", got, err, want)
		}

		// Deleting a directory deletes what is under it, and nothing else.
		if err := c.Delete(ctx, "certificates/ca/www.example.com"); err != nil {
			t.Fatal(err)
		}
		if c.Exists(ctx, "certificates/ca/www.example.com") {
			t.Error("deleted directory exists")
		}
		if _, err := other.Load(ctx, "certificates/ca/www.example.com/www.example.com.key"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("key under a deleted directory: %v", err)
		}
		for _, k := range []string{"certificates/ca/www.example.com0/x", "certificates/ca/example.com/example.com.crt"} {
			if !c.Exists(ctx, k) {
				t.Errorf("Delete of a directory took %q with it", k)
			}
		}
		if err := c.Delete(ctx, "empty"); err != nil || c.Exists(ctx, "empty") {
			t.Errorf("Delete(file): %v", err)
		}
	})
}

func TestCertStorageLocks(t *testing.T) {
	bothDialects(t, func(t *testing.T, open func() *Store) {
		ctx := t.Context()
		a := open().CertStorage(time.Second)
		b := open().CertStorage(time.Second)

		// Mutual exclusion across holders, and across names none.
		var inside, max atomic.Int32
		var wg sync.WaitGroup
		for i := range 6 {
			holder := a
			if i%2 == 1 {
				holder = b
			}
			wg.Go(func() {
				if err := holder.Lock(ctx, "issue_cert_www.example.com"); err != nil {
					t.Error(err)
					return
				}
				if n := inside.Add(1); n > max.Load() {
					max.Store(n)
				}
				time.Sleep(20 * time.Millisecond)
				inside.Add(-1)
				if err := holder.Unlock(ctx, "issue_cert_www.example.com"); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if max.Load() != 1 {
			t.Fatalf("%d holders were inside the lock at once", max.Load())
		}
		if err := a.Lock(ctx, "one"); err != nil {
			t.Fatal(err)
		}
		if err := b.Lock(ctx, "two"); err != nil { // another name is free
			t.Fatal(err)
		}

		// A held lock outlives its TTL (it is refreshed) and makes others
		// wait until their context ends.
		time.Sleep(1500 * time.Millisecond)
		wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		err := b.Lock(wctx, "one")
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Lock of a held lock = %v; want the context's deadline", err)
		}
		if err := b.Unlock(ctx, "one"); err == nil {
			t.Error("Unlock by a holder that does not hold the lock succeeded")
		}
		must(t, a.Unlock(ctx, "one"))
		must(t, b.Lock(ctx, "one"))
		must(t, b.Unlock(ctx, "one"))
		must(t, b.Unlock(ctx, "two"))

		// A crashed holder's lock (no refresh, expired) is taken over.
		s := open()
		_, err = s.exec(ctx, "INSERT INTO cert_locks (name, token, expires_at) VALUES ($1, $2, $3)",
			"stale", "dead-process", s.d.timeArg(time.Now().Add(-time.Millisecond)))
		must(t, err)
		lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		must(t, a.Lock(lctx, "stale"))
		must(t, a.Unlock(ctx, "stale"))
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
