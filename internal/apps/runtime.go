// Package apps runs Node.js apps: the Runtime interface that every way of
// running instances implements (the local supervisor now, Kubernetes
// later), the settings of health checks and restarts, and the Manager that
// brings a release's instances up and switches the edge to them with no
// downtime (see Manager).
//
// The words: a release is an immutable build of an app (its tree, start
// command and environment); an instance is one running copy of a release,
// which a runtime starts, health-checks, restarts when it crashes and
// stops. The edge reaches an instance only through Instance.Dial.
package apps

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/apogee-dev/apogee"
)

// Runtime starts and supervises app instances.
//
// The contract, which runtimetest checks for every implementation:
//
//   - Start validates s (a bad Spec is an *apogee.Error with code
//     EINVALID and starts nothing), starts one instance of it and returns
//     without waiting for it to boot. From then on the runtime owns the
//     instance: it runs s.Command with s.Env and PORT, checks its health
//     as s.Health says, restarts it when it exits or fails liveness (see
//     Restart) and reports every change of its Status. An instance whose
//     command cannot even be found is a crash like any other, with a
//     reason that says so.
//   - ctx of Start bounds only the start itself; the instance runs until
//     Instance.Stop or Close.
//   - An instance takes requests (Ready) only after its readiness check
//     passed, and not while it is failing liveness, restarting or stopping.
//   - Nothing else can reach an instance's port: not other instances, not
//     other projects' builds, only Instance.Dial.
//   - Every process of an instance is in its limits (memory, CPU, process
//     count). When an instance is stopped, replaced or the runtime is
//     closed, none of its processes is left.
//   - Instances lists what runs, including, for runtimes whose instances
//     outlive the server, the ones found at start.
//   - Close stops every instance (SIGTERM, then the kill after
//     Restart.StopGrace) and returns when all are gone.
//
// A Runtime is safe for concurrent use.
type Runtime interface {
	Start(ctx context.Context, s Spec) (Instance, error)
	Instances() []Instance
	Close(ctx context.Context) error
}

// Instance is one running copy of a release. It is safe for concurrent
// use; it stays valid (Status keeps answering) after it stopped.
type Instance interface {
	// ID is unique in the runtime, and stays the same across restarts of
	// the instance's process.
	ID() string
	// Spec is what the instance runs. Its Env holds secrets: never log it.
	Spec() Spec
	// Ready reports whether the instance takes new requests. It is cheap
	// (the edge asks for every request).
	Ready() bool
	// Status is the instance's state now.
	Status() Status
	// Changed returns a channel that is closed at the next change of
	// Status. Take it before reading Status to miss nothing.
	Changed() <-chan struct{}
	// Dial connects to the app's PORT. It fails while no process runs.
	Dial(ctx context.Context) (net.Conn, error)
	// Usage is what the instance's processes use now.
	Usage() (Usage, error)
	// Stop stops the instance for good: it is no longer Ready, its process
	// gets SIGTERM, and after grace (Restart.StopGrace when 0) everything
	// left is killed. Stop returns when no process of the instance is
	// left, or with ctx's error when ctx ends first (the kill still
	// happens). Calling it again waits again.
	Stop(ctx context.Context, grace time.Duration) error
}

// Pauser is an Instance that can be paused: every process of it frozen
// at once (the cgroup freezer), its memory kept, no CPU used, its health
// checks suspended, and out of rotation (Ready is false, State is
// StatePaused). Resume thaws it and puts it back in rotation at once,
// without a readiness check: the app was ready when it was frozen, and a
// connection made meanwhile waits in the kernel's queue until the thaw.
// Resume takes milliseconds.
//
// Pause fails with an *apogee.Error (ECONFLICT) unless the instance is
// ready; pausing a paused instance and resuming a running one do nothing.
// An instance that stops or is stopped while paused is thawed first, so
// it gets its SIGTERM and grace. Both are safe for concurrent use; ctx
// bounds the wait for the kernel.
type Pauser interface {
	Pause(ctx context.Context) error
	Resume(ctx context.Context) error
}

// Prestarter is a Runtime that can make an instance's sandbox ahead of
// its start, so that a cold start skips the sandbox's set-up: Prestart
// makes a spare for s's release (one per release; again does nothing),
// which the next Start of an equal Spec takes; DropSpare removes a
// release's spare (when the release retires, or memory is short); Close
// removes them all. A spare uses no CPU and a little memory.
type Prestarter interface {
	Prestart(ctx context.Context, s Spec) error
	DropSpare(release string)
}

// Observer hears what a runtime's instances do. A runtime calls it from
// its own goroutines, in order for any one instance; each method must
// return quickly (hand slow work to a queue of its own).
type Observer interface {
	// InstanceChanged gets the new Status of an instance at every change
	// of state, with the reason.
	InstanceChanged(Status)
	// InstanceOutput gets each line the instance wrote, and the runtime's
	// own notes about it (stream "system": started, exited, dropped lines).
	InstanceOutput(Line)
}

// Line is one line of an instance's output. LogLine.Seq is 0: the log the
// line joins numbers it.
type Line struct {
	Project string
	Release string
	apogee.LogLine
}

// Spec is what one instance runs.
type Spec struct {
	// Project is the project's name; Release the release's id. Both name
	// the instance in logs and events.
	Project string
	Release string
	// Dir is the release's built tree on this host. The instance sees it
	// read-only, as its working directory.
	Dir string
	// Command is the start command, a shell command line (the Procfile's
	// web: line, or "npm start").
	Command string
	// Node is the folder of the Node.js the release runs on (bin/node in
	// it), the one it was built with; "" for the machine's. The runtime
	// puts its bin first on PATH; a sandboxed instance sees it read-only.
	Node string
	// Env is the instance's environment, KEY=VALUE: the project's
	// variables, secrets included. The runtime adds PORT (and HOME, PATH
	// and NODE_ENV=production where Env has none).
	Env []string
	// Port is the port the app must listen on, given to it as PORT
	// (default 8080, as on Cloud Run and Fly). Each instance has a network
	// of its own, so every instance listens on the same port.
	Port int
	// Sandbox names the sandbox the instance runs in, for runtimes that
	// offer several (the local one: "bwrap" or "runsc"); "" is the
	// runtime's default. A runtime refuses one it does not offer.
	Sandbox string
	// Limits bound the instance's processes.
	Limits Limits
	// Health says how the instance's health is checked.
	Health Health
	// Restart says how a crashed instance is restarted and how long a
	// stopped one may take to exit.
	Restart Restart
}

// Limits bound what an instance may use. Zero takes the default.
type Limits struct {
	// MemoryBytes is RAM, swap included (default 512 MiB: Heroku's
	// Standard-1X and Render's Starter). Past it the kernel kills the
	// instance and the runtime says "out of memory".
	MemoryBytes int64
	// CPUs is CPU time per wall second (default 1).
	CPUs float64
	// Pids is processes and threads at once (default 256, Heroku's limit
	// on its Standard dynos; Node alone uses about 11).
	Pids int64
}

// Health says how an instance's health is checked. Zero values take the
// defaults; every one is a project setting.
type Health struct {
	// Path is the readiness and liveness check's path: an HTTP GET that
	// passes with a 2xx or 3xx answer (default "/", as Render's and
	// Heroku's router check nothing more; Fly's checks likewise).
	Path string
	// BootTimeout bounds the boot: the app must accept connections on
	// PORT and pass the readiness check within it (default 60 s, Heroku's
	// R10 boot timeout), else the instance is killed and counts as
	// crashed.
	BootTimeout time.Duration
	// BootInterval is how often a booting instance is checked (default
	// 50 ms: Node boots in about 110 ms here, so readiness is seen within
	// a poll of it; Knative's activator probes every 200 ms).
	BootInterval time.Duration
	// Interval is how often a ready instance is checked (default 5 s;
	// Kubernetes' default period is 10 s, kamal-proxy's 1 s).
	Interval time.Duration
	// Timeout bounds one check (default 2 s; Kubernetes' default is 1 s,
	// which a busy Node event loop misses too easily).
	Timeout time.Duration
	// Unready is how long a ready instance may fail its checks before it
	// is taken out of rotation (default 15 s); Replace, before it is
	// killed and started again (default 30 s).
	Unready time.Duration
	Replace time.Duration
}

// Restart says how crashed instances are restarted.
//
// An instance that exits (or fails its boot, or liveness for
// Health.Replace) is started again at once the first time; after each
// further consecutive crash the wait doubles from Initial to Max, with
// ±10% jitter so that instances that crashed together do not restart in
// step (Kubernetes' CrashLoopBackOff: 10 s doubling to 5 min; Heroku: at
// once, then up to 20 min; Apogee restarts sooner because a Node app
// boots in a fraction of a second). The count resets when the instance
// was ready for Reset before it crashed.
type Restart struct {
	Initial time.Duration // default 1 s
	Max     time.Duration // default 60 s
	Reset   time.Duration // default 10 min
	// StopGrace is how long a stopped or replaced instance has between
	// SIGTERM and the kill of all its processes (default 10 s; Fly gives
	// 5 s, Heroku and Kubernetes 30 s, after their own drain).
	StopGrace time.Duration
}

// Defaults used where a field is zero.
const (
	DefaultPort         = 8080
	DefaultMemory       = 512 << 20
	DefaultCPUs         = 1
	DefaultPids         = 256
	DefaultHealthPath   = "/"
	DefaultBootTimeout  = 60 * time.Second
	DefaultBootInterval = 50 * time.Millisecond
	DefaultInterval     = 5 * time.Second
	DefaultCheckTimeout = 2 * time.Second
	DefaultUnready      = 15 * time.Second
	DefaultReplace      = 30 * time.Second
	DefaultBackoff      = time.Second
	DefaultBackoffMax   = 60 * time.Second
	DefaultBackoffReset = 10 * time.Minute
	DefaultStopGrace    = 10 * time.Second
)

// State is where an instance is in its life:
//
//	starting ──ready check passes──► ready ──failing Unready──► unhealthy
//	   │  ▲                          │   ▲────check passes───────┘   │
//	   │  └──backoff── crashed ◄─────┴── exit, boot or Replace ──────┘
//	   └── exit / boot timeout ──► crashed
//	any ──Stop──► stopping ──► stopped (final)
//	ready ──Pause──► paused ──Resume──► ready (see Pauser)
type State string

const (
	StateStarting  State = "starting"  // a process runs; not yet ready
	StateReady     State = "ready"     // in rotation
	StateUnhealthy State = "unhealthy" // failing liveness: out of rotation
	StateCrashed   State = "crashed"   // no process; waiting to restart
	StateStopping  State = "stopping"  // SIGTERM sent, waiting for the exit
	StatePaused    State = "paused"    // frozen: memory kept, no CPU, no health checks; out of rotation
	StateStopped   State = "stopped"   // gone for good
)

// Status is an instance's state and history.
type Status struct {
	ID      string `json:"id"`
	Project string `json:"project"`
	Release string `json:"release"`
	State   State  `json:"state"`
	// Reason says why the instance is in State, for people: why it
	// crashed or is unhealthy ("exited with code 1", "killed: out of
	// memory (limit 512 MiB)", "GET / answered 500 for 15s").
	Reason string `json:"reason,omitempty"`
	// Restarts counts processes started after the first.
	Restarts int `json:"restarts"`
	// Failures counts crashes since the instance was last ready for
	// Restart.Reset; it sets the backoff.
	Failures int `json:"failures"`
	// LastExit is how the last process ended, if one did.
	LastExit *Exit `json:"last_exit,omitempty"`
	// Created is when Start was called; Started when the current (or
	// last) process started; ReadySince when it last became ready.
	Created    time.Time `json:"created"`
	Started    time.Time `json:"started,omitzero"`
	ReadySince time.Time `json:"ready_since,omitzero"`
	// NextStart is when a crashed instance starts again.
	NextStart time.Time `json:"next_start,omitzero"`
	// PausedSince is when a paused instance was paused (zero otherwise).
	PausedSince time.Time `json:"paused_since,omitzero"`
}

// Exit is how an instance's process ended.
type Exit struct {
	// Code is the exit status, or 128+signal when a signal ended it (the
	// shell's convention).
	Code int `json:"code"`
	// Signal is the signal that ended it, 0 if it exited.
	Signal int `json:"signal,omitempty"`
	// OOM is set when the kernel killed it at its memory limit.
	OOM bool `json:"oom,omitempty"`
	// Health is set when the runtime ended it for failing its health
	// check: its boot timeout, or liveness for Health.Replace.
	Health bool `json:"health,omitempty"`
	// Reason is for people: "exited with code 1", "killed by signal 9",
	// "killed: out of memory (limit 512 MiB)", "start command not found".
	Reason string `json:"reason"`
}

// Usage is what an instance's processes use.
type Usage struct {
	MemoryBytes int64         `json:"memory_bytes"`
	CPU         time.Duration `json:"cpu"` // CPU time since the process started
	Pids        int64         `json:"pids"`
}

// ErrStopped is returned by Dial after the instance was stopped.
var ErrStopped = errors.New("apps: instance stopped")

// WithDefaults returns s with every zero field set to its default.
func (s Spec) WithDefaults() Spec {
	if s.Port == 0 {
		s.Port = DefaultPort
	}
	if s.Limits.MemoryBytes == 0 {
		s.Limits.MemoryBytes = DefaultMemory
	}
	if s.Limits.CPUs == 0 {
		s.Limits.CPUs = DefaultCPUs
	}
	if s.Limits.Pids == 0 {
		s.Limits.Pids = DefaultPids
	}
	h := &s.Health
	if h.Path == "" {
		h.Path = DefaultHealthPath
	}
	setDur(&h.BootTimeout, DefaultBootTimeout)
	setDur(&h.BootInterval, DefaultBootInterval)
	setDur(&h.Interval, DefaultInterval)
	setDur(&h.Timeout, DefaultCheckTimeout)
	setDur(&h.Unready, DefaultUnready)
	setDur(&h.Replace, DefaultReplace)
	r := &s.Restart
	setDur(&r.Initial, DefaultBackoff)
	setDur(&r.Max, DefaultBackoffMax)
	setDur(&r.Reset, DefaultBackoffReset)
	setDur(&r.StopGrace, DefaultStopGrace)
	return s
}

func setDur(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// Delay returns how long to wait before starting an instance again after
// its failures-th consecutive crash (1 for the first): 0, then Initial,
// doubling up to Max, each times 0.9 + 0.2×jitter (jitter in [0, 1)).
func (r Restart) Delay(failures int, jitter float64) time.Duration {
	if failures <= 1 {
		return 0
	}
	d := r.Initial
	for i := 2; i < failures && d < r.Max; i++ {
		d *= 2
	}
	d = min(d, r.Max)
	return time.Duration(float64(d) * (0.9 + 0.2*jitter))
}
