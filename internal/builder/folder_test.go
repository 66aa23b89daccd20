package builder_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/builder"
	"github.com/apogee-dev/apogee/internal/source"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// TestFetchFolder writes an uploaded source folder from the blob store:
// every file with its content, executable bits kept, within limits.
func TestFetchFolder(t *testing.T) {
	ctx := context.Background()
	st, bl, _ := testbed.Backends(t)
	u := &apogee.User{ID: apogee.NewID(), Email: "a@example.com", Password: "x", CreatedAt: time.Now()}
	p := &apogee.Project{ID: apogee.NewID(), Name: "web", OwnerID: u.ID, CreatedAt: time.Now()}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	tree := map[string]string{
		"package.json":         `{"scripts":{"build":"vite build"}}`,
		"index.html":           "<h1>src</h1>",
		"src/main.ts":          "console.log(1)",
		"src/lib/deep/util.ts": "export {}",
		"scripts/build.sh":     "#!/bin/sh\necho hi\n",
		"public/same-as-x.txt": "same",
		"public/same-as-y.txt": "same",
	}
	var files []apogee.File
	for path, content := range tree {
		sum := sha256.Sum256([]byte(content))
		h := hex.EncodeToString(sum[:])
		if _, err := bl.Put(ctx, h, strings.NewReader(content), 0); err != nil {
			t.Fatal(err)
		}
		mode := uint32(0o644)
		if strings.HasSuffix(path, ".sh") {
			mode = 0o755
		}
		files = append(files, apogee.File{Path: path, SHA256: h, Size: int64(len(content)), Mode: mode})
	}
	d := &apogee.Deployment{ID: apogee.NewID(), ProjectID: p.ID, Target: apogee.TargetPreview, CreatedAt: time.Now(), Source: apogee.SourceFolder}
	if err := st.CreateDeployment(ctx, d, files); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	var log bytes.Buffer
	src := &builder.Sources{Blobs: bl, Manifests: st}
	if _, err := src.Fetch(ctx, p, d, dir, &log); err != nil {
		t.Fatal(err)
	}
	for path, content := range tree {
		b, err := os.ReadFile(filepath.Join(dir, path))
		if err != nil || string(b) != content {
			t.Errorf("%s = %q, %v; want %q", path, b, err, content)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "scripts/build.sh")); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("build.sh mode %v, %v; want 0755", st.Mode(), err)
	}
	if st, err := os.Stat(filepath.Join(dir, "index.html")); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("index.html mode %v, %v; want 0644", st.Mode(), err)
	}
	if !strings.Contains(log.String(), "Writing the uploaded source folder: 7 files") {
		t.Errorf("log: %q", log.String())
	}

	// Over the limits: refused before anything is written.
	small := &builder.Sources{Blobs: bl, Manifests: st, Zip: source.ZipLimits{MaxFiles: 3, MaxBytes: 1 << 20}}
	_, err := small.Fetch(ctx, p, d, t.TempDir(), &log)
	if apogee.ErrorCode(err) != apogee.ETOOLARGE || !strings.Contains(apogee.ErrorMessage(err), "7 files; the limit is 3") {
		t.Errorf("over the file limit: %v", err)
	}
}
