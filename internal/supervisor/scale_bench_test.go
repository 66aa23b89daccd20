package supervisor

import (
	"context"
	"fmt"
	"io"
	"net"
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
	"golang.org/x/sys/unix"
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
}

var wakeVariants = []sandboxVariant{
	{"bwrap", "bwrap", true},
	{"bwrap-no-egress", "bwrap", false},
	{"runsc", "runsc", true},
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
	slices.Sort(ds)
	pct := func(p float64) float64 {
		i := int(float64(len(ds)-1) * p)
		return float64(ds[i].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
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

func median(ds []time.Duration) float64 {
	slices.Sort(ds)
	return float64(ds[len(ds)/2].Microseconds()) / 1000
}

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
func BenchmarkColdStartFirstByte(b *testing.B) {
	for _, v := range wakeVariants {
		b.Run(v.name, func(b *testing.B) {
			w, url := wakeFixture(b, v)
			var ds, launch, boot, switched, detect []time.Duration
			for b.Loop() {
				ds = append(ds, firstByte(b, url))
				launch, boot, switched = append(launch, w.launch), append(boot, w.boot), append(switched, w.switched)
				detect = append(detect, w.detect)
				w.sleep(b, true)
			}
			reportPercentiles(b, ds)
			b.ReportMetric(median(launch), "launch-p50-ms")
			b.ReportMetric(median(boot), "boot-p50-ms")
			b.ReportMetric(median(switched), "switch-p50-ms")
			b.ReportMetric(median(detect), "seen-ready-p50-ms")
		})
	}
}

// BenchmarkPausedMemory reports what a paused instance holds: its
// cgroup's memory (the app's, page cache included) and, for a stopped
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

// BenchmarkPrecreatedSandbox measures what a pool of pre-created
// sandboxes would save on a cold start: "cold" launches the hello world
// and polls it (every 5 ms, as the supervisor does) until it answers;
// "precreated" has the sandbox (cgroup, namespaces, slirp4netns, the
// mounts) made beforehand with a shell waiting on a FIFO in the data
// folder, and times from the write to the FIFO (the shell then execs
// node) to the first answer. The two alternate, so both see the same
// load. Measured here (load average 18-20 on 2 cores): cold 230-318 ms,
// precreated 208-235 ms at p50: the sandbox's set-up is 20-85 ms of a
// cold start, what such a pool would save.
func BenchmarkPrecreatedSandbox(b *testing.B) {
	sb, err := sandbox.New("bwrap", sandbox.WithLogger(quiet()), sandbox.WithCgroupParent("apogee-test/bench-precreated"))
	if err != nil {
		b.Fatal(err)
	}
	l := Sandboxed{Sandbox: sb, Network: true}
	dir := helloDir(b)
	spec := func(name, cmd, data string) LaunchSpec {
		return LaunchSpec{
			Name: name, Argv: []string{"/bin/sh", "-c", cmd}, Dir: dir, DataDir: data,
			Env:  []string{"PORT=8080", "PATH=/usr/local/bin:/usr/bin:/bin"},
			Port: 8080, Limits: apps.Spec{}.WithDefaults().Limits,
			Stdout: io.Discard, Stderr: io.Discard,
		}
	}
	answer := func(p Process) {
		c := &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return p.DialContext(ctx, "tcp", "127.0.0.1:8080")
			},
			DisableKeepAlives: true,
		}}
		for {
			res, err := c.Get("http://instance/")
			if err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode == 200 {
					return
				}
			}
			select {
			case <-p.Done():
				b.Fatalf("ended: %+v", p.Exit())
			case <-time.After(bootDialInterval):
			}
		}
	}
	n := 0
	run := func(precreated bool) time.Duration {
		n++
		data := b.TempDir()
		os.Chmod(data, 0o777)
		name := fmt.Sprintf("pc%d", n)
		if !precreated {
			start := time.Now()
			p, err := l.Launch(context.Background(), spec(name, "exec node app.js", data))
			if err != nil {
				b.Fatal(err)
			}
			answer(p)
			took := time.Since(start)
			p.Kill()
			<-p.Done()
			return took
		}
		fifo := filepath.Join(data, "go")
		if err := unix.Mkfifo(fifo, 0o666); err != nil {
			b.Fatal(err)
		}
		p, err := l.Launch(context.Background(), spec(name, "read x < /data/go; exec node app.js", data))
		if err != nil {
			b.Fatal(err)
		}
		// Opening the FIFO waits for the shell's open: the sandbox is up.
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		f.Write([]byte("go\n"))
		f.Close()
		answer(p)
		took := time.Since(start)
		p.Kill()
		<-p.Done()
		return took
	}
	// Alternated, so that both see the same load.
	var cold, pre []time.Duration
	for b.Loop() {
		cold = append(cold, run(false))
		pre = append(pre, run(true))
	}
	b.ReportMetric(median(cold), "cold-p50-ms")
	b.ReportMetric(median(pre), "precreated-p50-ms")
	b.ReportMetric(0, "ns/op")
}
