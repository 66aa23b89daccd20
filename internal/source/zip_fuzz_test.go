package source

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apogee-dev/apogee"
)

// FuzzExtractZip unpacks any bytes as an uploaded ZIP (the dashboard's
// and `apogee deploy --zip`'s way in) and checks ExtractZip's contract:
// a refusal is an EINVALID or ETOOLARGE *apogee.Error and leaves the
// folder empty; an extraction writes nothing outside the folder (the
// folder beside it stays empty), only regular files, folders and links
// that resolve inside it, no setuid/setgid/sticky bits, and no more than
// the limits allow. Seeds: testdata/fuzz/FuzzExtractZip (zip-slip,
// absolute paths, links out, a bomb, GitHub's top folder…);
// scripts/fuzz.sh runs it longer.
func FuzzExtractZip(f *testing.F) {
	for _, entries := range [][]zf{
		{{name: "index.html", body: "hi"}},
		{{name: "site-main/", body: ""}, {name: "site-main/index.html", body: "hi"}, {name: "site-main/a/b.js", body: "x"}},
		{{name: "../evil", body: "x"}},
		{{name: "/etc/evil", body: "x"}},
		{{name: "a\\..\\evil", body: "x"}},
		{{name: "index.html", body: "x"}, link("out", "../../etc")},
		{link("l", "a"), {name: "l/x", body: "through the link"}},
		{{name: "run.sh", body: "#!/bin/sh", mode: 0o4755}},
		{{name: "a", body: "1"}, {name: "a/", body: ""}},
		{{name: "bomb", body: strings.Repeat("0", 1<<16)}},
	} {
		f.Add(makeZip(f, entries...))
	}
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18))) // an empty archive
	f.Add([]byte("not a zip"))
	f.Fuzz(func(t *testing.T, data []byte) { checkExtract(t, data) })
}

// FuzzExtractZipEntries builds a well-formed archive from any list of
// entries, one a line: "name", "name/" (a folder), "name -> target" (a
// link) or "name x" (an executable), so that the fuzzer spends its time
// on names, kinds and links rather than on checksums; then checks as
// FuzzExtractZip does.
func FuzzExtractZipEntries(f *testing.F) {
	for _, s := range []string{
		"index.html\nassets/\nassets/app.js",
		"top/\ntop/index.html\ntop/a/b.css",
		"a -> b\nb -> a\nindex.html",
		"l -> .\nl/x",
		"l -> ../x\nindex.html",
		"d/\nd/l -> ../../etc/passwd",
		"x -> /etc/passwd",
		"a/b -> ../c\nc -> a/b/../../..",
		"run.sh x\n__MACOSX/._run.sh",
		"C:/windows\n..\\x",
		"a\na\na/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for i, line := range strings.Split(spec, "\n") {
			if i >= 32 {
				break
			}
			h := &zip.FileHeader{Name: line, Method: zip.Store}
			body := "file " + line
			switch name, target, isLink := strings.Cut(line, " -> "); {
			case isLink:
				h.Name, body = name, target
				h.SetMode(fs.ModeSymlink | 0o777)
			case strings.HasSuffix(line, " x"):
				h.Name = strings.TrimSuffix(line, " x")
				h.SetMode(0o755)
			case strings.HasSuffix(line, "/"):
				h.SetMode(fs.ModeDir | 0o755)
				body = ""
			default:
				h.SetMode(0o644)
			}
			w, err := zw.CreateHeader(h)
			if err != nil {
				return // a name the writer refuses cannot be in an upload made by it; FuzzExtractZip covers raw bytes
			}
			w.Write([]byte(body))
		}
		if zw.Close() != nil {
			return
		}
		checkExtract(t, buf.Bytes())
	})
}

// checkExtract extracts data into a fresh folder and checks what
// ExtractZip promises (see FuzzExtractZip).
func checkExtract(t *testing.T, data []byte) {
	lim := ZipLimits{MaxFiles: 64, MaxBytes: 1 << 16, MaxFileBytes: 1 << 15}
	{
		parent := t.TempDir()
		dir := filepath.Join(parent, "out")
		files, n, err := ExtractZip(context.Background(), bytes.NewReader(data), int64(len(data)), dir, lim)
		if left, _ := os.ReadDir(parent); len(left) > 1 {
			t.Fatalf("ExtractZip wrote beside its folder: %v", left)
		}
		if err != nil {
			var e *apogee.Error
			if !errors.As(err, &e) || (e.Code != apogee.EINVALID && e.Code != apogee.ETOOLARGE) || e.Message == "" {
				t.Fatalf("ExtractZip: error %v is not an EINVALID or ETOOLARGE *apogee.Error with a message", err)
			}
			if left, _ := os.ReadDir(dir); len(left) > 0 {
				t.Fatalf("ExtractZip failed (%v) but left %d entries in the folder", err, len(left))
			}
			return
		}
		if n > lim.MaxBytes || files > lim.MaxFiles {
			t.Fatalf("ExtractZip wrote %d files, %d bytes: over the limits %+v", files, n, lim)
		}
		root, err := filepath.EvalSymlinks(dir)
		if err != nil {
			t.Fatal(err)
		}
		var seen int
		var size int64
		err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p == dir {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if info.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
				t.Fatalf("%s has mode %v", p, info.Mode())
			}
			switch {
			case d.IsDir():
			case info.Mode()&fs.ModeSymlink != 0:
				seen++
				if where := leaves(root, p); where != "" {
					t.Fatalf("link %s leads out of the folder: %s", p, where)
				}
				target, _ := os.Readlink(p)
				size += int64(len(target)) // a link's bytes are its target's
			case info.Mode().IsRegular():
				seen++
				size += info.Size()
			default:
				t.Fatalf("%s is a %v", p, info.Mode().Type())
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if seen != files || size != n {
			t.Fatalf("ExtractZip says %d files, %d bytes; the folder holds %d, %d", files, n, seen, size)
		}
	}
}

// leaves resolves the link at p as the kernel would, reading the links
// on disk (a missing path counts as a folder: a build may make it), and
// says how it leaves root, or "" if it stays inside.
func leaves(root, p string) string {
	rel, err := filepath.Rel(root, filepath.Dir(p))
	if err != nil {
		return err.Error()
	}
	var cur []string
	if rel != "." {
		cur = strings.Split(rel, "/")
	}
	target, err := os.Readlink(p)
	if err != nil {
		return err.Error()
	}
	todo := []string{target}
	for hops := 0; len(todo) > 0; {
		t := todo[0]
		todo = todo[1:]
		if strings.HasPrefix(t, "/") {
			return "to the absolute path " + t
		}
		parts := strings.Split(t, "/")
		if len(parts) > 1 {
			todo = append(parts, todo...)
			continue
		}
		switch part := parts[0]; part {
		case "", ".":
		case "..":
			if len(cur) == 0 {
				return "through .. above the folder"
			}
			cur = cur[:len(cur)-1]
		default:
			next := filepath.Join(append([]string{root}, append(cur, part)...)...)
			if fi, err := os.Lstat(next); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
				if hops++; hops > 255 {
					return "" // a loop the kernel refuses to follow
				}
				t, err := os.Readlink(next)
				if err != nil {
					return err.Error()
				}
				todo = append([]string{t}, todo...)
				continue
			}
			cur = append(cur, part)
		}
	}
	return ""
}
