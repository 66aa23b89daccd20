package apogee

import (
	"path"
	"strings"
)

// Limits on names and manifests.
const (
	MaxNameLen       = 63
	MaxPathLen       = 1024
	MaxManifestFiles = 100_000
)

// Default size limits of uploads (--max-file-mb, --max-zip-mb).
const (
	DefaultMaxFileSize = 100 << 20 // one file of a deployment
	DefaultMaxZipSize  = 500 << 20 // one ZIP of a source tree
)

// ValidateProjectName checks that name is a DNS label Apogee can use as a
// host: 1 to 63 lower-case letters, digits and hyphens, not starting or
// ending with a hyphen and without "--" (reserved for deployment hosts).
func ValidateProjectName(name string) error {
	if name == "" {
		return Errorf(EINVALID, "project name is empty; use lower-case letters, digits and hyphens")
	}
	if len(name) > MaxNameLen {
		return Errorf(EINVALID, "project name %q is %d characters long; the limit is %d", name, len(name), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return Errorf(EINVALID, "project name %q has %q; use only lower-case letters, digits and hyphens", name, string(rune(c)))
		}
	}
	if name[0] == '-' || name[len(name)-1] == '-' {
		return Errorf(EINVALID, "project name %q must start and end with a letter or digit", name)
	}
	if strings.Contains(name, "--") {
		return Errorf(EINVALID, "project name %q may not contain \"--\"; it is reserved for deployment hosts", name)
	}
	return nil
}

// CleanPath validates a manifest path and returns its canonical form
// (slash separated, no leading slash). Absolute paths, "..", ".", empty
// segments, NUL, backslashes and control characters are refused.
func CleanPath(p string) (string, error) {
	if p == "" {
		return "", Errorf(EINVALID, "manifest path is empty")
	}
	if len(p) > MaxPathLen {
		return "", Errorf(EINVALID, "manifest path %.40q… is longer than %d bytes", p, MaxPathLen)
	}
	if strings.HasPrefix(p, "/") {
		return "", Errorf(EINVALID, "manifest path %q is absolute; send paths relative to the deployment root", p)
	}
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == 0:
			return "", Errorf(EINVALID, "manifest path %q contains a NUL byte", p)
		case c == '\\':
			return "", Errorf(EINVALID, "manifest path %q contains a backslash; use forward slashes", p)
		case c < 0x20 || c == 0x7f:
			return "", Errorf(EINVALID, "manifest path %q contains a control character", p)
		}
	}
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "..":
			return "", Errorf(EINVALID, "manifest path %q contains \"..\"", p)
		case ".", "":
			return "", Errorf(EINVALID, "manifest path %q has an empty or \".\" segment", p)
		}
	}
	if path.Clean(p) != p {
		return "", Errorf(EINVALID, "manifest path %q is not clean", p)
	}
	return p, nil
}

// ValidHash reports whether h is a lower-case hex SHA-256.
func ValidHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// ValidateManifest checks every entry of a manifest and that no path
// appears twice. It returns the entries with cleaned paths.
func ValidateManifest(files []File, maxFileSize int64) ([]File, error) {
	if len(files) == 0 {
		return nil, Errorf(EINVALID, "the manifest is empty; a deployment needs at least one file")
	}
	if len(files) > MaxManifestFiles {
		return nil, Errorf(ETOOLARGE, "the manifest has %d files; the limit is %d", len(files), MaxManifestFiles)
	}
	seen := make(map[string]struct{}, len(files))
	out := make([]File, len(files))
	for i, f := range files {
		p, err := CleanPath(f.Path)
		if err != nil {
			return nil, err
		}
		if _, dup := seen[p]; dup {
			return nil, Errorf(EINVALID, "manifest path %q appears twice", p)
		}
		seen[p] = struct{}{}
		if !ValidHash(f.SHA256) {
			return nil, Errorf(EINVALID, "file %q: sha256 %q is not 64 lower-case hex digits", p, f.SHA256)
		}
		if f.Size < 0 {
			return nil, Errorf(EINVALID, "file %q: size %d is negative", p, f.Size)
		}
		if maxFileSize > 0 && f.Size > maxFileSize {
			return nil, Errorf(ETOOLARGE, "file %q is %d bytes; the limit is %d", p, f.Size, maxFileSize)
		}
		f.Path = p
		out[i] = f
	}
	return out, nil
}
