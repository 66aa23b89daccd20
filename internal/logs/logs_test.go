package logs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/testbed"
)

var quiet = testbed.Quiet

// newLog opens a real SQLite store with a deployment to log for.
func newLog(tb testing.TB) (apogee.Store, string) {
	tb.Helper()
	ctx := context.Background()
	st := testbed.Store(tb, tb.TempDir())
	u := &apogee.User{ID: apogee.NewID(), Email: "a@example.com", Password: "x", CreatedAt: time.Now()}
	p := &apogee.Project{ID: apogee.NewID(), Name: "web", OwnerID: u.ID, CreatedAt: time.Now()}
	d := &apogee.Deployment{ID: apogee.NewID(), ProjectID: p.ID, Target: apogee.TargetPreview, CreatedAt: time.Now()}
	if err := st.CreateUser(ctx, u); err != nil {
		tb.Fatal(err)
	}
	if err := st.CreateProject(ctx, p); err != nil {
		tb.Fatal(err)
	}
	if err := st.CreateDeployment(ctx, d, []apogee.File{{Path: "a", SHA256: strings.Repeat("0", 64)}}); err != nil {
		tb.Fatal(err)
	}
	return st, d.ID
}

func texts(lines []apogee.LogLine) []string {
	var out []string
	for _, l := range lines {
		out = append(out, l.Stream+":"+l.Text)
	}
	return out
}

func TestWriterLines(t *testing.T) {
	st, id := newLog(t)
	hub := NewHub(0)
	w := NewWriter(id, st, hub, Options{
		Secrets: []string{"hunter2-token", "line one\nline two", "ab"},
		MaxLine: 32,
		Log:     quiet,
	})
	out, errw := w.Stream(apogee.StreamStdout), w.Stream(apogee.StreamStderr)
	w.Systemf("step %d: %s", 1, "install")
	io.WriteString(out, "hello ")
	io.WriteString(out, "world\r\nsecond line\n")
	io.WriteString(errw, "token=hunter2-token ab\n")
	io.WriteString(out, "line one\n")
	io.WriteString(out, strings.Repeat("x", 40)+"\n")
	io.WriteString(out, "bad utf8 \xff\n")
	// A progress meter that redraws its line: only the last state stays,
	// and the buffer does not grow with the redraws.
	io.WriteString(out, "Receiving:   4% (1/25)\rReceiving: ")
	io.WriteString(out, strings.Repeat(" 52% (13/25)\rReceiving: ", 10))
	io.WriteString(out, "100%, done.\r")
	io.WriteString(out, "\n")
	io.WriteString(out, "no newline at the end")
	out.Close()
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := st.Logs(context.Background(), id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"system:step 1: install",
		"stdout:hello world",
		"stdout:second line",
		"stderr:token=" + Mask + " ab",
		"stdout:" + Mask,
		"stdout:" + strings.Repeat("x", 32),
		"stdout:" + strings.Repeat("x", 8),
		"stdout:bad utf8 \uFFFD",
		"stdout:Receiving: 100%, done.",
		"stdout:no newline at the end",
	}
	if !slices.Equal(texts(got), want) {
		t.Fatalf("lines:\n%s\nwant:\n%s", strings.Join(texts(got), "\n"), strings.Join(want, "\n"))
	}
	for i, l := range got {
		if l.Seq != int64(i+1) || l.Time.IsZero() {
			t.Fatalf("line %d has seq %d time %v", i, l.Seq, l.Time)
		}
	}
	w.Systemf("after close") // dropped, not panicking
}

// failingStore fails its first n appends, to check lines are kept.
type failingStore struct {
	apogee.LogStore
	fails atomic.Int32
}

func (f *failingStore) AppendLogs(ctx context.Context, id string, lines []apogee.LogLine) error {
	if f.fails.Add(-1) >= 0 {
		return errors.New("disk on fire")
	}
	return f.LogStore.AppendLogs(ctx, id, lines)
}

func TestWriterKeepsLinesWhenStoreFails(t *testing.T) {
	st, id := newLog(t)
	fs := &failingStore{LogStore: st}
	fs.fails.Store(3)
	w := NewWriter(id, fs, NewHub(0), Options{FlushInterval: 5 * time.Millisecond, Log: quiet})
	for i := 0; i < 50; i++ {
		w.Systemf("line %d", i)
		time.Sleep(time.Millisecond)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ := st.Logs(context.Background(), id, 0, 0)
	if len(got) != 50 {
		t.Fatalf("%d lines stored after store faults, want 50", len(got))
	}
}

func TestFollowReplaysThenFollows(t *testing.T) {
	st, id := newLog(t)
	hub := NewHub(0)
	w := NewWriter(id, st, hub, Options{FlushInterval: 20 * time.Millisecond, Log: quiet})
	for i := 1; i <= 30; i++ {
		w.Systemf("before %d", i)
	}
	time.Sleep(50 * time.Millisecond) // some stored, some not: both paths

	ctx := context.Background()
	var mu sync.Mutex
	var seen []apogee.LogLine
	done := make(chan error, 1)
	building := atomic.Bool{}
	building.Store(true)
	go func() {
		done <- Follow(ctx, st, hub, id, 10, func(context.Context) (bool, error) { return building.Load(), nil },
			func(lines []apogee.LogLine) error {
				mu.Lock()
				seen = append(seen, lines...)
				mu.Unlock()
				return nil
			})
	}()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ { // concurrent writers, like stdout and stderr
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := w.Stream(apogee.StreamStdout)
			for i := 0; i < 100; i++ {
				fmt.Fprintf(s, "live %d\n", i)
			}
		}()
	}
	wg.Wait()
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	building.Store(false)
	hub.End(id)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Follow did not return after the log ended")
	}
	if len(seen) != 430-10 {
		t.Fatalf("follower saw %d lines, want %d", len(seen), 420)
	}
	for i, l := range seen {
		if l.Seq != int64(11+i) {
			t.Fatalf("line %d has seq %d: a gap or a duplicate", i, l.Seq)
		}
	}
}

func TestFollowFinishedLog(t *testing.T) {
	st, id := newLog(t)
	hub := NewHub(0)
	w := NewWriter(id, st, hub, Options{Log: quiet})
	w.Systemf("one")
	w.Systemf("two")
	w.Close(context.Background())
	hub.End(id)
	var n int
	err := Follow(context.Background(), st, hub, id, 0, func(context.Context) (bool, error) { return false, nil },
		func(l []apogee.LogLine) error { n += len(l); return nil })
	if err != nil || n != 2 {
		t.Fatalf("Follow of a finished log: %d lines, %v", n, err)
	}
	if hub.Active(id) {
		t.Fatal("a finished log is active")
	}
}

func TestFollowLaggingFollowerCatchesUp(t *testing.T) {
	st, id := newLog(t)
	hub := NewHub(100)
	w := NewWriter(id, st, hub, Options{FlushInterval: time.Millisecond, Log: quiet})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var count atomic.Int64
	// over is the record that says the log has ended (a deployment's final
	// status), written before hub.End as the builder does: a follower cut
	// loose that subscribes again after End learns from it that the log is
	// over.
	var over atomic.Bool
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Follow(ctx, st, hub, id, 0, func(context.Context) (bool, error) { return !over.Load(), nil },
			func(lines []apogee.LogLine) error {
				if count.Add(int64(len(lines))) == 1 {
					<-release // stall so the hub cuts this follower loose
				}
				return nil
			})
	}()
	w.Systemf("first")
	for !hub.Active(id) || count.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	for i := 0; i < subscriberBuffer+500; i++ {
		w.Systemf("flood %d", i)
	}
	close(release)
	w.Close(ctx)
	over.Store(true)
	hub.End(id)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, want := count.Load(), int64(subscriberBuffer+501); got != want {
		t.Fatalf("lagging follower saw %d lines, want %d", got, want)
	}
}

func TestFollowCanceled(t *testing.T) {
	st, id := newLog(t)
	hub := NewHub(0)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	err := Follow(ctx, st, hub, id, 0, func(context.Context) (bool, error) { return true, nil },
		func([]apogee.LogLine) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Follow after cancel = %v", err)
	}
}

// BenchmarkLiveLatency measures how long a line takes from the writer to
// a follower; the target for SSE followers is 50 ms at p99.
func BenchmarkLiveLatency(b *testing.B) {
	st, id := newLog(b)
	hub := NewHub(0)
	w := NewWriter(id, st, hub, Options{Log: quiet})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan time.Time, 1)
	go Follow(ctx, st, hub, id, 0, func(context.Context) (bool, error) { return true, nil },
		func(lines []apogee.LogLine) error {
			got <- time.Now()
			return nil
		})
	for !hub.Active(id) {
		w.Systemf("warm up")
		<-got
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		w.Systemf("line %d", i)
		lat = append(lat, (<-got).Sub(start))
	}
	b.StopTimer()
	w.Close(ctx)
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
