package supervisor

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee/internal/appproxy"
	"github.com/apogee-dev/apogee/internal/apps"
	"github.com/apogee-dev/apogee/internal/sandbox"
)

// The scale-to-zero benchmarks: a request through the activator
// (appproxy with a Waker) to a Node hello world in a sandbox, from
// asleep (paused, or stopped) to the response's first byte, the way
// apphost wakes an app. Each reports p50 and p99 in ms; run with
// -benchtime Nx for N samples.

// wakeApp is the Waker: it resumes the paused instance it holds, or
// starts one and waits until it is ready, then puts it in the pool.
type wakeApp struct {
	s     *Supervisor
	proxy *appproxy.Proxy
	spec  apps.Spec

	mu   sync.Mutex
	pool *appproxy.Pool
	in   apps.Instance
	// What the last cold start was made of: from Wake to the process's
	// start (cgroup, sandbox), from there to ready (the app's boot and
	// its first check), and from ready to Wake's return.
	launch, boot, switched, detect time.Duration
	// When the app said it listens, from its output.
	listening chan time.Time
}

// InstanceChanged and InstanceOutput make wakeApp the supervisor's
// observer: the hello world's "listening <ms>" line.
func (w *wakeApp) InstanceChanged(apps.Status) {}

func (w *wakeApp) InstanceOutput(l apps.Line) {
	if ms, ok := strings.CutPrefix(l.Text, "listening "); ok {
		f, err := strconv.ParseFloat(ms, 64)
		if err == nil {
			select {
			case w.listening <- time.UnixMicro(int64(f * 1000)):
			default:
			}
		}
	}
}

func (w *wakeApp) Wake(ctx context.Context, pool string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.in != nil {
		if err := w.in.(apps.Pauser).Resume(ctx); err != nil {
			return err
		}
		return nil
	}
	start := time.Now()
	in, err := w.s.Start(ctx, w.spec)
	if err != nil {
		return err
	}
	for {
		ch := in.Changed()
		st := in.Status()
		if st.State == apps.StateReady {
			break
		}
		if st.State == apps.StateCrashed || st.State == apps.StateStopped {
			return fmt.Errorf("instance %s: %s", st.State, st.Reason)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	w.in = in
	w.pool.Switch(w.proxy.NewTarget(in))
	st := in.Status()
	w.launch, w.boot, w.switched = st.Started.Sub(start), st.ReadySince.Sub(st.Started), time.Since(st.ReadySince)
	select {
	case at := <-w.listening:
		w.detect = st.ReadySince.Sub(at)
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// sleep takes the app's instance away: paused, or stopped and out of
// the pool.
func (w *wakeApp) sleep(b *testing.B, stop bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.in == nil {
		return
	}
	if !stop {
		if err := w.in.(apps.Pauser).Pause(context.Background()); err != nil {
			b.Fatal(err)
		}
		return
	}
	w.pool.Switch()
	if err := w.in.Stop(context.Background(), time.Second); err != nil {
		b.Fatal(err)
	}
	w.in = nil
}

// sandboxVariant is a sandbox kind, and whether its instances get
// outbound networking (slirp4netns), as the server gives them.
type sandboxVariant struct {
	name, kind string
	network    bool
	spare      bool // cold starts alternate with ones that find a spare sandbox (Prestart)
}

var wakeVariants = []sandboxVariant{
	{"bwrap", "bwrap", true, true},
	{"bwrap-no-egress", "bwrap", false, false},
	{"runsc", "runsc", true, false},
}

func wakeFixture(b *testing.B, v sandboxVariant) (*wakeApp, string) {
	b.Helper()
	sb, err := sandbox.New(v.kind, sandbox.WithLogger(quiet()), sandbox.WithCgroupParent("apogee-test/bench-wake-"+v.name))
	if err != nil {
		b.Fatalf("sandbox %s: %v", v.kind, err)
	}
	w := &wakeApp{listening: make(chan time.Time, 1)}
	s, err := New(context.Background(), Options{Launcher: Sandboxed{Sandbox: sb, Network: v.network}, DataDir: b.TempDir(), Log: quiet(), Observer: w})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close(context.Background()) })
	w.s = s
	w.spec = apps.Spec{Project: "bench", Release: "r1", Dir: helloDir(b), Command: "exec node app.js"}
	w.proxy = appproxy.New(appproxy.Options{Log: quiet(), Waker: w})
	w.pool = w.proxy.NewPool("bench")
	srv := httptest.NewServer(w.pool)
	b.Cleanup(srv.Close)
	return w, srv.URL
}

// firstByte sends GET / on a new connection and returns the time to the
// response's headers (Node sends headers and body in one write).
func firstByte(b *testing.B, url string) time.Duration {
	b.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	res, err := c.Get(url)
	took := time.Since(start)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		b.Fatalf("%d %s", res.StatusCode, body)
	}
	return took
}

func reportPercentiles(b *testing.B, ds []time.Duration) {
	b.ReportMetric(percentile(ds, 0.50), "p50-ms")
	b.ReportMetric(percentile(ds, 0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// percentile returns the p-th of ds in ms (sorting ds).
func percentile(ds []time.Duration, p float64) float64 {
	slices.Sort(ds)
	return float64(ds[int(float64(len(ds)-1)*p)].Microseconds()) / 1000
}

// helloDir is a release tree of the hello world (testdata/hello).
func helloDir(b *testing.B) string {
	b.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "hello", "app.js"))
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(b.TempDir(), "release")
	if err := os.Mkdir(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "app.js"), src, 0o644); err != nil {
		b.Fatal(err)
	}
	return dir
}

func median(ds []time.Duration) float64 { return percentile(ds, 0.5) }

// BenchmarkResumeFirstByte: the app's one instance is paused; a request
// arrives, the activator holds it and wakes the app (Resume: thaw the
// cgroup), and the request is sent. Target: p50 ≤ 10 ms.
func BenchmarkResumeFirstByte(b *testing.B) {
	for _, v := range wakeVariants {
		b.Run(v.name, func(b *testing.B) {
			w, url := wakeFixture(b, v)
			firstByte(b, url) // cold start once
			var ds []time.Duration
			for b.Loop() {
				w.sleep(b, false)
				ds = append(ds, firstByte(b, url))
			}
			reportPercentiles(b, ds)
		})
	}
}

// BenchmarkColdStartFirstByte: the app has no instance; a request
// arrives, the activator holds it and wakes the app (start an instance,
// wait for its readiness check), and the request is sent. Node hello
// world; bwrap target: p50 ≤ 200 ms, p99 ≤ 400 ms; runsc is reported.
// Under bwrap every cold start alternates with one that finds a spare
// sandbox made beforehand (Prestart): spare-p50-ms, spare-p99-ms.
func BenchmarkColdStartFirstByte(b *testing.B) {
	for _, v := range wakeVariants {
		b.Run(v.name, func(b *testing.B) {
			w, url := wakeFixture(b, v)
			var ds, spared, launch, boot, switched, detect []time.Duration
			for b.Loop() {
				ds = append(ds, firstByte(b, url))
				launch, boot, switched = append(launch, w.launch), append(boot, w.boot), append(switched, w.switched)
				detect = append(detect, w.detect)
				w.sleep(b, true)
				if v.spare {
					// The same with a spare, alternated so that both see
					// the same load.
					if err := w.s.Prestart(context.Background(), w.spec); err != nil {
						b.Fatal(err)
					}
					spared = append(spared, firstByte(b, url))
					w.sleep(b, true)
				}
			}
			reportPercentiles(b, ds)
			b.ReportMetric(median(launch), "launch-p50-ms")
			b.ReportMetric(median(boot), "boot-p50-ms")
			b.ReportMetric(median(switched), "switch-p50-ms")
			b.ReportMetric(median(detect), "seen-ready-p50-ms")
			if v.spare {
				b.ReportMetric(percentile(spared, 0.50), "spare-p50-ms")
				b.ReportMetric(percentile(spared, 0.99), "spare-p99-ms")
			}
		})
	}
}

// BenchmarkPausedMemory reports what a paused instance holds: its
// cgroup's memory (the app's, page cache included), what a spare sandbox
// holds (its cgroup: the waiting shell, bwrap's init, slirp4netns) and, for a stopped
// app, the server's own memory per app (its pool, with the activator's
// state, is all that remains), from the Go heap over 1,000 apps. Target
// for the stopped app: ≤ 1 MB.
func BenchmarkPausedMemory(b *testing.B) {
	w, url := wakeFixture(b, wakeVariants[0])
	for b.Loop() {
		firstByte(b, url)
		w.sleep(b, false)
		u, err := w.in.Usage()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(u.MemoryBytes)/(1<<20), "paused-MiB")
		w.sleep(b, true)
		// A spare sandbox.
		if err := w.s.Prestart(context.Background(), w.spec); err != nil {
			b.Fatal(err)
		}
		w.s.mu.Lock()
		sp := w.s.spares[w.spec.Release].spare
		w.s.mu.Unlock()
		if u, err = sp.proc.Usage(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(u.MemoryBytes)/(1<<20), "spare-MiB")
		w.s.DropSpare(w.spec.Release)
	}
	const n = 1000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	pools := make([]*appproxy.Pool, n)
	for i := range pools {
		pools[i] = w.proxy.NewPool(fmt.Sprintf("app-%d", i))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(pools)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/n/1024, "stopped-KiB/app")
	b.ReportMetric(0, "ns/op")
}
