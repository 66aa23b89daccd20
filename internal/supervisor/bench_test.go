package supervisor

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/apogee-dev/apogee/internal/apps"
	"github.com/apogee-dev/apogee/internal/apps/runtimetest"
	"github.com/apogee-dev/apogee/internal/sandbox"
)

func benchSupervisor(b *testing.B, name string) *Supervisor {
	b.Helper()
	sb, err := sandbox.New("bwrap", sandbox.WithLogger(quiet()), sandbox.WithCgroupParent("apogee-test/bench-"+name))
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(context.Background(), Options{Launcher: Sandboxed{Sandbox: sb, Network: true}, DataDir: b.TempDir(), Log: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func benchSpec(dir string) apps.Spec {
	return apps.Spec{Project: "bench", Release: "r1", Dir: dir, Command: "exec node app.js"}
}

func waitState(b *testing.B, in apps.Instance, cond func(apps.Status) bool) {
	b.Helper()
	deadline := time.NewTimer(time.Minute)
	defer deadline.Stop()
	for {
		ch := in.Changed()
		if cond(in.Status()) {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			b.Fatalf("instance %s: %+v", in.ID(), in.Status())
		}
	}
}

// BenchmarkIdleInstanceMemory measures what the supervisor itself holds
// per idle instance (bwrap): Go heap and goroutine stacks after a GC,
// with 20 instances ready, divided by 20. The apps' own memory is in
// their cgroups, not here. Target: ≤ 2 MB per instance.
func BenchmarkIdleInstanceMemory(b *testing.B) {
	const n = 20
	s := benchSupervisor(b, "memory")
	dir := runtimetest.AppDir(b)
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		g0 := runtime.NumGoroutine()
		var ins []apps.Instance
		for range n {
			in, err := s.Start(context.Background(), benchSpec(dir))
			if err != nil {
				b.Fatal(err)
			}
			ins = append(ins, in)
		}
		for _, in := range ins {
			waitState(b, in, func(st apps.Status) bool { return st.State == apps.StateReady })
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		g1 := runtime.NumGoroutine()
		per := float64(int64(after.HeapAlloc+after.StackInuse)-int64(before.HeapAlloc+before.StackInuse)) / n
		b.ReportMetric(per/1024, "KiB/instance")
		b.ReportMetric(float64(g1-g0)/n, "goroutines/instance")
		for _, in := range ins {
			in.Stop(context.Background(), time.Second)
		}
	}
}

// BenchmarkKillRecovery measures how long an instance killed with
// SIGKILL (the app kills itself, as kill -9 would) takes to be ready
// again: its first crash restarts at once, and readiness is polled
// every 50 ms. Each round uses a fresh instance, so the restart backoff
// is always the first crash's. Target: ≤ 1 s.
func BenchmarkKillRecovery(b *testing.B) {
	s := benchSupervisor(b, "kill")
	dir := runtimetest.AppDir(b)
	var total time.Duration
	rounds := 0
	for b.Loop() {
		b.StopTimer()
		in, err := s.Start(context.Background(), benchSpec(dir))
		if err != nil {
			b.Fatal(err)
		}
		waitState(b, in, func(st apps.Status) bool { return st.State == apps.StateReady })
		c, err := in.Dial(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		fmt.Fprintf(c, "GET /crash HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		io.Copy(io.Discard, c)
		c.Close()
		waitState(b, in, func(st apps.Status) bool { return st.State == apps.StateReady && st.Restarts == 1 })
		total += time.Since(start)
		rounds++
		b.StopTimer()
		in.Stop(context.Background(), time.Second)
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(rounds), "ms/recovery")
}
