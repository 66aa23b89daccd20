package deploy

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/andybalholm/brotli"

	"github.com/apogee-dev/apogee"
)

// memBlobs is an in-memory apogee.Blobs that counts Puts.
type memBlobs struct {
	mu   sync.Mutex
	m    map[string][]byte
	puts int
}

var _ apogee.Blobs = (*memBlobs)(nil)

func (b *memBlobs) add(data []byte) string {
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:])
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string][]byte{}
	}
	b.m[h] = data
	return h
}

func (b *memBlobs) Missing(ctx context.Context, hashes []string) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, h := range hashes {
		if _, ok := b.m[h]; !ok {
			out = append(out, h)
		}
	}
	return out, nil
}

func (b *memBlobs) Put(ctx context.Context, hash string, r io.Reader, max int64) (int64, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return 0, err
	}
	if b.add(data) != hash {
		return 0, apogee.Errorf(apogee.EINVALID, "hash mismatch")
	}
	b.mu.Lock()
	b.puts++
	b.mu.Unlock()
	return int64(len(data)), nil
}

func (b *memBlobs) Get(ctx context.Context, hash string) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d, ok := b.m[hash]
	if !ok {
		return nil, apogee.ErrNotFound
	}
	return d, nil
}

func (b *memBlobs) Size(ctx context.Context, hash string) (int64, error) {
	d, err := b.Get(ctx, hash)
	return int64(len(d)), err
}

func (b *memBlobs) Open(ctx context.Context, hash string, offset, length int64) (io.ReadCloser, error) {
	d, err := b.Get(ctx, hash)
	if err != nil {
		return nil, err
	}
	d = d[min(offset, int64(len(d))):]
	if length >= 0 && length < int64(len(d)) {
		d = d[:length]
	}
	return io.NopCloser(bytes.NewReader(d)), nil
}

func (b *memBlobs) Close() error { return nil }

// memVariants is an in-memory Store.
type memVariants struct {
	mu    sync.Mutex
	m     map[[2]string]apogee.BlobVariant
	serve map[string]apogee.ServeSettings
	warn  map[string][]apogee.RuleWarning
}

func (s *memVariants) PutVariants(ctx context.Context, vs []apogee.BlobVariant) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[[2]string]apogee.BlobVariant{}
	}
	for _, v := range vs {
		s.m[[2]string{v.SHA256, v.Encoding}] = v
	}
	return nil
}

func (s *memVariants) Variants(ctx context.Context, hashes []string) ([]apogee.BlobVariant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []apogee.BlobVariant
	for _, v := range s.m {
		if slices.Contains(hashes, v.SHA256) {
			out = append(out, v)
		}
	}
	return out, nil
}

func (s *memVariants) DeploymentVariants(ctx context.Context, id string) ([]apogee.BlobVariant, error) {
	return nil, nil
}

func (s *memVariants) SetDeploymentServe(ctx context.Context, id string, settings apogee.ServeSettings) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.serve == nil {
		s.serve = map[string]apogee.ServeSettings{}
	}
	s.serve[id] = settings
	return nil
}

func (s *memVariants) SetDeploymentWarnings(ctx context.Context, id string, w []apogee.RuleWarning) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.warn == nil {
		s.warn = map[string][]apogee.RuleWarning{}
	}
	s.warn[id] = w
	return nil
}

func files(bl *memBlobs, m map[string][]byte) []apogee.File {
	var fs []apogee.File
	for p, c := range m {
		fs = append(fs, apogee.File{Path: p, SHA256: bl.add(c), Size: int64(len(c))})
	}
	slices.SortFunc(fs, func(a, b apogee.File) int { return strings.Compare(a.Path, b.Path) })
	return fs
}

func TestRules(t *testing.T) {
	ctx := t.Context()
	bl := &memBlobs{}
	set, _, err := Rules(ctx, bl, files(bl, map[string][]byte{"index.html": []byte("hi")}), apogee.ServeSettings{HSTS: true}, Options{})
	if err != nil || set != nil {
		t.Fatalf("plain site: %v, %v; want nil, nil", set, err)
	}
	set, _, err = Rules(ctx, bl, nil, apogee.ServeSettings{SPA: true}, Options{})
	if err != nil || set == nil {
		t.Fatalf("SPA setting: %v, %v; want a set", set, err)
	}
	set, _, err = Rules(ctx, bl, files(bl, map[string][]byte{
		"vercel.json": []byte(`{"redirects": [{"source": "/a", "destination": "/b"}]}`),
		// Only the root's config files count.
		"sub/_redirects": []byte("nonsense"),
	}), apogee.ServeSettings{}, Options{})
	if err != nil || set == nil {
		t.Fatalf("vercel.json: %v, %v; want a set", set, err)
	}
	if r := set.Match("GET", "/a", "", func(string) bool { return false }); r.Status != 308 || r.Location != "/b" {
		t.Errorf("/a = %+v; want 308 /b", r)
	}

	_, _, err = Rules(ctx, bl, files(bl, map[string][]byte{
		"vercel.json": []byte(`{"redirects": [{"source": "/a"}]}`),
	}), apogee.ServeSettings{}, Options{})
	if apogee.ErrorCode(err) != apogee.EINVALID || !strings.Contains(apogee.ErrorMessage(err), "vercel.json") {
		t.Errorf("invalid vercel.json: %v; want EINVALID naming the file", err)
	}
	_, _, err = Rules(ctx, bl, []apogee.File{{Path: "_redirects", SHA256: strings.Repeat("0", 64), Size: 9 << 20}}, apogee.ServeSettings{}, Options{})
	if apogee.ErrorCode(err) != apogee.EINVALID || !strings.Contains(apogee.ErrorMessage(err), "_redirects: file is") {
		t.Errorf("huge _redirects: %v; want EINVALID naming the file", err)
	}
	_, _, err = Rules(ctx, bl, []apogee.File{{Path: "_headers", SHA256: strings.Repeat("0", 64), Size: 10}}, apogee.ServeSettings{}, Options{})
	if err == nil || apogee.ErrorCode(err) == apogee.EINVALID {
		t.Errorf("unreadable _headers: %v; want an internal error", err)
	}

	// Rules Netlify skips are warnings, the deployment goes on; so is a
	// _redirects that is a folder (Netlify cannot read it either).
	set, warnings, err := Rules(ctx, bl, files(bl, map[string][]byte{
		"_redirects":      []byte("/a /b\n/c /d 999\n"),
		"_headers/readme": []byte("x"),
		"_headers/other":  []byte("y"),
	}), apogee.ServeSettings{}, Options{})
	if err != nil || set == nil {
		t.Fatalf("_redirects with a bad rule: %v, %v", set, err)
	}
	var got []string
	for _, w := range warnings {
		got = append(got, w.String())
	}
	want := []string{
		"_headers: _headers is a folder, not a file: its rules are not read (the files in it are served as they are)",
		"_redirects line 2: status 999 is not supported; use 200, 301, 302, 303, 307, 308 or a 4xx/5xx status; the rule is skipped",
	}
	if !slices.Equal(got, want) {
		t.Errorf("warnings\n got %q\nwant %q", got, want)
	}
}

func decode(t *testing.T, enc string, b []byte) []byte {
	t.Helper()
	var r io.Reader
	switch enc {
	case apogee.EncodingBrotli:
		r = brotli.NewReader(bytes.NewReader(b))
	case apogee.EncodingGzip:
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCompress(t *testing.T) {
	ctx := t.Context()
	bl, st := &memBlobs{}, &memVariants{}
	js := []byte(strings.Repeat("function hello(name) { return 'hello ' + name; }\n", 200))
	noise := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	fs := files(bl, map[string][]byte{
		"app.js":      js,
		"copy/app.js": js, // same blob: compressed once
		"small.css":   []byte("body{margin:0}"),
		"photo.png":   bytes.Repeat([]byte("png"), 1000),
		"noise.json":  noise,
	})
	stats, err := Compress(ctx, bl, st, fs)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Candidates != 2 || stats.Compressed != 2 || stats.Variants != 2 || stats.Reused != 0 {
		t.Errorf("first run: %+v; want 2 candidates, 2 compressed, 2 variants", stats)
	}
	var jsHash, noiseHash string
	for _, f := range fs {
		switch f.Path {
		case "app.js":
			jsHash = f.SHA256
		case "noise.json":
			noiseHash = f.SHA256
		}
	}
	vs, _ := st.Variants(ctx, []string{jsHash, noiseHash})
	if len(vs) != 4 {
		t.Fatalf("records = %+v; want 4", vs)
	}
	for _, v := range vs {
		switch v.SHA256 {
		case jsHash:
			b, err := bl.Get(ctx, v.VariantSHA256)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(b)) != v.Size || !bytes.Equal(decode(t, v.Encoding, b), js) {
				t.Errorf("%s variant does not decode to the original", v.Encoding)
			}
		case noiseHash:
			if v.VariantSHA256 != "" {
				t.Errorf("incompressible blob got a %s variant", v.Encoding)
			}
		}
	}

	// A redeploy compresses nothing again.
	puts := bl.puts
	stats, err = Compress(ctx, bl, st, fs)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Reused != 2 || stats.Compressed != 0 || bl.puts != puts {
		t.Errorf("second run: %+v, %d puts; want everything reused", stats, bl.puts-puts)
	}

	// A variant whose blob was collected is made again.
	for _, v := range vs {
		if v.SHA256 == jsHash && v.Encoding == apogee.EncodingGzip {
			bl.mu.Lock()
			delete(bl.m, v.VariantSHA256)
			bl.mu.Unlock()
		}
	}
	stats, err = Compress(ctx, bl, st, fs)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Compressed != 1 || stats.Variants != 1 || stats.Reused != 1 {
		t.Errorf("after GC: %+v; want the gzip variant made again", stats)
	}
}

// failingVariants fails PutVariants with err.
type failingVariants struct {
	*memVariants
	err error
}

func (s failingVariants) PutVariants(ctx context.Context, vs []apogee.BlobVariant) error {
	return s.err
}

// TestCompressFails: a blob that cannot be read, or records that cannot
// be stored, end Compress with the error, after every worker stopped.
func TestCompressFails(t *testing.T) {
	ctx := t.Context()
	bl := &memBlobs{}
	contents := map[string][]byte{}
	for i := range 80 { // more than a batch of records
		contents[fmt.Sprintf("f%03d.js", i)] = []byte(strings.Repeat(fmt.Sprintf("var x%d = %d;\n", i, i), 100))
	}
	fs := files(bl, contents)
	lost := apogee.File{Path: "lost.js", SHA256: strings.Repeat("a", 64), Size: 4096}
	if _, err := Compress(ctx, bl, &memVariants{}, append([]apogee.File{lost}, fs...)); !errors.Is(err, apogee.ErrNotFound) {
		t.Errorf("Compress with a missing blob: %v; want ErrNotFound", err)
	}
	down := errors.New("database is down")
	st, err := Compress(ctx, bl, failingVariants{&memVariants{}, down}, fs)
	if !errors.Is(err, down) {
		t.Errorf("Compress with a failing store: %v; want %v", err, down)
	}
	if st.Compressed > 64+runtime.GOMAXPROCS(0) {
		t.Errorf("Compress went on after the store failed: %d of %d compressed", st.Compressed, len(fs))
	}
	// A canceled ctx stops it too.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Compress(cctx, bl, &memVariants{}, fs); !errors.Is(err, context.Canceled) {
		t.Errorf("Compress with a canceled ctx: %v; want context.Canceled", err)
	}
}

func TestPrepare(t *testing.T) {
	ctx := t.Context()
	bl, st := &memBlobs{}, &memVariants{}
	serve := apogee.ServeSettings{CleanURLs: true}
	_, err := Prepare(ctx, bl, st, "d1", files(bl, map[string][]byte{"vercel.json": []byte(`{"redirects": 1}`)}), serve, Options{})
	if apogee.ErrorCode(err) != apogee.EINVALID || !strings.Contains(apogee.ErrorMessage(err), "vercel.json") {
		t.Errorf("invalid vercel.json: %v", err)
	}
	if _, ok := st.serve["d1"]; ok {
		t.Error("a failed Prepare recorded settings")
	}
	rep, err := Prepare(ctx, bl, st, "d2", files(bl, map[string][]byte{"index.html": []byte("x"), "_redirects": []byte("/a /b 999\n")}), serve, Options{})
	if err != nil || !rep.Rules || len(rep.Warnings) != 1 || rep.Warnings[0].Line != 1 {
		t.Fatalf("Prepare = %+v, %v", rep, err)
	}
	if st.serve["d2"] != serve {
		t.Errorf("recorded settings %+v; want %+v", st.serve["d2"], serve)
	}
	if w := st.warn["d2"]; len(w) != 1 || w[0] != rep.Warnings[0] {
		t.Errorf("recorded warnings %+v; want %+v", w, rep.Warnings)
	}
}
