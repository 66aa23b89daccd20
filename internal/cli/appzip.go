package cli

import (
	"archive/zip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// zipSource writes a ZIP of an app's source folder to a temporary file
// and returns its path: what the server builds an app from when it is
// deployed from a folder. node_modules (the server installs the
// dependencies), .git and .DS_Store are left out, and so are links and
// anything but regular files; executable bits are kept.
func zipSource(dir string) (string, error) {
	f, err := os.CreateTemp("", "apogee-source-*.zip")
	if err != nil {
		return "", err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	zw := zip.NewWriter(f)
	root, err := os.OpenRoot(dir)
	if err != nil {
		return "", err
	}
	defer root.Close()
	err = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git") && p != ".":
			return fs.SkipDir
		case d.IsDir(), !d.Type().IsRegular(), d.Name() == ".DS_Store":
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		h, err := zip.FileInfoHeader(info)
		if err != nil {
			return err
		}
		h.Name, h.Method = filepath.ToSlash(p), zip.Deflate
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		src, err := root.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(w, src)
		return err
	})
	if err == nil {
		err = zw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("zip %s: %w", dir, err)
	}
	ok = true
	return f.Name(), nil
}
