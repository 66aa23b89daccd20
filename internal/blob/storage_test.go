package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/apogee-dev/apogee"
)

// tmpfs mounts a file system of size bytes at a new folder until the test
// ends. It needs root (CAP_SYS_ADMIN), as the sandbox does.
func tmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs (run the tests as root, as the sandbox tests need): %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

func blobOf(n int, b byte) ([]byte, string) {
	data := bytes.Repeat([]byte{b}, n)
	sum := sha256.Sum256(data)
	return data, hex.EncodeToString(sum[:])
}

// TestStorageErrors: a full disk and a read-only blob folder are said as
// such (issue 10: they were a generic 500), with the cause kept for the
// log, and nothing is stored.
func TestStorageErrors(t *testing.T) {
	dir := tmpfs(t, "1m")
	s := open(t, "file://"+filepath.ToSlash(dir))
	ctx := context.Background()

	small, smallHash := blobOf(1000, 'a')
	if _, err := s.Put(ctx, smallHash, bytes.NewReader(small), 0); err != nil {
		t.Fatal(err)
	}
	big, bigHash := blobOf(2<<20, 'b')
	_, err := s.Put(ctx, bigHash, bytes.NewReader(big), 0)
	if apogee.ErrorCode(err) != apogee.ESTORAGEFULL {
		t.Fatalf("a blob larger than the disk: %v (code %q), want %q", err, apogee.ErrorCode(err), apogee.ESTORAGEFULL)
	}
	if missing, err := s.Missing(ctx, []string{bigHash}); err != nil || len(missing) != 1 {
		t.Fatalf("the blob that did not fit is stored: missing %v, %v", missing, err)
	}

	if out, err := exec.Command("mount", "-o", "remount,ro", dir).CombinedOutput(); err != nil {
		t.Fatalf("remount read-only: %v: %s", err, out)
	}
	other, otherHash := blobOf(10, 'c')
	_, err = s.Put(ctx, otherHash, bytes.NewReader(other), 0)
	if apogee.ErrorCode(err) != apogee.EUNAVAILABLE {
		t.Fatalf("a read-only blob folder: %v (code %q), want %q", err, apogee.ErrorCode(err), apogee.EUNAVAILABLE)
	}
	// What was stored still reads.
	if got, err := s.Get(ctx, smallHash); err != nil || !bytes.Equal(got, small) {
		t.Fatalf("reading a stored blob from the read-only folder: %v", err)
	}
}
