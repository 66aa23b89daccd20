package logs

import (
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

type lineSink struct {
	mu    sync.Mutex
	lines []apogee.LogLine
}

func (s *lineSink) emit(l apogee.LogLine) {
	s.mu.Lock()
	s.lines = append(s.lines, l)
	s.mu.Unlock()
}

func (s *lineSink) texts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range s.lines {
		out = append(out, l.Stream+":"+l.Text)
	}
	return out
}

func TestCaptureSplitsLines(t *testing.T) {
	var sink lineSink
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.FixedZone("x", 3600))
	c := NewCapture("inst1", sink.emit, CaptureOptions{MaxLine: 8, Now: func() time.Time { return now }})
	out, errw := c.Stream("stdout"), c.Stream("stderr")
	for _, w := range []string{"hel", "lo\nwor", "ld\r\n", "0123456789abc\n", "\xff ok\n", "tail"} {
		out.Write([]byte(w))
	}
	errw.Write([]byte("oops\n"))
	// An unfinished line longer than MaxLine is cut without a newline.
	errw.Write([]byte("abcdefghij"))
	out.Close()
	errw.Close()
	c.Systemf("exited with code %d", 1)
	want := []string{
		"stdout:hello", "stdout:world", "stdout:01234567", "stdout:89abc", "stdout:\uFFFD ok",
		"stderr:oops", "stderr:abcdefgh",
		"stdout:tail", "stderr:ij", "system:exited with code 1",
	}
	if got := sink.texts(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("lines\n%q\nwant\n%q", got, want)
	}
	for _, l := range sink.lines {
		if l.Instance != "inst1" || !l.Time.Equal(now) || l.Time.Location() != time.UTC || l.Seq != 0 {
			t.Errorf("line %+v: want instance inst1, time %v in UTC, seq 0", l, now)
		}
	}
}

func TestCaptureRateLimit(t *testing.T) {
	var sink lineSink
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	c := NewCapture("i", sink.emit, CaptureOptions{LinesPerSecond: 10, LineBurst: 10, Now: func() time.Time { return now }})
	w := c.Stream("stdout")
	for range 25 {
		w.Write([]byte("x\n"))
	}
	// 10 pass (the burst), 15 are dropped; the first drop notes itself at
	// once, the rest wait for the next note.
	got := sink.texts()
	if len(got) != 11 || got[10] != "system:… 1 lines (1 B) dropped: the instance logged more than 10 lines or 1 MiB a second" {
		t.Fatalf("after the burst: %d lines, last %q", len(got), got[len(got)-1])
	}
	if c.Dropped() != 15 {
		t.Errorf("dropped %d, want 15", c.Dropped())
	}
	// Half a second later 5 tokens are back: the next line is preceded by
	// the note of the 14 dropped since.
	now = now.Add(500 * time.Millisecond)
	w.Write([]byte("back\n"))
	got = sink.texts()
	if len(got) != 13 || !strings.HasPrefix(got[11], "system:… 14 lines (14 B) dropped") || got[12] != "stdout:back" {
		t.Errorf("after refill: %q", got[10:])
	}
	// System lines are never limited.
	for range 100 {
		c.Systemf("note")
	}
	if n := len(sink.texts()); n != 113 {
		t.Errorf("system lines: %d in all, want 113", n)
	}
}

func TestCaptureFloodKeepsMemoryBounded(t *testing.T) {
	var (
		mu      sync.Mutex
		count   int
		dropped int
	)
	emit := func(l apogee.LogLine) {
		mu.Lock()
		count++
		if l.Stream == apogee.StreamSystem {
			dropped++
		}
		mu.Unlock()
	}
	c := NewCapture("flood", emit, CaptureOptions{})
	w := c.Stream("stdout")
	chunk := []byte(strings.Repeat(strings.Repeat("y", 99)+"\n", 10_000)) // 1 MB, 10,000 lines
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	for range 20 { // 20 MB, 200,000 lines
		w.Write(chunk)
	}
	elapsed := time.Since(start)
	c.Flush()
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	// What passed is within the limits: the burst plus the rate over the
	// time it took.
	allowed := 5000 + int(1000*elapsed.Seconds()) + 1
	if count-dropped > allowed {
		t.Errorf("%d lines passed in %v, the limit allows %d", count-dropped, elapsed, allowed)
	}
	if c.Dropped() < 200_000-int64(allowed) || dropped == 0 {
		t.Errorf("dropped %d lines with %d notes", c.Dropped(), dropped)
	}
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 4<<20 {
		t.Errorf("the heap grew by %s while 20 MB were dropped", apogee.FormatBytes(grew))
	}
}

func TestCaptureDropsWholeWritesWhileOverTheRate(t *testing.T) {
	var sink lineSink
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	c := NewCapture("i", sink.emit, CaptureOptions{LinesPerSecond: 10, LineBurst: 1, Now: func() time.Time { return now }})
	w := c.Stream("stdout")
	w.Write([]byte("one\n"))
	w.Write([]byte("two\n")) // over the rate: dropped, no token for 100 ms
	// A write while no token is back is dropped whole, the line it
	// begins included, even once tokens are back.
	w.Write([]byte("three\nfour\nfi"))
	now = now.Add(time.Second)
	w.Write([]byte("ve\nsix\n"))
	got := sink.texts()
	want := []string{
		"stdout:one",
		"system:… 1 lines (3 B) dropped: the instance logged more than 10 lines or 1 MiB a second",
		"system:… 3 lines (13 B) dropped: the instance logged more than 10 lines or 1 MiB a second",
		"stdout:six",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("lines\n%q\nwant\n%q", got, want)
	}
	if c.Dropped() != 4 {
		t.Errorf("dropped %d, want 4 (two, three, four, five)", c.Dropped())
	}
}

// TestCaptureNotesWhileFlooding: while an app floods, the lines that pass
// between drops get no note each; a note comes about every NoteEvery, and
// the rest before the first line once the flood is over.
func TestCaptureNotesWhileFlooding(t *testing.T) {
	var sink lineSink
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	c := NewCapture("i", sink.emit, CaptureOptions{LinesPerSecond: 1000, LineBurst: 10, Now: func() time.Time { return now }})
	w := c.Stream("stdout")
	for range 3000 { // 3 s of 100 lines a millisecond
		now = now.Add(time.Millisecond)
		w.Write([]byte(strings.Repeat("x\n", 100)))
	}
	now = now.Add(time.Second)
	w.Write([]byte("after\n"))
	notes, passed := 0, 0
	for _, l := range sink.texts() {
		if strings.HasPrefix(l, "system:") {
			notes++
		} else {
			passed++
		}
	}
	if notes < 3 || notes > 5 {
		t.Errorf("%d notes in a 3 s flood, want one a second and the rest", notes)
	}
	if passed < 2900 {
		t.Errorf("%d lines passed; the rate allows about 3,000", passed)
	}
	got := sink.texts()
	if !strings.HasPrefix(got[len(got)-2], "system:… ") || got[len(got)-1] != "stdout:after" {
		t.Errorf("the end: %q", got[len(got)-2:])
	}
	if c.Dropped() != 300_000-int64(passed-1) {
		t.Errorf("dropped %d of %d", c.Dropped(), 300_000)
	}
}
