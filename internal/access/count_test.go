package access

import (
	"fmt"
	"runtime"
	"testing"
	"time"
	"unsafe"
)

// BenchmarkCount is the writer's work for one request beyond the raw
// record budget, the case of a busy project: classify, hash, count into
// the minute and hour rollups and top tables. It runs beside the edge on
// the same cores, so it is what logging costs a request.
func BenchmarkCount(b *testing.B) {
	l, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	l.cfg.RawPerSecond = 1
	start := time.Now()
	var es [64]Entry
	for i := range es {
		es[i] = Entry{Start: start, Duration: time.Duration(i) * time.Millisecond, ProjectID: "web", DeploymentID: "d1",
			Host: "web.localhost", Method: "GET", Path: fmt.Sprintf("/page/%d", i%16), Status: 200 + (i%8)/7*204,
			Bytes: 1000, RemoteAddr: fmt.Sprintf("192.0.2.%d:4000", i), Referer: "https://news.example/item?id=3",
			UserAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		l.count(es[i%len(es)])
		i++
	}
}

// BenchmarkBurstMemory is the access log's memory under a burst: a
// million requests recorded with nobody draining the buffer. The buffer
// is allocated once by New, so the heap grows by its size and no more;
// what does not fit is dropped and counted.
func BenchmarkBurstMemory(b *testing.B) {
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		l, err := New(Config{})
		if err != nil {
			b.Fatal(err)
		}
		e := Entry{Start: time.Now(), ProjectID: "web", DeploymentID: "d1", Host: "web.localhost", Method: "GET", Path: "/",
			Status: 200, RemoteAddr: "192.0.2.1:4000", UserAgent: "Mozilla/5.0"}
		for range 1_000_000 {
			l.Record(e)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		held := 0
		for _, ch := range l.shards {
			held += cap(ch)
		}
		if l.Dropped() != 1_000_000-int64(held) || held != l.cfg.Buffer {
			b.Fatalf("dropped %d", l.Dropped())
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(held)*float64(unsafe.Sizeof(e))/(1<<20), "buffer-MiB")
		runtime.KeepAlive(l)
	}
}
