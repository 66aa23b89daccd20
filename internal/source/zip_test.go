package source

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// zf is one entry of a ZIP made for a test.
type zf struct {
	name string
	body string
	mode fs.FileMode // 0: a regular file 0644 (or a folder for a name ending in "/")
}

func link(name, target string) zf { return zf{name: name, body: target, mode: fs.ModeSymlink | 0o777} }

func makeZip(t testing.TB, entries ...zf) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		switch {
		case e.mode != 0:
			h.SetMode(e.mode)
		case strings.HasSuffix(e.name, "/"):
			h.SetMode(fs.ModeDir | 0o755)
			h.Method = zip.Store
		default:
			h.SetMode(0o644)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rawZip makes a ZIP of one Deflate entry whose header claims size bytes
// and the given CRC-32, whatever the data really is.
func rawZip(t testing.TB, name string, deflated []byte, size uint64, crc uint32) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: name, Method: zip.Deflate, CRC32: crc,
		CompressedSize64: uint64(len(deflated)), UncompressedSize64: size}
	h.SetMode(0o644)
	w, err := zw.CreateRaw(h)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(deflated)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func deflate(t testing.TB, data []byte) []byte {
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.BestCompression)
	fw.Write(data)
	fw.Close()
	return buf.Bytes()
}

// zeros100MB is a raw Deflate stream of 100 MiB of zeros (about 660 KB),
// written by hand because compress/flate takes many seconds for it under
// the race detector: one fixed-Huffman block of a literal zero, then
// matches of 258 bytes at distance 1, then literal zeros up to the size.
func zeros100MB() []byte {
	const size = 100 << 20
	var out []byte
	var acc uint64
	var nbits uint
	put := func(v uint64, n uint) { // LSB first, as Deflate packs bits
		acc |= v << nbits
		nbits += n
		for nbits >= 8 {
			out = append(out, byte(acc))
			acc >>= 8
			nbits -= 8
		}
	}
	code := func(c uint64, n uint) { // Huffman codes go MSB first
		for i := int(n) - 1; i >= 0; i-- {
			put(c>>uint(i)&1, 1)
		}
	}
	put(1, 1)     // BFINAL
	put(1, 2)     // BTYPE 01: fixed Huffman codes
	code(0x30, 8) // literal 0
	n := 1
	for ; n+258 <= size; n += 258 {
		code(0xC5, 8) // length code 285: 258 bytes, no extra bits
		code(0, 5)    // distance code 0: distance 1
	}
	for ; n < size; n++ {
		code(0x30, 8)
	}
	code(0, 7) // end of block (256)
	if nbits > 0 {
		out = append(out, byte(acc)) // the last bits, padded with zeros
	}
	return out
}

func TestZeros100MB(t *testing.T) {
	t.Parallel()
	fr := flate.NewReader(bytes.NewReader(zeros100MB()))
	buf := make([]byte, 1<<20)
	if _, err := io.ReadFull(fr, buf); err != nil || !bytes.Equal(buf, make([]byte, len(buf))) {
		t.Fatalf("the first MiB of the bomb is not zeros: %v", err)
	}
}

func extract(t *testing.T, data []byte, lim ZipLimits) (string, int, int64, error) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "src")
	files, n, err := ExtractZip(context.Background(), bytes.NewReader(data), int64(len(data)), dir, lim)
	return dir, files, n, err
}

// tree lists dir as path → "file:<content>:<mode>", "dir" or "link:<target>".
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			got[rel] = "link:" + target
		case d.IsDir():
			got[rel] = "dir:" + info.Mode().Perm().String()
		default:
			b, _ := os.ReadFile(p)
			got[rel] = "file:" + string(b) + ":" + info.Mode().String()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestExtractZip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		entries []zf
		want    map[string]string
		files   int
	}{
		{
			name: "tree",
			entries: []zf{
				{name: "index.html", body: "<h1>hi</h1>"},
				{name: "css/"},
				{name: "css/site.css", body: "body{}"},
				{name: "deep/a/b/c.txt", body: "c"}, // folders not listed
				{name: "bin/build.sh", body: "#!/bin/sh", mode: 0o700},
				{name: "bin/setuid", body: "x", mode: 0o4755 | fs.ModeSetuid},
				{name: "private.key", body: "k", mode: 0o600},
				{name: "./dot/./x.txt", body: "x"},
				link("latest", "css/site.css"),
				link("css/up", "../index.html"),
				link("deep/a/b/to-css", "../../../css"),
				link("css/via", "up"), // a link to a link
			},
			want: map[string]string{
				"index.html":      "file:<h1>hi</h1>:-rw-r--r--",
				"css":             "dir:-rwxr-xr-x",
				"css/site.css":    "file:body{}:-rw-r--r--",
				"deep":            "dir:-rwxr-xr-x",
				"deep/a":          "dir:-rwxr-xr-x",
				"deep/a/b":        "dir:-rwxr-xr-x",
				"deep/a/b/c.txt":  "file:c:-rw-r--r--",
				"bin":             "dir:-rwxr-xr-x",
				"bin/build.sh":    "file:#!/bin/sh:-rwxr-xr-x",
				"bin/setuid":      "file:x:-rwxr-xr-x",
				"private.key":     "file:k:-rw-r--r--",
				"dot":             "dir:-rwxr-xr-x",
				"dot/x.txt":       "file:x:-rw-r--r--",
				"latest":          "link:css/site.css",
				"css/up":          "link:../index.html",
				"deep/a/b/to-css": "link:../../../css",
				"css/via":         "link:up",
			},
			files: 11,
		},
		{
			name: "GitHub-style top folder is stripped",
			entries: []zf{
				{name: "site-main/"},
				{name: "site-main/index.html", body: "i"},
				{name: "site-main/src/app.js", body: "a"},
				link("site-main/src/home", "../index.html"),
			},
			want: map[string]string{
				"index.html": "file:i:-rw-r--r--",
				"src":        "dir:-rwxr-xr-x",
				"src/app.js": "file:a:-rw-r--r--",
				"src/home":   "link:../index.html",
			},
			files: 3,
		},
		{
			name: "top folder without its own entry, and __MACOSX skipped",
			entries: []zf{
				{name: "site/index.html", body: "i"},
				{name: "__MACOSX/site/._index.html", body: "junk"},
			},
			want:  map[string]string{"index.html": "file:i:-rw-r--r--"},
			files: 1,
		},
		{
			name: "two top-level entries: nothing stripped",
			entries: []zf{
				{name: "app/index.html", body: "i"},
				{name: "README.md", body: "r"},
			},
			want: map[string]string{
				"app":            "dir:-rwxr-xr-x",
				"app/index.html": "file:i:-rw-r--r--",
				"README.md":      "file:r:-rw-r--r--",
			},
			files: 2,
		},
		{
			name:    "one file at the top: nothing stripped",
			entries: []zf{{name: "index.html", body: "i"}},
			want:    map[string]string{"index.html": "file:i:-rw-r--r--"},
			files:   1,
		},
		{
			name:    "empty file",
			entries: []zf{{name: "a/.keep"}, {name: "b.txt"}},
			want: map[string]string{
				"a": "dir:-rwxr-xr-x", "a/.keep": "file::-rw-r--r--", "b.txt": "file::-rw-r--r--",
			},
			files: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, files, n, err := extract(t, makeZip(t, tc.entries...), ZipLimits{})
			if err != nil {
				t.Fatal(err)
			}
			got := tree(t, dir)
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s: got %q, want %q", k, got[k], v)
				}
			}
			for k, v := range got {
				if _, ok := tc.want[k]; !ok {
					t.Errorf("unexpected %s: %q", k, v)
				}
			}
			if files != tc.files {
				t.Errorf("files = %d, want %d", files, tc.files)
			}
			var size int64
			for _, e := range tc.entries {
				if !strings.HasSuffix(e.name, "/") && !strings.HasPrefix(e.name, "__MACOSX/") {
					size += int64(len(e.body))
				}
			}
			if n != size {
				t.Errorf("bytes = %d, want %d", n, size)
			}
		})
	}
}

func TestExtractZipRefuses(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 2000)
	deflated := deflate(t, []byte("hello, world, hello, world"))
	tests := []struct {
		name string
		data []byte
		lim  ZipLimits
		code string
		want string // in the message
	}{
		{"zip-slip", makeZip(t, zf{name: "ok.txt", body: "x"}, zf{name: "../evil.txt", body: "x"}), ZipLimits{}, apogee.EINVALID, `"../evil.txt" climbs out`},
		{"zip-slip in the middle", makeZip(t, zf{name: "a/../../evil.txt", body: "x"}), ZipLimits{}, apogee.EINVALID, "climbs out"},
		{"absolute path", makeZip(t, zf{name: "/etc/evil", body: "x"}), ZipLimits{}, apogee.EINVALID, `"/etc/evil" has an absolute path`},
		{"drive letter", makeZip(t, zf{name: "C:/evil", body: "x"}), ZipLimits{}, apogee.EINVALID, "absolute path"},
		{"backslash", makeZip(t, zf{name: `..\evil.txt`, body: "x"}), ZipLimits{}, apogee.EINVALID, "backslashes"},
		{"NUL in a name", makeZip(t, zf{name: "a\x00b", body: "x"}), ZipLimits{}, apogee.EINVALID, "NUL"},
		{"newline in a name", makeZip(t, zf{name: "a\nb", body: "x"}), ZipLimits{}, apogee.EINVALID, "control character"},
		{"link out of the tree", makeZip(t, zf{name: "a.txt", body: "x"}, link("sub/l", "../../outside")), ZipLimits{}, apogee.EINVALID, `link "sub/l" points to "../../outside"`},
		{"absolute link", makeZip(t, zf{name: "a.txt", body: "x"}, link("passwd", "/etc/passwd")), ZipLimits{}, apogee.EINVALID, "absolute path"},
		{"link out through another link", makeZip(t,
			link("x/y/l1", "../.."),         // the root: fine on its own
			link("l2", "x/y/l1/../outside"), // looks like x/y/outside, is ../outside
		), ZipLimits{}, apogee.EINVALID, `link "l2"`},
		{"link loop", makeZip(t, zf{name: "f", body: "x"}, link("a", "b"), link("b", "a")), ZipLimits{}, apogee.EINVALID, "too many links"},
		{"file below a link", makeZip(t, zf{name: "sub/x", body: "x"}, link("l", "sub"), zf{name: "l/evil", body: "x"}), ZipLimits{}, apogee.EINVALID, `"l/evil" lies inside "l", which is a link`},
		{"file below a file", makeZip(t, zf{name: "a", body: "x"}, zf{name: "a/b", body: "x"}), ZipLimits{}, apogee.EINVALID, "which is a file"},
		{"duplicate names", makeZip(t, zf{name: "a.txt", body: "1"}, zf{name: "a.txt", body: "2"}), ZipLimits{}, apogee.EINVALID, `"a.txt" appears twice`},
		{"duplicate after cleaning", makeZip(t, zf{name: "a.txt", body: "1"}, zf{name: "./a.txt", body: "2"}), ZipLimits{}, apogee.EINVALID, "appears twice"},
		{"folder and file of one name", makeZip(t, zf{name: "a/b", body: "1"}, zf{name: "a", body: "2"}), ZipLimits{}, apogee.EINVALID, "appears twice"},
		{"device", makeZip(t, zf{name: "dev", mode: fs.ModeDevice | 0o644}), ZipLimits{}, apogee.EINVALID, `"dev" is a device`},
		{"character device", makeZip(t, zf{name: "tty", mode: fs.ModeDevice | fs.ModeCharDevice | 0o644}), ZipLimits{}, apogee.EINVALID, "character device"},
		{"named pipe", makeZip(t, zf{name: "fifo", mode: fs.ModeNamedPipe | 0o644}), ZipLimits{}, apogee.EINVALID, "named pipe"},
		{"too many files", makeZip(t, zf{name: "1"}, zf{name: "2"}, zf{name: "3"}, zf{name: "4"}), ZipLimits{MaxFiles: 3}, apogee.ETOOLARGE, "has 4 entries; the limit is 3"},
		{"file over its limit", makeZip(t, zf{name: "small", body: "x"}, zf{name: "big.bin", body: big}), ZipLimits{MaxFileBytes: 1000}, apogee.ETOOLARGE, `"big.bin" is 2.0 KiB; the limit for one file is 1000 B`},
		{"total over its limit", makeZip(t, zf{name: "a", body: big}, zf{name: "b", body: big}), ZipLimits{MaxBytes: 3000}, apogee.ETOOLARGE, `more than 2.9 KiB (at entry "b")`},
		{"header lies about the size", rawZip(t, "liar.txt", deflated, 5, crc32.ChecksumIEEE([]byte("hello"))), ZipLimits{}, apogee.EINVALID, `"liar.txt" is damaged`},
		{"bad checksum", rawZip(t, "crc.txt", deflated, 26, 12345), ZipLimits{}, apogee.EINVALID, `"crc.txt" is damaged`},
		{"unknown compression", func() []byte {
			var buf bytes.Buffer
			zw := zip.NewWriter(&buf)
			w, _ := zw.CreateRaw(&zip.FileHeader{Name: "lzma.bin", Method: 14, CompressedSize64: 3, UncompressedSize64: 3})
			w.Write([]byte("abc"))
			zw.Close()
			return buf.Bytes()
		}(), ZipLimits{}, apogee.EINVALID, "compression method"},
		{"encrypted", func() []byte {
			var buf bytes.Buffer
			zw := zip.NewWriter(&buf)
			w, _ := zw.CreateRaw(&zip.FileHeader{Name: "secret.txt", Flags: 0x1, Method: zip.Store, CompressedSize64: 3, UncompressedSize64: 3})
			w.Write([]byte("abc"))
			zw.Close()
			return buf.Bytes()
		}(), ZipLimits{}, apogee.EINVALID, "encrypted"},
		{"empty archive", makeZip(t), ZipLimits{}, apogee.EINVALID, "empty"},
		{"folders only", makeZip(t, zf{name: "a/"}, zf{name: "a/b/"}), ZipLimits{}, apogee.EINVALID, "no files"},
		{"not a zip", []byte("this is not a zip archive at all, just text"), ZipLimits{}, apogee.EINVALID, "not a ZIP"},
		{"no bytes", nil, ZipLimits{}, apogee.EINVALID, "not a ZIP"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, _, _, err := extract(t, tc.data, tc.lim)
			assertCode(t, err, tc.code, tc.want)
			assertEmptyDir(t, dir)
		})
	}
}

// Limits are checked before anything is written where the archive's
// sizes tell, and on the bytes inflated where they lie: a 100 MiB bomb
// never writes more than the limit.
func TestExtractZipBomb(t *testing.T) {
	t.Parallel()
	const limit = 10 << 20
	lim := ZipLimits{MaxBytes: limit, MaxFileBytes: 1 << 30}
	tests := []struct {
		name     string
		declared uint64
		code     string
		want     string
	}{
		{"honest header", 100 << 20, apogee.ETOOLARGE, "more than 10 MiB"},
		{"header claims 1 MiB", 1 << 20, apogee.EINVALID, "is damaged"},
		{"header claims 9 MiB", 9 << 20, apogee.EINVALID, "is damaged"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data := rawZip(t, "zeros.bin", zeros100MB(), tc.declared, 0)
			if len(data) > 1<<20 {
				t.Fatalf("the bomb is %d bytes; it should be small", len(data))
			}
			start := time.Now()
			dir, _, written, err := extract(t, data, lim)
			assertCode(t, err, tc.code, tc.want)
			if written > limit {
				t.Errorf("wrote %d bytes before stopping; the limit is %d", written, limit)
			}
			if written > int64(tc.declared) {
				t.Errorf("wrote %d bytes, more than the header's %d", written, tc.declared)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v to stop", d)
			}
			assertEmptyDir(t, dir)
		})
	}

	// Many entries, each under the per-file limit, whose sizes add up to
	// more than the total: refused before a byte is written (their data
	// is never read, so it need not be real).
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := range 20 {
		h := &zip.FileHeader{Name: fmt.Sprintf("part%02d", i), Method: zip.Deflate,
			CompressedSize64: 4, UncompressedSize64: 1 << 20}
		w, err := zw.CreateRaw(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("junk"))
	}
	zw.Close()
	dir, _, written, err := extract(t, buf.Bytes(), lim)
	assertCode(t, err, apogee.ETOOLARGE, `more than 10 MiB (at entry "part10")`)
	if written != 0 {
		t.Errorf("wrote %d bytes", written)
	}
	assertEmptyDir(t, dir)
}

// archive/zip already stops an entry that inflates past its stated size,
// so ExtractZip cannot reach the extractor's own count of inflated bytes
// with a lying header; this drives the extractor directly, with sizes the
// plan did not check.
func TestExtractorCountsInflatedBytes(t *testing.T) {
	t.Parallel()
	data := makeZip(t, zf{name: "a.bin", body: strings.Repeat("0", 5000)})
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		lim  ZipLimits
		want string
	}{
		{ZipLimits{MaxFiles: 10, MaxBytes: 1 << 20, MaxFileBytes: 4096}, "past the limit for one file, 4.0 KiB"},
		{ZipLimits{MaxFiles: 10, MaxBytes: 4096, MaxFileBytes: 1 << 20}, "inflates to more than 4.0 KiB"},
	} {
		dir := t.TempDir()
		x := extractor{ctx: context.Background(), dir: dir, lim: tc.lim}
		err := x.run([]zipEntry{{f: zr.File[0], name: "a.bin", kind: kindFile}})
		assertCode(t, err, apogee.ETOOLARGE, tc.want)
		if x.bytes > 4096 {
			t.Errorf("wrote %d bytes", x.bytes)
		}
	}
}

func TestExtractZipDestination(t *testing.T) {
	t.Parallel()
	data := makeZip(t, zf{name: "a.txt", body: "a"})

	// An existing empty folder is fine.
	dir := t.TempDir()
	if _, _, err := ExtractZip(context.Background(), bytes.NewReader(data), int64(len(data)), dir, ZipLimits{}); err != nil {
		t.Fatal(err)
	}
	// A folder with something in it is refused and left alone.
	if _, _, err := ExtractZip(context.Background(), bytes.NewReader(data), int64(len(data)), dir, ZipLimits{}); err == nil ||
		!strings.Contains(err.Error(), "not empty") {
		t.Fatalf("err = %v, want 'not empty'", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a.txt")); string(b) != "a" {
		t.Fatal("the folder's contents were touched")
	}
}

func TestExtractZipCanceled(t *testing.T) {
	t.Parallel()
	data := makeZip(t, zf{name: "a.txt", body: "a"}, zf{name: "b.txt", body: "b"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	_, _, err := ExtractZip(ctx, bytes.NewReader(data), int64(len(data)), dir, ZipLimits{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	assertEmptyDir(t, dir)
}
