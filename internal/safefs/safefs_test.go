package safefs

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"
)

// tree makes a folder with every kind of entry a build could leave, and
// a secret outside it.
func tree(t *testing.T) string {
	t.Helper()
	base := t.TempDir()
	outside := filepath.Join(base, "secret.txt")
	must(t, os.WriteFile(outside, []byte("TOPSECRET"), 0o600))
	dir := filepath.Join(base, "ws")
	must(t, os.MkdirAll(filepath.Join(dir, "sub", "deep"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name":"x"}`), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "sub", "deep", "f.txt"), []byte("deep"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "big"), make([]byte, 1<<20), 0o644))
	must(t, os.Symlink("package.json", filepath.Join(dir, "inside-link")))
	must(t, os.Symlink(outside, filepath.Join(dir, "outside-link")))
	must(t, os.Symlink("../secret.txt", filepath.Join(dir, "dotdot-link")))
	must(t, os.Symlink("sub", filepath.Join(dir, "dirlink")))
	must(t, os.Symlink("/", filepath.Join(dir, "sub", "root")))
	must(t, syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644))
	must(t, os.Symlink("fifo", filepath.Join(dir, "fifo-link")))
	l, err := net.Listen("unix", filepath.Join(dir, "sock"))
	must(t, err)
	t.Cleanup(func() { l.Close() })
	return dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// modes runs f with openat2 and with the walk that replaces it.
func modes(t *testing.T, f func(t *testing.T)) {
	for _, walk := range []bool{false, true} {
		name := map[bool]string{false: "openat2", true: "walk"}[walk]
		t.Run(name, func(t *testing.T) {
			noOpenat2.Store(walk)
			t.Cleanup(func() { noOpenat2.Store(false) })
			f(t)
		})
	}
}

func TestOpen(t *testing.T) {
	dir := tree(t)
	tests := []struct {
		name string
		want error // nil: opens, reads the content
		body string
	}{
		{"package.json", nil, `{"name":"x"}`},
		{"sub/deep/f.txt", nil, "deep"},
		{"inside-link", ErrLink, ""},
		{"outside-link", ErrLink, ""},
		{"dotdot-link", ErrLink, ""},
		{"dirlink/deep/f.txt", ErrLink, ""},
		{"sub/root/etc/passwd", ErrLink, ""},
		{"fifo", ErrNotRegular, ""},
		{"fifo-link", ErrLink, ""},
		{"sock", ErrNotRegular, ""},
		{"sub", ErrNotRegular, ""},
		{"missing", fs.ErrNotExist, ""},
		{"../secret.txt", fs.ErrInvalid, ""},
		{"/etc/passwd", fs.ErrInvalid, ""},
	}
	modes(t, func(t *testing.T) {
		d, err := OpenDir(dir)
		must(t, err)
		defer d.Close()
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				done := make(chan struct{})
				var f *os.File
				var err error
				go func() { defer close(done); f, err = d.Open(tt.name) }()
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					t.Fatal("Open blocked")
				}
				if tt.want != nil {
					if !errors.Is(err, tt.want) {
						t.Fatalf("Open(%q) = %v, want %v", tt.name, err, tt.want)
					}
					return
				}
				must(t, err)
				defer f.Close()
				b, _ := io.ReadAll(f)
				if string(b) != tt.body {
					t.Fatalf("read %q", b)
				}
			})
		}
	})
}

func TestReadFileCap(t *testing.T) {
	dir := tree(t)
	modes(t, func(t *testing.T) {
		d, err := OpenDir(dir)
		must(t, err)
		defer d.Close()
		ctx := context.Background()
		if b, err := d.ReadFile(ctx, "big", 1<<20); err != nil || len(b) != 1<<20 {
			t.Fatalf("ReadFile at the cap: %d bytes, %v", len(b), err)
		}
		if _, err := d.ReadFile(ctx, "big", 1<<20-1); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("ReadFile past the cap: %v", err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := d.ReadFile(cctx, "big", 1<<20); !errors.Is(err, context.Canceled) {
			t.Fatalf("ReadFile after cancel: %v", err)
		}
	})
}

func TestLimitGrowing(t *testing.T) {
	// A file that grows past the cap after it was opened still stops.
	r := Limit(context.Background(), strings.NewReader(strings.Repeat("x", 100)), "f", 10)
	if _, err := io.ReadAll(r); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
	r = Limit(context.Background(), strings.NewReader(strings.Repeat("x", 10)), "f", 10)
	if b, err := io.ReadAll(r); err != nil || len(b) != 10 {
		t.Fatalf("%d bytes, %v", len(b), err)
	}
}

func TestLstatAndOpenDir(t *testing.T) {
	dir := tree(t)
	modes(t, func(t *testing.T) {
		d, err := OpenDir(dir)
		must(t, err)
		defer d.Close()
		for name, mode := range map[string]fs.FileMode{
			"package.json": 0, "outside-link": fs.ModeSymlink, "fifo": fs.ModeNamedPipe, "sub": fs.ModeDir, "sub/root": fs.ModeSymlink,
		} {
			fi, err := d.Lstat(name)
			must(t, err)
			if fi.Mode().Type() != mode || fi.Name() != filepath.Base(name) {
				t.Errorf("Lstat(%s) = %v %s", name, fi.Mode(), fi.Name())
			}
		}
		if _, err := d.Lstat("dirlink/deep"); !errors.Is(err, ErrLink) {
			t.Errorf("Lstat through a link: %v", err)
		}
		if _, err := d.OpenDir("dirlink"); !errors.Is(err, ErrLink) {
			t.Errorf("OpenDir(link): %v", err)
		}
		if _, err := d.OpenDir("package.json"); !errors.Is(err, ErrNotDir) {
			t.Errorf("OpenDir(file): %v", err)
		}
		sub, err := d.OpenDir("sub")
		must(t, err)
		defer sub.Close()
		if b, err := sub.ReadFile(context.Background(), "deep/f.txt", 10); err != nil || string(b) != "deep" {
			t.Fatalf("sub read: %q %v", b, err)
		}
	})
}

func TestFS(t *testing.T) {
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "a", "b", "c.txt"), []byte("c"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "x.txt"), []byte("x"), 0o644))
	modes(t, func(t *testing.T) {
		d, err := OpenDir(dir)
		must(t, err)
		defer d.Close()
		if err := fstest.TestFS(d.FS(1<<20), "x.txt", "a/b/c.txt"); err != nil {
			t.Fatal(err)
		}
	})
	// A link is listed as one and cannot be opened.
	dir = tree(t)
	d, err := OpenDir(dir)
	must(t, err)
	defer d.Close()
	fsys := d.FS(16)
	var links []string
	must(t, fs.WalkDir(fsys, ".", func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if de.Type()&fs.ModeSymlink != 0 {
			links = append(links, p)
		}
		return nil
	}))
	if len(links) != 6 {
		t.Errorf("links seen: %v", links)
	}
	if _, err := fs.ReadFile(fsys, "outside-link"); !errors.Is(err, ErrLink) {
		t.Errorf("ReadFile(link) = %v", err)
	}
	if _, err := fs.ReadFile(fsys, "big"); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ReadFile(big) = %v", err)
	}
	f, err := fsys.Open("big")
	must(t, err)
	defer f.Close()
	if _, err := io.ReadAll(f); !errors.Is(err, ErrTooLarge) {
		t.Errorf("reading big through Open: %v", err)
	}
}

func TestLinkInside(t *testing.T) {
	for _, tc := range []struct {
		rel, target string
		want        bool
	}{
		{"a", "b", true},
		{"dir/a", "../b", true},
		{"dir/sub/a", "../../b", true},
		{"dir/a", "./x/../y", true},
		{"a", "../b", false},
		{"dir/a", "../../b", false},
		{"dir/a", "x/../../../b", false},
		{"a", "/etc/passwd", false},
		{"a", "", false},
		{"a", "b\x00c", false},
	} {
		if got := LinkInside(tc.rel, tc.target); got != tc.want {
			t.Errorf("LinkInside(%q, %q) = %v, want %v", tc.rel, tc.target, got, tc.want)
		}
	}
}
