package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/auth"
	"github.com/apogee-dev/apogee/internal/client"
	"github.com/apogee-dev/apogee/internal/secretbox"
)

// secretServer starts New on data with secretKey ("" for the key file),
// logging to logs, and returns a client of its API for a user whose
// token it makes (or reuses, by email, after a restart).
func secretServer(t *testing.T, data, secretKey string, logs io.Writer) (*Server, *client.Client, error) {
	t.Helper()
	cfg := Config{Data: data, SecretKey: secretKey, Listen: "127.0.0.1:0", Domain: "localhost", CacheMB: 1, MaxFileMB: 1,
		UploadTTL: time.Hour, LogLevel: "debug", LogFormat: "text", ShutdownTTL: time.Second}
	if err := cfg.Normalize(); err != nil {
		return nil, nil, err
	}
	s, err := New(t.Context(), cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		return nil, nil, err
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	u, err := s.Store().UserByEmail(ctx, "a@example.com")
	if err != nil {
		u = &apogee.User{ID: apogee.NewID(), Email: "a@example.com", Password: "x", CreatedAt: time.Now()}
		if err := s.Store().CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	tok, hash := auth.NewToken()
	if err := s.Store().CreateToken(ctx, &apogee.Token{ID: apogee.NewID(), UserID: u.ID, Name: "t", Hash: hash, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.apex)
	t.Cleanup(srv.Close)
	return s, client.New(srv.URL, tok), nil
}

// TestSecretKeyFile: the first start makes <data>/secret.key (0600) and a
// restart reads it, so what was sealed opens again; the key never
// reaches the log.
func TestSecretKeyFile(t *testing.T) {
	data := t.TempDir()
	var logs bytes.Buffer
	s, c, err := secretServer(t, data, "", &logs)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	path := filepath.Join(data, "secret.key")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}
	p, err := c.CreateProject(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetEnv(ctx, "web", "TOKEN", "restart-proof", true); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s2, c2, err := secretServer(t, data, "", &logs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c2.GetProject(ctx, "web")
	if err != nil || got.WebhookSecret != p.WebhookSecret || got.WebhookSecret == "" {
		t.Fatalf("webhook secret after restart: %q, %v; want %q", got.WebhookSecret, err, p.WebhookSecret)
	}
	vars, secrets, err := s2.platform.Env().Resolve(ctx, got.ID)
	if err != nil || len(vars) != 1 || vars[0] != "TOKEN=restart-proof" || len(secrets) != 1 {
		t.Fatalf("Resolve after restart: %q %q %v", vars, secrets, err)
	}

	key, _ := os.ReadFile(path)
	for _, s := range []string{strings.TrimSpace(string(key)), "restart-proof", p.WebhookSecret} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("the log holds a secret:\n%s", logs.String())
		}
	}
	if !strings.Contains(logs.String(), "created the secret key") {
		t.Errorf("the first start did not say it made the key:\n%s", logs.String())
	}
}

// TestSecretKeyFlag: --secret-key makes no key file; a restart with
// another key starts, but what was sealed fails to open with a message
// that names the key settings.
func TestSecretKeyFlag(t *testing.T) {
	data := t.TempDir()
	k1 := secretbox.EncodeKey(bytes.Repeat([]byte{1}, 32))
	s, c, err := secretServer(t, data, k1, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(data, "secret.key")); !os.IsNotExist(err) {
		t.Fatalf("a key file was made although --secret-key was given: %v", err)
	}
	ctx := t.Context()
	if _, err := c.CreateProject(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetEnv(ctx, "web", "PLAIN", "v", false); err != nil {
		t.Fatal(err)
	}
	s.Close()

	k2 := strings.Repeat("02", 32) // hex works too
	_, c2, err := secretServer(t, data, k2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c2.ListEnv(ctx, "web")
	if apogee.ErrorCode(err) != apogee.EINTERNAL || !strings.Contains(apogee.ErrorMessage(err), "--secret-key") {
		t.Fatalf("list with another key: %v", err)
	}
	if _, err := c2.GetProject(ctx, "web"); apogee.ErrorCode(err) != apogee.EINTERNAL {
		t.Fatalf("project with another key: %v", err)
	}
}

func TestSecretKeyRefused(t *testing.T) {
	t.Run("bad flag", func(t *testing.T) {
		_, _, err := secretServer(t, t.TempDir(), "hunter2hunter2", io.Discard)
		if apogee.ErrorCode(err) != apogee.EINVALID || !strings.Contains(err.Error(), "--secret-key") || strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("bad --secret-key: %v", err)
		}
	})
	t.Run("readable key file", func(t *testing.T) {
		data := t.TempDir()
		path := filepath.Join(data, "secret.key")
		if err := os.WriteFile(path, []byte(secretbox.EncodeKey(make([]byte, 32))), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, 0o644)
		_, _, err := secretServer(t, data, "", io.Discard)
		if apogee.ErrorCode(err) != apogee.EINVALID || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("world-readable key file: %v", err)
		}
	})
	t.Run("short key file", func(t *testing.T) {
		data := t.TempDir()
		if err := os.WriteFile(filepath.Join(data, "secret.key"), []byte("c2hvcnQ=\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := secretServer(t, data, "", io.Discard)
		if apogee.ErrorCode(err) != apogee.EINVALID || !strings.Contains(err.Error(), "32 bytes") {
			t.Fatalf("short key file: %v", err)
		}
	})
}
