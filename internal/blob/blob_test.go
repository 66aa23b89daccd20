package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/apogee-dev/apogee"
)

func TestFile(t *testing.T) {
	testStore(t, func(t *testing.T) *Store {
		return open(t, "file://"+filepath.ToSlash(t.TempDir())+"/blobs")
	})
}

func TestS3(t *testing.T) {
	backend := s3mem.New()
	fake := gofakes3.New(backend).Server()
	var multipart atomic.Int32 // CreateMultipartUpload calls
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Query().Has("uploads") {
			multipart.Add(1)
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	// Keep the developer's own AWS setup out of the test.
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", "apogee-test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "apogee-test-secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	n := 0
	testStore(t, func(t *testing.T) *Store {
		n++
		bucket := fmt.Sprintf("apogee-test-%d", n)
		if err := backend.CreateBucket(bucket); err != nil {
			t.Fatal(err)
		}
		return open(t, "s3://"+bucket+"?endpoint="+srv.URL+"&region=us-east-1&use_path_style=true")
	})

	// The checksum settings the Open doc recommends for S3-compatible
	// services that want them.
	if err := backend.CreateBucket("apogee-compat"); err != nil {
		t.Fatal(err)
	}
	s := open(t, "s3://apogee-compat?endpoint="+srv.URL+"&region=us-east-1&use_path_style=true"+
		"&request_checksum_calculation=when_required&response_checksum_validation=when_required")
	h := put(t, s, []byte("compat"))
	if got, err := s.Get(context.Background(), h); err != nil || string(got) != "compat" {
		t.Errorf("Get with when_required checksums = %q, %v", got, err)
	}

	if multipart.Load() == 0 && !testing.Short() {
		t.Error("no test went through a multipart upload")
	}
}

func open(t testing.TB, url string) *Store {
	t.Helper()
	s, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// testStore is the suite every backend must pass. open returns an empty
// store that the test owns.
func testStore(t *testing.T, open func(t *testing.T) *Store) {
	ctx := context.Background()

	t.Run("RoundTrip", func(t *testing.T) {
		s := open(t)
		for _, data := range [][]byte{
			{},
			[]byte("hello, apogee\n"),
			bytes.Repeat([]byte{0, 1, 2, 254, 255}, 1000),
		} {
			h := sum256(data)
			n, err := s.Put(ctx, h, bytes.NewReader(data), 0)
			if err != nil {
				t.Fatalf("Put %d bytes: %v", len(data), err)
			}
			if n != int64(len(data)) {
				t.Errorf("Put %d bytes returned %d", len(data), n)
			}
			got, err := s.Get(ctx, h)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Errorf("Get %d bytes returned %d different bytes", len(data), len(got))
			}
		}
	})

	t.Run("FailedPutStoresNothing", func(t *testing.T) {
		data := bytes.Repeat([]byte("apogee "), 1000)
		tests := []struct {
			name string
			hash string // of data unless set
			max  int64
			// body returns the reader Put gets; cancel cancels Put's ctx.
			body     func(cancel func()) io.Reader
			wantCode string
			wantErr  error
		}{
			{
				name:     "wrong bytes",
				hash:     sum256([]byte("other bytes")),
				body:     func(func()) io.Reader { return bytes.NewReader(data) },
				wantCode: apogee.EINVALID,
			},
			{
				name:     "one byte short",
				body:     func(func()) io.Reader { return bytes.NewReader(data[:len(data)-1]) },
				wantCode: apogee.EINVALID,
			},
			{
				name:     "over max",
				max:      int64(len(data)) - 1,
				body:     func(func()) io.Reader { return bytes.NewReader(data) },
				wantCode: apogee.ETOOLARGE,
			},
			{
				name: "reader fails",
				body: func(func()) io.Reader {
					return io.MultiReader(bytes.NewReader(data[:100]), iotest.ErrReader(io.ErrUnexpectedEOF))
				},
				wantErr: io.ErrUnexpectedEOF,
			},
			{
				name: "ctx cancelled mid-put",
				body: func(cancel func()) io.Reader {
					return &cancelAfter{r: bytes.NewReader(data), n: 100, cancel: cancel}
				},
				wantErr: context.Canceled,
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := open(t)
				h := tt.hash
				if h == "" {
					h = sum256(data)
				}
				ctx, cancel := context.WithCancel(ctx)
				defer cancel()
				_, err := s.Put(ctx, h, tt.body(cancel), tt.max)
				if tt.wantCode != "" && apogee.ErrorCode(err) != tt.wantCode {
					t.Fatalf("Put: got %v, want code %s", err, tt.wantCode)
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Fatalf("Put: got %v, want %v", err, tt.wantErr)
				}
				assertNotStored(t, s, h)
			})
		}
	})

	t.Run("Messages", func(t *testing.T) {
		s := open(t)
		data := []byte("twelve bytes")
		_, err := s.Put(ctx, sum256(data), bytes.NewReader(data), 11)
		if want := "file is larger than the limit of 11 bytes"; apogee.ErrorMessage(err) != want {
			t.Errorf("over max: message %q, want %q", apogee.ErrorMessage(err), want)
		}
		h := sum256([]byte("other"))
		_, err = s.Put(ctx, h, bytes.NewReader(data), 0)
		if msg := apogee.ErrorMessage(err); !strings.Contains(msg, "bytes do not match sha256 "+h) {
			t.Errorf("wrong bytes: message %q", msg)
		}
	})

	t.Run("MaxIsInclusive", func(t *testing.T) {
		s := open(t)
		data := []byte("exactly max")
		if _, err := s.Put(ctx, sum256(data), bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("PutExisting", func(t *testing.T) {
		s := open(t)
		data := []byte("stored once")
		h := sum256(data)
		for i := range 2 {
			n, err := s.Put(ctx, h, bytes.NewReader(data), 0)
			if err != nil || n != int64(len(data)) {
				t.Fatalf("Put #%d = %d, %v", i+1, n, err)
			}
		}
		// The blob exists, but a caller still cannot claim its hash with
		// other bytes, or with more bytes than allowed.
		if _, err := s.Put(ctx, h, strings.NewReader("not the bytes"), 0); apogee.ErrorCode(err) != apogee.EINVALID {
			t.Errorf("Put of wrong bytes over an existing blob: %v, want EINVALID", err)
		}
		if _, err := s.Put(ctx, h, bytes.NewReader(data), 3); apogee.ErrorCode(err) != apogee.ETOOLARGE {
			t.Errorf("Put over max of an existing blob: %v, want ETOOLARGE", err)
		}
		got, err := s.Get(ctx, h)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("Get after failed Puts = %q, %v; want %q", got, err, data)
		}
	})

	t.Run("Missing", func(t *testing.T) {
		s := open(t)
		var all, want []string
		for i := range 40 {
			data := fmt.Appendf(nil, "blob %d", i)
			h := sum256(data)
			all = append(all, h)
			if i%3 == 0 {
				want = append(want, h)
				continue
			}
			put(t, s, data)
		}
		got, err := s.Missing(ctx, all)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("Missing = %d hashes, want %d in input order:\ngot  %v\nwant %v", len(got), len(want), got, want)
		}
		if got, err := s.Missing(ctx, nil); err != nil || len(got) != 0 {
			t.Errorf("Missing(nil) = %v, %v", got, err)
		}
	})

	t.Run("InvalidHash", func(t *testing.T) {
		s := open(t)
		valid := sum256([]byte("x"))
		for _, h := range []string{
			"",
			"abc",
			strings.ToUpper(valid),
			valid[:63],
			valid + "0",
			"../" + valid[3:],
			strings.Repeat("g", 64),
		} {
			if _, err := s.Put(ctx, h, strings.NewReader("x"), 0); apogee.ErrorCode(err) != apogee.EINVALID {
				t.Errorf("Put(%q): %v, want EINVALID", h, err)
			}
			if _, err := s.Get(ctx, h); apogee.ErrorCode(err) != apogee.EINVALID {
				t.Errorf("Get(%q): %v, want EINVALID", h, err)
			}
			if err := s.Delete(ctx, h); apogee.ErrorCode(err) != apogee.EINVALID {
				t.Errorf("Delete(%q): %v, want EINVALID", h, err)
			}
			if _, err := s.Size(ctx, h); apogee.ErrorCode(err) != apogee.EINVALID {
				t.Errorf("Size(%q): %v, want EINVALID", h, err)
			}
			if _, err := s.Open(ctx, h, 0, -1); apogee.ErrorCode(err) != apogee.EINVALID {
				t.Errorf("Open(%q): %v, want EINVALID", h, err)
			}
			if _, err := s.Missing(ctx, []string{valid, h}); apogee.ErrorCode(err) != apogee.EINVALID {
				t.Errorf("Missing(%q): %v, want EINVALID", h, err)
			}
		}
	})

	t.Run("GetMissing", func(t *testing.T) {
		s := open(t)
		_, err := s.Get(ctx, sum256([]byte("never stored")))
		if !errors.Is(err, apogee.ErrNotFound) {
			t.Fatalf("Get: %v, want ErrNotFound", err)
		}
		if apogee.ErrorCode(err) != apogee.ENOTFOUND {
			t.Errorf("Get: code %s, want ENOTFOUND", apogee.ErrorCode(err))
		}
	})

	t.Run("OpenRangeAndSize", func(t *testing.T) {
		s := open(t)
		data := make([]byte, 100_000)
		for i := range data {
			data[i] = byte(i * 31 >> 2)
		}
		h := put(t, s, data)
		for _, tt := range []struct {
			off, n int64
			want   []byte
		}{
			{0, -1, data},
			{0, 100_000, data},
			{0, 1, data[:1]},
			{12_345, 1000, data[12_345:13_345]},
			{99_999, -1, data[99_999:]},
			{99_000, 5000, data[99_000:]}, // past the end: what there is
			{50_000, 0, nil},
		} {
			rc, err := s.Open(ctx, h, tt.off, tt.n)
			if err != nil {
				t.Fatalf("Open(%d, %d): %v", tt.off, tt.n, err)
			}
			got, err := io.ReadAll(rc)
			if cerr := rc.Close(); err == nil {
				err = cerr
			}
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Errorf("Open(%d, %d) read %d bytes, %v; want %d bytes", tt.off, tt.n, len(got), err, len(tt.want))
			}
		}
		if n, err := s.Size(ctx, h); err != nil || n != int64(len(data)) {
			t.Errorf("Size = %d, %v; want %d", n, err, len(data))
		}
		if _, err := s.Size(ctx, sum256([]byte("never stored"))); !errors.Is(err, apogee.ErrNotFound) {
			t.Errorf("Size of a missing blob: %v, want ErrNotFound", err)
		}
		if _, err := s.Open(ctx, h, -1, 10); apogee.ErrorCode(err) != apogee.EINVALID {
			t.Errorf("Open at offset -1: %v, want EINVALID", err)
		}
		_, err := s.Open(ctx, sum256([]byte("never stored")), 0, -1)
		if !errors.Is(err, apogee.ErrNotFound) || apogee.ErrorCode(err) != apogee.ENOTFOUND {
			t.Errorf("Open of a missing blob: %v, want ENOTFOUND", err)
		}

		// The reader is bound to its ctx: reading after cancel fails.
		cctx, cancel := context.WithCancel(ctx)
		rc, err := s.Open(cctx, h, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if _, err := io.ReadFull(rc, make([]byte, 10)); err != nil {
			t.Fatal(err)
		}
		cancel()
		if _, err := io.ReadAll(rc); err == nil {
			t.Error("reading on after ctx was canceled succeeded")
		}
	})

	t.Run("WalkAndDelete", func(t *testing.T) {
		s := open(t)
		before := time.Now().Add(-time.Hour)
		sizes := map[string]int64{}
		for i := range 5 {
			data := bytes.Repeat([]byte{'w'}, i*10)
			sizes[put(t, s, data)] = int64(len(data))
		}
		if got := walk(t, s); !maps.Equal(got, sizes) {
			t.Errorf("Walk = %v, want %v", got, sizes)
		}
		err := s.Walk(ctx, func(hash string, size int64, modTime time.Time) error {
			if modTime.Before(before) || modTime.After(time.Now().Add(time.Hour)) {
				t.Errorf("Walk: %s modTime %v, want about now", hash, modTime)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		stop := errors.New("stop")
		calls := 0
		err = s.Walk(ctx, func(string, int64, time.Time) error { calls++; return stop })
		if err != stop || calls != 1 {
			t.Errorf("Walk with fn failing: %v after %d calls, want stop after 1", err, calls)
		}

		for h := range sizes {
			if err := s.Delete(ctx, h); err != nil {
				t.Fatal(err)
			}
			assertNotStored(t, s, h)
			delete(sizes, h)
			if got := walk(t, s); !maps.Equal(got, sizes) {
				t.Errorf("Walk after Delete = %v, want %v", got, sizes)
			}
		}
		if err := s.Delete(ctx, sum256([]byte("never stored"))); err != nil {
			t.Errorf("Delete of a missing blob: %v, want nil", err)
		}
	})

	t.Run("ConcurrentPuts", func(t *testing.T) {
		s := open(t)
		data := bytes.Repeat([]byte("same blob "), 10_000)
		h := sum256(data)
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() {
				_, errs[i] = s.Put(ctx, h, bytes.NewReader(data), 0)
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, h)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Get = %d bytes, %v; want the %d bytes put", len(got), err, len(data))
		}
		if got := walk(t, s); len(got) != 1 {
			t.Errorf("Walk = %v, want one blob", got)
		}
	})

	t.Run("Large", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			size int
		}{
			{"5MB", 5<<20 + 1234},
			// gocloud's S3 writer buffers up to 16 MiB and sends one
			// PutObject; past that it streams a multipart upload, which
			// an aborted Put must abort too.
			{"multipart", 16<<20 + 1234},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if tt.size > 8<<20 && testing.Short() {
					t.Skip("short")
				}
				s := open(t)
				data := make([]byte, tt.size)
				for i := range data {
					data[i] = byte(i * 7 >> 3)
				}
				h := sum256(data)
				n, err := s.Put(ctx, h, bytes.NewReader(data), int64(len(data)))
				if err != nil || n != int64(len(data)) {
					t.Fatalf("Put = %d, %v", n, err)
				}
				got, err := s.Get(ctx, h)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("Get = %d bytes, %v; want the %d bytes put", len(got), err, len(data))
				}

				// Corrupt in the last byte: found out only after
				// everything else was sent.
				data[len(data)-1]++
				h2 := sum256(data)
				data[len(data)-1]--
				if _, err := s.Put(ctx, h2, bytes.NewReader(data), 0); apogee.ErrorCode(err) != apogee.EINVALID {
					t.Fatalf("Put of corrupt large blob: %v, want EINVALID", err)
				}
				assertNotStored(t, s, h2)
			})
		}
	})
}

// assertNotStored checks every way a blob could be seen.
func assertNotStored(t *testing.T, s *Store, h string) {
	t.Helper()
	ctx := context.Background()
	missing, err := s.Missing(ctx, []string{h})
	if err != nil || len(missing) != 1 {
		t.Errorf("Missing(%s) = %v, %v; want it missing", h, missing, err)
	}
	if _, err := s.Get(ctx, h); !errors.Is(err, apogee.ErrNotFound) {
		t.Errorf("Get(%s): %v, want ErrNotFound", h, err)
	}
	if _, ok := walk(t, s)[h]; ok {
		t.Errorf("Walk sees %s", h)
	}
}

func TestFileAbortLeavesNoFiles(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir) // a bare path means file://
	data := bytes.Repeat([]byte("x"), 100_000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bad := []struct {
		r   io.Reader
		max int64
	}{
		{bytes.NewReader(data[1:]), 0},                                       // wrong bytes
		{bytes.NewReader(data), 10},                                          // too large
		{&cancelAfter{r: bytes.NewReader(data), n: 1000, cancel: cancel}, 0}, // cancelled
	}
	for _, b := range bad {
		if _, err := s.Put(ctx, sum256(data), b.r, b.max); err == nil {
			t.Fatal("Put succeeded")
		}
	}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("aborted Puts left %s", path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// And a good Put leaves exactly the blob, at its documented key.
	h := put(t, s, data)
	if _, err := os.Stat(filepath.Join(dir, "sha256", h[:2], h)); err != nil {
		t.Error(err)
	}
}

func TestWalkSkipsStrays(t *testing.T) {
	dir := t.TempDir()
	s := open(t, "file://"+filepath.ToSlash(dir))
	h := put(t, s, []byte("real"))
	// What a crash mid-Put leaves, and files that are not ours.
	for _, name := range []string{
		"sha256/" + h[:2] + "/" + h + ".18c2d9e5f.tmp",
		"sha256/00/" + h,
		"sha256/notes.txt",
		"other/" + h,
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("stray"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := walk(t, s), map[string]int64{h: 4}; !maps.Equal(got, want) {
		t.Errorf("Walk = %v, want %v", got, want)
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, url := range []string{
		"file://" + filepath.ToSlash(dir) + "/a/b/c", // created
		filepath.Join(dir, "bare"),
		"file://" + filepath.ToSlash(dir) + "/q?metadata=skip",
	} {
		s, err := Open(ctx, url)
		if err != nil {
			t.Errorf("Open(%q): %v", url, err)
			continue
		}
		put(t, s, []byte(url))
		s.Close()
	}

	// prefix= shares a bucket: the blobs go under the prefix.
	s := open(t, "file://"+filepath.ToSlash(dir)+"/shared?prefix=apogee/")
	h := put(t, s, []byte("prefixed"))
	if _, err := os.Stat(filepath.Join(dir, "shared", "apogee", "sha256", h[:2], h)); err != nil {
		t.Errorf("prefix=: %v", err)
	}
	if got := walk(t, s); len(got) != 1 {
		t.Errorf("Walk with prefix= = %v, want the one blob", got)
	}

	for _, url := range []string{"", "gs://bucket", "mem://", "ftp://host/dir"} {
		_, err := Open(ctx, url)
		if apogee.ErrorCode(err) != apogee.EINVALID {
			t.Errorf("Open(%q): %v, want EINVALID", url, err)
			continue
		}
		if msg := apogee.ErrorMessage(err); !strings.Contains(msg, "file://, s3://, azblob://") {
			t.Errorf("Open(%q): message %q does not list the schemes", url, msg)
		}
	}

	// azblob is linked in and reaches its opener, which wants an account.
	t.Setenv("AZURE_STORAGE_ACCOUNT", "")
	t.Setenv("AZURE_STORAGE_CONNECTION_STRING", "")
	t.Setenv("AZURE_STORAGEBLOB_CONNECTIONSTRING", "")
	_, err := Open(ctx, "azblob://container")
	if err == nil || apogee.ErrorCode(err) == apogee.EINVALID {
		t.Errorf("Open(azblob://) without an account: %v, want the opener's error", err)
	}
}

func BenchmarkPut(b *testing.B) {
	s := open(b, b.TempDir())
	ctx := context.Background()
	data := make([][]byte, b.N)
	hashes := make([]string, b.N)
	for i := range data {
		data[i] = bytes.Repeat(fmt.Appendf(nil, "%9d\n", i), 512) // 5 KB
		hashes[i] = sum256(data[i])
	}
	b.SetBytes(int64(len(data[0])))
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Put(ctx, hashes[i], bytes.NewReader(data[i]), 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPutExisting(b *testing.B) {
	s := open(b, b.TempDir())
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789"), 512)
	h := put(b, s, data)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := s.Put(ctx, h, bytes.NewReader(data), 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	s := open(b, b.TempDir())
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789"), 512)
	h := put(b, s, data)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := s.Get(ctx, h); err != nil {
			b.Fatal(err)
		}
	}
}

func sum256(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func put(t testing.TB, s *Store, data []byte) string {
	t.Helper()
	h := sum256(data)
	if _, err := s.Put(context.Background(), h, bytes.NewReader(data), 0); err != nil {
		t.Fatal(err)
	}
	return h
}

func walk(t *testing.T, s *Store) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	err := s.Walk(context.Background(), func(hash string, size int64, _ time.Time) error {
		if _, dup := got[hash]; dup {
			t.Errorf("Walk: %s twice", hash)
		}
		got[hash] = size
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// cancelAfter reads n bytes from r, then calls cancel and goes on reading,
// like a client whose request is cancelled mid-upload.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
	} else if len(p) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= n
	return n, err
}
