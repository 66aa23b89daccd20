package apphost

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// TestTrees lays out two releases sharing most files: files are hard
// links to one object each (a shared file is fetched once), executables
// keep their bit, links are links again, a link out of the tree is
// refused, and Collect deletes only objects no tree uses.
func TestTrees(t *testing.T) {
	_, bl, data := testbed.Backends(t)
	put := func(body string) string {
		sum := sha256.Sum256([]byte(body))
		h := hex.EncodeToString(sum[:])
		if _, err := bl.Put(t.Context(), h, bytes.NewReader([]byte(body)), 0); err != nil {
			t.Fatal(err)
		}
		return h
	}
	link := uint32(fs.ModeSymlink | 0o777)
	v1 := []apogee.File{
		{Path: "server.js", SHA256: put("v1"), Size: 2, Mode: 0o644},
		{Path: "node_modules/x/cli.js", SHA256: put("#!/usr/bin/env node"), Size: 19, Mode: 0o755},
		{Path: "node_modules/x/index.js", SHA256: put("module.exports = 1"), Size: 18, Mode: 0o644},
		{Path: "node_modules/.bin/x", SHA256: put("../x/cli.js"), Size: 11, Mode: link},
	}
	v2 := append([]apogee.File{{Path: "server.js", SHA256: put("v2"), Size: 2, Mode: 0o644}}, v1[1:]...)
	tr, err := NewTrees(filepath.Join(data, "apps"), bl)
	if err != nil {
		t.Fatal(err)
	}
	d1, err := tr.Make(t.Context(), "r1", v1)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := tr.Make(t.Context(), "r2", v2)
	if err != nil {
		t.Fatal(err)
	}
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if read(filepath.Join(d1, "server.js")) != "v1" || read(filepath.Join(d2, "server.js")) != "v2" {
		t.Error("server.js of each release is not its own")
	}
	if read(filepath.Join(d2, "node_modules/.bin/x")) != "#!/usr/bin/env node" {
		t.Error("the link does not lead to cli.js")
	}
	if target, err := os.Readlink(filepath.Join(d2, "node_modules/.bin/x")); err != nil || target != "../x/cli.js" {
		t.Errorf("node_modules/.bin/x is %q, %v; want a link to ../x/cli.js", target, err)
	}
	a, _ := os.Stat(filepath.Join(d1, "node_modules/x/index.js"))
	b, _ := os.Stat(filepath.Join(d2, "node_modules/x/index.js"))
	if !os.SameFile(a, b) {
		t.Error("a file both releases hold is not one object")
	}
	if fi, _ := os.Stat(filepath.Join(d1, "node_modules/x/cli.js")); fi.Mode().Perm() != 0o555 {
		t.Errorf("an executable is %v", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(filepath.Join(d1, "server.js")); fi.Mode().Perm() != 0o444 {
		t.Errorf("a file is %v, want read-only for all", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(filepath.Join(d1, "node_modules")); fi.Mode().Perm() != 0o755 {
		t.Errorf("a folder is %v, want 0755", fi.Mode().Perm())
	}
	// Made already: the same path, nothing fetched.
	if again, err := tr.Make(t.Context(), "r1", nil); err != nil || again != d1 {
		t.Errorf("Make again = %q, %v", again, err)
	}

	bad := []apogee.File{{Path: "node_modules/.bin/y", SHA256: put("../../../etc/passwd"), Size: 19, Mode: link}}
	if _, err := tr.Make(t.Context(), "r3", bad); apogee.ErrorCode(err) != apogee.EINVALID {
		t.Errorf("a link out of the tree: %v", err)
	}
	if _, err := os.Stat(tr.Path("r3")); err == nil {
		t.Error("a refused tree is on disk")
	}

	// Nothing to collect while both trees stand; server.js of v1 once r1
	// is gone.
	if n, _, err := tr.Collect(); err != nil || n != 0 {
		t.Errorf("Collect with both trees = %d, %v", n, err)
	}
	if err := tr.Remove("r1"); err != nil {
		t.Fatal(err)
	}
	if n, bytes, err := tr.Collect(); err != nil || n != 1 || bytes != 2 {
		t.Errorf("Collect after r1 = %d files, %d bytes, %v; want v1's server.js", n, bytes, err)
	}
	if ids, err := tr.Trees(); err != nil || len(ids) != 1 || ids[0] != "r2" {
		t.Errorf("Trees = %v, %v", ids, err)
	}
}

// TestTreeSharedContent lays out trees where many files share a few
// contents (as a package's test fixtures do), fetched at once by Make's
// workers: every file is there. (Workers renamed their copy over the
// object's name, and a link of the replaced file failed with ENOENT:
// @fastify/autoload's fixtures failed the first release of a Fastify app
// about one time in three.)
func TestTreeSharedContent(t *testing.T) {
	_, bl, data := testbed.Backends(t)
	var files []apogee.File
	for i := range 400 {
		body := fmt.Sprintf("module.exports = %d", i%3)
		sum := sha256.Sum256([]byte(body))
		h := hex.EncodeToString(sum[:])
		if i < 3 {
			if _, err := bl.Put(t.Context(), h, bytes.NewReader([]byte(body)), 0); err != nil {
				t.Fatal(err)
			}
		}
		files = append(files, apogee.File{Path: fmt.Sprintf("node_modules/p%d/test/basic/one/index.js", i), SHA256: h, Size: int64(len(body)), Mode: 0o644})
	}
	for round := range 5 {
		tr, err := NewTrees(filepath.Join(data, fmt.Sprintf("apps%d", round)), bl)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tr.Make(t.Context(), "r", files); err != nil {
			t.Fatal(err)
		}
	}
}
