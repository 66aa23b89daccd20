package edge

import (
	"bytes"
	"compress/gzip"
	"io"
	"testing"

	"github.com/andybalholm/brotli"
)

func TestHashedName(t *testing.T) {
	for p, want := range map[string]bool{
		"assets/app-3f9a1c2b.js":                          true,
		"assets/index-D64VDMd1.css":                       true,
		"static/js/main.3f9a1c2b.chunk.js":                true,
		"index-B_x-9aQ1.js":                               true, // Vite's base64url hash
		"_next/static/chunks/webpack-4f8e9d2c1b0a7e6f.js": true,
		"app.js":                 false,
		"3f9a1c2b.js":            false, // no separator before the hash
		"jquery-3.7.1.min.js":    false,
		"roboto-v30-latin.woff2": false,
		"app-12345678.js":        false, // digits only: revalidates
		"app-abcdefgh.js":        false, // letters only
		"app-3f9a1c2.js":         false, // 7 characters
		"font-awesome.css":       false,
		"dir.v2-3f9a1c2b/app.js": false, // the directory does not count
		"LICENSE":                false,
		".3f9a1c2b8":             false,
	} {
		if got := hashedName(p); got != want {
			t.Errorf("hashedName(%q) = %v; want %v", p, got, want)
		}
	}
}

func TestAcceptEncodings(t *testing.T) {
	for _, tt := range []struct {
		in     string
		br, gz bool
	}{
		{"", false, false},
		{"gzip", false, true},
		{"br", true, false},
		{"gzip, deflate, br, zstd", true, true},
		{"br;q=0, gzip", false, true},
		{"br; q=0.000, gzip;q=0.5", false, true},
		{"BR;Q=0.1", true, false},
		{"*", true, true},
		{"*;q=0", false, false},
		{"gzip;q=0, *", true, false},
		{"identity", false, false},
		{"x-gzip", false, true},
		{"brotli, gzipx", false, false},
	} {
		br, gz := acceptEncodings([]string{tt.in})
		if br != tt.br || gz != tt.gz {
			t.Errorf("acceptEncodings(%q) = %v, %v; want %v, %v", tt.in, br, gz, tt.br, tt.gz)
		}
	}
}

func TestParseRange(t *testing.T) {
	for _, tt := range []struct {
		in              string
		start, end      int64
		ok, satisfiable bool
	}{
		{"bytes=0-3", 0, 3, true, true},
		{"bytes=2-", 2, 9, true, true},
		{"bytes=-3", 7, 9, true, true},
		{"bytes=-30", 0, 9, true, true},
		{"bytes=5-100", 5, 9, true, true},
		{"Bytes= 1-1", 1, 1, true, true},
		{"bytes=10-", 0, 0, true, false},
		{"bytes=-0", 0, 0, true, false},
		{"bytes=3-2", 0, 0, false, false},
		{"bytes=0-1,3-4", 0, 0, false, false},
		{"bytes=x-1", 0, 0, false, false},
		{"bytes=+1-2", 0, 0, false, false},
		{"items=0-1", 0, 0, false, false},
		{"bytes=", 0, 0, false, false},
		{"bytes=5", 0, 0, false, false},
	} {
		s, e, ok, sat := parseRange(tt.in, 10)
		if s != tt.start || e != tt.end || ok != tt.ok || sat != tt.satisfiable {
			t.Errorf("parseRange(%q) = %d, %d, %v, %v; want %d, %d, %v, %v", tt.in, s, e, ok, sat, tt.start, tt.end, tt.ok, tt.satisfiable)
		}
	}
}

// decodeBody decodes a brotli or gzip body.
func decodeBody(t *testing.T, enc string, b []byte) string {
	t.Helper()
	var r io.Reader
	switch enc {
	case "br":
		r = brotli.NewReader(bytes.NewReader(b))
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("gzip body: %v", err)
		}
		r = zr
	default:
		t.Fatalf("unknown encoding %q", enc)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s body: %v", enc, err)
	}
	return string(out)
}
