package edge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/blob"
)

// TestFileBlobs serves from the real blob store on a folder: what the
// embedded server runs.
func TestFileBlobs(t *testing.T) {
	ctx := context.Background()
	bl, err := blob.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bl.Close() })
	st := newMemStore()
	var files []apogee.File
	for p, c := range map[string]string{"index.html": "<p>hi</p>", "big.js": strings.Repeat("x", 300_000)} {
		sum := sha256.Sum256([]byte(c))
		h := hex.EncodeToString(sum[:])
		if _, err := bl.Put(ctx, h, strings.NewReader(c), 0); err != nil {
			t.Fatal(err)
		}
		files = append(files, apogee.File{Path: p, SHA256: h, Size: int64(len(c))})
	}
	files = append(files, apogee.File{Path: "lost.css", SHA256: strings.Repeat("0", 64), Size: 1})
	st.files["d1"] = files
	st.setRoute("site", "d1")
	s, err := New(Config{Domain: "localhost", Store: st, Blobs: bl, CacheBytes: 1 << 20, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Load(ctx); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	f := &fixture{store: st, edge: s, url: ts.URL}
	for range 2 {
		if resp, body := f.do(t, "GET", "site.localhost", "/", nil); resp.StatusCode != 200 || body != "<p>hi</p>" {
			t.Errorf("GET / = %d %q", resp.StatusCode, body)
		}
		// 300 KB is over CacheBytes/8: read from the folder each time.
		if resp, body := f.do(t, "GET", "site.localhost", "/big.js", nil); resp.StatusCode != 200 || !bytes.Equal([]byte(body), bytes.Repeat([]byte("x"), 300_000)) {
			t.Errorf("GET /big.js = %d, %d bytes", resp.StatusCode, len(body))
		}
	}
	if resp, _ := f.do(t, "GET", "site.localhost", "/lost.css", nil); resp.StatusCode != 500 {
		t.Errorf("GET of a file whose blob is missing = %d; want 500", resp.StatusCode)
	}
	if n := s.cache.bytesCached(); n != int64(len("<p>hi</p>")) {
		t.Errorf("cache holds %d bytes; want only index.html's", n)
	}
}
