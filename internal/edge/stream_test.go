package edge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"testing"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/blob"
)

// largeData returns n bytes that differ from offset to offset.
func largeData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*131>>3) ^ byte(i>>16)
	}
	return b
}

// TestStreamLarge serves a file above the cache's size for one entry:
// whole, in ranges and by HEAD, each from the blob store (only the range
// asked for), never read whole into memory.
func TestStreamLarge(t *testing.T) {
	f := newFixture(t, Config{CacheBytes: 1 << 20}) // files over 128 KiB stream
	data := largeData(2<<20 + 123)
	deploy(f.store, f.blobs, "site", "d1", map[string]string{"video.mp4": string(data), "small.txt": "small"})
	f.store.setRoute("site", "d1")
	f.load(t)
	reset := func() {
		f.blobs.mu.Lock()
		f.blobs.ranges = nil
		f.blobs.mu.Unlock()
	}
	ranges := func() [][2]int64 {
		f.blobs.mu.Lock()
		defer f.blobs.mu.Unlock()
		return slices.Clone(f.blobs.ranges)
	}
	size := int64(len(data))
	for _, tt := range []struct {
		name, method, rng string
		code              int
		want              []byte
		opened            [][2]int64
	}{
		{"whole", "GET", "", 200, data, [][2]int64{{0, size}}},
		{"range", "GET", "bytes=1000-1999", 206, data[1000:2000], [][2]int64{{1000, 1000}}},
		{"open-ended", "GET", "bytes=2097152-", 206, data[2097152:], [][2]int64{{2097152, size - 2097152}}},
		{"suffix", "GET", "bytes=-10", 206, data[size-10:], [][2]int64{{size - 10, 10}}},
		{"past the end", "GET", "bytes=99999999-", 416, nil, nil},
		{"HEAD", "HEAD", "", 200, nil, nil},
		{"HEAD of a range", "HEAD", "bytes=0-9", 206, nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reset()
			gets := f.blobs.gets.Load()
			hdr := map[string]string{}
			if tt.rng != "" {
				hdr["Range"] = tt.rng
			}
			resp, body := f.do(t, tt.method, "site.localhost", "/video.mp4", hdr)
			if resp.StatusCode != tt.code {
				t.Fatalf("%s %s = %d; want %d", tt.method, tt.rng, resp.StatusCode, tt.code)
			}
			if tt.want != nil && !bytes.Equal([]byte(body), tt.want) {
				t.Errorf("body: %d bytes, not the %d asked for", len(body), len(tt.want))
			}
			if got := ranges(); !slices.Equal(got, tt.opened) {
				t.Errorf("blob ranges opened %v; want %v", got, tt.opened)
			}
			if f.blobs.gets.Load() != gets {
				t.Error("the large file was read whole")
			}
		})
	}
	// The small file is cached as before.
	for range 2 {
		if _, body := f.do(t, "GET", "site.localhost", "/small.txt", nil); body != "small" {
			t.Fatalf("small file = %q", body)
		}
	}
	if n := f.blobs.gets.Load(); n != 1 {
		t.Errorf("small file read %d times from the blob store; want 1 (then cached)", n)
	}
}

// TestStreamShortBlob: a stored blob shorter than its manifest entry
// (damaged storage) aborts the response once headers are sent, so the
// client sees an error rather than a short file taken for whole.
func TestStreamShortBlob(t *testing.T) {
	f := newFixture(t, Config{CacheBytes: 1 << 20})
	data := largeData(1 << 20)
	h := f.blobs.put(data[:len(data)/2])
	f.store.mu.Lock()
	f.store.files["d1"] = []apogee.File{{Path: "big.bin", SHA256: h, Size: int64(len(data))}}
	f.store.mu.Unlock()
	f.store.setRoute("site", "d1")
	f.load(t)
	req, err := http.NewRequest("GET", f.url+"/big.bin", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "site.localhost"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("reading a short blob's response: %d bytes, %v; want io.ErrUnexpectedEOF", n, err)
	}
}

// TestStreamLargeMemory serves a 64 MiB file from the real blob store on a
// folder, whole and as a range: the server may allocate a few buffers,
// not the file. (Before blobs streamed, the whole file was read into
// memory for each request.)
func TestStreamLargeMemory(t *testing.T) {
	ctx := context.Background()
	bl, err := blob.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bl.Close() })
	data := largeData(64 << 20)
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:])
	if _, err := bl.Put(ctx, h, bytes.NewReader(data), 0); err != nil {
		t.Fatal(err)
	}
	data = nil
	st := newMemStore()
	st.files["d1"] = []apogee.File{{Path: "big.bin", SHA256: h, Size: 64 << 20}}
	st.setRoute("site", "d1")
	s, err := New(Config{Domain: "localhost", Store: st, Blobs: bl, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Load(ctx); err != nil {
		t.Fatal(err)
	}
	for _, rng := range []string{"", "bytes=1048576-"} {
		w := &nopWriter{h: http.Header{}}
		r := httptest.NewRequest("GET", "http://site.localhost/big.bin", nil)
		if rng != "" {
			r.Header.Set("Range", rng)
		}
		s.ServeHTTP(w, r) // loads the manifest
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		w.n = 0
		s.ServeHTTP(w, r)
		runtime.ReadMemStats(&after)
		want := 64 << 20
		if rng != "" {
			want -= 1 << 20
		}
		if w.n != want {
			t.Fatalf("Range %q: served %d bytes; want %d", rng, w.n, want)
		}
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("Range %q: %d bytes allocated to serve %d", rng, alloc, want)
		if alloc > 1<<20 {
			t.Errorf("Range %q: serving 64 MiB allocated %d bytes; want under 1 MiB", rng, alloc)
		}
	}
}
