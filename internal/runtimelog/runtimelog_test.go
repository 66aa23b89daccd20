package runtimelog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/logs"
	"github.com/apogee-dev/apogee/internal/sqlstore"
	"github.com/apogee-dev/apogee/internal/testbed"
)

func fixture(t *testing.T) (*sqlstore.Store, *apogee.Project) {
	t.Helper()
	st := testbed.Store(t, t.TempDir())
	return st, makeProject(t, st, "api")
}

func makeProject(t *testing.T, st *sqlstore.Store, name string) *apogee.Project {
	t.Helper()
	u := &apogee.User{ID: apogee.NewID(), Email: apogee.NewID() + "@example.com", Password: "x", CreatedAt: time.Now()}
	if err := st.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	p := &apogee.Project{ID: apogee.NewID(), Name: name, OwnerID: u.ID, CreatedAt: time.Now()}
	if err := st.CreateProject(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

func closeWriter(t *testing.T, w *Writer) {
	t.Cleanup(func() {
		if err := w.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
}

func line(instance, stream, text string) apogee.LogLine {
	return apogee.LogLine{Time: time.Now(), Stream: stream, Instance: instance, Text: text}
}

// collector gathers what Follow hands over and says when a condition
// holds.
type collector struct {
	mu      sync.Mutex
	lines   []apogee.LogLine
	changed chan struct{}
}

func newCollector() *collector { return &collector{changed: make(chan struct{}, 1)} }

func (c *collector) add(lines []apogee.LogLine) error {
	c.mu.Lock()
	c.lines = append(c.lines, lines...)
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
	return nil
}

func (c *collector) texts() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, l := range c.lines {
		out = append(out, l.Text)
	}
	return out
}

// waitFor waits until the collected texts satisfy ok, or fails t.
func (c *collector) waitFor(t *testing.T, what string, ok func([]string) bool) []string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		got := c.texts()
		if ok(got) {
			return got
		}
		select {
		case <-c.changed:
		case <-deadline:
			t.Fatalf("%s: not within 10s; got %q", what, got)
		}
	}
}

func hasN(n int) func([]string) bool { return func(s []string) bool { return len(s) >= n } }

// TestWriterStoresAndFollows: lines are numbered by the store, in order,
// and a follower gets the stored ones and then the live ones, filtered,
// each once.
func TestWriterStoresAndFollows(t *testing.T) {
	st, p := fixture(t)
	hub := logs.NewHub(0)
	var sizes []apogee.RuntimeLogStats
	var mu sync.Mutex
	w := NewWriter(st, hub, Options{Log: testbed.Quiet, Stored: func(s apogee.RuntimeLogStats) {
		mu.Lock()
		sizes = append(sizes, s)
		mu.Unlock()
	}})
	closeWriter(t, w)

	for i := range 5 {
		w.Add("api", line("aaaaaaaaaaaa", apogee.StreamStdout, fmt.Sprintf("before %d", i)))
	}
	w.Add("nosuch", line("aaaaaaaaaaaa", apogee.StreamStdout, "a project that does not exist"))
	waitStored(t, st, p.ID, 5)

	all := newCollector()
	onlyB := newCollector()
	tail := newCollector()
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for _, f := range []struct {
		q apogee.RuntimeLogQuery
		c *collector
	}{
		{apogee.RuntimeLogQuery{}, all},
		{apogee.RuntimeLogQuery{Instance: "bbbbbbbbbbbb", Search: "LIVE"}, onlyB},
		{apogee.RuntimeLogQuery{Tail: true, Limit: 2}, tail},
	} {
		wg.Go(func() { errs <- Follow(ctx, st, hub, p.ID, f.q, f.c.add) })
	}
	all.waitFor(t, "the stored lines", hasN(5))
	tail.waitFor(t, "the tail", hasN(2))
	for i := range 5 {
		w.Add("api", line("bbbbbbbbbbbb", apogee.StreamStderr, fmt.Sprintf("live %d", i)))
		w.Add("api", line("aaaaaaaaaaaa", apogee.StreamStdout, fmt.Sprintf("live a %d", i)))
	}
	got := all.waitFor(t, "every line", hasN(15))
	want := []string{"before 0", "before 1", "before 2", "before 3", "before 4",
		"live 0", "live a 0", "live 1", "live a 1", "live 2", "live a 2", "live 3", "live a 3", "live 4", "live a 4"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("follower got\n %q\nwant\n %q", got, want)
	}
	got = onlyB.waitFor(t, "instance b's lines", hasN(5))
	if strings.Join(got, "|") != "live 0|live 1|live 2|live 3|live 4" {
		t.Errorf("filtered follower got %q", got)
	}
	got = tail.waitFor(t, "the tail and the live lines", hasN(12))
	if got[0] != "before 3" || got[2] != "live 0" {
		t.Errorf("tail follower got %q", got)
	}
	cancel()
	wg.Wait()
	for range 3 {
		if err := <-errs; !errors.Is(err, context.Canceled) {
			t.Errorf("Follow ended with %v, want context.Canceled", err)
		}
	}
	all.mu.Lock()
	for i, l := range all.lines {
		if l.Seq != int64(i+1) {
			t.Errorf("line %d has seq %d", i, l.Seq)
		}
	}
	all.mu.Unlock()
	mu.Lock()
	if len(sizes) == 0 || sizes[len(sizes)-1].LastSeq != 15 {
		t.Errorf("Stored heard %+v", sizes)
	}
	mu.Unlock()
}

func waitStored(t *testing.T, st *sqlstore.Store, projectID string, n int64) apogee.RuntimeLogStats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := st.RuntimeLogStats(t.Context(), projectID)
		if err != nil {
			t.Fatal(err)
		}
		if s.LastSeq >= n {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d lines stored within 10s, want %d", s.LastSeq, n)
		}
		time.Sleep(10 * time.Millisecond) // polling the store: a condition, not a timing
	}
}

// TestFollowUntil: a follow whose time range has ended sends the stored
// lines of the range and returns.
func TestFollowUntil(t *testing.T) {
	st, p := fixture(t)
	t0 := time.Now().Add(-time.Hour)
	var in []apogee.LogLine
	for i := range 10 {
		in = append(in, apogee.LogLine{Time: t0.Add(time.Duration(i) * time.Minute), Stream: "stdout", Text: fmt.Sprint(i)})
	}
	if _, _, err := st.AppendRuntimeLogs(t.Context(), p.ID, in); err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	err := Follow(t.Context(), st, logs.NewHub(0), p.ID, apogee.RuntimeLogQuery{Since: t0.Add(2 * time.Minute), Until: t0.Add(5 * time.Minute)}, c.add)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.texts(), ","); got != "2,3,4" {
		t.Errorf("got %q", got)
	}
}

// blockingStore holds appends until released, as a database that fell
// behind does.
type blockingStore struct {
	*sqlstore.Store
	release chan struct{}
	entered chan struct{}
	once    sync.Once
}

func (b *blockingStore) AppendRuntimeLogs(ctx context.Context, id string, lines []apogee.LogLine) ([]apogee.LogLine, apogee.RuntimeLogStats, error) {
	b.once.Do(func() { close(b.entered) })
	select {
	case <-b.release:
	case <-ctx.Done():
		return nil, apogee.RuntimeLogStats{}, ctx.Err()
	}
	return b.Store.AppendRuntimeLogs(ctx, id, lines)
}

// TestWriterBoundsMemory: while the store is stuck, what waits stays
// within the bounds, the rest is dropped and counted, and the log says
// so once the store is back.
func TestWriterBoundsMemory(t *testing.T) {
	st, p := fixture(t)
	bs := &blockingStore{Store: st, release: make(chan struct{}), entered: make(chan struct{})}
	const bound = 1 << 20
	w := NewWriter(bs, logs.NewHub(0), Options{MaxPending: bound, MaxPendingProject: bound, Log: testbed.Quiet})
	closeWriter(t, w)
	w.Add("api", line("aaaaaaaaaaaa", "stdout", "first"))
	<-bs.entered // the flusher is stuck in the store with "first"
	text := strings.Repeat("x", 1000)
	const n = 20_000 // 20 MB of output
	for range n {
		w.Add("api", line("aaaaaaaaaaaa", "stdout", text))
		if p := w.Pending(); p > bound {
			t.Fatalf("%d bytes wait for the store; the bound is %d", p, bound)
		}
	}
	close(bs.release)
	s := waitStored(t, st, p.ID, 2)
	deadline := time.Now().Add(10 * time.Second)
	var note []apogee.LogLine
	for len(note) == 0 && time.Now().Before(deadline) {
		var err error
		note, err = st.RuntimeLogs(t.Context(), p.ID, apogee.RuntimeLogQuery{Search: "dropped: the log store fell behind"})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // polling the store: a condition, not a timing
	}
	if len(note) != 1 {
		t.Fatalf("no note of dropped lines; %d lines stored", s.LastSeq)
	}
	all, _ := st.RuntimeLogStats(t.Context(), p.ID)
	kept := all.Lines - 2 // "first" and the note
	var dropped int64
	fmt.Sscanf(note[0].Text, "… %d lines", &dropped)
	if kept+dropped != n {
		t.Errorf("kept %d and dropped %d lines of %d", kept, dropped, n)
	}
	if kept == 0 || kept > bound/1000 {
		t.Errorf("kept %d lines of 1000 bytes within a bound of %d", kept, bound)
	}
	if w.Pending() != 0 {
		t.Errorf("%d bytes still wait", w.Pending())
	}
}

// TestWriterDeletedProject: lines of a project deleted meanwhile go
// nowhere, and a project made again under its name gets the next ones.
func TestWriterDeletedProject(t *testing.T) {
	st, p := fixture(t)
	w := NewWriter(st, logs.NewHub(0), Options{Log: testbed.Quiet})
	closeWriter(t, w)
	w.Add("api", line("aaaaaaaaaaaa", "stdout", "one"))
	waitStored(t, st, p.ID, 1)
	if err := st.DeleteProject(t.Context(), p.ID); err != nil {
		t.Fatal(err)
	}
	again := makeProject(t, st, "api")
	w.Add("api", line("aaaaaaaaaaaa", "stdout", "two"))
	waitStored(t, st, again.ID, 1)
	got, err := st.RuntimeLogs(t.Context(), again.ID, apogee.RuntimeLogQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Text != "two" {
		t.Errorf("the new project's log is %+v", got)
	}
}
