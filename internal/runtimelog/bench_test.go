package runtimelog

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/logs"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// BenchmarkAppendRuntimeLogs: one flush of a busy app, 1,000 lines of
// 100 bytes, into the runtime log on SQLite (numbered, in one
// transaction). Reports lines/s.
func BenchmarkAppendRuntimeLogs(b *testing.B) {
	st := testbed.Store(b, b.TempDir())
	u := &apogee.User{ID: apogee.NewID(), Email: "a@example.com", Password: "x", CreatedAt: time.Now()}
	p := &apogee.Project{ID: apogee.NewID(), Name: "api", OwnerID: u.ID, CreatedAt: time.Now()}
	if err := st.CreateUser(b.Context(), u); err != nil {
		b.Fatal(err)
	}
	if err := st.CreateProject(b.Context(), p); err != nil {
		b.Fatal(err)
	}
	lines := make([]apogee.LogLine, 1000)
	for i := range lines {
		lines[i] = apogee.LogLine{Time: time.Now(), Stream: "stdout", Instance: "aaaaaaaaaaaa", Text: strings.Repeat("x", 100)}
	}
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := st.AppendRuntimeLogs(b.Context(), p.ID, lines); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(lines))/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkLiveLatency: a line added to the writer until a follower of
// the project's log has it (store, then hub), with the writer storing at
// once (FlushLines 1) so the figure is the work, not the 100 ms flush
// interval, which bounds it in production.
func BenchmarkLiveLatency(b *testing.B) {
	st := testbed.Store(b, b.TempDir())
	u := &apogee.User{ID: apogee.NewID(), Email: "a@example.com", Password: "x", CreatedAt: time.Now()}
	p := &apogee.Project{ID: apogee.NewID(), Name: "api", OwnerID: u.ID, CreatedAt: time.Now()}
	if err := st.CreateUser(b.Context(), u); err != nil {
		b.Fatal(err)
	}
	if err := st.CreateProject(b.Context(), p); err != nil {
		b.Fatal(err)
	}
	hub := logs.NewHub(0)
	w := NewWriter(st, hub, Options{FlushLines: 1, Log: testbed.Quiet})
	defer w.Close(context.Background())
	got := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	go Follow(ctx, st, hub, p.ID, apogee.RuntimeLogQuery{}, func(l []apogee.LogLine) error {
		if len(l) > 0 {
			got <- struct{}{}
		}
		return nil
	})
	// The follower is on once a first line reaches it (replayed or live).
	w.Add("api", apogee.LogLine{Time: time.Now(), Stream: "stdout", Text: "warm up"})
	<-got
	b.ResetTimer()
	for b.Loop() {
		w.Add("api", apogee.LogLine{Time: time.Now(), Stream: "stdout", Text: "GET / 200"})
		<-got
	}
}
