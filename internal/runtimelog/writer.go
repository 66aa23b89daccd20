// Package runtimelog keeps the runtime logs of apps: the lines their
// instances write and what the platform says about them, one log per
// project (see apogee.RuntimeLogStore).
//
//   - A Writer takes each line as the runtime hands it over (through
//     package appwatch, the runtime's apps.Observer), stores the lines in
//     batches that the store numbers, and then hands each stored batch to
//     the log hub, which fans it out to followers here and, with
//     --events nats://, on every other server. Lines reach followers
//     within a flush interval (100 ms) of being written.
//   - Follow replays what is stored and then follows the hub, with the
//     query's filters, without a gap or a duplicate.
//   - A Pruner keeps each log within its owner's plan: lines older than
//     RuntimeLogDays go, then the oldest until the log is within
//     RuntimeLogBytes.
//
// Memory is bounded whatever the apps write: the runtime rate-limits each
// instance (logs.Capture), and lines waiting for the store are bounded
// per project and in all; past that they are counted and dropped, and the
// log says how many.
package runtimelog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/logs"
)

// Store is what a Writer needs of the store.
type Store interface {
	ProjectByName(ctx context.Context, name string) (*apogee.Project, error)
	AppendRuntimeLogs(ctx context.Context, projectID string, lines []apogee.LogLine) ([]apogee.LogLine, apogee.RuntimeLogStats, error)
}

// Options tune a Writer. Zero values take the defaults.
type Options struct {
	// FlushInterval is how often waiting lines are stored (default
	// 100 ms); a project with FlushLines waiting is stored at once.
	FlushInterval time.Duration
	FlushLines    int // default 1,000
	// MaxPending bounds the memory of lines waiting for the store, in
	// all (default 16 MiB) and per project (MaxPendingProject, default
	// 4 MiB). A line counts its text and lineOverhead.
	MaxPending        int64
	MaxPendingProject int64
	// Stored hears the size of a project's log after each append (the
	// pruner's cue, see Pruner.Stored). It must not block.
	Stored func(apogee.RuntimeLogStats)
	Log    *slog.Logger
	Now    func() time.Time
}

// lineOverhead is what a waiting line costs beyond its text: the
// LogLine, its strings' headers, the slice's share.
const lineOverhead = 128

// relayChunk bounds the text of one batch handed to the hub, and so one
// message of the relay to other servers (NATS refuses messages over
// 1 MiB by default).
const relayChunk = 256 << 10

// Writer stores runtime log lines and hands them to the hub. Add is safe
// for concurrent use and never blocks on the store.
type Writer struct {
	store Store
	hub   *logs.Hub
	opts  Options

	mu           sync.Mutex
	pending      map[string]*batch // by project name
	pendingBytes int64
	closed       bool

	kick chan struct{}
	stop chan struct{}
	done chan struct{}

	ids map[string]string // project name → id; the flusher's own
}

// batch is one project's lines waiting for the store, and what was
// dropped since the last stored note.
type batch struct {
	lines        []apogee.LogLine
	bytes        int64 // memory counted against the bounds
	dropped      int64
	droppedBytes int64
}

// NewWriter returns a writer whose flusher runs until Close.
func NewWriter(store Store, hub *logs.Hub, opts Options) *Writer {
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = 100 * time.Millisecond
	}
	if opts.FlushLines <= 0 {
		opts.FlushLines = 1000
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = 16 << 20
	}
	if opts.MaxPendingProject <= 0 {
		opts.MaxPendingProject = 4 << 20
	}
	opts.MaxPendingProject = min(opts.MaxPendingProject, opts.MaxPending)
	if opts.Stored == nil {
		opts.Stored = func(apogee.RuntimeLogStats) {}
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	w := &Writer{
		store: store, hub: hub, opts: opts,
		pending: make(map[string]*batch),
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		ids:     make(map[string]string),
	}
	go w.flusher()
	return w
}

// Add queues a line of project's runtime log (its Seq is ignored: the
// store numbers it). A line over the bounds of memory is dropped and
// counted; the log says so with the next lines stored.
func (w *Writer) Add(project string, l apogee.LogLine) {
	size := int64(len(l.Text)+len(l.Instance)) + lineOverhead
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	b := w.pending[project]
	if b == nil {
		b = &batch{}
		w.pending[project] = b
	}
	if w.pendingBytes+size > w.opts.MaxPending || b.bytes+size > w.opts.MaxPendingProject {
		b.dropped++
		b.droppedBytes += apogee.RuntimeLogSize(l)
		return
	}
	l.Seq = 0
	b.lines = append(b.lines, l)
	b.bytes += size
	w.pendingBytes += size
	if len(b.lines) == w.opts.FlushLines {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

// Pending returns the memory counted for lines waiting for the store.
func (w *Writer) Pending() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pendingBytes
}

// Close stores what waits (within ctx) and stops the flusher. Lines
// added afterwards are dropped.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	if n := w.flush(ctx); n > 0 {
		return fmt.Errorf("runtimelog: %d lines not stored at close", n)
	}
	return nil
}

func (w *Writer) flusher() {
	defer close(w.done)
	t := time.NewTicker(w.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		case <-w.kick:
		}
		w.flush(context.Background())
	}
}

// flush stores every project's waiting lines and hands them to the hub.
// It returns how many lines are still waiting (the store failed).
func (w *Writer) flush(ctx context.Context) (waiting int) {
	w.mu.Lock()
	batches := w.pending
	w.pending = make(map[string]*batch, len(batches))
	w.mu.Unlock()
	for project, b := range batches {
		if len(b.lines) == 0 && b.dropped == 0 {
			continue
		}
		err := w.store1(ctx, project, b)
		w.mu.Lock()
		if err != nil && !errors.Is(err, apogee.ErrNotFound) {
			// Keep them for the next flush, before what came meanwhile;
			// they stay counted.
			w.requeueLocked(project, b)
			waiting += len(b.lines)
		} else {
			w.pendingBytes -= b.bytes
		}
		w.mu.Unlock()
		if err != nil && (!errors.Is(err, apogee.ErrNotFound) || ctx.Err() != nil) {
			w.opts.Log.Error("runtime log: store lines", "project", project, "lines", len(b.lines), "err", err)
		}
	}
	return waiting
}

// requeueLocked puts b back in front of the lines that came since.
func (w *Writer) requeueLocked(project string, b *batch) {
	if cur := w.pending[project]; cur != nil {
		b.lines = append(b.lines, cur.lines...)
		b.bytes += cur.bytes
		b.dropped += cur.dropped
		b.droppedBytes += cur.droppedBytes
	}
	w.pending[project] = b
}

// store1 stores one project's batch, with a note of what was dropped,
// and hands the stored lines to the hub. A project that no longer exists
// is ErrNotFound: its lines go nowhere.
func (w *Writer) store1(ctx context.Context, project string, b *batch) error {
	lines := b.lines
	if b.dropped > 0 {
		lines = append(lines[:len(lines):len(lines)], apogee.LogLine{
			Time: w.opts.Now().UTC(), Stream: apogee.StreamSystem,
			Text: fmt.Sprintf("… %d lines (%s) dropped: the log store fell behind", b.dropped, apogee.FormatBytes(b.droppedBytes)),
		})
	}
	var stored []apogee.LogLine
	var st apogee.RuntimeLogStats
	for try := 0; ; try++ {
		id, err := w.projectID(ctx, project)
		if err != nil {
			return err
		}
		stored, st, err = w.store.AppendRuntimeLogs(ctx, id, lines)
		if errors.Is(err, apogee.ErrNotFound) && try == 0 {
			// Deleted, or deleted and made again: look the name up again.
			delete(w.ids, project)
			continue
		}
		if err != nil {
			return err
		}
		break
	}
	w.opts.Stored(st)
	hubID := apogee.RuntimeLogHubID(st.ProjectID)
	for start, n := 0, 0; start < len(stored); start += n {
		size := 0
		for n = 0; start+n < len(stored) && (n == 0 || size+len(stored[start+n].Text) <= relayChunk); n++ {
			size += len(stored[start+n].Text)
		}
		w.hub.PublishStored(hubID, stored[start:start+n]...)
	}
	return nil
}

// projectID returns the id of the project named name.
func (w *Writer) projectID(ctx context.Context, name string) (string, error) {
	if id, ok := w.ids[name]; ok {
		return id, nil
	}
	p, err := w.store.ProjectByName(ctx, name)
	if err != nil {
		return "", fmt.Errorf("runtimelog: project %q: %w", name, err)
	}
	if len(w.ids) > 10_000 { // names of deleted projects must not pile up
		clear(w.ids)
	}
	w.ids[name] = p.ID
	return p.ID, nil
}

// AppendStore stores runtime log lines.
type AppendStore interface {
	AppendRuntimeLogs(ctx context.Context, projectID string, lines []apogee.LogLine) ([]apogee.LogLine, apogee.RuntimeLogStats, error)
}

// Append stores lines of a project's runtime log at once and hands them
// to the hub: for the platform's own few lines (a deploy that failed),
// which need no batching.
func Append(ctx context.Context, store AppendStore, hub *logs.Hub, projectID string, lines ...apogee.LogLine) error {
	stored, _, err := store.AppendRuntimeLogs(ctx, projectID, lines)
	if err != nil {
		return fmt.Errorf("runtimelog: append to %s: %w", projectID, err)
	}
	hub.PublishStored(apogee.RuntimeLogHubID(projectID), stored...)
	return nil
}
