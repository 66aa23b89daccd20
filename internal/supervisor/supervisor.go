// Package supervisor is the local app runtime: it runs the instances of
// app releases on this machine, each in a sandbox (see Launcher), checks
// their health, restarts them when they crash and stops them on request.
// It implements apps.Runtime; the contract is there.
//
// Each instance has one goroutine, its run loop (Nomad's task handle:
// start the process, wait for it, record how it ended, decide what
// next), and while a process runs, one goroutine checking its health.
// The supervisor owns both and waits for them in Close. State changes
// follow kamal-proxy's Target: starting → ready ⇄ unhealthy, and
// stopping → stopped, plus crashed while a restart waits out its
// backoff (see apps.State).
//
// Health, per apps.Health: while booting, the instance is dialed on PORT
// and sent GET Health.Path every BootInterval until a 2xx or 3xx answer;
// no answer within BootTimeout kills it (a boot failure, like Heroku's
// R10, saying whether it never listened on PORT or what the check got).
// Once ready it is checked every Interval; failing for Unready takes it
// out of rotation, for Replace replaces it (SIGTERM, grace, kill).
//
// Output goes through logs.Capture: lines, time-stamped, tagged with the
// instance and stream, rate-limited per instance, to apps.Observer
// together with the supervisor's own notes (started, ready, exited with
// the reason, restarting in …).
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/apps"
	"github.com/apogee-dev/apogee/internal/logs"
)

// Options configure a Supervisor.
type Options struct {
	// Launcher starts the processes (required).
	Launcher Launcher
	// DataDir holds a folder per instance, its writable data (required).
	// The folder is made at Start and removed when the instance stops.
	DataDir string
	// Observer hears state changes and output (default: nobody).
	Observer apps.Observer
	// Capture bounds each instance's output (see logs.CaptureOptions).
	Capture logs.CaptureOptions
	Log     *slog.Logger
	// Jitter returns a number in [0, 1) for the restart backoff's jitter
	// (default math/rand).
	Jitter func() float64
}

// Supervisor runs app instances on this machine. It is safe for
// concurrent use.
type Supervisor struct {
	opts Options

	mu        sync.Mutex
	instances map[string]*instance
	spares    map[string]*instance // by release: made by Prestart, not started; nil while being made
	closed    bool
	wg        sync.WaitGroup
}

var _ apps.Runtime = (*Supervisor)(nil)

// New returns a supervisor. When the launcher's processes can outlive a
// server (OrphanKiller), New first kills those an earlier server left,
// so none is orphaned by a crash of the server; ctx bounds that.
func New(ctx context.Context, opts Options) (*Supervisor, error) {
	if opts.Launcher == nil {
		return nil, errors.New("supervisor: no launcher")
	}
	if !filepath.IsAbs(opts.DataDir) {
		return nil, fmt.Errorf("supervisor: the data folder %q is not an absolute path", opts.DataDir)
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("supervisor: %w", err)
	}
	if opts.Observer == nil {
		opts.Observer = nobody{}
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Jitter == nil {
		opts.Jitter = rand.Float64
	}
	if ok, isKiller := opts.Launcher.(OrphanKiller); isKiller {
		ids, err := ok.KillOrphans(ctx)
		if err != nil {
			return nil, fmt.Errorf("supervisor: killing the instances an earlier server left: %w", err)
		}
		if len(ids) > 0 {
			opts.Log.Warn("killed app instances an earlier server left", "instances", len(ids))
		}
	}
	// Their data folders go with them (only names an instance has).
	if entries, err := os.ReadDir(opts.DataDir); err == nil {
		for _, e := range entries {
			if instanceIDRE.MatchString(e.Name()) {
				os.RemoveAll(filepath.Join(opts.DataDir, e.Name()))
			}
		}
	}
	return &Supervisor{opts: opts, instances: make(map[string]*instance), spares: make(map[string]*instance)}, nil
}

// instanceIDRE matches apogee.NewID's identifiers.
var instanceIDRE = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{12}$`)

type nobody struct{}

func (nobody) InstanceChanged(apps.Status) {}
func (nobody) InstanceOutput(apps.Line)    {}

// Start starts an instance of s. See apps.Runtime.
func (s *Supervisor) Start(ctx context.Context, spec apps.Spec) (apps.Instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	spec = spec.WithDefaults()
	if err := validate(spec); err != nil {
		return nil, err
	}
	s.mu.Lock()
	in := s.adoptSpare(spec)
	s.mu.Unlock()
	if in == nil {
		id := apogee.NewID()
		dataDir := filepath.Join(s.opts.DataDir, id)
		if err := os.Mkdir(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("supervisor: data folder of %s: %w", id, err)
		}
		in = newInstance(s, id, spec, dataDir)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		in.discard()
		return nil, errors.New("supervisor: closed")
	}
	s.instances[in.id] = in
	s.wg.Go(in.run)
	s.mu.Unlock()
	return in, nil
}

// Instances returns the instances not yet stopped.
func (s *Supervisor) Instances() []apps.Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]apps.Instance, 0, len(s.instances))
	for _, in := range s.instances {
		out = append(out, in)
	}
	return out
}

// Close stops every instance, each with its own grace, and waits for all
// of them and every goroutine of the supervisor. Start fails afterwards.
func (s *Supervisor) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	ins := make([]*instance, 0, len(s.instances))
	for _, in := range s.instances {
		ins = append(ins, in)
	}
	var spares []*instance
	for rel, in := range s.spares {
		if in != nil {
			spares = append(spares, in)
		}
		delete(s.spares, rel)
	}
	s.mu.Unlock()
	for _, in := range spares {
		s.wg.Go(in.discard)
	}
	for _, in := range ins {
		in.requestStop(0)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("supervisor: closing: %w", ctx.Err())
	}
}

// forget drops a stopped instance from the list.
func (s *Supervisor) forget(id string) {
	s.mu.Lock()
	delete(s.instances, id)
	s.mu.Unlock()
}

func validate(s apps.Spec) error {
	switch {
	case s.Project == "" || s.Release == "":
		return apogee.Errorf(apogee.EINVALID, "an instance needs its project and release")
	case !filepath.IsAbs(s.Dir):
		return apogee.Errorf(apogee.EINVALID, "the release tree %q is not an absolute path", s.Dir)
	case strings.TrimSpace(s.Command) == "":
		return apogee.Errorf(apogee.EINVALID, "the release has no start command")
	case strings.ContainsRune(s.Command, 0):
		return apogee.Errorf(apogee.EINVALID, "the start command contains a NUL byte")
	case s.Port < 1 || s.Port > 65535:
		return apogee.Errorf(apogee.EINVALID, "port %d is out of range", s.Port)
	case !strings.HasPrefix(s.Health.Path, "/"):
		return apogee.Errorf(apogee.EINVALID, "the health check path %q must start with /", s.Health.Path)
	case s.Limits.MemoryBytes < 0 || s.Limits.CPUs < 0 || s.Limits.Pids < 0:
		return apogee.Errorf(apogee.EINVALID, "negative limit")
	case s.Health.BootTimeout < 0 || s.Health.BootInterval < 0 || s.Health.Interval < 0 || s.Health.Timeout < 0 ||
		s.Health.Unready < 0 || s.Health.Replace < 0 || s.Restart.Initial < 0 || s.Restart.Max < 0 ||
		s.Restart.Reset < 0 || s.Restart.StopGrace < 0:
		return apogee.Errorf(apogee.EINVALID, "negative duration in the health or restart settings")
	case s.Health.Replace < s.Health.Unready:
		return apogee.Errorf(apogee.EINVALID, "the health check replaces an instance (after %s) before it takes it out of rotation (after %s)", s.Health.Replace, s.Health.Unready)
	}
	if fi, err := os.Stat(s.Dir); err != nil || !fi.IsDir() {
		return apogee.Errorf(apogee.EINVALID, "the release tree %s is not a folder", s.Dir)
	}
	for _, kv := range s.Env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return apogee.Errorf(apogee.EINVALID, "environment entry %q is not KEY=VALUE", k)
		}
	}
	return nil
}
