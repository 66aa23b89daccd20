package edge

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cacheBench returns a server with n files of size bytes, all read
// once, and the files.
func cacheBench(b *testing.B, n, size int, cacheBytes int64) (*Server, []*blobRef) {
	b.Helper()
	st, bl := newMemStore(), newMemBlobs()
	files := map[string]string{}
	for i := range n {
		files[fmt.Sprintf("f%05d.txt", i)] = fmt.Sprintf("%05d", i) + strings.Repeat("x", size-5)
	}
	deploy(st, bl, "bench", "b1", files)
	st.setRoute("bench", "b1")
	s, err := New(Config{Domain: "localhost", Store: st, Blobs: bl, CacheBytes: cacheBytes, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Load(context.Background()); err != nil {
		b.Fatal(err)
	}
	m, err := s.manifest(context.Background(), s.routes.Load().hosts["bench.localhost"])
	if err != nil {
		b.Fatal(err)
	}
	var refs []*blobRef
	for p, f := range m.files {
		if f.path == p {
			refs = append(refs, &f.blobRef)
		}
	}
	for _, r := range refs {
		if _, err := s.cache.bytes(context.Background(), r); err != nil {
			b.Fatal(err)
		}
	}
	return s, refs
}

// BenchmarkCacheHit is the cache's share of a cached GET: one file, read
// again and again.
func BenchmarkCacheHit(b *testing.B) {
	s, refs := cacheBench(b, 1, 5120, DefaultCacheBytes)
	ctx := context.Background()
	b.ReportAllocs()
	reportCPU(b, func() {
		for b.Loop() {
			if _, err := s.cache.bytes(ctx, refs[0]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkCacheHitParallel(b *testing.B) {
	s, refs := cacheBench(b, 1000, 5120, DefaultCacheBytes)
	ctx := context.Background()
	b.ReportAllocs()
	reportCPU(b, func() {
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(len(refs))
			for pb.Next() {
				if _, err := s.cache.bytes(ctx, refs[i%len(refs)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	})
}

// BenchmarkCacheChurn reads 1,000 files of 5 KB through a cache that holds
// a quarter of them, skewed towards the first ones (Zipf): hits, misses
// and evictions.
func BenchmarkCacheChurn(b *testing.B) {
	s, refs := cacheBench(b, 1000, 5120, 1000*5120/4)
	ctx := context.Background()
	z := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.1, 1, uint64(len(refs)-1))
	b.ReportAllocs()
	reportCPU(b, func() {
		for b.Loop() {
			if _, err := s.cache.bytes(ctx, refs[z.Uint64()]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// cpuTime returns the CPU time the process has used. Benchmarks report it
// per operation (cpu-ns/op) beside ns/op: on a machine shared with other
// work, wall time per operation grows with the load and CPU time does not.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU runs loop and reports its CPU time per operation.
func reportCPU(b *testing.B, loop func()) {
	b.Helper()
	start := cpuTime(b)
	loop()
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
}
