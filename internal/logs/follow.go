package logs

import (
	"context"
	"fmt"
	"time"

	"github.com/apogee-dev/apogee"
)

// replayPage is how many stored lines one read returns.
const replayPage = 1000

// Follow calls fn with the lines of log id after afterSeq, in order and
// each once: first the stored ones, then each line as it is published,
// until the log ends or ctx ends. live reports whether the log may still
// grow (say, its deployment is building); Follow asks it once, after it
// has subscribed, so a log that ends meanwhile is never waited on.
// Follow returns nil when the log has ended, ctx's error when ctx ends,
// and fn's error when fn fails.
func Follow(ctx context.Context, store Reader, hub *Hub, id string, afterSeq int64,
	live func(context.Context) (bool, error), fn func([]apogee.LogLine) error) error {
	f := &follower{ctx: ctx, store: store, id: id, last: afterSeq, fn: fn}
	for {
		sub := hub.Subscribe(id)
		ended, err := f.follow(sub, live)
		sub.Close()
		if err != nil || ended {
			return err
		}
		// Cut loose for lagging: catch up from the store, subscribe again.
	}
}

// Reader reads the stored lines of a log (apogee.LogStore is one).
type Reader interface {
	// Logs returns up to limit lines with Seq > afterSeq, in order.
	Logs(ctx context.Context, id string, afterSeq int64, limit int) ([]apogee.LogLine, error)
}

type follower struct {
	ctx   context.Context
	store Reader
	id    string
	last  int64
	fn    func([]apogee.LogLine) error
}

// follow runs one subscription; it reports whether the log ended.
func (f *follower) follow(sub *Subscription, live func(context.Context) (bool, error)) (bool, error) {
	if err := f.replay(); err != nil {
		return false, err
	}
	for _, l := range sub.Backlog {
		if err := f.deliver(l); err != nil {
			return false, err
		}
	}
	growing, err := live(f.ctx)
	if err != nil {
		return false, fmt.Errorf("logs: is %s live: %w", f.id, err)
	}
	if !growing {
		return true, f.replay()
	}
	// The end may never reach this subscription: on another server it
	// can be relayed before this one subscribed while the deployment
	// still read as building. Ask live again now and then.
	recheck := time.NewTicker(liveRecheck)
	defer recheck.Stop()
	for {
		select {
		case <-f.ctx.Done():
			return false, f.ctx.Err()
		case <-recheck.C:
			if growing, err := live(f.ctx); err == nil && !growing {
				return true, f.replay()
			}
		case l, ok := <-sub.C:
			if !ok {
				if sub.Ended() {
					return true, f.replay()
				}
				return false, nil
			}
			if err := f.deliver(l); err != nil {
				return false, err
			}
		}
	}
}

// replay sends the stored lines after f.last.
func (f *follower) replay() error {
	for {
		lines, err := f.store.Logs(f.ctx, f.id, f.last, replayPage)
		if err != nil {
			return fmt.Errorf("logs: replay %s: %w", f.id, err)
		}
		if len(lines) == 0 {
			return nil
		}
		if err := f.fn(lines); err != nil {
			return err
		}
		f.last = lines[len(lines)-1].Seq
	}
}

// deliver sends one live line unless it was sent already. A line past a
// gap waits for the store to hold the lines between, which it does once
// the writer has flushed them (every FlushInterval); only if they never
// arrive within gapWait is the gap skipped.
func (f *follower) deliver(l apogee.LogLine) error {
	if l.Seq <= f.last {
		return nil
	}
	if l.Seq > f.last+1 {
		deadline := time.Now().Add(gapWait)
		for {
			if err := f.replay(); err != nil {
				return err
			}
			if l.Seq <= f.last+1 || time.Now().After(deadline) {
				break
			}
			select {
			case <-f.ctx.Done():
				return f.ctx.Err()
			case <-time.After(gapPoll):
			}
		}
		if l.Seq <= f.last {
			return nil
		}
	}
	if err := f.fn([]apogee.LogLine{l}); err != nil {
		return err
	}
	f.last = l.Seq
	return nil
}

// How a follower waits for the store to fill a gap, and how often it
// asks whether a quiet log still grows.
const (
	liveRecheck = 2 * time.Second
	gapWait     = 5 * time.Second
	gapPoll     = 10 * time.Millisecond
)
