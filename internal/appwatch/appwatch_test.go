package appwatch

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/apps"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/testbed"
)

type lineSink struct {
	mu    sync.Mutex
	lines map[string][]apogee.LogLine
}

func (s *lineSink) Add(project string, l apogee.LogLine) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lines == nil {
		s.lines = map[string][]apogee.LogLine{}
	}
	s.lines[project] = append(s.lines[project], l)
}

// recv returns the next event of type typ, or fails t.
func recv(t *testing.T, ch <-chan apogee.Event, typ string) apogee.Event {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case e := <-ch:
			if e.Type == typ {
				return e
			}
		case <-deadline:
			t.Fatalf("no %s event within 30 s", typ)
		}
	}
}

func crashed(project, id, reason string) apps.Status {
	return apps.Status{ID: id, Project: project, Release: "rel" + project, State: apps.StateCrashed, Reason: reason}
}

// TestCrashesThrottled: the first crash of a project is told at once, the
// next within NotifyEvery are counted and told when the window ends with
// the latest reason; projects are apart; other states tell nothing.
func TestCrashesThrottled(t *testing.T) {
	bus := events.NewLocal(testbed.Quiet)
	ch, err := bus.Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	w := New(&lineSink{}, Options{Bus: bus, NotifyEvery: 10 * time.Minute, Now: clock, Log: testbed.Quiet})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	defer func() { cancel(); <-done }()

	w.InstanceChanged(apps.Status{ID: "aaaaaaaaaaaa", Project: "api", State: apps.StateReady})
	w.InstanceChanged(crashed("api", "aaaaaaaaaaaa", "exited with code 1"))
	e := recv(t, ch, apogee.EventAppCrashed)
	if e.Project != "api" || e.DeploymentID != "relapi" || e.Instance != "aaaaaaaaaaaa" || e.Reason != "exited with code 1" || e.Count != 1 {
		t.Errorf("first crash: %+v", e)
	}
	for i := range 5 {
		w.InstanceChanged(crashed("api", "aaaaaaaaaaaa", "exited with code 1"))
		if i == 4 {
			w.InstanceChanged(crashed("api", "bbbbbbbbbbbb", "killed: out of memory (limit 512 MiB)"))
		}
	}
	w.InstanceChanged(crashed("web", "cccccccccccc", "killed by signal 9 (SIGKILL)"))
	if e := recv(t, ch, apogee.EventAppCrashed); e.Project != "web" || e.Count != 1 {
		t.Errorf("another project's crash: %+v", e)
	}
	w.Flush() // within the window: nothing
	mu.Lock()
	now = now.Add(10 * time.Minute)
	mu.Unlock()
	w.Flush()
	e = recv(t, ch, apogee.EventAppCrashed)
	if e.Project != "api" || e.Count != 6 || e.Instance != "bbbbbbbbbbbb" || e.Reason != "killed: out of memory (limit 512 MiB)" {
		t.Errorf("held crashes: %+v", e)
	}
	select {
	case e := <-ch:
		t.Errorf("an event more: %+v", e)
	default:
	}
	// A window later with no crash, the project is forgotten: its next
	// crash is told at once.
	mu.Lock()
	now = now.Add(10 * time.Minute)
	mu.Unlock()
	w.Flush()
	w.mu.Lock()
	n := len(w.crashes)
	w.mu.Unlock()
	if n != 0 {
		t.Errorf("%d projects remembered after a quiet window", n)
	}
	w.InstanceChanged(crashed("api", "aaaaaaaaaaaa", "exited with code 2"))
	if e := recv(t, ch, apogee.EventAppCrashed); e.Count != 1 || e.Reason != "exited with code 2" {
		t.Errorf("a crash after a quiet window: %+v", e)
	}
}

func TestOutputGoesToTheLog(t *testing.T) {
	var s lineSink
	w := New(&s, Options{})
	w.InstanceOutput(apps.Line{Project: "api", Release: "r", LogLine: apogee.LogLine{Text: "hello", Instance: "aaaaaaaaaaaa"}})
	w.InstanceChanged(crashed("api", "aaaaaaaaaaaa", "x")) // no bus: nothing, and no panic
	if got := s.lines["api"]; len(got) != 1 || got[0].Text != "hello" {
		t.Errorf("lines %+v", s.lines)
	}
}
