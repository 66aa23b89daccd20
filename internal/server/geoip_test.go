package server

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGeoIPDBRefusesAFileThatIsNotOne: a --geoip-db that is no MaxMind
// database stops the server at start, naming the flag.
func TestGeoIPDBRefusesAFileThatIsNotOne(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "country.mmdb")
	if err := os.WriteFile(bad, []byte("not a database"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Data: t.TempDir(), Listen: "127.0.0.1:0", Domain: "localhost", CacheMB: 16, MaxFileMB: 8,
		UploadTTL: time.Hour, LogLevel: "warn", LogFormat: "text", ShutdownTTL: time.Second, GeoIPDB: bad}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	s, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		s.Close()
		t.Fatal("the server started with a --geoip-db that is not a database")
	}
	if !strings.Contains(err.Error(), "--geoip-db") || !strings.Contains(err.Error(), bad) {
		t.Fatalf("error %q does not name --geoip-db and the file", err)
	}
}
