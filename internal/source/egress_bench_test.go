package source

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/apogee-dev/apogee/internal/egress"
)

// BenchmarkFetchEgress compares a shallow fetch over HTTP from a real git
// server (git http-backend) made directly (--allow-private-git) and
// through the egress proxy: a repository of 2,000 files, 20 MB of
// incompressible bytes.
func BenchmarkFetchEgress(b *testing.B) {
	requireGit(b)
	root := b.TempDir()
	dir := filepath.Join(root, "big.git")
	work := filepath.Join(root, "work")
	os.MkdirAll(work, 0o755)
	for i := range 2000 {
		buf := make([]byte, 10<<10)
		rand.Read(buf)
		p := filepath.Join(work, fmt.Sprintf("d%02d", i%40), fmt.Sprintf("f%04d.bin", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, buf, 0o644)
	}
	run := func(dir string, args ...string) { testGit(b, dir, args...) }
	run(root, "init", "-q", "--bare", "-b", "main", dir)
	run(work, "init", "-q", "-b", "main")
	run(work, "add", "-A")
	run(work, "-c", "user.name=b", "-c", "user.email=b@example.com", "commit", "-q", "-m", "big")
	run(work, "push", "-q", dir, "main")
	srv := gitHTTP(b, root, "", false).URL
	for _, tt := range []struct {
		name   string
		policy egress.Policy
	}{
		{"direct", egress.Policy{AllowPrivate: true}},
		{"proxy", throughProxy},
	} {
		b.Run(tt.name, func(b *testing.B) {
			g := &Git{Policy: tt.policy}
			for b.Loop() {
				dst := b.TempDir()
				if _, err := g.Fetch(context.Background(), srv+"/big.git", "main", "", dst, nil); err != nil {
					b.Fatal(err)
				}
				os.RemoveAll(dst)
			}
		})
	}
}
