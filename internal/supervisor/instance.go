package supervisor

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/apps"
	"github.com/apogee-dev/apogee/internal/logs"
	"golang.org/x/sys/unix"
)

// instance is one app instance: its run loop, its status and its current
// process.
type instance struct {
	sup     *Supervisor
	id      string
	spec    apps.Spec
	dataDir string
	capture *logs.Capture
	ready   atomic.Bool

	// notifyMu orders the observer's calls about this instance.
	notifyMu sync.Mutex

	mu      sync.Mutex
	status  apps.Status
	changed chan struct{}
	proc    Process // nil while none runs
	paused  bool    // proc is frozen
	grace   time.Duration

	// pauseSem, a lock that honours a context, orders Pause, Resume and
	// each liveness check, so that no check is in flight while an
	// instance is frozen (it would time out and count as a failure).
	pauseSem chan struct{}

	spare *spare // the sandbox made by Prestart, until the run loop takes it

	stopOnce sync.Once
	stopCh   chan struct{} // closed by Stop
	done     chan struct{} // closed when the run loop ended
}

var _ apps.Instance = (*instance)(nil)

func newInstance(s *Supervisor, id string, spec apps.Spec, dataDir string) *instance {
	in := &instance{
		sup: s, id: id, spec: spec, dataDir: dataDir,
		changed:  make(chan struct{}),
		pauseSem: make(chan struct{}, 1),
		stopCh:   make(chan struct{}),
		done:     make(chan struct{}),
		status: apps.Status{
			ID: id, Project: spec.Project, Release: spec.Release,
			State: apps.StateStarting, Created: time.Now(),
		},
	}
	obs := s.opts.Observer
	in.capture = logs.NewCapture(id, func(l apogee.LogLine) {
		obs.InstanceOutput(apps.Line{Project: spec.Project, Release: spec.Release, LogLine: l})
	}, s.opts.Capture)
	return in
}

func (in *instance) ID() string      { return in.id }
func (in *instance) Spec() apps.Spec { return in.spec }
func (in *instance) Ready() bool     { return in.ready.Load() }

func (in *instance) Status() apps.Status {
	in.mu.Lock()
	defer in.mu.Unlock()
	st := in.status
	if st.LastExit != nil {
		e := *st.LastExit
		st.LastExit = &e
	}
	return st
}

func (in *instance) Changed() <-chan struct{} {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.changed
}

func (in *instance) Dial(ctx context.Context) (net.Conn, error) {
	in.mu.Lock()
	p, st := in.proc, in.status.State
	in.mu.Unlock()
	if p == nil {
		if st == apps.StateStopped {
			return nil, apps.ErrStopped
		}
		return nil, fmt.Errorf("supervisor: instance %s has no process running (%s)", in.id, st)
	}
	return p.DialContext(ctx, "tcp", "127.0.0.1:"+strconv.Itoa(in.spec.Port))
}

func (in *instance) Usage() (apps.Usage, error) {
	in.mu.Lock()
	p := in.proc
	in.mu.Unlock()
	if p == nil {
		return apps.Usage{}, nil
	}
	return p.Usage()
}

func (in *instance) Stop(ctx context.Context, grace time.Duration) error {
	in.requestStop(grace)
	select {
	case <-in.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("supervisor: stopping %s: %w", in.id, ctx.Err())
	}
}

// requestStop makes the run loop stop the instance; grace 0 means the
// spec's StopGrace.
func (in *instance) requestStop(grace time.Duration) {
	in.stopOnce.Do(func() {
		if grace <= 0 {
			grace = in.spec.Restart.StopGrace
		}
		in.mu.Lock()
		in.grace = grace
		in.mu.Unlock()
		in.ready.Store(false)
		close(in.stopCh)
	})
}

func (in *instance) stopRequested() bool {
	select {
	case <-in.stopCh:
		return true
	default:
		return false
	}
}

// update changes the status with fn, which reports whether it changed
// anything, and tells the observer. Observer calls about one instance
// happen in the order of the updates. fn runs with in.mu held.
func (in *instance) update(fn func(st *apps.Status) bool) bool {
	in.notifyMu.Lock()
	defer in.notifyMu.Unlock()
	in.mu.Lock()
	if !fn(&in.status) {
		in.mu.Unlock()
		return false
	}
	st := in.status
	in.ready.Store(st.State == apps.StateReady && !in.stopRequested())
	close(in.changed)
	in.changed = make(chan struct{})
	in.mu.Unlock()
	in.sup.opts.Observer.InstanceChanged(st)
	return true
}

// run is the instance's life: start a process, supervise it, and after a
// crash wait out the backoff and start again, until Stop.
func (in *instance) run() {
	defer close(in.done)
	defer in.sup.forget(in.id)
	defer os.RemoveAll(in.dataDir)
	log := in.sup.opts.Log.With("project", in.spec.Project, "release", in.spec.Release, "instance", in.id)
	for attempt := 0; !in.stopRequested(); attempt++ {
		exit, readyFor := in.runProcess(attempt)
		if in.stopRequested() {
			break
		}
		st := in.Status()
		failures := st.Failures + 1
		if readyFor >= in.spec.Restart.Reset {
			failures = 1
		}
		delay := in.spec.Restart.Delay(failures, in.sup.opts.Jitter())
		in.update(func(s *apps.Status) bool {
			s.State, s.Reason, s.Failures = apps.StateCrashed, exit.Reason, failures
			s.LastExit = &exit
			s.NextStart = time.Now().Add(delay)
			return true
		})
		log.Warn("app instance crashed", "reason", exit.Reason, "failures", failures, "restart_in", delay)
		if delay == 0 {
			in.capture.Systemf("crashed: %s; restarting now", exit.Reason)
			continue
		}
		in.capture.Systemf("crashed: %s; restarting in %s", exit.Reason, roundDuration(delay))
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-in.stopCh:
			t.Stop()
		}
	}
	in.update(func(s *apps.Status) bool {
		s.State, s.NextStart = apps.StateStopped, time.Time{}
		s.Reason = "stopped"
		return true
	})
	in.capture.Systemf("stopped")
	in.capture.Flush()
}

// verdict is the health checker's decision to end a process.
type verdict struct {
	reason string
	grace  time.Duration // 0: kill at once
}

// runProcess starts one process of the instance, supervises it until it
// ends and reports how, and how long it was ready.
func (in *instance) runProcess(attempt int) (apps.Exit, time.Duration) {
	var (
		proc           Process
		stdout, stderr io.WriteCloser
		err            error
	)
	if sp := in.takeSpare(); sp != nil && attempt == 0 {
		proc, stdout, stderr = sp.proc, sp.stdout, sp.stderr
		err = sp.release()
	} else {
		proc, stdout, stderr, err = in.launch(attempt, "")
	}
	if stdout != nil {
		defer stderr.Close()
		defer stdout.Close()
	}
	if err != nil {
		if proc != nil {
			proc.Kill()
			<-proc.Done()
		}
		in.sup.opts.Log.Error("app instance: launch failed", "instance", in.id, "err", err)
		return apps.Exit{Code: -1, Reason: "could not start: " + apogee.ErrorMessage(err)}, 0
	}
	started := time.Now()
	in.mu.Lock()
	in.proc = proc
	in.mu.Unlock()
	in.update(func(s *apps.Status) bool {
		s.State, s.Restarts, s.Started = apps.StateStarting, attempt, started
		s.ReadySince, s.NextStart = time.Time{}, time.Time{}
		return true
	})
	in.capture.Systemf("starting: %s (PORT %d)", in.spec.Command, in.spec.Port)

	checkCtx, stopChecks := context.WithCancel(context.Background())
	verdicts := make(chan verdict, 1)
	var wg sync.WaitGroup
	wg.Go(func() { in.check(checkCtx, proc, verdicts) })
	var v *verdict
	select {
	case <-proc.Done():
	case got := <-verdicts:
		v = &got
		in.ready.Store(false)
		in.capture.Systemf("%s", got.reason)
		in.terminate(proc, got.grace)
	case <-in.stopCh:
		in.mu.Lock()
		grace, paused := in.grace, in.paused
		in.mu.Unlock()
		if paused {
			// A frozen app would not see its SIGTERM.
			if err := proc.Thaw(); err != nil {
				in.sup.opts.Log.Warn("app instance: thaw before stop", "instance", in.id, "err", err)
			}
		}
		in.update(func(s *apps.Status) bool {
			in.paused = false
			s.State, s.Reason, s.PausedSince = apps.StateStopping, "stopping", time.Time{}
			return true
		})
		in.capture.Systemf("stopping: SIGTERM, then %s to exit", roundDuration(grace))
		in.terminate(proc, grace)
	}
	stopChecks()
	wg.Wait()

	exit := proc.Exit()
	if exit.Reason == "" {
		exit.Reason = describe(exit, in.spec.Limits)
	}
	if exit.OOM {
		exit.Reason = fmt.Sprintf("killed: out of memory (limit %s)", apogee.FormatBytes(in.spec.Limits.MemoryBytes))
	}
	if v != nil {
		exit.Reason, exit.Health = v.reason, true
	}
	in.mu.Lock()
	in.proc, in.paused = nil, false
	in.status.PausedSince = time.Time{}
	readySince := in.status.ReadySince
	in.mu.Unlock()
	if !in.stopRequested() {
		in.capture.Systemf("%s", exitLine(proc.Exit(), in.spec.Limits, time.Since(started)))
	}
	var readyFor time.Duration
	if !readySince.IsZero() {
		readyFor = time.Since(readySince)
	}
	return exit, readyFor
}

// launch starts a process of the instance: its command, after prefix
// (shell) when set.
func (in *instance) launch(attempt int, prefix string) (Process, io.WriteCloser, io.WriteCloser, error) {
	stdout, stderr := in.capture.Stream(apogee.StreamStdout), in.capture.Stream(apogee.StreamStderr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	proc, err := in.sup.opts.Launcher.Launch(ctx, LaunchSpec{
		Name:    fmt.Sprintf("%s-%d", in.id, attempt),
		Argv:    []string{"/bin/sh", "-c", prefix + in.spec.Command},
		Dir:     in.spec.Dir,
		Sandbox: in.spec.Sandbox,
		DataDir: in.dataDir,
		Node:    in.spec.Node,
		Env:     in.env(),
		Port:    in.spec.Port,
		Limits:  in.spec.Limits,
		Stdout:  stdout,
		Stderr:  stderr,
	})
	if err != nil {
		stdout.Close()
		stderr.Close()
		return nil, nil, nil, err
	}
	return proc, stdout, stderr, nil
}

// terminate sends SIGTERM, waits up to grace for the exit, then kills
// every process of the instance. grace 0 kills at once.
func (in *instance) terminate(p Process, grace time.Duration) {
	if grace > 0 {
		if err := p.Signal(syscall.SIGTERM); err == nil {
			t := time.NewTimer(grace)
			select {
			case <-p.Done():
				t.Stop()
				return
			case <-t.C:
				in.capture.Systemf("did not exit within %s of SIGTERM: killing it", roundDuration(grace))
			}
		}
	}
	if err := p.Kill(); err != nil {
		in.sup.opts.Log.Error("app instance: kill failed", "instance", in.id, "err", err)
	}
	<-p.Done()
}

// env is the process's environment: the spec's, PORT, and defaults for
// what a Node app expects.
func (in *instance) env() []string {
	env := make([]string, 0, len(in.spec.Env)+6)
	has := map[string]bool{}
	for _, kv := range in.spec.Env {
		k, _, _ := strings.Cut(kv, "=")
		if k == "PORT" {
			continue
		}
		has[k] = true
		env = append(env, kv)
	}
	env = append(env, "PORT="+strconv.Itoa(in.spec.Port))
	for _, d := range [][2]string{
		{"PATH", "/usr/local/bin:/usr/bin:/bin"},
		{"NODE_ENV", "production"},
		{"NO_UPDATE_NOTIFIER", "1"},
		{"npm_config_update_notifier", "false"},
	} {
		if !has[d[0]] {
			env = append(env, d[0]+"="+d[1])
		}
	}
	return env
}

// describe says for people how a process ended.
func describe(e apps.Exit, lim apps.Limits) string {
	switch {
	case e.OOM:
		return fmt.Sprintf("killed: out of memory (limit %s)", apogee.FormatBytes(lim.MemoryBytes))
	case e.Signal != 0:
		return fmt.Sprintf("killed by signal %d (%s)", e.Signal, unix.SignalName(syscall.Signal(e.Signal)))
	case e.Code == 127:
		return "exited with code 127: the start command was not found"
	case e.Code == 126:
		return "exited with code 126: the start command could not be executed"
	case e.Code == 0:
		return "exited with code 0: an app must keep running"
	}
	return fmt.Sprintf("exited with code %d", e.Code)
}

func exitLine(e apps.Exit, lim apps.Limits, ran time.Duration) string {
	r := e.Reason
	if r == "" {
		r = describe(e, lim)
	}
	return fmt.Sprintf("process %s after %s", r, roundDuration(ran))
}

// roundDuration prints a duration for people: 1.5s, 250ms, 2m0s.
func roundDuration(d time.Duration) string {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second).String()
	case d >= time.Second:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}
