package runtimelog

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/apogee-dev/apogee"
)

// PrunerStore is what a Pruner needs of the store.
type PrunerStore interface {
	RuntimeLogProjects(ctx context.Context) ([]apogee.RuntimeLogStats, error)
	RuntimeLogStats(ctx context.Context, projectID string) (apogee.RuntimeLogStats, error)
	PruneRuntimeLogs(ctx context.Context, projectID string, before time.Time, maxBytes int64) (lines, bytes int64, err error)
}

// Retention is how much of a project's runtime log is kept: lines younger
// than MaxAge, and at most MaxBytes of them (apogee.RuntimeLogSize). A
// negative value has no bound.
type Retention struct {
	MaxAge   time.Duration
	MaxBytes int64
}

// DefaultRetention is a week or 100 MB, whichever comes first.
var DefaultRetention = Retention{MaxAge: apogee.DefaultRuntimeLogDays * 24 * time.Hour, MaxBytes: apogee.DefaultRuntimeLogBytes}

// RetentionFunc returns the retention of the projects of a user (their
// plan's).
type RetentionFunc func(ctx context.Context, ownerID string) (Retention, error)

// PrunerOptions tune a Pruner. Zero values take the defaults.
type PrunerOptions struct {
	// Every is how often every log is pruned (default 10 minutes); a log
	// that grows past its size bound is pruned at once (Stored).
	Every time.Duration
	// Retention returns an owner's retention (default DefaultRetention
	// for everyone).
	Retention RetentionFunc
	Log       *slog.Logger
	Now       func() time.Time
}

// Pruner deletes what the retention of each project's runtime log does
// not keep. Run prunes every log at start and every Every; Stored, the
// Writer's hook, makes it prune a log that grew past its size bound
// within moments, so a flooding app cannot fill the database between two
// rounds.
type Pruner struct {
	store PrunerStore
	opts  PrunerOptions
	kick  chan string

	mu     sync.Mutex
	bounds map[string]int64 // project id → size bound, learned by pruning
}

// NewPruner returns a pruner; Run starts it.
func NewPruner(store PrunerStore, opts PrunerOptions) *Pruner {
	if opts.Every <= 0 {
		opts.Every = 10 * time.Minute
	}
	if opts.Retention == nil {
		opts.Retention = func(context.Context, string) (Retention, error) { return DefaultRetention, nil }
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Pruner{store: store, opts: opts, kick: make(chan string, 64), bounds: make(map[string]int64)}
}

// Stored hears a log's size after an append (Options.Stored of a Writer):
// past the size bound last seen for it, or with none seen yet, it asks
// Run to prune that log. It never blocks.
func (p *Pruner) Stored(st apogee.RuntimeLogStats) {
	p.mu.Lock()
	bound, known := p.bounds[st.ProjectID]
	p.mu.Unlock()
	if known && (bound < 0 || st.Bytes <= bound) {
		return
	}
	select {
	case p.kick <- st.ProjectID:
	default: // Run is busy with others; the next round catches this one
	}
}

// Run prunes every log now and every Every, and the logs Stored names
// as they come, until ctx ends.
func (p *Pruner) Run(ctx context.Context) {
	t := time.NewTicker(p.opts.Every)
	defer t.Stop()
	for {
		if _, _, err := p.PruneAll(ctx); err != nil && ctx.Err() == nil {
			p.opts.Log.Error("runtime logs: prune", "err", err)
		}
		for wait := true; wait; {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				wait = false
			case id := <-p.kick:
				st, err := p.store.RuntimeLogStats(ctx, id)
				if err == nil && st.OwnerID != "" {
					_, _, err = p.Prune(ctx, st)
				}
				if err != nil && ctx.Err() == nil {
					p.opts.Log.Error("runtime logs: prune", "project", id, "err", err)
				}
			}
		}
	}
}

// PruneAll prunes every project's log and returns how many lines and
// bytes went. It goes on past a failing project and returns the last
// error.
func (p *Pruner) PruneAll(ctx context.Context) (lines, bytes int64, err error) {
	all, err := p.store.RuntimeLogProjects(ctx)
	if err != nil {
		return 0, 0, err
	}
	retention := map[string]Retention{} // by owner, for this round
	var last error
	for _, st := range all {
		r, ok := retention[st.OwnerID]
		if !ok {
			if r, err = p.opts.Retention(ctx, st.OwnerID); err != nil {
				last = err
				continue
			}
			retention[st.OwnerID] = r
		}
		n, b, err := p.prune(ctx, st, r)
		lines, bytes = lines+n, bytes+b
		if err != nil {
			last = err
		}
	}
	return lines, bytes, last
}

// Prune prunes one project's log to its owner's retention.
func (p *Pruner) Prune(ctx context.Context, st apogee.RuntimeLogStats) (lines, bytes int64, err error) {
	r, err := p.opts.Retention(ctx, st.OwnerID)
	if err != nil {
		return 0, 0, err
	}
	return p.prune(ctx, st, r)
}

func (p *Pruner) prune(ctx context.Context, st apogee.RuntimeLogStats, r Retention) (lines, bytes int64, err error) {
	p.mu.Lock()
	p.bounds[st.ProjectID] = r.MaxBytes
	p.mu.Unlock()
	var before time.Time
	if r.MaxAge >= 0 {
		before = p.opts.Now().Add(-r.MaxAge)
	}
	lines, bytes, err = p.store.PruneRuntimeLogs(ctx, st.ProjectID, before, r.MaxBytes)
	if lines > 0 {
		p.opts.Log.Debug("runtime log pruned", "project", st.ProjectID, "lines", lines, "bytes", bytes)
	}
	return lines, bytes, err
}
