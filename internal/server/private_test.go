package server

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/apogee-dev/apogee/internal/secretbox"
)

// TestDataIsPrivate: issue 10 found apogee.db, secret.key and the data
// folder world-readable. A data folder made by the umask (0755) is made
// 0700 at start; the database 0600, and the key file is 0600.
func TestDataIsPrivate(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	startServer(t, Config{Data: data})
	for _, tt := range []struct {
		path string
		mode fs.FileMode
	}{
		{data, 0o700},
		{filepath.Join(data, "apogee.db"), 0o600},
		{filepath.Join(data, secretbox.KeyFileName), 0o600},
	} {
		fi, err := os.Stat(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != tt.mode {
			t.Errorf("%s is %v, want %v", tt.path, fi.Mode().Perm(), tt.mode)
		}
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if fi, err := os.Stat(filepath.Join(data, "apogee.db"+suffix)); err == nil && fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("apogee.db%s is %v: others may read it", suffix, fi.Mode().Perm())
		}
	}
}
