// Package builder runs the platform's builds: workers claim queued
// deployments from the build queue, fetch their source, detect the
// framework, install and build in a sandbox with the project's cache,
// store the output as content-addressed blobs and hand it to the queue,
// which makes the deployment ready (apogee.BuildQueue: the same path as
// an upload's, so a production build moves production and its custom
// domains). Every step writes to the deployment's log, which streams
// live.
package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/logs"
	"github.com/apogee-dev/apogee/internal/nodejs"
	"github.com/apogee-dev/apogee/internal/sandbox"
)

// Store is what the builder reads and writes itself: the build's log,
// its heartbeat, and what it builds for whom. Everything that others see
// change goes through the Queue.
type Store interface {
	apogee.LogStore
	// BuildHeartbeat records that worker still builds id (see
	// apogee.BuildStore).
	BuildHeartbeat(ctx context.Context, id, worker string, at time.Time) error
	ProjectByID(ctx context.Context, id string) (*apogee.Project, error)
	DeploymentByID(ctx context.Context, id string) (*apogee.Deployment, error)
	// UserPlan and Usage bound a build by its owner's build minutes.
	UserPlan(ctx context.Context, userID string) (*apogee.Plan, error)
	Usage(ctx context.Context, userID string, since, now time.Time) (*apogee.Usage, error)
	// SetCacheBytes records the size of a project's dependency cache,
	// which counts against its owner's storage.
	SetCacheBytes(ctx context.Context, projectID string, n int64) error
	// SetBuildCommit records the commit a Git build fetched (see
	// apogee.BuildStore).
	SetBuildCommit(ctx context.Context, id string, c apogee.CommitInfo) error
	// SetBuildInfo records the framework a build detected and the
	// Node.js it runs with (see apogee.BuildStore).
	SetBuildInfo(ctx context.Context, id string, b apogee.BuildInfo) error
}

// Source fetches the source tree of a deployment into dir, writing its
// progress to log, and returns the commit it built (zero when not Git).
type Source interface {
	Fetch(ctx context.Context, p *apogee.Project, d *apogee.Deployment, dir string, log io.Writer) (apogee.CommitInfo, error)
}

// Env resolves a project's build environment: KEY=VALUE pairs and the
// secret values to mask in the log.
type Env interface {
	Resolve(ctx context.Context, projectID string) (vars, secrets []string, err error)
}

// Nodes picks the Node.js a build runs with and keeps it on the server
// (nodejs.Dist): want is a version, a range or an nvm alias ("" for the
// current LTS), from says where it was read. A Choice without Dir means
// the server's own Node.js; its Why is the log's line either way. An
// EINVALID error fails the build with its message.
type Nodes interface {
	Choose(ctx context.Context, want, from string) (nodejs.Choice, error)
}

// Config is what a Builder needs. Store, Queue, Blobs, Bus, Hub, Sandbox,
// Source and Dir are required.
type Config struct {
	Store Store
	// Queue claims builds and ends them (internal/platform's Queue).
	Queue apogee.BuildQueue
	Blobs apogee.Blobs
	// Bus wakes workers for new builds and stops canceled ones.
	Bus     apogee.EventBus
	Hub     *logs.Hub
	Sandbox sandbox.Sandbox
	Source  Source
	Env     Env // optional
	// NodeJS chooses each build's Node.js; nil: the server's own.
	NodeJS Nodes
	// Dir holds workspaces (Dir/work) and caches (Dir/cache).
	Dir string
	// Workers is how many builds run at once (default 1).
	Workers int
	// Limits bound each install and build step.
	Limits sandbox.Limits
	// FrameworkCacheBytes bounds one branch's framework caches
	// (default DefaultFrameworkCacheBytes).
	FrameworkCacheBytes int64
	// DiskBytes bounds what a build may write to its workspace (a disk of
	// its own, see sandbox.Disk; needs root). 0: no bound.
	DiskBytes int64
	// Node names this process; workers are "<Node>/<instance>/<n>".
	Node string
	// SiteURL returns a host label's URL, for the log's last line.
	SiteURL func(label string) string
	// Poll is how often idle workers look for queued builds that another
	// process queued (default 2 s); local queueing wakes them at once.
	Poll time.Duration
	// Heartbeat is how often a running build proves it is alive
	// (default 5 s); builds silent for 3 heartbeats are failed.
	Heartbeat time.Duration
	Log       *slog.Logger
}

// Builder runs build workers.
type Builder struct {
	cfg      Config
	log      *slog.Logger
	instance string
	wake     chan struct{}

	mu      sync.Mutex
	running map[string]runningBuild
}

// Default limits of one build step.
var DefaultLimits = sandbox.Limits{
	MemoryBytes: 2 << 30,
	CPUs:        1,
	Pids:        1024,
	Wall:        15 * time.Minute,
}

// New returns a Builder; Run starts its workers.
func New(cfg Config) (*Builder, error) {
	if cfg.Store == nil || cfg.Queue == nil || cfg.Blobs == nil || cfg.Bus == nil || cfg.Hub == nil || cfg.Sandbox == nil || cfg.Source == nil || cfg.Dir == "" {
		return nil, errors.New("builder: Store, Queue, Blobs, Bus, Hub, Sandbox, Source and Dir are required")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.Limits == (sandbox.Limits{}) {
		cfg.Limits = DefaultLimits
	}
	if cfg.Node == "" {
		cfg.Node, _ = os.Hostname()
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 2 * time.Second
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.SiteURL == nil {
		cfg.SiteURL = func(l string) string { return "http://" + l + ".localhost/" }
	}
	for _, d := range []string{filepath.Join(cfg.Dir, "work"), filepath.Join(cfg.Dir, "cache")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("builder: %w", err)
		}
	}
	// Disks of builds that a killed process left mounted.
	if err := sandbox.UnmountStale(filepath.Join(cfg.Dir, "work")); err != nil {
		cfg.Log.Warn("builder: unmounting the disks of earlier builds", "err", err)
	}
	return &Builder{
		cfg:      cfg,
		log:      cfg.Log,
		instance: apogee.NewID(),
		wake:     make(chan struct{}, 1),
		running:  make(map[string]runningBuild),
	}, nil
}

// ReasonRestart is the error of builds a restart interrupted once they
// were taken over MaxTakeovers times.
const ReasonRestart = "interrupted by a restart of the server; deploy again"

// MaxTakeovers is how many times a build whose builder stopped (killed,
// its machine gone, restarted) is started again from scratch by another
// builder, or by the same one restarted, before it fails.
const MaxTakeovers = 3

// Run takes over the builds a previous run of this node left behind (or
// fails those taken over too often), then runs the workers until ctx
// ends, waiting for running builds to stop.
func (b *Builder) Run(ctx context.Context) error {
	// Only this node's: reap takes over other nodes' once their heartbeat
	// stops.
	if err := b.takeOver(ctx, time.Time{}, b.cfg.Node, "the server that ran it restarted", ReasonRestart); err != nil {
		return err
	}
	events, err := b.cfg.Bus.Subscribe(ctx)
	if err != nil {
		return fmt.Errorf("builder: subscribe: %w", err)
	}
	var wg sync.WaitGroup
	wg.Add(b.cfg.Workers + 2)
	go func() { defer wg.Done(); b.listen(ctx, events) }()
	go func() { defer wg.Done(); b.reap(ctx) }()
	for i := range b.cfg.Workers {
		go func() { defer wg.Done(); b.work(ctx, fmt.Sprintf("%s/%s/%d", b.cfg.Node, b.instance, i)) }()
	}
	wg.Wait()
	return nil
}

// takeOver queues again, for a builder to start from scratch, the stale
// builds (of a previous run of node when it is not "", and those whose
// heartbeat is older than before), saying why in their log, and fails
// with reason those already taken over MaxTakeovers times.
func (b *Builder) takeOver(ctx context.Context, before time.Time, node, why, reason string) error {
	again, err := b.cfg.Queue.RequeueStaleBuilds(ctx, before, node, MaxTakeovers)
	if err != nil {
		return fmt.Errorf("builder: take over stale builds: %w", err)
	}
	for _, d := range again {
		b.log.Warn("build taken over", "deployment", d.ID, "why", why)
		b.note(ctx, d, fmt.Sprintf("Build taken over: %s; it starts again from scratch.", why))
	}
	if len(again) > 0 {
		b.Kick()
	}
	stale, err := b.cfg.Queue.FailStaleBuilds(ctx, before, node, reason)
	if err != nil {
		return fmt.Errorf("builder: fail stale builds: %w", err)
	}
	for _, d := range stale {
		b.endLog(ctx, d, reason)
	}
	return nil
}

// note writes a line of Apogee's own to the log of a build that its
// worker left.
func (b *Builder) note(ctx context.Context, d *apogee.Deployment, line string) {
	lines, _ := b.cfg.Store.Logs(ctx, d.ID, 0, 0)
	var after int64
	if n := len(lines); n > 0 {
		after = lines[n-1].Seq
	}
	w := logs.NewWriter(d.ID, b.cfg.Store, b.cfg.Hub, logs.Options{After: after, Log: b.log})
	w.Systemf("%s", line)
	_ = w.Close(ctx)
}

// endLog writes a closing line to the log of a build that ended without
// its worker (a restart, a stale heartbeat) and ends its live stream.
func (b *Builder) endLog(ctx context.Context, d *apogee.Deployment, reason string) {
	b.note(ctx, d, "Build failed: "+reason)
	b.cfg.Hub.End(d.ID)
}

// listen wakes workers for new builds and cancels canceled ones. An
// event only says where to look: a build stops when the store says it
// was canceled, never because an event said so.
func (b *Builder) listen(ctx context.Context, events <-chan apogee.Event) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-events:
			if !ok {
				return
			}
			switch e.Type {
			case apogee.EventBuildQueued, apogee.EventResync:
				b.Kick()
			case apogee.EventBuildCanceled:
				if b.isRunning(e.DeploymentID) {
					if d, err := b.cfg.Store.DeploymentByID(ctx, e.DeploymentID); err == nil && d.Status == apogee.StatusCanceled {
						b.cancel(e.DeploymentID, errCanceled)
					}
				}
			}
		}
	}
}

// runningBuild is a build this process runs: its worker's name and how
// to stop it.
type runningBuild struct {
	worker string
	cancel context.CancelCauseFunc
}

// reap takes over (or fails) builds of other processes whose heartbeat
// stopped. The
// builds of this process are alive by definition: it beats for them
// first, so that a heartbeat goroutine delayed on a loaded machine
// never gets its own live build failed.
func (b *Builder) reap(ctx context.Context) {
	t := time.NewTicker(3 * b.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		b.beatOwn(ctx)
		if err := b.takeOver(ctx, time.Now().Add(-3*b.cfg.Heartbeat), "", "the builder running it stopped answering", "the builder stopped answering; deploy again"); err != nil && ctx.Err() == nil {
			b.log.Error("stale builds", "err", err)
		}
	}
}

// beatOwn records a heartbeat for every build this process runs. A
// conflict (the build was canceled or taken) is left to the build's own
// heartbeat, which stops it.
func (b *Builder) beatOwn(ctx context.Context) {
	b.mu.Lock()
	own := make(map[string]string, len(b.running))
	for id, r := range b.running {
		own[id] = r.worker
	}
	b.mu.Unlock()
	now := time.Now().UTC()
	for id, worker := range own {
		if err := b.cfg.Store.BuildHeartbeat(ctx, id, worker, now); err != nil &&
			apogee.ErrorCode(err) != apogee.ECONFLICT && ctx.Err() == nil {
			b.log.Warn("build heartbeat", "deployment", id, "err", err)
		}
	}
}

// Kick wakes an idle worker to look for queued builds.
func (b *Builder) Kick() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

var errCanceled = errors.New("canceled")

// isRunning reports whether build id runs in this process.
func (b *Builder) isRunning(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.running[id]
	return ok
}

// cancel stops a build running in this process, if it is one.
func (b *Builder) cancel(id string, cause error) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.running[id]
	if ok {
		r.cancel(cause)
	}
	return ok
}

func (b *Builder) work(ctx context.Context, worker string) {
	for {
		d, err := b.cfg.Queue.ClaimBuild(ctx, worker)
		switch {
		case err == nil:
			b.build(ctx, worker, d)
			continue
		case apogee.ErrorCode(err) != apogee.ENOTFOUND && ctx.Err() == nil:
			b.log.Error("claim build", "worker", worker, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-b.wake:
		case <-time.After(b.cfg.Poll):
		}
	}
}
