package runtimelog

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/logs"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// TestPrunerKeepsRetention: Run prunes by age at once, and a log that an
// app fills past its size bound is pruned within moments of the append
// that crossed it, not at the next round.
func TestPrunerKeepsRetention(t *testing.T) {
	st, p := fixture(t)
	other := makeProject(t, st, "other")
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var old []apogee.LogLine
	for i := range 10 { // one line an hour for the last 10 hours
		old = append(old, apogee.LogLine{Time: now.Add(-time.Duration(10-i) * time.Hour), Stream: "stdout", Text: fmt.Sprint(i)})
	}
	for _, id := range []string{p.ID, other.ID} {
		if _, _, err := st.AppendRuntimeLogs(t.Context(), id, old); err != nil {
			t.Fatal(err)
		}
	}
	const maxBytes = 10_000
	var mu sync.Mutex
	asked := map[string]int{}
	retention := func(_ context.Context, owner string) (Retention, error) {
		mu.Lock()
		asked[owner]++
		mu.Unlock()
		if owner == p.OwnerID {
			return Retention{MaxAge: 3*time.Hour + time.Minute, MaxBytes: maxBytes}, nil
		}
		return Retention{MaxAge: -1, MaxBytes: -1}, nil // unlimited
	}
	pr := NewPruner(st, PrunerOptions{Every: time.Hour, Retention: retention, Now: func() time.Time { return now }, Log: testbed.Quiet})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); pr.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// The round at start: p keeps its last 3 hours, other everything.
	waitLines(t, st, p.ID, func(n int64) bool { return n == 3 })
	if s, _ := st.RuntimeLogStats(t.Context(), other.ID); s.Lines != 10 {
		t.Errorf("the unlimited project has %d lines of 10", s.Lines)
	}

	// An app writes 50 KB: pruned to 10 KB by the writer's cue.
	w := NewWriter(st, logs.NewHub(0), Options{Stored: pr.Stored, Log: testbed.Quiet, Now: func() time.Time { return now }})
	closeWriter(t, w)
	text := strings.Repeat("y", 99) // 100 bytes with its newline
	for range 500 {
		w.Add("api", apogee.LogLine{Time: now, Stream: "stdout", Text: text})
	}
	s := waitLines(t, st, p.ID, func(int64) bool {
		s, _ := st.RuntimeLogStats(t.Context(), p.ID)
		return s.LastSeq == 510 && s.Bytes <= maxBytes
	})
	if s.Bytes < maxBytes-100 {
		t.Errorf("pruned to %d bytes; the bound is %d", s.Bytes, maxBytes)
	}
	first, _ := st.RuntimeLogs(t.Context(), p.ID, apogee.RuntimeLogQuery{Limit: 1})
	if len(first) != 1 || first[0].Seq != 411 {
		t.Errorf("the oldest line left is %+v, want seq 411", first)
	}
}

func waitLines(t *testing.T, st interface {
	RuntimeLogStats(context.Context, string) (apogee.RuntimeLogStats, error)
}, id string, ok func(int64) bool) apogee.RuntimeLogStats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := st.RuntimeLogStats(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if ok(s.Lines) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("log of %s: %+v, not as wanted within 10s", id, s)
		}
		time.Sleep(10 * time.Millisecond) // polling the store: a condition, not a timing
	}
}
