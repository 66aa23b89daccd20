// Package apphost runs apps' releases on this server. It stands between
// the platform and the runtime:
//
//   - It is the platform's Gate for apps: before a project's production
//     moves to a release, the release's tree is laid out on disk from the
//     blob store (Trees), its release command (the Procfile's release:
//     line) runs once in the sandbox, and its instances are started and
//     ready (apps.Manager.Prepare); then production's pool switches to
//     them. Any failure refuses the move with the reason, and the release
//     that served keeps serving.
//   - It serves the edge's requests for apps' hosts (edge.Apps): a
//     project's production host and custom domains go to its production
//     pool, a release's own host (<project>--<id>) to that release's
//     instances, which start on the first request when they do not run
//     (a preview) and stop after being idle.
//   - When the server starts, Restore brings back the instances of every
//     production release (the runtime killed what an earlier server
//     left); Run follows the event bus to stop the apps of projects that
//     became static or were deleted, and keeps the disk tidy.
package apphost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/appproxy"
	"github.com/apogee-dev/apogee/internal/apps"
	"github.com/apogee-dev/apogee/internal/autoscale"
	"github.com/apogee-dev/apogee/internal/logs"
	"github.com/apogee-dev/apogee/internal/nodejs"
	"github.com/apogee-dev/apogee/internal/sandbox"
	"github.com/apogee-dev/apogee/internal/supervisor"
)

// Store is what the host reads and writes: releases, the projects and
// manifests they belong to, and deployment logs (the release phase's
// output joins the deployment's log).
type Store interface {
	apogee.LogStore
	Release(ctx context.Context, deploymentID string) (*apogee.Release, error)
	MarkReleased(ctx context.Context, deploymentID string, at time.Time) error
	ProductionReleases(ctx context.Context) ([]*apogee.Release, error)
	ListReleases(ctx context.Context, projectID string, limit int) ([]*apogee.Release, error)
	ProjectByID(ctx context.Context, id string) (*apogee.Project, error)
	DeploymentFiles(ctx context.Context, id string) ([]apogee.File, error)
}

// ReleaseRunner runs a release's release command where its instances
// run, with the instances' Spec (tree, variables, limits), bounded by
// timeout, its output to out; the result reads as a sandbox run's.
type ReleaseRunner interface {
	RunRelease(ctx context.Context, s apps.Spec, command string, timeout time.Duration, out io.Writer) (sandbox.Result, error)
}

// Nodes keeps Node.js versions on the server (nodejs.Dist).
type Nodes interface {
	// Use returns exactly version v, fetched once when the server
	// lacks it, or an error saying why it cannot be had.
	Use(ctx context.Context, v string) (nodejs.Choice, error)
}

// Config is what a Host needs. Store, Blobs, Manager, Sandbox, Box, Hub
// and Dir are required.
type Config struct {
	Store   Store
	Blobs   Blobs
	Manager *apps.Manager
	// Observer is the runtime's observer (for the failed instances' last
	// lines); nil: the log of a failed release has none.
	Observer *Observer
	// Sandbox runs release commands (the app sandbox) of apps that choose
	// none; Sandboxes, by kind, those of apps that choose one
	// (settings.app.sandbox), which their instances also get (apps.Spec's
	// Sandbox). An app choosing a kind not in Sandboxes fails to start
	// and says so.
	Sandbox   sandbox.Runner
	Sandboxes map[string]sandbox.Runner
	// Releases, when set, runs release commands instead of Sandbox (the
	// Kubernetes runtime: as a Job in the cluster, where the instances
	// run and their database is reachable).
	Releases ReleaseRunner
	// Box opens the sealed variables of releases.
	Box apogee.Sealer
	// Nodes has the Node.js versions releases run on (the builds', see
	// internal/nodejs); nil: releases run on the machine's Node.js.
	Nodes Nodes
	Hub   *logs.Hub
	// Dir holds trees and objects (see Trees).
	Dir string
	// Plans returns what the plan of a project's owner allows its app
	// (instance limits, instances, releases kept; the platform's
	// AppLimits). nil: apps' defaults, any number of instances.
	Plans func(ctx context.Context, project string) (apogee.AppLimits, error)
	// ReleaseTimeout bounds a release command (default 30 min; Heroku's
	// release phase has an hour).
	ReleaseTimeout time.Duration
	// IdleTimeout stops a release that serves only its own host (a
	// preview) after this long without a request (default 15 min).
	IdleTimeout time.Duration
	// AutoscaleTick is how often Run's autoscaler decides (default
	// DefaultAutoscaleTick); < 0: never (call Autoscale yourself).
	AutoscaleTick time.Duration
	// Autoscale is the autoscaler's algorithm (zero: Knative's defaults,
	// autoscale.DefaultConfig).
	Autoscale autoscale.Config
	// AppsMemory is the memory this server gives apps' instances, in
	// bytes (each counts its memory limit, paused ones included); new
	// instances past it stop the least recently used paused apps first,
	// else are not started. 0: no bound.
	AppsMemory int64
	// MaxSpares bounds the spare sandboxes made for apps stopped when idle
	// (default DefaultMaxSpares; < 0: none).
	MaxSpares int
	Log       *slog.Logger
	Now       func() time.Time
	// Registerer receives the host's metrics; nil: not registered.
	Registerer prometheus.Registerer
}

// Defaults of Config.
const (
	DefaultReleaseTimeout = 30 * time.Minute
	DefaultIdleTimeout    = 15 * time.Minute
)

// Host runs apps' releases on this server. Safe for concurrent use.
type Host struct {
	cfg   Config
	m     *apps.Manager
	trees *Trees
	log   *slog.Logger
	met   *metrics

	treeMu  sync.RWMutex // Trees.Make (read) against Trees.Collect (write)
	flights singleflight.Group

	mu    sync.Mutex
	names map[string]string    // project id → name, of projects seen
	used  map[string]time.Time // release id → last request to its own host
	// restoring holds, by project name, a channel closed when Restore
	// has the project's production running (or gave up on it).
	restoring map[string]chan struct{}
	plan      []restoring // what Restore starts (PlanRestore)
	planned   bool

	scaleMu      sync.Mutex
	scalers      map[string]*scaler // by project name: production apps
	scaleChanged chan struct{}      // closed at each decision
	scaleWG      sync.WaitGroup     // scaling in the background
	spares       map[string]spareOf // by project: spare sandboxes of stopped apps
	reserved     int64              // memory reserved for instances starting

	// roomMu serializes the decisions on Config.AppsMemory (a pass of
	// the autoscaler, a start, a spare). It is taken after the scaler's
	// own op, if any, and before scaleMu; while it is held other scalers'
	// ops are only tried (TryLock), never waited for.
	roomMu sync.Mutex
}

// restoreWait bounds how long a request to a production host waits for
// Restore to bring its app back.
const restoreWait = 30 * time.Second

// New returns a host over cfg.
func New(cfg Config) (*Host, error) {
	if cfg.Store == nil || cfg.Blobs == nil || cfg.Manager == nil || cfg.Sandbox == nil || cfg.Box == nil || cfg.Hub == nil || cfg.Dir == "" {
		return nil, errors.New("apphost: Store, Blobs, Manager, Sandbox, Box, Hub and Dir are required")
	}
	if cfg.ReleaseTimeout <= 0 {
		cfg.ReleaseTimeout = DefaultReleaseTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxSpares == 0 {
		cfg.MaxSpares = DefaultMaxSpares
	}
	if cfg.AutoscaleTick == 0 {
		cfg.AutoscaleTick = DefaultAutoscaleTick
	}
	if cfg.Autoscale == (autoscale.Config{}) {
		cfg.Autoscale = autoscale.DefaultConfig()
	}
	if _, err := autoscale.New(cfg.Autoscale, autoscale.Settings{Max: 1, Concurrency: 1}); err != nil {
		return nil, fmt.Errorf("apphost: %w", err)
	}
	trees, err := NewTrees(cfg.Dir, cfg.Blobs)
	if err != nil {
		return nil, err
	}
	h := &Host{cfg: cfg, m: cfg.Manager, trees: trees, log: cfg.Log,
		names: make(map[string]string), used: make(map[string]time.Time), restoring: make(map[string]chan struct{}),
		scalers: make(map[string]*scaler), scaleChanged: make(chan struct{}), spares: make(map[string]spareOf)}
	if h.met, err = newMetrics(cfg.Registerer, h); err != nil {
		return nil, err
	}
	return h, nil
}

// BeforeProduction is the platform's Gate: for an app's release it lays
// out the tree, runs the release command once, starts the project's
// number of instances, waits until all are ready, and switches the
// project's production pool to them. A static deployment passes (Run
// stops the app it replaces once the alias moved). An error refuses the
// move; the release that served keeps serving.
func (h *Host) BeforeProduction(ctx context.Context, p *apogee.Project, d *apogee.Deployment, files []apogee.File) error {
	rel, err := h.cfg.Store.Release(ctx, d.ID)
	if errors.Is(err, apogee.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("apphost: release of %s: %w", d.ID, err)
	}
	h.remember(p)
	// The first time a release goes live, its deployment's log tells how
	// (the build's log, or the log of a release made by a change of
	// variables); a rollback to it says nothing there.
	var w *logs.Writer
	if rel.ReleasedAt == nil {
		w = h.logWriter(ctx, d.ID, rel)
		defer w.Close(context.WithoutCancel(ctx))
	}
	// A new release starts with the instances the app runs now (the
	// autoscaler's count), at least its min, at most its max.
	set := p.Settings.App.Scale()
	n := p.Settings.App.InstancesOr()
	if s := h.Scaling(p.Name); s != nil {
		n = min(max(n, s.Desired), max(set.Max, 1))
	}
	start := h.cfg.Now()
	if err := h.prepare(ctx, p, rel, files, w, n, true); err != nil {
		h.met.releases.WithLabelValues("failed").Inc()
		if w != nil {
			w.Systemf("Release v%d failed: %s", rel.Version, apogee.ErrorMessage(err))
			h.quoteTail(w, rel.DeploymentID)
		}
		return err
	}
	h.met.ready.Observe(h.cfg.Now().Sub(start).Seconds())
	if err := h.m.Switch(ctx, p.Name, d.ID); err != nil {
		h.met.releases.WithLabelValues("failed").Inc()
		return fmt.Errorf("apphost: switch %s to %s: %w", p.Name, d.ID, err)
	}
	h.met.releases.WithLabelValues("live").Inc()
	h.dropSpare(p.Name, d.ID)
	if w != nil {
		w.Systemf("Release v%d: %s ready in %s; production serves it", rel.Version, plural(n, "instance"), h.cfg.Now().Sub(start).Round(time.Millisecond))
	}
	h.log.Info("app release serves production", "project", p.Name, "release", d.ID, "version", rel.Version, "instances", n)
	go h.tidy(context.WithoutCancel(ctx))
	return nil
}

// prepare makes release rel of p run n ready instances: its tree, its
// release command (once, when live: the release goes live; a release
// started only for its own host, a preview, never runs it, since its
// variables may name production's database), its instances. w (nil:
// none) is the log to tell.
func (h *Host) prepare(ctx context.Context, p *apogee.Project, rel *apogee.Release, files []apogee.File, w *logs.Writer, n int, live bool) error {
	if rel.PrunedAt != nil {
		return apogee.Errorf(apogee.ECONFLICT, "release v%d of %s is no longer kept (only the newest are, as the plan says); deploy it again",
			rel.Version, p.Name)
	}
	plan, err := h.appLimits(ctx, p.Name)
	if err != nil {
		return err
	}
	if err := plan.CheckInstances(n); err != nil {
		return err
	}
	limits := apps.Limits{MemoryBytes: plan.MemoryBytes, CPUs: plan.CPUs, Pids: plan.Pids}
	kind, sb, err := h.sandboxOf(p)
	if err != nil {
		return err
	}
	dir, err := h.tree(ctx, rel.DeploymentID, files)
	if err != nil {
		return err
	}
	env, secrets, err := h.env(rel)
	if err != nil {
		return err
	}
	node, nodeEnv, err := h.node(ctx, rel)
	if err != nil {
		return err
	}
	env = append(env, releaseMetadata(p, rel)...)
	env = withDefaults(env, nodeEnv)
	if rel.ReleasedAt == nil && live {
		if rel.ReleaseCommand != "" {
			if err := h.releasePhase(ctx, p, sb, rel, dir, node, env, secrets, limits, w); err != nil {
				return err
			}
		}
		if err := h.cfg.Store.MarkReleased(ctx, rel.DeploymentID, h.cfg.Now().UTC()); err != nil {
			return fmt.Errorf("apphost: mark %s released: %w", rel.DeploymentID, err)
		}
	}
	if w != nil {
		w.Systemf("Starting %s of release v%d: %s", plural(n, "instance"), rel.Version, rel.StartCommand)
	}
	err = h.m.Prepare(ctx, apps.Release{Instances: n, Spec: apps.Spec{
		Project: p.Name,
		Release: rel.DeploymentID,
		Dir:     dir,
		Command: rel.StartCommand,
		Node:    node,
		Env:     env,
		Sandbox: kind,
		Limits:  limits,
		Health:  apps.Health{Path: rel.HealthPath, BootTimeout: time.Duration(rel.BootTimeout) * time.Second},
	}})
	if err != nil {
		if apogee.ErrorCode(err) == apogee.EINTERNAL {
			return fmt.Errorf("apphost: start release %s: %w", rel.DeploymentID, err)
		}
		return err
	}
	return nil
}

// sandboxOf returns the sandbox p's app asked for (settings.app.sandbox;
// "" for the default) and the runner of its release command.
func (h *Host) sandboxOf(p *apogee.Project) (string, sandbox.Runner, error) {
	sb := p.Settings.App.Sandbox
	if sb == nil {
		return "", h.cfg.Sandbox, nil
	}
	r, ok := h.cfg.Sandboxes[*sb]
	if !ok {
		return "", nil, apogee.Errorf(apogee.EINVALID, "%s asks for the %q sandbox (settings.app.sandbox), which this server does not run apps in; it runs %s (--app-sandboxes): choose one of them or the default",
			p.Name, *sb, strings.Join(slices.Sorted(maps.Keys(h.cfg.Sandboxes)), ", "))
	}
	return *sb, r, nil
}

// appLimits returns what the plan of a project's owner allows its app.
func (h *Host) appLimits(ctx context.Context, project string) (apogee.AppLimits, error) {
	if h.cfg.Plans == nil {
		return apogee.AppLimits{MaxInstances: apogee.Unlimited, ReleasesKept: apogee.Unlimited}, nil
	}
	l, err := h.cfg.Plans(ctx, project)
	if err != nil {
		return l, fmt.Errorf("apphost: plan of %s: %w", project, err)
	}
	return l, nil
}

// tree lays out a release's tree once, however many ask at a time.
func (h *Host) tree(ctx context.Context, id string, files []apogee.File) (string, error) {
	dir, err, _ := h.flights.Do("tree/"+id, func() (any, error) {
		h.treeMu.RLock()
		defer h.treeMu.RUnlock()
		if files == nil {
			var err error
			if files, err = h.cfg.Store.DeploymentFiles(ctx, id); err != nil {
				return "", fmt.Errorf("apphost: manifest of %s: %w", id, err)
			}
		}
		return h.trees.Make(ctx, id, files)
	})
	if err != nil {
		return "", err
	}
	return dir.(string), nil
}

// node returns the folder of the Node.js rel runs on ("" the machine's)
// and what that Node.js needs in its environment (the machine's CA
// bundle, npm's global configuration). A release built with a version
// this server lacks has it fetched; one that cannot be had refuses the
// start: native modules are built for it.
func (h *Host) node(ctx context.Context, rel *apogee.Release) (string, []string, error) {
	if rel.NodeVersion == "" {
		return "", nil, nil
	}
	if h.cfg.Nodes == nil {
		return "", nil, apogee.Errorf(apogee.ECONFLICT, "release v%d was built with Node.js %s, and this server runs apps on its own Node.js only (--build-node system); deploy it again",
			rel.Version, rel.NodeVersion)
	}
	c, err := h.cfg.Nodes.Use(ctx, rel.NodeVersion)
	if err != nil {
		if apogee.ErrorCode(err) != apogee.EINTERNAL || ctx.Err() != nil {
			return "", nil, err
		}
		return "", nil, apogee.Errorf(apogee.EUNAVAILABLE, "release v%d runs on Node.js %s, which this server could not fetch: %v", rel.Version, rel.NodeVersion, err)
	}
	return c.Dir, c.Env, nil
}

// withDefaults returns env with each of defs whose key env lacks: the
// project's variables win.
func withDefaults(env, defs []string) []string {
	for _, kv := range defs {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, k+"=") }) {
			env = append(env, kv)
		}
	}
	return env
}

// env opens a release's variables: KEY=VALUE pairs, and the secret
// values to mask in logs.
func (h *Host) env(rel *apogee.Release) (env, secrets []string, err error) {
	for _, v := range rel.Env {
		val, err := h.cfg.Box.Open(v.Value, apogee.EnvPurpose(rel.ProjectID, v.Key))
		if err != nil {
			return nil, nil, fmt.Errorf("apphost: variable %s of release %s: %w", v.Key, rel.DeploymentID, err)
		}
		env = append(env, v.Key+"="+val)
		if v.Secret {
			secrets = append(secrets, val)
		}
	}
	return env, secrets, nil
}

// releaseMetadata is what the platform tells a release's processes about
// themselves, as Heroku's dyno metadata and Render's RENDER_* variables
// do: the project, the release's id (its deployment, the
// X-Apogee-Deployment header the edge adds to its answers) and its
// version. The APOGEE_ prefix is reserved, so no variable of the
// project's can shadow them.
func releaseMetadata(p *apogee.Project, rel *apogee.Release) []string {
	return []string{
		"APOGEE_PROJECT=" + p.Name,
		"APOGEE_RELEASE_ID=" + rel.DeploymentID,
		"APOGEE_RELEASE_VERSION=" + strconv.Itoa(rel.Version),
	}
}

// releasePhase runs the release command in the sandbox: the release's
// tree read-only, its variables, the internet (migrations reach their
// database), the instances' limits and ReleaseTimeout.
func (h *Host) releasePhase(ctx context.Context, p *apogee.Project, sb sandbox.Runner, rel *apogee.Release, dir, node string, env, secrets []string, lim apps.Limits, w *logs.Writer) error {
	if w == nil {
		w = h.logWriter(ctx, rel.DeploymentID, rel)
		defer w.Close(context.WithoutCancel(ctx))
	}
	w.Systemf("Release phase: %s", rel.ReleaseCommand)
	if h.cfg.Releases != nil {
		out := w.Stream(apogee.StreamStdout)
		res, err := h.cfg.Releases.RunRelease(ctx, apps.Spec{
			Project: p.Name, Release: rel.DeploymentID, Dir: dir, Command: rel.StartCommand, Node: node, Env: env, Limits: lim,
		}, rel.ReleaseCommand, h.cfg.ReleaseTimeout, out)
		out.Close()
		if err != nil {
			return fmt.Errorf("apphost: release command of %s: %w", rel.DeploymentID, err)
		}
		return h.releaseResult(ctx, p, rel, res, w)
	}
	path := "/workspace/node_modules/.bin:/usr/local/bin:/usr/bin:/bin"
	bin, mounts := supervisor.NodeIn(sb, node)
	if bin != "" {
		path = "/workspace/node_modules/.bin:" + bin + ":/usr/local/bin:/usr/bin:/bin"
	}
	base := []string{"PATH=" + path, "HOME=/tmp", "NODE_ENV=production"}
	out, errw := w.Stream(apogee.StreamStdout), w.Stream(apogee.StreamStderr)
	res, err := sb.Run(ctx, sandbox.Spec{
		Argv:     []string{"/bin/sh", "-c", rel.ReleaseCommand},
		Dir:      dir,
		ReadOnly: true,
		Mounts:   mounts,
		Env:      append(base, env...),
		Stdout:   out,
		Stderr:   errw,
		Limits: sandbox.Limits{
			MemoryBytes: cmp(lim.MemoryBytes, apps.DefaultMemory), CPUs: cmpf(lim.CPUs, apps.DefaultCPUs),
			Pids: cmp(lim.Pids, apps.DefaultPids), Wall: h.cfg.ReleaseTimeout,
		},
		Network: true,
	})
	out.Close()
	errw.Close()
	if err != nil {
		return fmt.Errorf("apphost: release command of %s: %w", rel.DeploymentID, err)
	}
	return h.releaseResult(ctx, p, rel, res, w)
}

// releaseResult says how a release command ended: nil when it passed.
func (h *Host) releaseResult(ctx context.Context, p *apogee.Project, rel *apogee.Release, res sandbox.Result, w *logs.Writer) error {
	w.Systemf("Release phase finished in %s (exit code %d)", res.Duration.Round(time.Millisecond), res.ExitCode)
	switch {
	case res.Reason == sandbox.ReasonCanceled:
		return fmt.Errorf("apphost: release command of %s: %w", rel.DeploymentID, context.Cause(ctx))
	case res.Killed():
		return apogee.Errorf(apogee.EINVALID, "the release command `%s` was %s", rel.ReleaseCommand, res.Reason)
	case res.ExitCode == 127:
		return apogee.Errorf(apogee.EINVALID, "the release command `%s` was not found (exit code 127)", rel.ReleaseCommand)
	case res.ExitCode != 0:
		return apogee.Errorf(apogee.EINVALID, "the release command `%s` exited with code %d", rel.ReleaseCommand, res.ExitCode)
	}
	h.log.Info("release phase done", "project", p.Name, "release", rel.DeploymentID)
	return nil
}

func cmp(v, def int64) int64 {
	if v > 0 {
		return v
	}
	return def
}

func cmpf(v, def float64) float64 {
	if v > 0 {
		return v
	}
	return def
}

// logWriter appends to a deployment's log, after its last stored line.
func (h *Host) logWriter(ctx context.Context, id string, rel *apogee.Release) *logs.Writer {
	var after int64
	if lines, err := h.cfg.Store.Logs(ctx, id, 0, 0); err == nil && len(lines) > 0 {
		after = lines[len(lines)-1].Seq
	}
	_, secrets, _ := h.env(rel)
	return logs.NewWriter(id, h.cfg.Store, h.cfg.Hub, logs.Options{After: after, Secrets: secrets, Log: h.log})
}

// quoteTail writes the last lines a release's instances printed.
func (h *Host) quoteTail(w *logs.Writer, release string) {
	if h.cfg.Observer == nil {
		return
	}
	lines := h.cfg.Observer.Tail(release)
	if len(lines) == 0 {
		return
	}
	w.Systemf("The app's last %s:", plural(len(lines), "line"))
	for _, l := range lines {
		w.Systemf("  [%s %s] %s", l.Instance, l.Stream, l.Text)
	}
}

// ServeApp serves a request for an app's host (edge.Apps).
func (h *Host) ServeApp(w http.ResponseWriter, r *http.Request, projectID, deploymentID string, own bool) {
	if !own {
		name, err := h.projectName(r.Context(), projectID)
		if err != nil {
			h.log.Error("app request: project", "project", projectID, "err", err)
			http.Error(w, "503: the app is not available; try again", http.StatusServiceUnavailable)
			return
		}
		// A paused or stopped app wakes: the request waits for it.
		if err := h.Wake(r.Context(), name); err != nil {
			var we *appproxy.WakeError
			switch {
			case r.Context().Err() != nil:
				w.WriteHeader(499)
			case errors.As(err, &we):
				appproxy.WriteWakeError(w, err) // logged where it failed
			default:
				h.log.Warn("app request: wake the app", "project", name, "err", err)
				appproxy.WriteWakeError(w, err)
			}
			return
		}
		pool := h.m.Production(name)
		if len(pool.Targets()) == 0 {
			// The server just started: hold the request while Restore
			// brings the app back, rather than answer 503.
			h.mu.Lock()
			ch := h.restoring[name]
			h.mu.Unlock()
			if ch != nil {
				t := time.NewTimer(restoreWait)
				select {
				case <-ch:
				case <-t.C:
				case <-r.Context().Done():
				}
				t.Stop()
			} else if h.m.Current(name) == "" {
				// No release of the app serves here (the project just
				// stopped being an app, and the edge has not heard yet):
				// nothing will wake, so the activator must not hold it.
				w.Header().Set("Retry-After", "1")
				http.Error(w, "503: the app is not running; try again", http.StatusServiceUnavailable)
				return
			}
		}
		pool.ServeHTTP(w, r)
		return
	}
	h.touch(deploymentID)
	pool := h.m.ReleasePool(deploymentID)
	if pool == nil {
		var err error
		if pool, err = h.startOwn(r.Context(), projectID, deploymentID); err != nil {
			w.Header().Set("Retry-After", "5")
			code := http.StatusServiceUnavailable
			if apogee.ErrorCode(err) == apogee.EINTERNAL {
				h.log.Error("start a release for its own host", "release", deploymentID, "err", err)
			}
			http.Error(w, "503: this release is not running: "+apogee.ErrorMessage(err), code)
			return
		}
	}
	pool.ServeHTTP(w, r)
}

// startOwn starts one instance of a release for its own host and waits
// for it, once however many requests wait (bounded by the release's boot
// timeout, not by any one request).
func (h *Host) startOwn(ctx context.Context, projectID, id string) (*appproxy.Pool, error) {
	ch := h.flights.DoChan("own/"+id, func() (any, error) {
		ctx := context.WithoutCancel(ctx)
		p, err := h.cfg.Store.ProjectByID(ctx, projectID)
		if err != nil {
			return nil, fmt.Errorf("apphost: project %s: %w", projectID, err)
		}
		h.remember(p)
		rel, err := h.cfg.Store.Release(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("apphost: release %s: %w", id, err)
		}
		ctx, cancel := context.WithTimeout(ctx, time.Duration(rel.BootTimeout)*time.Second+time.Minute)
		defer cancel()
		if err := h.prepare(ctx, p, rel, nil, nil, 1, false); err != nil {
			return nil, err
		}
		h.log.Info("release started for its own host", "project", p.Name, "release", id)
		return h.m.ReleasePool(id), nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		if pool, ok := res.Val.(*appproxy.Pool); ok && pool != nil {
			return pool, nil
		}
		return nil, apogee.Errorf(apogee.ECONFLICT, "it stopped as it started")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// touch records a request to a release's own host.
func (h *Host) touch(id string) {
	now := h.cfg.Now()
	h.mu.Lock()
	h.used[id] = now
	h.mu.Unlock()
}

// remember keeps a project's name by its id (the edge knows ids, the
// manager names).
func (h *Host) remember(p *apogee.Project) {
	h.mu.Lock()
	h.names[p.ID] = p.Name
	h.mu.Unlock()
	set := p.Settings.App.Scale()
	if apogee.ValidateScale(set) == nil {
		h.scalerFor(p.Name, &set)
	}
}

func (h *Host) projectName(ctx context.Context, id string) (string, error) {
	h.mu.Lock()
	name, ok := h.names[id]
	h.mu.Unlock()
	if ok {
		return name, nil
	}
	p, err := h.cfg.Store.ProjectByID(ctx, id)
	if err != nil {
		return "", err
	}
	h.remember(p)
	return p.Name, nil
}

func plural(n int, one string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %ss", n, one)
}
