package ociimage

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/blob"
)

// testRegistry is go-containerregistry's registry (the OCI distribution
// API, in memory) behind basic auth, counting the blobs uploaded to it.
type testRegistry struct {
	host    string
	uploads atomic.Int64 // blob uploads finished (PUT …/blobs/uploads/…)
}

const regUser, regPassword = "apogee", "s3cret"

func newRegistry(t testing.TB) *testRegistry {
	t.Helper()
	tr := &testRegistry{}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != regUser || p != regPassword {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/") {
			defer tr.uploads.Add(1)
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	tr.host = strings.TrimPrefix(srv.URL, "http://")
	return tr
}

func (tr *testRegistry) ref(t testing.TB, repo string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(tr.host+"/"+repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

var auth = remote.WithAuth(&authn.Basic{Username: regUser, Password: regPassword})

// pushBase puts a base image (one random layer, an Env with PATH) at
// base:latest.
func pushBase(t testing.TB, tr *testRegistry) name.Reference {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "NODE_VERSION=22.1.0", "PORT=3000"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	ref := tr.ref(t, "base:latest")
	if err := remote.Write(ref, img, auth); err != nil {
		t.Fatal(err)
	}
	return ref
}

// release stores files (path → content; a "->" prefix makes a link) in
// a real blob store and returns them as a release's file list.
func release(t testing.TB, blobs *blob.Store, files map[string]string) []apogee.File {
	t.Helper()
	var out []apogee.File
	for p, content := range files {
		f := apogee.File{Path: p, Mode: 0o644}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			content = target
			f.Mode = uint32(fs.ModeSymlink | 0o777)
		} else if strings.HasPrefix(p, "bin/") {
			f.Mode = 0o755
		}
		sum := sha256.Sum256([]byte(content))
		f.SHA256, f.Size = hex.EncodeToString(sum[:]), int64(len(content))
		if _, err := blobs.Put(context.Background(), f.SHA256, strings.NewReader(content), f.Size); err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	return out
}

func newBlobs(t testing.TB) *blob.Store {
	t.Helper()
	s, err := blob.Open(context.Background(), "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var appFiles = map[string]string{
	"server.js":                          "require('http').createServer((q, s) => s.end('v1')).listen(process.env.PORT)",
	"package.json":                       `{"name":"api","dependencies":{"left-pad":"1.3.0"}}`,
	"bin/migrate":                        "#!/bin/sh\necho migrating\n",
	"lib/current":                        "->../server.js",
	"node_modules/left-pad/index.js":     "module.exports = (s, n) => s.padStart(n)",
	"node_modules/left-pad/package.json": `{"name":"left-pad","version":"1.3.0"}`,
}

func TestBuildAndPush(t *testing.T) {
	ctx := context.Background()
	tr := newRegistry(t)
	blobs := newBlobs(t)
	b := &Builder{Base: pushBase(t, tr), Remote: []remote.Option{auth}, Blobs: blobs}
	rel := Release{Project: "api", ID: "rel1", Files: release(t, blobs, appFiles), Command: "node server.js"}

	img, err := b.Build(ctx, rel)
	if err != nil {
		t.Fatal(err)
	}
	ref := tr.ref(t, "apogee/api:rel1")
	digest, err := b.Push(ctx, img, ref)
	if err != nil {
		t.Fatal(err)
	}

	// What a cluster pulls.
	pulled, err := remote.Image(ref, auth)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := pulled.Digest(); d != digest {
		t.Errorf("pulled digest %s, pushed %s", d, digest)
	}
	cf, err := pulled.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if !slices.Equal(c.Entrypoint, []string{"/bin/sh", "-c", "node server.js"}) || c.Cmd != nil {
		t.Errorf("entrypoint %q cmd %q", c.Entrypoint, c.Cmd)
	}
	if c.User != User || c.WorkingDir != AppDir {
		t.Errorf("user %q workdir %q", c.User, c.WorkingDir)
	}
	for _, want := range []string{"PATH=/usr/local/bin:/usr/bin:/bin", "NODE_VERSION=22.1.0", "PORT=8080", "NODE_ENV=production"} {
		if !slices.Contains(c.Env, want) {
			t.Errorf("env %q lacks %q", c.Env, want)
		}
	}
	if slices.Contains(c.Env, "PORT=3000") {
		t.Errorf("the base image's PORT stayed: %q", c.Env)
	}
	if c.Labels["dev.apogee.release"] != "rel1" || c.Labels["dev.apogee.project"] != "api" {
		t.Errorf("labels %v", c.Labels)
	}
	if cf.Created.Unix() != 0 {
		t.Errorf("created %v, want the fixed epoch", cf.Created)
	}

	layers, err := pulled.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 3 {
		t.Fatalf("%d layers, want the base's and two of the release", len(layers))
	}
	deps, app := entries(t, layers[1]), entries(t, layers[2])
	for _, p := range []string{"app/", "app/node_modules/", "app/node_modules/left-pad/", "app/node_modules/left-pad/index.js"} {
		if _, ok := deps[p]; !ok {
			t.Errorf("the dependencies' layer lacks %s: %v", p, keys(deps))
		}
	}
	if _, ok := deps["app/server.js"]; ok {
		t.Errorf("the dependencies' layer holds the app's own files")
	}
	for p, want := range map[string]struct {
		typ  byte
		mode int64
		body string
	}{
		"app/server.js":   {tar.TypeReg, 0o644, appFiles["server.js"]},
		"app/bin/migrate": {tar.TypeReg, 0o755, appFiles["bin/migrate"]},
		"app/lib/current": {tar.TypeSymlink, 0o777, "../server.js"},
	} {
		e, ok := app[p]
		if !ok {
			t.Errorf("the app's layer lacks %s: %v", p, keys(app))
			continue
		}
		body := e.body
		if e.hdr.Typeflag == tar.TypeSymlink {
			body = e.hdr.Linkname
		}
		if e.hdr.Typeflag != want.typ || e.hdr.Mode != want.mode || body != want.body || e.hdr.Uid != 0 || e.hdr.ModTime.Unix() != 0 {
			t.Errorf("%s: type %c mode %o uid %d time %v body %q; want type %c mode %o uid 0 body %q",
				p, e.hdr.Typeflag, e.hdr.Mode, e.hdr.Uid, e.hdr.ModTime, body, want.typ, want.mode, want.body)
		}
	}
}

// TestUnchangedDependenciesPushOneLayer: the same release again is the
// same image; a release that changes one app file and no dependency
// sends the registry one layer (and the config), not the dependencies.
func TestUnchangedDependenciesPushOneLayer(t *testing.T) {
	ctx := context.Background()
	tr := newRegistry(t)
	blobs := newBlobs(t)
	b := &Builder{Base: pushBase(t, tr), Remote: []remote.Option{auth}, Blobs: blobs}
	files := release(t, blobs, appFiles)

	push := func(id string, files []apogee.File) (v1.Hash, int64) {
		t.Helper()
		img, err := b.Build(ctx, Release{Project: "api", ID: "same", Files: files, Command: "node server.js"})
		if err != nil {
			t.Fatal(err)
		}
		before := tr.uploads.Load()
		d, err := b.Push(ctx, img, tr.ref(t, "apogee/api:"+id))
		if err != nil {
			t.Fatal(err)
		}
		return d, tr.uploads.Load() - before
	}
	first, n := push("a", files)
	if n != 3 { // two release layers and the config; the base's layer was there
		t.Errorf("the first push sent %d blobs, want 3", n)
	}
	again, n := push("b", reversed(files))
	if again != first || n != 0 {
		t.Errorf("the same release (files in another order) made %s (first %s) and sent %d blobs; want the same image and none", again, first, n)
	}

	changed := with(appFiles, "server.js", "require('http').createServer((q, s) => s.end('v2')).listen(process.env.PORT)")
	third, n := push("c", release(t, blobs, changed))
	if third == first {
		t.Error("a changed file made the same image")
	}
	if n != 2 { // the app's layer and the config
		t.Errorf("a push with unchanged dependencies sent %d blobs, want 2", n)
	}
}

func TestBadReleasesAreRefused(t *testing.T) {
	ctx := context.Background()
	tr := newRegistry(t)
	blobs := newBlobs(t)
	b := &Builder{Base: pushBase(t, tr), Remote: []remote.Option{auth}, Blobs: blobs}
	good := release(t, blobs, map[string]string{"server.js": "x"})
	escape := release(t, blobs, map[string]string{"server.js": "x", "lib/etc": "->../../etc/passwd"})
	for _, tc := range []struct {
		name string
		rel  Release
		want string
	}{
		{"no command", Release{Files: good, Command: "  "}, "no start command"},
		{"no files", Release{Command: "node server.js"}, "no files"},
		{"bad port", Release{Files: good, Command: "node server.js", Port: 70000}, "port 70000"},
		{"path outside", Release{Files: []apogee.File{{Path: "../x", SHA256: good[0].SHA256}}, Command: "node x"}, ""},
		{"twice", Release{Files: append(slices.Clone(good), good...), Command: "node server.js"}, "twice"},
		{"link outside", Release{Files: escape, Command: "node server.js"}, "points outside its tree"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.Build(ctx, tc.rel)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one saying %q", err, tc.want)
			}
			if apogee.ErrorCode(err) != apogee.EINVALID {
				t.Errorf("code %q, want %q", apogee.ErrorCode(err), apogee.EINVALID)
			}
		})
	}
}

func TestCredentials(t *testing.T) {
	ctx := context.Background()
	tr := newRegistry(t)
	blobs := newBlobs(t)
	base := pushBase(t, tr)
	rel := Release{Files: release(t, blobs, map[string]string{"server.js": "x"}), Command: "node server.js"}

	// None: the registry's 401 says so.
	b := &Builder{Base: base, Blobs: blobs}
	if _, err := b.Build(ctx, rel); err == nil || !strings.Contains(err.Error(), "pull the base image") {
		t.Fatalf("without credentials: %v", err)
	}

	// The Docker config file, as `docker login` writes it.
	dir := t.TempDir()
	conf := `{"auths":{"` + tr.host + `":{"auth":"` + basic(regUser, regPassword) + `"}}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
	b = &Builder{Base: base, Blobs: blobs, Remote: []remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain)}}
	img, err := b.Build(ctx, rel)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Push(ctx, img, tr.ref(t, "apogee/x:1")); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkPushUnchangedDependencies: a release changing one file on top
// of 2,000 dependency files of 4 KiB, built and pushed.
func BenchmarkPushUnchangedDependencies(b *testing.B) {
	ctx := context.Background()
	tr := newRegistry(b)
	blobs := newBlobs(b)
	files := map[string]string{"server.js": "v0"}
	for i := range 2000 {
		files["node_modules/dep"+strings.Repeat("x", i%7)+"/f"+itoa(i)+".js"] = strings.Repeat(itoa(i), 4096/len(itoa(i)))
	}
	bl := &Builder{Base: pushBase(b, tr), Remote: []remote.Option{auth}, Blobs: blobs}
	push := func(i int) {
		files["server.js"] = "v" + itoa(i)
		img, err := bl.Build(ctx, Release{ID: itoa(i), Files: release(b, blobs, files), Command: "node server.js"})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := bl.Push(ctx, img, tr.ref(b, "apogee/bench:"+itoa(i))); err != nil {
			b.Fatal(err)
		}
	}
	push(0)
	before := tr.uploads.Load()
	i := 0
	for b.Loop() {
		i++
		push(i)
	}
	b.ReportMetric(float64(tr.uploads.Load()-before)/float64(i), "blobs/push")
}

// --- helpers

type entry struct {
	hdr  *tar.Header
	body string
}

func entries(t *testing.T, l v1.Layer) map[string]entry {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out := map[string]entry{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		io.Copy(&buf, tr)
		out[hdr.Name] = entry{hdr, buf.String()}
	}
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func reversed[T any](s []T) []T {
	s = slices.Clone(s)
	slices.Reverse(s)
	return s
}

// with returns m with k set to v.
func with(m map[string]string, k, v string) map[string]string {
	m = maps.Clone(m)
	m[k] = v
	return m
}

func basic(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}

func itoa(i int) string { return strconv.Itoa(i) }
