package client

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkHashTree lists and hashes a folder of 1,000 files of 4 KiB.
func BenchmarkHashTree(b *testing.B) {
	dir := b.TempDir()
	content := make([]byte, 4096)
	for i := range 1000 {
		p := filepath.Join(dir, fmt.Sprintf("d%02d", i%20), fmt.Sprintf("f%04d.bin", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		content[0], content[1] = byte(i), byte(i>>8)
		if err := os.WriteFile(p, content, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(1000 * 4096)
	b.ReportAllocs()
	for b.Loop() {
		files, err := hashTree(b.Context(), dir, 0, nil, func(string) {})
		if err != nil || len(files) != 1000 {
			b.Fatalf("%d files, %v", len(files), err)
		}
	}
}
