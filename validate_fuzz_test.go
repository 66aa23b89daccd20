package apogee

import (
	"encoding/json"
	"errors"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// Fuzz targets of the deploy manifest, which a client sends and the
// server trusts for nothing: every path it accepts is later a blob key's
// name in the edge's file table and, for builds, a file written under a
// workspace. Seeds are in testdata/fuzz; scripts/fuzz.sh runs them longer.

// FuzzCleanPath checks CleanPath's contract on any string: it either
// refuses with EINVALID, or returns the path unchanged, and that path is
// local (filepath.IsLocal), clean, stays under any folder it is joined
// to, and holds no byte that could change its meaning elsewhere (NUL,
// backslash, control characters).
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"index.html", "a/b/c.js", "../etc/passwd", "/abs", "a//b", "a/./b", "a/../b", "a\\b", "a\x00b",
		"dir/", ".", "..", "...", "a/..b", "é/ü.html", "con", "a\tb", strings.Repeat("a/", 600)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, err := CleanPath(in)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code != EINVALID || e.Message == "" {
				t.Fatalf("CleanPath(%q): error %v is not an EINVALID *Error with a message", in, err)
			}
			if p != "" {
				t.Fatalf("CleanPath(%q) refused it but returned %q", in, p)
			}
			return
		}
		if p != in {
			t.Fatalf("CleanPath(%q) = %q: an accepted path must come back as it was", in, p)
		}
		if !filepath.IsLocal(p) || path.Clean(p) != p || strings.HasPrefix(p, "/") || len(p) > MaxPathLen {
			t.Fatalf("CleanPath(%q) accepted a path that is not local and clean", in)
		}
		for _, seg := range strings.Split(p, "/") {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("CleanPath(%q) accepted the segment %q", in, seg)
			}
		}
		if strings.ContainsAny(p, "\\\x00\x7f") || strings.IndexFunc(p, func(r rune) bool { return r < 0x20 }) >= 0 {
			t.Fatalf("CleanPath(%q) accepted a NUL, backslash or control character", in)
		}
		root := "/srv/deployment"
		if j := filepath.Join(root, p); !strings.HasPrefix(j, root+"/") {
			t.Fatalf("CleanPath(%q) accepted a path that leaves %s: %s", in, root, j)
		}
		if again, err := CleanPath(p); err != nil || again != p {
			t.Fatalf("CleanPath(%q) = %q, but that gives %q, %v", in, p, again, err)
		}
	})
}

// FuzzManifest feeds any request body through the deploy protocol's
// first step as the API does (JSON into CreateDeploymentRequest, then
// ValidateManifest): a refusal is an *Error with a code a client can act
// on, and an accepted manifest has clean, distinct paths, valid hashes
// and sizes within the limit.
func FuzzManifest(f *testing.F) {
	const maxSize = 1 << 20
	h := strings.Repeat("ab", 32)
	for _, s := range []string{
		`{"files":[{"path":"index.html","sha256":"` + h + `","size":5}]}`,
		`{"files":[{"path":"a/b.js","sha256":"` + h + `","size":0},{"path":"a/b.js","sha256":"` + h + `","size":1}]}`,
		`{"files":[{"path":"../x","sha256":"` + h + `","size":1}]}`,
		`{"files":[{"path":"x","sha256":"` + strings.ToUpper(h) + `","size":1}]}`,
		`{"files":[{"path":"x","sha256":"` + h + `","size":-1}]}`,
		`{"files":[{"path":"x","sha256":"` + h + `","size":2000000}]}`,
		`{"files":[],"target":"production"}`,
		`{"files":[{"path":"a\\b","sha256":"` + h + `","size":1,"mode":493}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req CreateDeploymentRequest
		if json.Unmarshal(body, &req) != nil {
			return
		}
		files, err := ValidateManifest(req.Files, maxSize)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || (e.Code != EINVALID && e.Code != ETOOLARGE) || e.Message == "" {
				t.Fatalf("ValidateManifest: error %v is not an EINVALID or ETOOLARGE *Error with a message", err)
			}
			if !utf8.ValidString(e.Message) && utf8.Valid(body) {
				t.Fatalf("ValidateManifest: message %q of a UTF-8 body is not UTF-8", e.Message)
			}
			return
		}
		if len(files) != len(req.Files) || len(files) == 0 {
			t.Fatalf("ValidateManifest kept %d of %d files", len(files), len(req.Files))
		}
		seen := map[string]bool{}
		for _, fl := range files {
			if p, err := CleanPath(fl.Path); err != nil || p != fl.Path {
				t.Fatalf("ValidateManifest accepted path %q: %v", fl.Path, err)
			}
			if seen[fl.Path] {
				t.Fatalf("ValidateManifest accepted %q twice", fl.Path)
			}
			seen[fl.Path] = true
			if !ValidHash(fl.SHA256) || fl.Size < 0 || fl.Size > maxSize {
				t.Fatalf("ValidateManifest accepted %+v", fl)
			}
		}
	})
}
