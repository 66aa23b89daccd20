package kuberuntime

import (
	"archive/tar"
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/apogee-dev/apogee/internal/apps"
	"github.com/apogee-dev/apogee/internal/ociimage"
)

// TestImageBuilder makes a release tree into an image in an in-process
// registry (go-containerregistry's), once per release, named by digest,
// and reads it back.
func TestImageBuilder(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	base, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	baseRef, err := name.ParseReference(host + "/library/node:22-slim")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(baseRef, base); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for p, content := range map[string]string{"app.js": "console.log('hi')\n", "node_modules/x/index.js": "module.exports = 1\n"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, p), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("app.js", filepath.Join(dir, "main.js")); err != nil {
		t.Fatal(err)
	}
	b := &ImageBuilder{Builder: &ociimage.Builder{Base: baseRef}, Repository: host + "/apogee"}
	s := apps.Spec{Project: "web", Release: "r1", Dir: dir, Command: "node main.js", Port: 8080}
	ref, err := b.Image(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ref, host+"/apogee/web@sha256:") {
		t.Fatalf("image %s: want %s/apogee/web@sha256:…", ref, host)
	}
	again, err := b.Image(context.Background(), s)
	if err != nil || again != ref {
		t.Errorf("second Image: %s, %v; want the first, %s", again, err, ref)
	}
	// Pulled back: the start command, the tree with its link.
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cf.Config.Entrypoint, " ") != "/bin/sh -c node main.js" || cf.Config.User != ociimage.User {
		t.Errorf("config %+v", cf.Config)
	}
	layers, _ := img.Layers()
	if len(layers) != 3 {
		t.Fatalf("%d layers, want the base's, the dependencies' and the app's", len(layers))
	}
	rc, err := layers[2].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		got[h.Name] = string(b) + h.Linkname
	}
	if got["app/app.js"] != "console.log('hi')\n" || got["app/main.js"] != "app.js" {
		t.Errorf("app layer %v", got)
	}
	// A tree that is not one fails.
	s.Release, s.Dir = "r2", filepath.Join(dir, "missing")
	if _, err := b.Image(context.Background(), s); err == nil {
		t.Error("an image of a missing tree")
	}
}
