// Package source puts a build's source tree into a folder: from a Git
// repository (Git.Fetch, with the real git binary) or from an uploaded ZIP
// (ExtractZip).
//
// Both treat their input as hostile. Fetch runs git with an environment
// of its own (no system or user configuration, no prompts, only the
// https, http and, when allowed, file transports) and keeps a token out of
// argv, logs, errors and .git/config. ExtractZip refuses paths that leave
// the folder, links that point out of it, special files and archives over
// their limits, counting the bytes it actually decompresses.
//
// Both return *apogee.Error with EINVALID (or ETOOLARGE for a ZIP over a
// limit) for what the user can fix, with a message that says what to do;
// other errors are internal. Either way the destination folder is left
// empty. A canceled context ends the work early; the error then wraps the
// context's error.
//
// A source tree may hold symbolic links: they are never followed here, but
// whoever reads the tree outside a sandbox (the build's output, say) must
// not follow them either, since a Git checkout or a build can make a link
// to anywhere.
package source

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// prepareDir makes dir if it is absent and checks that it is an empty
// folder. It returns the absolute path.
func prepareDir(dir string) (string, error) {
	if dir == "" {
		return "", errors.New("source: no destination folder")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("source: destination folder: %w", err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", fmt.Errorf("source: making the destination folder: %w", err)
	}
	f, err := os.Open(abs)
	if err != nil {
		return "", fmt.Errorf("source: destination folder: %w", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("source: destination folder: %w", err)
	}
	if len(names) > 0 {
		return "", fmt.Errorf("source: destination folder %s is not empty", abs)
	}
	return abs, nil
}

// emptyDir removes everything inside dir, never following links.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
