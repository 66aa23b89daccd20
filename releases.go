package apogee

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Kinds of project: a static site, whose files the edge serves, or an
// app, a Node.js server whose instances run behind the edge.
const (
	KindStatic = "static"
	KindApp    = "app"
)

// Deployment source of a release made without a build: the production
// deployment's tree again, with the project's environment or app
// settings as they are now.
const SourceEnv = "env"

// AppSettings are a project's app settings. A nil field takes the value
// the build detects or the default.
type AppSettings struct {
	// Kind is KindStatic or KindApp; nil: detected at each build (see
	// internal/framework's DetectKind).
	Kind *string `json:"kind,omitempty"`
	// StartCommand starts the app's web process (a shell command line
	// run in the release tree with PORT set); nil: the Procfile's web:
	// line, else the package manager's start ("npm start").
	StartCommand *string `json:"start_command,omitempty"`
	// HealthPath is the path of the readiness and liveness check, an HTTP
	// GET that passes with 2xx or 3xx; nil: DefaultHealthPath.
	HealthPath *string `json:"health_path,omitempty"`
	// BootTimeout is how many seconds an instance has to listen on PORT
	// and pass its check; nil: DefaultBootTimeout.
	BootTimeout *int `json:"boot_timeout,omitempty"`
	// Instances is how many instances serve production; nil: 1. It is
	// the fixed scale of apps made before autoscaling: with MinInstances
	// and MaxInstances unset it is both (see Scale).
	Instances *int `json:"instances,omitempty"`
	// MinInstances and MaxInstances bound the autoscaler: it keeps at
	// least MinInstances (0: the app scales to zero when idle) and never
	// runs more than MaxInstances (nor more than the owner's plan allows).
	// Equal, they fix the number of instances. nil: Instances, else 1.
	MinInstances *int `json:"min_instances,omitempty"`
	MaxInstances *int `json:"max_instances,omitempty"`
	// Concurrency is the target of requests in flight per instance the
	// autoscaler aims at (times its 0.7 utilisation); nil:
	// DefaultConcurrency.
	Concurrency *int `json:"concurrency,omitempty"`
	// PauseAfter and StopAfter are seconds without a request after which
	// an app with MinInstances 0 has its last instance paused (frozen, its
	// memory kept; it resumes in milliseconds) and then stopped (its
	// memory freed; the next request starts one). nil: DefaultPauseAfter
	// and DefaultStopAfter.
	PauseAfter *int `json:"pause_after,omitempty"`
	StopAfter  *int `json:"stop_after,omitempty"`
	// Sandbox is the sandbox the app's instances and release command run
	// in: "bwrap" (namespaces, seccomp) or "runsc" (gVisor's user-space
	// kernel, for code trusted less), one of those the server allows
	// (--app-sandboxes); nil: the server's --app-sandbox.
	Sandbox *string `json:"sandbox,omitempty"`
}

// AppSandboxes are the sandboxes a project may ask for its app. ("none",
// no isolation, is for a development server's --app-sandbox only.)
var AppSandboxes = []string{"bwrap", "runsc"}

// AppScale is an app's scaling settings with every default applied: what
// the autoscaler works with.
type AppScale struct {
	Min         int `json:"min"`
	Max         int `json:"max"`
	Concurrency int `json:"concurrency"`
	PauseAfter  int `json:"pause_after"` // seconds
	StopAfter   int `json:"stop_after"`  // seconds
}

// Fixed reports whether the app runs a fixed number of instances.
func (s AppScale) Fixed() bool { return s.Min == s.Max }

// Scale returns a's scaling settings with the defaults applied: min and
// max from MinInstances and MaxInstances, else from Instances (an app
// scaled before autoscaling keeps its fixed number), else 1.
func (a AppSettings) Scale() AppScale {
	fixed := 1
	if a.Instances != nil {
		fixed = *a.Instances
	}
	s := AppScale{Min: fixed, Max: fixed, Concurrency: DefaultConcurrency, PauseAfter: DefaultPauseAfter, StopAfter: DefaultStopAfter}
	if a.MinInstances != nil {
		s.Min = *a.MinInstances
	}
	if a.MaxInstances != nil {
		s.Max = *a.MaxInstances
	} else if a.MinInstances != nil {
		s.Max = max(s.Min, fixed)
	}
	if a.Concurrency != nil {
		s.Concurrency = *a.Concurrency
	}
	if a.PauseAfter != nil {
		s.PauseAfter = *a.PauseAfter
	}
	if a.StopAfter != nil {
		s.StopAfter = *a.StopAfter
	}
	return s
}

// App defaults and bounds.
const (
	// DefaultHealthPath is "/": Render's and Heroku's routers check
	// nothing more.
	DefaultHealthPath = "/"
	// DefaultBootTimeout is 60 s, Heroku's R10 boot timeout.
	DefaultBootTimeout = 60
	// MaxBootTimeout bounds the boot timeout setting (Heroku allows up to
	// 180 s on request; apps here get 10 minutes).
	MaxBootTimeout = 600
	// DefaultMaxInstances is how many instances of one app a project may
	// run: Heroku's Standard dynos scale to 10 per process type.
	DefaultMaxInstances = 10
	// DefaultConcurrency is the target of requests in flight per instance
	// (Knative's container-concurrency-target-default: 100).
	DefaultConcurrency = 100
	// MaxConcurrency bounds the concurrency setting.
	MaxConcurrency = 10000
	// DefaultPauseAfter (5 min) and DefaultStopAfter (1 h) are the idle
	// periods after which the last instance of an app with min 0 is
	// paused and then stopped. Cloud Run keeps an idle instance up to
	// 15 min, Fly stops a machine after a few minutes idle; a paused
	// instance costs no CPU and resumes in milliseconds, so pausing early
	// is cheap, and stopping after an hour frees its memory for good.
	DefaultPauseAfter = 5 * 60
	DefaultStopAfter  = 60 * 60
	// MinIdlePeriod and MaxIdlePeriod bound PauseAfter and StopAfter
	// (seconds): 10 s to 7 days.
	MinIdlePeriod = 10
	MaxIdlePeriod = 7 * 24 * 60 * 60
	// DefaultReleasesKept is how many releases of an app are kept for
	// rollback (Heroku keeps every release but rolls back within the
	// last few; 10 bounds the storage).
	DefaultReleasesKept = 10
)

// ValidateAppSettings checks a project's app settings and returns an
// EINVALID error naming the field.
func ValidateAppSettings(a AppSettings) error {
	if a.Kind != nil && *a.Kind != KindStatic && *a.Kind != KindApp {
		return Errorf(EINVALID, "settings.app.kind %q must be %q or %q (null: detect at each build)", *a.Kind, KindStatic, KindApp)
	}
	if c := a.StartCommand; c != nil {
		if strings.TrimSpace(*c) == "" || len(*c) > 4096 || strings.ContainsAny(*c, "\x00\n\r") {
			return Errorf(EINVALID, "settings.app.start_command must be one line of 1 to 4096 bytes (null: the Procfile's web: line or npm start)")
		}
	}
	if p := a.HealthPath; p != nil {
		if !strings.HasPrefix(*p, "/") || len(*p) > 1024 || strings.ContainsFunc(*p, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return Errorf(EINVALID, "settings.app.health_path %.60q must be a path starting with / (at most 1024 bytes, no spaces)", *p)
		}
	}
	if b := a.BootTimeout; b != nil && (*b < 1 || *b > MaxBootTimeout) {
		return Errorf(EINVALID, "settings.app.boot_timeout is %d; it is seconds from 1 to %d", *b, MaxBootTimeout)
	}
	if sb := a.Sandbox; sb != nil && !slices.Contains(AppSandboxes, *sb) {
		return Errorf(EINVALID, "settings.app.sandbox %.40q must be one of %s (null: the server's default)", *sb, strings.Join(AppSandboxes, ", "))
	}
	if n := a.Instances; n != nil && (*n < 1 || *n > DefaultMaxInstances) {
		return Errorf(EINVALID, "settings.app.instances is %d; an app runs 1 to %d instances", *n, DefaultMaxInstances)
	}
	return ValidateScale(a.Scale())
}

// ValidateScale checks scaling settings and returns an EINVALID error
// naming the field.
func ValidateScale(s AppScale) error {
	switch {
	case s.Min < 0 || s.Min > DefaultMaxInstances:
		return Errorf(EINVALID, "min instances is %d; it is 0 (scale to zero when idle) to %d", s.Min, DefaultMaxInstances)
	case s.Max < 1 || s.Max > DefaultMaxInstances:
		return Errorf(EINVALID, "max instances is %d; it is 1 to %d", s.Max, DefaultMaxInstances)
	case s.Min > s.Max:
		return Errorf(EINVALID, "min instances %d is above max instances %d; raise max or lower min", s.Min, s.Max)
	case s.Concurrency < 1 || s.Concurrency > MaxConcurrency:
		return Errorf(EINVALID, "concurrency is %d; it is the target of requests in flight per instance, 1 to %d", s.Concurrency, MaxConcurrency)
	case s.PauseAfter < MinIdlePeriod || s.PauseAfter > MaxIdlePeriod:
		return Errorf(EINVALID, "pause after is %d seconds; it is %d to %d", s.PauseAfter, MinIdlePeriod, MaxIdlePeriod)
	case s.StopAfter < s.PauseAfter || s.StopAfter > MaxIdlePeriod:
		return Errorf(EINVALID, "stop after is %d seconds; it is from pause after (%d) to %d", s.StopAfter, s.PauseAfter, MaxIdlePeriod)
	}
	return nil
}

// InstancesOr returns the number of instances a's project starts a
// release with: its minimum, at least 1.
func (a AppSettings) InstancesOr() int {
	return max(a.Scale().Min, 1)
}

// Release is an app's deployment as it runs: the deployment's tree (its
// manifest, with the production dependencies installed), how it starts,
// the environment it runs with and its runtime settings. A release never
// changes; a change of the project's variables or app settings makes a
// new release (a new deployment with the same tree), so a rollback runs
// the older code with the environment it had, as on Heroku.
type Release struct {
	// DeploymentID is the release's deployment: one release per
	// deployment of an app, sharing its id and host.
	DeploymentID string `json:"deployment_id"`
	ProjectID    string `json:"project_id"`
	// Version counts the project's releases from 1 (v1, v2, …).
	Version int `json:"version"`
	// StartCommand starts the web process; ReleaseCommand (the
	// Procfile's release: line) runs once before any instance takes
	// traffic.
	StartCommand   string `json:"start_command"`
	ReleaseCommand string `json:"release_command,omitempty"`
	// HealthPath and BootTimeout (seconds) are the health check.
	HealthPath  string `json:"health_path"`
	BootTimeout int    `json:"boot_timeout"`
	// NodeVersion is the Node.js the release was built with, and so
	// runs on (native modules are built for it), e.g. "22.12.0"; "" for
	// the server's own Node.js (a server that builds with it, or could
	// not fetch the version asked for).
	NodeVersion string `json:"node_version,omitempty"`
	// Env is the project's variables when the release was made, values
	// sealed as the store keeps them (EnvVar.Value): never shown.
	Env []EnvVar `json:"-"`
	// Description says what made the release, for people ("build of
	// main@1a2b3c4", "set DATABASE_URL").
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	// ReleasedAt is when the release command succeeded (or when the
	// release first went live, without one): it never runs again.
	ReleasedAt *time.Time `json:"released_at,omitempty"`
	// PrunedAt is when the release fell out of the kept ones: its tree
	// is gone and it cannot serve again.
	PrunedAt *time.Time `json:"pruned_at,omitempty"`
}

// AppBuild is what a build of an app found besides its files.
type AppBuild struct {
	StartCommand   string `json:"start_command"`
	ReleaseCommand string `json:"release_command,omitempty"`
	// NodeVersion is the Node.js the build ran ("" the server's own).
	NodeVersion string `json:"node_version,omitempty"`
}

// ReleaseStore keeps apps' releases. Errors follow the Store conventions.
type ReleaseStore interface {
	// CreateRelease records r for its deployment, which must be the
	// project's, uploading, queued or building (ECONFLICT otherwise, and
	// for a deployment that has a release). It sets r.Version to the
	// project's next and a zero r.CreatedAt to now.
	CreateRelease(ctx context.Context, r *Release) error
	// Release returns the release of a deployment; ErrNotFound when the
	// deployment is not an app's.
	Release(ctx context.Context, deploymentID string) (*Release, error)
	// ListReleases returns a project's releases, newest first, at most
	// limit (<= 0: all), pruned ones included.
	ListReleases(ctx context.Context, projectID string, limit int) ([]*Release, error)
	// MarkReleased records that the release's release phase is done.
	// ErrNotFound for a deployment without a release.
	MarkReleased(ctx context.Context, deploymentID string, at time.Time) error
	// PruneReleases marks pruned the project's ready or failed releases
	// beyond the newest keep ones, never its production one, drops their
	// manifests (their blobs may then be collected) in one transaction,
	// and returns their deployment ids.
	PruneReleases(ctx context.Context, projectID string, keep int, at time.Time) ([]string, error)
	// ProductionReleases returns the release of every project whose
	// production deployment is an app's: what a server runs at start.
	ProductionReleases(ctx context.Context) ([]*Release, error)
}

// AppStatus is an app as its owner sees it: its releases and the
// instances that run them.
type AppStatus struct {
	Project string `json:"project"`
	// Kind is the kind of the project's production deployment (KindApp
	// for a release, else KindStatic; "" before any).
	Kind string `json:"kind"`
	// Production is the deployment (release) serving production.
	Production string `json:"production,omitempty"`
	// Instances is how many instances serve production (the setting).
	Instances int `json:"instances"`
	// Sandbox is the sandbox the project asks for its app
	// (settings.app.sandbox: bwrap or runsc); "" for the server's default
	// (--app-sandbox). A change applies from the next release.
	Sandbox string `json:"sandbox"`
	// Releases are the newest releases, newest first.
	Releases []ReleaseView `json:"releases"`
	// Running are the instances of the project's releases running on the
	// server that answered, ordered by release and start.
	Running []AppInstance `json:"running"`
	// Scale is the app's scaling settings; Autoscale what the autoscaler
	// of the server that answered does with them (nil: it runs no apps).
	Scale     AppScale    `json:"scale"`
	Autoscale *AppScaling `json:"autoscale,omitempty"`
}

// AppScaling is the autoscaler's view of one app.
type AppScaling struct {
	// State is "running", "paused" (its instance frozen, memory kept),
	// "stopped" (no instance: the next request starts one) or "" when
	// the app does not run here.
	State string `json:"state"`
	// Desired is the instances the autoscaler wants; Ready those taking
	// requests; InFlight the requests in flight to them now.
	Desired  int   `json:"desired"`
	Ready    int   `json:"ready"`
	InFlight int64 `json:"in_flight"`
	Panic    bool  `json:"panic"`
	// IdleSince is when the app last had a request in flight.
	IdleSince time.Time `json:"idle_since,omitzero"`
	// Decisions are the last changes of scale and state, newest first
	// (kept in the server's memory, at most ScaleDecisionsKept).
	Decisions []ScaleDecision `json:"decisions"`
	// History is instances and requests in flight over the last hour,
	// one point per ScaleSampleEvery, oldest first.
	History []ScaleSample `json:"history,omitempty"`
}

// ScaleDecision is one change the autoscaler made, and why.
type ScaleDecision struct {
	At       time.Time `json:"at"`
	From     int       `json:"from"`
	To       int       `json:"to"`
	InFlight float64   `json:"in_flight"` // the window average it decided on
	Panic    bool      `json:"panic,omitempty"`
	// Action is "scale", "pause", "resume", "stop", "start", "keep" (a
	// runtime that cannot pause), "start-failed" (the start of a stopped
	// app failed: it backs off) or "refused" (no room in --apps-memory).
	Action string `json:"action"`
	Reason string `json:"reason"`
}

// ScaleSample is the most instances and requests in flight seen in one
// ScaleSampleEvery.
type ScaleSample struct {
	At        time.Time `json:"at"`
	Instances int       `json:"instances"`
	InFlight  int64     `json:"in_flight"`
}

// How much scaling history a server keeps in memory per app.
const (
	ScaleDecisionsKept = 50
	ScaleSampleEvery   = 10 * time.Second
	ScaleHistory       = time.Hour
)

// ReleaseView is a release with what its deployment says of it.
type ReleaseView struct {
	*Release
	Status     Status `json:"status"`
	Error      string `json:"error,omitempty"`
	Production bool   `json:"production"`
	// Warm is set for a previous release kept running, so that a rollback
	// to it switches at once.
	Warm bool   `json:"warm,omitempty"`
	URL  string `json:"url"`
}

// AppInstance is one running instance of a release.
type AppInstance struct {
	ID      string `json:"id"`
	Release string `json:"release"`
	// State is starting, ready, unhealthy, crashed, stopping or stopped;
	// Reason says why it is not ready.
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	// Healthy: the last health check passed and the instance takes
	// requests.
	Healthy  bool `json:"healthy"`
	Restarts int  `json:"restarts"`
	// LastExit says how its last process ended, if one did.
	LastExit string    `json:"last_exit,omitempty"`
	Started  time.Time `json:"started,omitzero"`
	// UptimeSeconds is how long its current process has run.
	UptimeSeconds float64 `json:"uptime_seconds"`
	MemoryBytes   int64   `json:"memory_bytes"`
	// CPUSeconds is the CPU time its processes used since it started.
	CPUSeconds float64 `json:"cpu_seconds"`
	Processes  int64   `json:"processes"`
	// InFlight is how many requests it is serving now.
	InFlight int64 `json:"in_flight"`
	// Node is the node that runs it, on a platform whose apps run across
	// nodes (--node-listen); "" otherwise. An instance of another node
	// is known by what its node reports: its id once it is ready, its
	// state and the node's reason otherwise.
	Node string `json:"node,omitempty"`
}

// ScaleRequest is the body of POST /api/v1/projects/{name}/app/scale.
// Instances fixes the number (min = max = instances); the other fields
// change only what they name. Bounds are checked against the owner's plan.
type ScaleRequest struct {
	Instances   int  `json:"instances,omitempty"`
	Min         *int `json:"min,omitempty"`
	Max         *int `json:"max,omitempty"`
	Concurrency *int `json:"concurrency,omitempty"`
	PauseAfter  *int `json:"pause_after,omitempty"`
	StopAfter   *int `json:"stop_after,omitempty"`
}

// Apply returns a with r's changes.
func (r ScaleRequest) Apply(a AppSettings) AppSettings {
	cur := a.Scale()
	if r.Instances != 0 {
		cur.Min, cur.Max = r.Instances, r.Instances
	}
	set := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	set(&cur.Min, r.Min)
	set(&cur.Max, r.Max)
	if r.Min != nil && r.Max == nil && cur.Max < cur.Min {
		cur.Max = cur.Min
	}
	set(&cur.Concurrency, r.Concurrency)
	set(&cur.PauseAfter, r.PauseAfter)
	set(&cur.StopAfter, r.StopAfter)
	a.Instances = nil
	a.MinInstances, a.MaxInstances = &cur.Min, &cur.Max
	if cur.Concurrency != DefaultConcurrency || a.Concurrency != nil {
		a.Concurrency = &cur.Concurrency
	}
	if cur.PauseAfter != DefaultPauseAfter || a.PauseAfter != nil {
		a.PauseAfter = &cur.PauseAfter
	}
	if cur.StopAfter != DefaultStopAfter || a.StopAfter != nil {
		a.StopAfter = &cur.StopAfter
	}
	return a
}
