package source

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/dustin/go-humanize"

	"github.com/apogee-dev/apogee"
)

// Defaults for a zero field of ZipLimits.
const (
	DefaultZipMaxFiles     = 50_000
	DefaultZipMaxBytes     = 1 << 30   // 1 GiB uncompressed in all
	DefaultZipMaxFileBytes = 256 << 20 // 256 MiB uncompressed per file
)

// ZipLimits bound what ExtractZip writes. A zero field takes its default
// (DefaultZipMaxFiles, DefaultZipMaxBytes, DefaultZipMaxFileBytes).
type ZipLimits struct {
	MaxFiles     int   // entries in the archive, folders included
	MaxBytes     int64 // uncompressed bytes in all
	MaxFileBytes int64 // uncompressed bytes of one file
}

// maxLinkTarget bounds the length of a symbolic link's target.
const maxLinkTarget = 4096

// ExtractZip unpacks a ZIP archive of a source tree into dir, which must
// be empty or absent. It returns how many files (and links) and bytes it
// wrote; on error, how many it had written before it stopped, and dir is
// left empty.
//
// What it takes:
//   - files, folders and symbolic links. A link must resolve inside dir,
//     also through other links in the archive (absolute targets and ones
//     that climb out are refused); links are made after every file, and
//     no entry may lie below a link, so nothing is written through one;
//   - paths with "/" as separator, relative, without "..", NUL, control
//     characters or backslashes (re-create such an archive with a tool
//     that writes forward slashes), each path once (a file and a folder
//     of the same name count as the same path);
//   - the Store and Deflate methods, unencrypted.
//
// If every entry lies under one top-level folder ("site-main/…", as
// GitHub's "Download ZIP" makes), that folder is stripped, so its contents
// land directly in dir. A "__MACOSX/" folder (resource forks added by
// macOS's Finder) is skipped.
//
// Files get mode 0644, or 0755 when the archive gives them any executable
// bit; folders 0755; no setuid, setgid or sticky bits; times are not kept.
//
// Limits count bytes actually decompressed, not the sizes the archive
// claims, so a zip bomb stops at the limit: sizes in the archive are
// checked first (an honest archive over a limit writes nothing), and
// archive/zip also refuses an entry that inflates past its stated size.
//
// Errors are *apogee.Error: ETOOLARGE for a limit (naming the entry and
// the limit), EINVALID for anything else wrong with the archive. A
// canceled ctx stops it; the error then wraps ctx's error.
func ExtractZip(ctx context.Context, r io.ReaderAt, size int64, dir string, lim ZipLimits) (files int, bytes int64, err error) {
	if lim.MaxFiles <= 0 {
		lim.MaxFiles = DefaultZipMaxFiles
	}
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = DefaultZipMaxBytes
	}
	if lim.MaxFileBytes <= 0 {
		lim.MaxFileBytes = DefaultZipMaxFileBytes
	}
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) { // we check paths ourselves
		return 0, 0, &apogee.Error{Code: apogee.EINVALID,
			Message: "the upload is not a ZIP archive (or it is damaged); make it again with zip or your system's \"Compress\"", Err: err}
	}
	abs, err := prepareDir(dir)
	if err != nil {
		return 0, 0, err
	}
	defer func() {
		if err != nil {
			if cerr := emptyDir(abs); cerr != nil {
				err = errors.Join(err, fmt.Errorf("source: emptying %s after a failed extraction: %w", abs, cerr))
			}
		}
	}()

	plan, err := planZip(ctx, zr, lim)
	if err != nil {
		return 0, 0, err
	}
	x := extractor{ctx: ctx, dir: abs, lim: lim}
	err = x.run(plan)
	return x.files, x.bytes, err
}

type entryKind int

const (
	kindDir entryKind = iota
	kindFile
	kindLink
)

func (k entryKind) String() string {
	return [...]string{"folder", "file", "link"}[k]
}

// zipEntry is one entry to extract.
type zipEntry struct {
	f      *zip.File
	name   string // relative, cleaned, "/"-separated, top folder stripped
	kind   entryKind
	exec   bool
	target string // of a link
}

func tooLarge(format string, args ...any) error {
	return apogee.Errorf(apogee.ETOOLARGE, format, args...)
}

// planZip checks every entry's name, kind and stated size before anything
// is written and returns the entries to extract.
func planZip(ctx context.Context, zr *zip.Reader, lim ZipLimits) ([]zipEntry, error) {
	if len(zr.File) == 0 {
		return nil, invalid("the ZIP archive is empty")
	}
	if len(zr.File) > lim.MaxFiles {
		return nil, tooLarge("the ZIP archive has %d entries; the limit is %d", len(zr.File), lim.MaxFiles)
	}
	var entries []zipEntry
	var stated uint64
	for _, f := range zr.File {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("source: extracting: %w", err)
		}
		name, err := cleanZipName(f.Name)
		if err != nil {
			return nil, err
		}
		if name == "__MACOSX" || strings.HasPrefix(name, "__MACOSX/") {
			continue
		}
		if f.Flags&0x1 != 0 {
			return nil, invalid("entry %q is encrypted; upload an archive without a password", f.Name)
		}
		e := zipEntry{f: f, name: name}
		mode := f.Mode()
		switch {
		case mode.IsDir() || strings.HasSuffix(f.Name, "/"):
			e.kind = kindDir
		case mode&fs.ModeSymlink != 0:
			e.kind = kindLink
		case mode.IsRegular():
			e.kind = kindFile
			e.exec = mode&0o111 != 0
		default:
			return nil, invalid("entry %q is a %s; only files, folders and symbolic links are allowed", f.Name, modeKind(mode))
		}
		if name == "." {
			if e.kind != kindDir {
				return nil, invalid("entry %q has no name", f.Name)
			}
			continue
		}
		if e.kind != kindDir {
			if f.UncompressedSize64 > uint64(lim.MaxFileBytes) {
				return nil, tooLarge("entry %q is %s; the limit for one file is %s",
					f.Name, ibytes(int64(min(f.UncompressedSize64, 1<<62))), ibytes(lim.MaxFileBytes))
			}
			if stated += f.UncompressedSize64; stated > uint64(lim.MaxBytes) {
				return nil, tooLarge("the ZIP archive holds more than %s (at entry %q); that is the limit",
					ibytes(lim.MaxBytes), f.Name)
			}
		}
		entries = append(entries, e)
	}
	if !slices.ContainsFunc(entries, func(e zipEntry) bool { return e.kind != kindDir }) {
		return nil, invalid("the ZIP archive holds no files")
	}
	entries = stripTopFolder(entries)

	// Each path once; nothing below a file or a link.
	kinds := map[string]entryKind{}
	links := map[string]string{}
	for i := range entries {
		e := &entries[i]
		for p := path.Dir(e.name); p != "."; p = path.Dir(p) {
			k, ok := kinds[p]
			if ok && k != kindDir {
				return nil, invalid("entry %q lies inside %q, which is a %s", e.f.Name, p, k)
			}
			kinds[p] = kindDir
		}
		if k, ok := kinds[e.name]; ok && (k != kindDir || e.kind != kindDir) {
			return nil, invalid("entry %q appears twice in the ZIP archive (as a %s and a %s)", e.f.Name, k, e.kind)
		}
		kinds[e.name] = e.kind
		if e.kind == kindLink {
			t, err := readLink(e.f)
			if err != nil {
				return nil, err
			}
			e.target = t
			links[e.name] = t
		}
	}
	for _, e := range entries {
		if e.kind == kindLink {
			if err := checkLink(e.name, links); err != nil {
				return nil, invalid("link %q points to %q, %v; links must stay inside the source tree", e.f.Name, e.target, err)
			}
		}
	}
	return entries, nil
}

// cleanZipName checks an entry's name and returns it cleaned, without a
// trailing slash ("." for the root).
func cleanZipName(name string) (string, error) {
	switch {
	case name == "":
		return "", invalid("the ZIP archive has an entry with no name")
	case strings.ContainsRune(name, 0) ||
		strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return "", invalid("entry %q has a control character or NUL in its name", name)
	case strings.ContainsRune(name, '\\'):
		return "", invalid("entry %q uses backslashes in its path; make the ZIP again with a tool that writes '/'", name)
	case strings.HasPrefix(name, "/") || len(name) >= 2 && name[1] == ':' &&
		('a' <= name[0]|0x20 && name[0]|0x20 <= 'z'):
		return "", invalid("entry %q has an absolute path; paths in the ZIP must be relative", name)
	case len(name) > 1024:
		return "", invalid("entry %.64q… has a path over 1024 bytes", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", invalid("entry %q climbs out of the folder with \"..\"; paths in the ZIP must stay inside it", name)
		}
		if len(part) > 255 {
			return "", invalid("entry %.64q… has a name over 255 bytes", name)
		}
	}
	return path.Clean(name), nil
}

// stripTopFolder removes a top-level folder that holds every entry.
func stripTopFolder(entries []zipEntry) []zipEntry {
	top, _, _ := strings.Cut(entries[0].name, "/")
	nested := false
	for _, e := range entries {
		first, rest, ok := strings.Cut(e.name, "/")
		if first != top || !ok && e.kind != kindDir {
			return entries
		}
		nested = nested || ok && rest != ""
	}
	if !nested {
		return entries
	}
	out := entries[:0]
	for _, e := range entries {
		if e.name == top {
			continue
		}
		e.name = strings.TrimPrefix(e.name, top+"/")
		out = append(out, e)
	}
	return out
}

// readLink reads a link entry's target.
func readLink(f *zip.File) (string, error) {
	rc, err := f.Open()
	if err != nil {
		return "", entryErr(f, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxLinkTarget+1))
	if err != nil {
		return "", entryErr(f, err)
	}
	if len(b) > maxLinkTarget {
		return "", invalid("link %q has a target over %d bytes", f.Name, maxLinkTarget)
	}
	t := string(b)
	if t == "" || strings.ContainsFunc(t, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return "", invalid("link %q has an empty target or one with control characters", f.Name)
	}
	return t, nil
}

// checkLink resolves the link at name the way the kernel would, using the
// archive's other links, and fails if that ever leaves the tree. Paths
// the archive does not have count as folders (a build may make them).
func checkLink(name string, links map[string]string) error {
	cur := strings.Split(path.Dir(name), "/") // the folder the link is in
	if cur[0] == "." {
		cur = nil
	}
	todo := strings.Split(links[name], "/")
	if strings.HasPrefix(links[name], "/") {
		return errors.New("an absolute path")
	}
	for hops := 0; len(todo) > 0; {
		part := todo[0]
		todo = todo[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			if len(cur) == 0 {
				return errors.New("which leads out of it")
			}
			cur = cur[:len(cur)-1]
			continue
		}
		p := strings.Join(append(slices.Clone(cur), part), "/")
		t, ok := links[p]
		if !ok {
			cur = append(cur, part)
			continue
		}
		if hops++; hops > 40 {
			return errors.New("through too many links (a loop?)")
		}
		if strings.HasPrefix(t, "/") {
			return fmt.Errorf("through %q, which has an absolute path", p)
		}
		todo = append(strings.Split(t, "/"), todo...)
	}
	return nil
}

// extractor writes a planned archive.
type extractor struct {
	ctx   context.Context
	dir   string
	lim   ZipLimits
	files int
	bytes int64
	buf   []byte
}

func (x *extractor) run(plan []zipEntry) error {
	// Folders, then files, then links: no link exists while anything is
	// written.
	for _, kind := range []entryKind{kindDir, kindFile, kindLink} {
		for _, e := range plan {
			if e.kind != kind {
				continue
			}
			if err := x.ctx.Err(); err != nil {
				return fmt.Errorf("source: extracting: %w", err)
			}
			p := filepath.Join(x.dir, filepath.FromSlash(e.name))
			if kind == kindDir {
				if err := os.MkdirAll(p, 0o755); err != nil {
					return fmt.Errorf("source: extracting %q: %w", e.f.Name, err)
				}
				continue
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return fmt.Errorf("source: extracting %q: %w", e.f.Name, err)
			}
			if kind == kindLink {
				if err := os.Symlink(e.target, p); err != nil {
					return fmt.Errorf("source: extracting %q: %w", e.f.Name, err)
				}
				x.files++
				x.bytes += int64(len(e.target))
				continue
			}
			if err := x.file(e, p); err != nil {
				return err
			}
			x.files++
		}
	}
	return nil
}

// file writes one file, counting the bytes it inflates.
func (x *extractor) file(e zipEntry, p string) error {
	rc, err := e.f.Open()
	if err != nil {
		return entryErr(e.f, err)
	}
	defer rc.Close()
	mode := os.FileMode(0o644)
	if e.exec {
		mode = 0o755
	}
	w, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscallNoFollow, mode)
	if err != nil {
		return fmt.Errorf("source: extracting %q: %w", e.f.Name, err)
	}
	defer w.Close()
	if x.buf == nil {
		x.buf = make([]byte, 64<<10)
	}
	var n int64
	for {
		if err := x.ctx.Err(); err != nil {
			return fmt.Errorf("source: extracting: %w", err)
		}
		k, rerr := rc.Read(x.buf)
		if k > 0 {
			n += int64(k)
			if n > x.lim.MaxFileBytes {
				return tooLarge("entry %q inflates past the limit for one file, %s", e.f.Name, ibytes(x.lim.MaxFileBytes))
			}
			if x.bytes+int64(k) > x.lim.MaxBytes {
				return tooLarge("the ZIP archive inflates to more than %s (at entry %q); that is the limit",
					ibytes(x.lim.MaxBytes), e.f.Name)
			}
			if _, err := w.Write(x.buf[:k]); err != nil {
				return fmt.Errorf("source: extracting %q: %w", e.f.Name, err)
			}
			x.bytes += int64(k)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return entryErr(e.f, rerr)
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("source: extracting %q: %w", e.f.Name, err)
	}
	return nil
}

// entryErr explains an error reading an entry's data.
func entryErr(f *zip.File, err error) error {
	if errors.Is(err, zip.ErrAlgorithm) {
		return &apogee.Error{Code: apogee.EINVALID, Err: err,
			Message: fmt.Sprintf("entry %q uses a compression method other than Store or Deflate; make the ZIP again with standard compression", f.Name)}
	}
	return &apogee.Error{Code: apogee.EINVALID, Err: err,
		Message: fmt.Sprintf("entry %q is damaged (its data does not match its size or checksum); make the ZIP again", f.Name)}
}

func modeKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

// ibytes writes n in binary units ("1.5 KiB", "256 MiB").
func ibytes(n int64) string { return humanize.IBytes(uint64(max(n, 0))) }
