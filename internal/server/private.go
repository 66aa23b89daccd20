package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// makePrivate keeps the data folder and the SQLite database to the user
// the server runs as: the folder 0700, the database and its WAL and
// shared-memory files 0600 (secret.key is made 0600, and refused if
// others may read it: see secretbox.LoadOrCreateKeyFile). Files of an
// older version, made with the umask's 0755 and 0644, are fixed at start
// and the fix is logged. What the data folder holds (blobs, repositories,
// build caches) is then out of other users' reach whatever its own mode.
func (s *Server) makePrivate(context.Context) error {
	if err := os.MkdirAll(s.cfg.Data, 0o700); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	paths := []struct {
		path string
		mode fs.FileMode
	}{{s.cfg.Data, 0o700}}
	if db, ok := strings.CutPrefix(s.cfg.Database, "sqlite://"); ok {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			paths = append(paths, struct {
				path string
				mode fs.FileMode
			}{filepath.Clean(db) + suffix, 0o600})
		}
	}
	for _, p := range paths {
		fi, err := os.Stat(p.path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("data folder: %w", err)
		}
		if fi.Mode().Perm()&^p.mode == 0 {
			continue
		}
		if err := os.Chmod(p.path, p.mode); err != nil {
			return fmt.Errorf("data folder: make %s private (chmod %o): %w", p.path, p.mode, err)
		}
		s.log.Info("made private: others could read it", "path", p.path, "was", fi.Mode().Perm().String(), "now", p.mode.String())
	}
	return nil
}
