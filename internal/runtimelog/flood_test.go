package runtimelog_test

import (
	"context"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/apps"
	"github.com/apogee-dev/apogee/internal/apps/runtimetest"
	"github.com/apogee-dev/apogee/internal/appwatch"
	"github.com/apogee-dev/apogee/internal/logs"
	"github.com/apogee-dev/apogee/internal/runtimelog"
	"github.com/apogee-dev/apogee/internal/supervisor"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// TestFloodingAppKeepsServerMemoryBounded runs a real Node app that writes
// stdout as fast as it can through the supervisor into the runtime log on
// SQLite, with a follower attached, until it has written tens of
// megabytes: the log keeps what the instance's rate allows, says how much
// was dropped, and the server's heap stays within a few MiB of where it
// began.
func TestFloodingAppKeepsServerMemoryBounded(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("this test needs Node.js: apt-get install nodejs")
	}
	ctx := t.Context()
	st := testbed.Store(t, t.TempDir())
	u := &apogee.User{ID: apogee.NewID(), Email: "a@example.com", Password: "x", CreatedAt: time.Now()}
	p := &apogee.Project{ID: apogee.NewID(), Name: "web", OwnerID: u.ID, CreatedAt: time.Now()}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	hub := logs.NewHub(0)
	w := runtimelog.NewWriter(st, hub, runtimelog.Options{Log: testbed.Quiet})
	sup, err := supervisor.New(ctx, supervisor.Options{Launcher: supervisor.Host{}, DataDir: t.TempDir(),
		Observer: appwatch.New(w, appwatch.Options{}), Log: testbed.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	// A follower of the whole log, as an open dashboard is.
	fctx, stopFollow := context.WithCancel(ctx)
	var followed atomic.Int64
	followDone := make(chan struct{})
	go func() {
		defer close(followDone)
		runtimelog.Follow(fctx, st, hub, p.ID, apogee.RuntimeLogQuery{}, func(l []apogee.LogLine) error { followed.Add(int64(len(l))); return nil })
	}()

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseline := ms.HeapAlloc

	dir := runtimetest.AppDir(t)
	in, err := sup.Start(ctx, apps.Spec{Project: "web", Release: "r1", Dir: dir, Command: "exec node app.js", Env: []string{"MODE=flood"}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	// Until the app has written 50 MB (about 560,000 lines), by the
	// drop notes; a minute is a guard, not a timing.
	const wantDropped = 560_000
	var dropped, peak uint64
	var notes int
	for seen := int64(0); dropped < wantDropped; {
		if time.Since(start) > time.Minute {
			t.Fatalf("the app wrote only %d lines that were dropped within a minute", dropped)
		}
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
		lines, err := st.RuntimeLogs(ctx, p.ID, apogee.RuntimeLogQuery{AfterSeq: seen, Search: "dropped: the instance logged more than"})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			num, _, _ := strings.Cut(strings.TrimPrefix(l.Text, "… "), " ")
			n, err := strconv.ParseUint(strings.ReplaceAll(num, ",", ""), 10, 64)
			if err != nil {
				t.Fatalf("a drop note without a count: %q", l.Text)
			}
			dropped += n
			notes++
			seen = l.Seq
		}
		time.Sleep(50 * time.Millisecond) // sampling the heap while it floods
	}
	elapsed := time.Since(start)
	if err := in.Stop(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	sup.Close(ctx)
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	stats, err := st.RuntimeLogStats(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The follower catches up with every line stored (a guard, not a
	// timing).
	for deadline := time.Now().Add(10 * time.Second); followed.Load() < stats.Lines && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	stopFollow()
	<-followDone
	n := followed.Load()
	growth := int64(peak) - int64(baseline)
	t.Logf("flood of %s: %d lines dropped (%d notes), %d stored (%s), %d followed; heap peak %s over the baseline",
		elapsed.Round(time.Millisecond), dropped, notes, stats.Lines, apogee.FormatBytes(stats.Bytes), n, apogee.FormatBytes(max(growth, 0)))
	// The instance's rate: bursts of 5,000 lines, then 1,000 a second.
	if limit := int64(5000 + 1000*elapsed.Seconds() + 1000); stats.Lines > limit {
		t.Errorf("%d lines stored in %s; the rate allows about %d", stats.Lines, elapsed, limit)
	}
	if n != stats.Lines {
		t.Errorf("the follower got %d of %d lines", n, stats.Lines)
	}
	if growth > 32<<20 {
		t.Errorf("the heap grew by %s while the app wrote 50 MB", apogee.FormatBytes(growth))
	}
}
