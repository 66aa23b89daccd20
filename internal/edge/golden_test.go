package edge

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/apogee-dev/apogee"
	prep "github.com/apogee-dev/apogee/internal/deploy"
)

// TestGolden deploys each folder testdata/<case>/site through the same
// steps as finalize (routing rules checked, variants made, settings from
// testdata/<case>/settings.json) and checks the edge's full responses to
// the requests in testdata/<case>/cases.txt:
//
//	# a comment
//	GET /path?query          a request: method, target (https://host/path for TLS)
//	Accept-Encoding: br      request headers
//	=> 206                   the status
//	Content-Range: bytes 0-3/10   a header the response must have, exactly
//	!Content-Encoding        a header it must not have
//	body: text               the body, exactly ("\n" for a newline)
//	body~ text               text the body must contain
//
// Blank lines separate cases; headers not listed are not checked.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/cases.txt")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, casesFile := range dirs {
		dir := filepath.Dir(casesFile)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			s := goldenServer(t, dir)
			cases := parseGolden(t, casesFile)
			for _, c := range cases {
				t.Run(fmt.Sprintf("%d:%s_%s", c.line, c.method, c.target), func(t *testing.T) {
					c.check(t, s)
				})
			}
		})
	}
}

// goldenServer serves the folder dir/site as project "site" at
// site.localhost.
func goldenServer(t *testing.T, dir string) *Server {
	t.Helper()
	st, bl := newMemStore(), newMemBlobs()
	files := map[string]string{}
	root := filepath.Join(dir, "site")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var serve apogee.ServeSettings
	if b, err := os.ReadFile(filepath.Join(dir, "settings.json")); err == nil {
		if err := json.Unmarshal(b, &serve); err != nil {
			t.Fatalf("settings.json: %v", err)
		}
	}
	deploy(st, bl, "site", "g1", files)
	st.setRoute("site", "g1")

	// What finalize does: check the rules, make the variants.
	ctx := context.Background()
	manifest := st.files["g1"]
	if _, _, err := prep.Rules(ctx, bl, manifest, serve, prep.Options{}); err != nil {
		t.Fatalf("the site's rules do not compile: %v", err)
	}
	vs := &memVariantStore{}
	if _, err := prep.Compress(ctx, fullBlobs{bl}, vs, manifest); err != nil {
		t.Fatal(err)
	}
	for _, v := range vs.all {
		if v.VariantSHA256 != "" {
			st.variants["g1"] = append(st.variants["g1"], v)
		}
	}
	st.serve["g1"] = serve

	s, err := New(Config{Domain: "localhost", Store: st, Blobs: bl, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Load(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

type goldenCase struct {
	line           int
	method, target string
	reqHeaders     [][2]string
	status         int
	headers        [][2]string
	absent         []string
	body           *string
	bodyHas        []string
}

func parseGolden(t *testing.T, name string) []*goldenCase {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []*goldenCase
	var c *goldenCase
	response := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "#"):
			continue
		case trimmed == "":
			c = nil
			continue
		case c == nil:
			method, target, ok := strings.Cut(trimmed, " ")
			if !ok {
				t.Fatalf("%s:%d: want METHOD TARGET, got %q", name, n, line)
			}
			c = &goldenCase{line: n, method: method, target: target}
			cases = append(cases, c)
			response = false
		case strings.HasPrefix(trimmed, "=> "):
			code, err := strconv.Atoi(strings.TrimPrefix(trimmed, "=> "))
			if err != nil {
				t.Fatalf("%s:%d: bad status: %v", name, n, err)
			}
			c.status, response = code, true
		case response && trimmed == "body:":
			empty := ""
			c.body = &empty
		case response && strings.HasPrefix(trimmed, "body: "):
			b := strings.ReplaceAll(strings.TrimPrefix(trimmed, "body: "), `\n`, "\n")
			c.body = &b
		case response && strings.HasPrefix(trimmed, "body~ "):
			c.bodyHas = append(c.bodyHas, strings.TrimPrefix(trimmed, "body~ "))
		case response && strings.HasPrefix(trimmed, "!"):
			c.absent = append(c.absent, trimmed[1:])
		default:
			k, v, ok := strings.Cut(trimmed, ":")
			if !ok {
				t.Fatalf("%s:%d: want Name: value, got %q", name, n, line)
			}
			kv := [2]string{strings.TrimSpace(k), strings.TrimSpace(v)}
			if response {
				c.headers = append(c.headers, kv)
			} else {
				c.reqHeaders = append(c.reqHeaders, kv)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if c.status == 0 {
			t.Fatalf("%s:%d: case has no => STATUS", name, c.line)
		}
	}
	return cases
}

func (c *goldenCase) check(t *testing.T, s *Server) {
	target := c.target
	if strings.HasPrefix(target, "/") {
		target = "http://site.localhost" + target
	}
	r := httptest.NewRequest(c.method, target, nil)
	for _, kv := range c.reqHeaders {
		r.Header.Add(kv[0], kv[1])
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	res := w.Result()
	body := w.Body.String()
	dump := func() string {
		var b bytes.Buffer
		res.Header.Write(&b)
		return fmt.Sprintf("%d\n%s\n%.300q", res.StatusCode, b.String(), body)
	}
	if res.StatusCode != c.status {
		t.Errorf("status %d; want %d\n%s", res.StatusCode, c.status, dump())
	}
	for _, kv := range c.headers {
		got := res.Header.Values(kv[0])
		if len(got) != 1 || got[0] != kv[1] {
			t.Errorf("%s: %q; want %q\n%s", kv[0], got, kv[1], dump())
		}
	}
	for _, k := range c.absent {
		if v := res.Header.Values(k); len(v) > 0 {
			t.Errorf("%s: %q; want none\n%s", k, v, dump())
		}
	}
	if c.body != nil && body != *c.body {
		t.Errorf("body %q; want %q", body, *c.body)
	}
	for _, sub := range c.bodyHas {
		if !strings.Contains(body, sub) {
			t.Errorf("body %.200q does not contain %q", body, sub)
		}
	}
	// Content-Length always tells the truth about what was written.
	if cl := res.Header.Get("Content-Length"); cl != "" && c.method != "HEAD" && cl != strconv.Itoa(len(body)) {
		t.Errorf("Content-Length %s, body %d bytes", cl, len(body))
	}
	if enc := res.Header.Get("Content-Encoding"); enc != "" && res.StatusCode == 200 && c.method == "GET" {
		if got := decodeBody(t, enc, []byte(body)); got == "" {
			t.Errorf("%s body decodes to nothing", enc)
		}
	}
}

// fullBlobs adds what deploy.Compress needs to memBlobs.
type fullBlobs struct{ *memBlobs }

func (b fullBlobs) Missing(ctx context.Context, hashes []string) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, h := range hashes {
		if _, ok := b.blobs[h]; !ok {
			out = append(out, h)
		}
	}
	return out, nil
}

func (b fullBlobs) Put(ctx context.Context, hash string, r io.Reader, max int64) (int64, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return 0, err
	}
	if b.put(data) != hash {
		return 0, apogee.Errorf(apogee.EINVALID, "hash mismatch")
	}
	return int64(len(data)), nil
}

func (b fullBlobs) Size(ctx context.Context, hash string) (int64, error) {
	d, err := b.Get(ctx, hash)
	return int64(len(d)), err
}

func (b fullBlobs) Close() error { return nil }

// memVariantStore is an in-memory apogee.VariantStore.
type memVariantStore struct {
	mu  sync.Mutex
	all []apogee.BlobVariant
}

func (s *memVariantStore) PutVariants(ctx context.Context, vs []apogee.BlobVariant) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.all = append(s.all, vs...)
	return nil
}

func (s *memVariantStore) Variants(ctx context.Context, hashes []string) ([]apogee.BlobVariant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []apogee.BlobVariant
	for _, v := range s.all {
		if slices.Contains(hashes, v.SHA256) {
			out = append(out, v)
		}
	}
	return out, nil
}

func (s *memVariantStore) DeploymentVariants(ctx context.Context, id string) ([]apogee.BlobVariant, error) {
	return nil, nil
}
