package runtimelog

import (
	"context"
	"fmt"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/logs"
)

// Reader reads a project's runtime log.
type Reader interface {
	RuntimeLogs(ctx context.Context, projectID string, q apogee.RuntimeLogQuery) ([]apogee.LogLine, error)
	RuntimeLogStats(ctx context.Context, projectID string) (apogee.RuntimeLogStats, error)
}

// replayPage is how many stored lines one read of a replay returns.
const replayPage = 1000

// untilGrace is how long after a follow's Until it waits for the lines
// written before Until to be stored (a Writer stores every 100 ms).
const untilGrace = time.Second

// Follow calls fn with the lines of the project's runtime log that q
// selects, in order and each once: first with none (it has begun: a
// caller answering a request may send its headers), then the stored ones, then each line
// as it is stored, until ctx ends (it returns ctx's error) or fn fails
// (it returns fn's error). The stored ones are, with q.Tail, the newest
// q.Limit; else those after q.AfterSeq. With q.Until Follow returns nil
// once Until has passed and the lines written before it are sent (it
// waits untilGrace past Until for them to be stored).
//
// Lines are stored before they are published, and a project's lines are
// numbered in the order they commit, so a live line past a gap means the
// lines between are in the store: Follow reads them from there at once.
func Follow(ctx context.Context, store Reader, hub *logs.Hub, projectID string, q apogee.RuntimeLogQuery, fn func([]apogee.LogLine) error) error {
	f := &follower{ctx: ctx, store: store, projectID: projectID, q: q, fn: fn, last: q.AfterSeq}
	if err := fn(nil); err != nil {
		return err
	}
	first := true
	for {
		sub := hub.Subscribe(apogee.RuntimeLogHubID(projectID))
		done, err := f.follow(sub, first)
		sub.Close()
		if err != nil || done {
			return err
		}
		first = false // cut loose for lagging: catch up from the store
	}
}

type follower struct {
	ctx       context.Context
	store     Reader
	projectID string
	q         apogee.RuntimeLogQuery
	fn        func([]apogee.LogLine) error
	last      int64 // every line up to this seq was considered
}

// follow runs one subscription: it reports whether Follow is done.
func (f *follower) follow(sub *logs.Subscription, first bool) (bool, error) {
	st, err := f.store.RuntimeLogStats(f.ctx, f.projectID)
	if err != nil {
		return false, fmt.Errorf("runtimelog: follow %s: %w", f.projectID, err)
	}
	if first && f.q.Tail {
		q := f.q
		q.AfterSeq, q.BeforeSeq = 0, st.LastSeq+1
		lines, err := f.store.RuntimeLogs(f.ctx, f.projectID, q)
		if err != nil {
			return false, fmt.Errorf("runtimelog: follow %s: %w", f.projectID, err)
		}
		if len(lines) > 0 {
			if err := f.fn(lines); err != nil {
				return false, err
			}
		}
		f.last = max(f.last, st.LastSeq)
	} else if err := f.replay(st.LastSeq + 1); err != nil {
		return false, err
	}
	var untilC <-chan time.Time
	if !f.q.Until.IsZero() {
		wait := time.Until(f.q.Until.Add(untilGrace))
		if wait <= 0 {
			return true, f.replay(1 << 62)
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		untilC = t.C
	}
	for {
		select {
		case <-f.ctx.Done():
			return false, f.ctx.Err()
		case <-untilC:
			st, err := f.store.RuntimeLogStats(f.ctx, f.projectID)
			if err != nil {
				return false, fmt.Errorf("runtimelog: follow %s: %w", f.projectID, err)
			}
			return true, f.replay(st.LastSeq + 1)
		case l, ok := <-sub.C:
			if !ok {
				return false, nil
			}
			if l.Seq <= f.last {
				continue
			}
			if l.Seq > f.last+1 {
				if err := f.replay(l.Seq); err != nil {
					return false, err
				}
			}
			f.last = l.Seq
			if f.q.Matches(l) {
				if err := f.fn([]apogee.LogLine{l}); err != nil {
					return false, err
				}
			}
		}
	}
}

// replay sends the stored lines q selects after f.last and before
// before, and moves f.last to before-1.
func (f *follower) replay(before int64) error {
	q := f.q
	q.Tail, q.Limit, q.BeforeSeq = false, replayPage, before
	for f.last < before-1 {
		q.AfterSeq = f.last
		lines, err := f.store.RuntimeLogs(f.ctx, f.projectID, q)
		if err != nil {
			return fmt.Errorf("runtimelog: replay %s: %w", f.projectID, err)
		}
		if len(lines) == 0 {
			break
		}
		if err := f.fn(lines); err != nil {
			return err
		}
		f.last = lines[len(lines)-1].Seq
		if len(lines) < replayPage {
			break
		}
	}
	f.last = max(f.last, before-1)
	return nil
}
