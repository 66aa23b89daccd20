// Package appwatch is what hears a runtime's app instances (it is their
// apps.Observer): every line they write goes to the project's runtime log
// (runtimelog.Writer), and a crash goes out on the event bus as
// app.crashed, which the notifier tells the project's people (live in the
// dashboard, and by outgoing webhook) with the reason: the exit code, the
// signal, out of memory (the cgroup's OOM kill), a failed health check.
// The crash's reason is in the runtime log too: the runtime writes it
// there ("crashed: …; restarting in …").
//
// A crash-looping app must not flood its people: a project gets at most
// one app.crashed per NotifyEvery, which counts the crashes since the
// last; crashes left uncounted when the window ends go out then.
//
// It sits apart from package runtimelog so that the platform, which reads
// runtime logs, never depends on package apps.
package appwatch

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/apps"
)

// Lines is where instance output goes: a runtimelog.Writer.
type Lines interface {
	Add(project string, l apogee.LogLine)
}

// Options tune a Watcher. Zero values take the defaults.
type Options struct {
	// Bus gets app.crashed events (nil: crashes are not told).
	Bus apogee.EventBus
	// NotifyEvery is the least time between two app.crashed events of a
	// project (default 10 minutes).
	NotifyEvery time.Duration
	Log         *slog.Logger
	Now         func() time.Time
}

// Watcher is the apps.Observer of a runtime. Run sends its events.
type Watcher struct {
	lines  Lines
	opts   Options
	events chan apogee.Event

	mu      sync.Mutex
	crashes map[string]*crashes // by project name
}

// crashes are a project's crashes since its last app.crashed.
type crashes struct {
	last  time.Time    // when the last event went out
	count int          // crashes since, not told yet
	held  apogee.Event // the latest of them
}

var _ apps.Observer = (*Watcher)(nil)

// eventQueue is how many events may wait for Run; more are dropped and
// logged (a bus that stalls must not stall the runtime).
const eventQueue = 64

// New returns a watcher that writes instance output to lines.
func New(lines Lines, opts Options) *Watcher {
	if opts.NotifyEvery <= 0 {
		opts.NotifyEvery = 10 * time.Minute
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Watcher{lines: lines, opts: opts, events: make(chan apogee.Event, eventQueue), crashes: make(map[string]*crashes)}
}

// InstanceOutput queues the line in its project's runtime log.
func (w *Watcher) InstanceOutput(l apps.Line) { w.lines.Add(l.Project, l.LogLine) }

// InstanceChanged hears an instance's new state: a crash becomes an
// app.crashed event, or is counted for the next.
func (w *Watcher) InstanceChanged(st apps.Status) {
	if st.State != apps.StateCrashed || w.opts.Bus == nil {
		return
	}
	now := w.opts.Now()
	e := apogee.Event{Type: apogee.EventAppCrashed, Project: st.Project, DeploymentID: st.Release, Instance: st.ID, Reason: st.Reason}
	w.mu.Lock()
	c := w.crashes[st.Project]
	if c == nil {
		c = &crashes{}
		w.crashes[st.Project] = c
	}
	c.count++
	c.held = e
	due := c.last.IsZero() || now.Sub(c.last) >= w.opts.NotifyEvery
	if due {
		e.Count = c.count
		c.last, c.count = now, 0
	}
	w.mu.Unlock()
	if due {
		w.send(e)
	}
}

func (w *Watcher) send(e apogee.Event) {
	select {
	case w.events <- e:
	default:
		w.opts.Log.Warn("app event dropped: the event bus is behind", "type", e.Type, "project", e.Project, "instance", e.Instance)
	}
}

// Run publishes the watcher's events until ctx ends, and every minute the
// crashes held back whose project's window has ended.
func (w *Watcher) Run(ctx context.Context) {
	if w.opts.Bus == nil {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-w.events:
			if err := w.opts.Bus.Publish(ctx, e); err != nil && ctx.Err() == nil {
				w.opts.Log.Error("publish app event", "type", e.Type, "project", e.Project, "err", err)
			}
		case <-t.C:
			w.Flush()
		}
	}
}

// Flush sends the crashes held back whose project's window has ended.
func (w *Watcher) Flush() {
	now := w.opts.Now()
	var due []apogee.Event
	w.mu.Lock()
	for project, c := range w.crashes {
		if now.Sub(c.last) < w.opts.NotifyEvery {
			continue
		}
		if c.count == 0 {
			delete(w.crashes, project) // quiet for a window: forget it
			continue
		}
		e := c.held
		e.Count = c.count
		c.last, c.count = now, 0
		due = append(due, e)
	}
	w.mu.Unlock()
	for _, e := range due {
		w.send(e)
	}
}
