package apps

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/appproxy"
)

// Manager keeps the instances of the releases that serve and the edge's
// pools in step. It is the rollout machinery:
//
//   - Prepare starts a release's instances and waits until every one is
//     ready, or fails with the reason (the instances that did start are
//     stopped; nothing that serves is touched). It is what the service
//     layer's pre-promote hook calls: "make sure the release's instances
//     are running and ready, or refuse".
//   - Switch points a project's production pool at a prepared release in
//     one atomic step, then drains the release that served before (no new
//     requests; requests and WebSockets in flight get DrainTimeout) and
//     stops its instances (SIGTERM, grace, kill) in the background. Call
//     it once the alias has moved.
//   - Rollout is Prepare then Switch; a rollback is the same with a kept
//     release, and no build (and no boot, when the release was kept warm:
//     ManagerOptions.KeepWarm).
//   - Scale and Restart change the instances of the release that serves,
//     each new instance ready before it takes traffic.
//   - Retire drains and stops a release that no longer serves (a preview
//     that expired, a prepared release whose promotion failed).
//
// Every release also has a pool of its own, for its own host
// (<project>--<id>), serving while the release runs. Operations on one
// project are serialized; different projects proceed in parallel. A
// Manager is safe for concurrent use.
type Manager struct {
	rt    Runtime
	proxy *appproxy.Proxy
	opts  ManagerOptions

	mu         sync.Mutex
	releases   map[string]*release       // by release id
	production map[string]*appproxy.Pool // by project
	current    map[string]string         // project → release serving production
	warm       map[string][]string       // project → previous releases kept running, newest first
	locks      map[string]*sync.Mutex    // per project
	closed     bool
	background sync.WaitGroup // drains and stops
}

// ManagerOptions tune a Manager. Zero values take the defaults.
type ManagerOptions struct {
	// DrainTimeout is how long requests in flight to an outgoing instance
	// may take before they are cut (default 30 s, kamal-proxy's and
	// Kubernetes' default grace).
	DrainTimeout time.Duration
	// MaxStartFailures is how many times a new instance may crash before
	// Prepare gives up on its release (default 3). A boot timeout or a
	// failed health check gives up at once: trying again would take as
	// long and end the same way.
	MaxStartFailures int
	// KeepWarm is how many previous releases of a project keep running
	// after a switch (default 0): a rollback to one of them switches at
	// once, without booting anything, at the cost of their memory.
	KeepWarm int
	Log      *slog.Logger
}

// release is a release's running instances.
type release struct {
	spec      Spec
	project   string
	instances []Instance
	targets   []*appproxy.Target
	pool      *appproxy.Pool // the release's own host
}

// Release is what to run: the spec of each instance and how many.
type Release struct {
	Spec Spec
	// Instances is how many to run (default 1).
	Instances int
}

// NewManager returns a manager that starts instances on rt and sends
// requests through proxy.
func NewManager(rt Runtime, proxy *appproxy.Proxy, opts ManagerOptions) *Manager {
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 30 * time.Second
	}
	if opts.MaxStartFailures <= 0 {
		opts.MaxStartFailures = 3
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	return &Manager{
		rt: rt, proxy: proxy, opts: opts,
		releases:   make(map[string]*release),
		production: make(map[string]*appproxy.Pool),
		current:    make(map[string]string),
		warm:       make(map[string][]string),
		locks:      make(map[string]*sync.Mutex),
	}
}

// lock serializes the operations on one project.
func (m *Manager) lock(project string) func() {
	m.mu.Lock()
	l := m.locks[project]
	if l == nil {
		l = new(sync.Mutex)
		m.locks[project] = l
	}
	m.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// Production returns the pool of a project's production host: the
// instances of the release Switch last chose. Before any, the pool is
// empty and answers 503.
func (m *Manager) Production(project string) *appproxy.Pool {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.production[project]
	if p == nil {
		p = m.proxy.NewPool(project)
		m.production[project] = p
	}
	return p
}

// ReleasePool returns the pool of a release's own host, nil when the
// release does not run.
func (m *Manager) ReleasePool(id string) *appproxy.Pool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.releases[id]; r != nil {
		return r.pool
	}
	return nil
}

// Current returns the release serving a project's production, "" if none.
func (m *Manager) Current(project string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.current[project]
}

// Instances returns the instances of a release, nil when it does not run.
func (m *Manager) Instances(releaseID string) []Instance {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.releases[releaseID]; r != nil {
		return slices.Clone(r.instances)
	}
	return nil
}

// Spec returns the spec of a release's instances (also of one scaled to
// zero), false when it does not run.
func (m *Manager) Spec(releaseID string) (Spec, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.releases[releaseID]; r != nil {
		return r.spec, true
	}
	return Spec{}, false
}

// Targets returns the edge's view of a release's instances (requests in
// flight per instance, for the autoscaler), nil when it does not run.
func (m *Manager) Targets(releaseID string) []*appproxy.Target {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.releases[releaseID]; r != nil {
		return slices.Clone(r.targets)
	}
	return nil
}

// Prepare makes sure r's instances run and are all ready. A release that
// runs already gets the instances it lacks; one that never gets ready (an
// instance crashes MaxStartFailures times, misses its boot timeout or
// fails its health check) fails Prepare with an *apogee.Error (EINVALID)
// whose message gives the reason, and the instances Prepare started are
// stopped. Nothing that serves changes either way. ctx bounds the wait;
// when it ends, Prepare stops what it started and returns ctx's error.
func (m *Manager) Prepare(ctx context.Context, r Release) error {
	spec := r.Spec
	if spec.Project == "" || spec.Release == "" {
		return apogee.Errorf(apogee.EINVALID, "a release needs its project and id")
	}
	n := max(r.Instances, 1)
	defer m.lock(spec.Project)()
	_, err := m.ensure(ctx, spec, n)
	return err
}

// ensure runs at least n ready instances of spec's release; it returns
// the ones it started. The project's lock is held.
func (m *Manager) ensure(ctx context.Context, spec Spec, n int) ([]Instance, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, errors.New("apps: manager closed")
	}
	rel := m.releases[spec.Release]
	have := 0
	if rel != nil {
		have = len(rel.instances)
	}
	m.mu.Unlock()
	started, err := m.startInstances(ctx, spec, n-have)
	if err != nil {
		return nil, err
	}
	// Wait for the new ones and for the old ones to be ready now.
	var all []Instance
	if rel != nil {
		all = append(all, rel.instances...)
	}
	all = append(all, started...)
	if err := m.waitReady(ctx, spec, all); err != nil {
		m.stopAll(started)
		return nil, err
	}
	if len(started) == 0 {
		return nil, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	rel = m.releases[spec.Release]
	if rel == nil {
		rel = &release{spec: spec, project: spec.Project, pool: m.proxy.NewPool(spec.Project + "--" + spec.Release)}
		m.releases[spec.Release] = rel
	}
	for _, in := range started {
		rel.instances = append(rel.instances, in)
		rel.targets = append(rel.targets, m.proxy.NewTarget(labeled{in}))
	}
	rel.pool.Switch(rel.targets...)
	if m.current[spec.Project] == spec.Release {
		m.production[spec.Project].Switch(rel.targets...)
	}
	return started, nil
}

func (m *Manager) startInstances(ctx context.Context, spec Spec, n int) ([]Instance, error) {
	var started []Instance
	for range n {
		in, err := m.rt.Start(ctx, spec)
		if err != nil {
			m.stopAll(started)
			return nil, fmt.Errorf("apps: starting an instance of %s: %w", spec.Release, err)
		}
		started = append(started, in)
	}
	return started, nil
}

// waitReady waits until every instance is ready at once, or one has
// failed for good.
func (m *Manager) waitReady(ctx context.Context, spec Spec, ins []Instance) error {
	for {
		// Take every Changed before reading, so no change is missed.
		chans := make([]<-chan struct{}, len(ins))
		for i, in := range ins {
			chans[i] = in.Changed()
		}
		waiting := -1
		for i, in := range ins {
			st := in.Status()
			if err := m.failed(spec, st); err != nil {
				return err
			}
			if st.State != StateReady && waiting < 0 {
				waiting = i
			}
		}
		if waiting < 0 {
			return nil
		}
		select {
		case <-chans[waiting]:
		case <-ctx.Done():
			return fmt.Errorf("apps: waiting for release %s to be ready: %w", spec.Release, ctx.Err())
		}
	}
}

// failed reports why an instance will not get ready, if it will not.
func (m *Manager) failed(spec Spec, st Status) error {
	reason := ""
	switch {
	case st.State == StateStopped || st.State == StateStopping:
		reason = "it was stopped"
	case st.LastExit != nil && st.LastExit.Health && st.State != StateReady:
		reason = st.LastExit.Reason
	case st.Failures >= m.opts.MaxStartFailures && st.State != StateReady:
		reason = fmt.Sprintf("%s (crashed %d times)", st.Reason, st.Failures)
	default:
		return nil
	}
	return &apogee.Error{
		Code:    apogee.EINVALID,
		Message: fmt.Sprintf("release %s of %s did not become ready: instance %s: %s", spec.Release, spec.Project, st.ID, reason),
		Data:    st,
	}
}

// Switch makes release serve the project's production host in one step,
// then drains and stops the release that served before (in the
// background; Close waits for it). The release must be prepared.
func (m *Manager) Switch(ctx context.Context, project, releaseID string) error {
	defer m.lock(project)()
	return m.switchLocked(project, releaseID)
}

func (m *Manager) switchLocked(project, releaseID string) error {
	pool := m.Production(project)
	m.mu.Lock()
	rel := m.releases[releaseID]
	if rel == nil || rel.project != project {
		m.mu.Unlock()
		return apogee.Errorf(apogee.ECONFLICT, "release %s of %s does not run: prepare it first", releaseID, project)
	}
	prev := m.current[project]
	if prev == releaseID {
		m.mu.Unlock()
		return nil
	}
	pool.Switch(rel.targets...)
	m.current[project] = releaseID
	// The previous release stays warm (running, its own host serving)
	// while it is among the KeepWarm last; the rest are retired.
	warm := slices.DeleteFunc(m.warm[project], func(id string) bool { return id == releaseID })
	if prev != "" {
		warm = append([]string{prev}, warm...)
	}
	var gone []*release
	for len(warm) > m.opts.KeepWarm {
		id := warm[len(warm)-1]
		warm = warm[:len(warm)-1]
		if old := m.releases[id]; old != nil {
			delete(m.releases, id)
			gone = append(gone, old)
		}
	}
	m.warm[project] = warm
	m.mu.Unlock()
	m.opts.Log.Info("app release switched", "project", project, "release", releaseID, "previous", prev)
	for _, old := range gone {
		m.retire(old.instances, old.targets)
	}
	return nil
}

// Rollout prepares r and switches the project's production to it. On
// failure the release that served keeps serving.
func (m *Manager) Rollout(ctx context.Context, r Release) error {
	spec := r.Spec
	defer m.lock(spec.Project)()
	if _, err := m.ensure(ctx, spec, max(r.Instances, 1)); err != nil {
		return err
	}
	return m.switchLocked(spec.Project, spec.Release)
}

// Running returns the ids of the releases whose instances run, by
// project: what serves production, the warm ones and the others (a
// preview's own host).
func (m *Manager) Running() map[string][]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string][]string)
	for id, r := range m.releases {
		out[r.project] = append(out[r.project], id)
	}
	return out
}

// Warm reports whether a release of the project is kept running after
// it stopped serving production (ManagerOptions.KeepWarm).
func (m *Manager) Warm(project, releaseID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Contains(m.warm[project], releaseID)
}

// StopProject takes a project's production pool off every instance (it
// answers 503), then drains and stops the instances of all its releases,
// and waits until they are gone (or ctx ends): the project became a
// static site, or was deleted.
func (m *Manager) StopProject(ctx context.Context, project string) error {
	defer m.lock(project)()
	m.mu.Lock()
	if p := m.production[project]; p != nil {
		p.Switch()
	}
	delete(m.current, project)
	delete(m.warm, project)
	var gone []*release
	for id, r := range m.releases {
		if r.project == project {
			delete(m.releases, id)
			gone = append(gone, r)
		}
	}
	m.mu.Unlock()
	var dones []<-chan struct{}
	for _, r := range gone {
		r.pool.Switch()
		dones = append(dones, m.retire(r.instances, r.targets))
	}
	for _, done := range dones {
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("apps: stopping %s: %w", project, ctx.Err())
		}
	}
	if len(gone) > 0 {
		m.opts.Log.Info("app stopped", "project", project, "releases", len(gone))
	}
	return nil
}

// Retire drains and stops a release that does not serve production, and
// waits until its instances are gone (or ctx ends).
func (m *Manager) Retire(ctx context.Context, releaseID string) error {
	m.mu.Lock()
	rel := m.releases[releaseID]
	m.mu.Unlock()
	if rel == nil {
		return nil
	}
	defer m.lock(rel.project)()
	m.mu.Lock()
	if m.current[rel.project] == releaseID {
		m.mu.Unlock()
		return apogee.Errorf(apogee.ECONFLICT, "release %s serves %s's production: switch to another first", releaseID, rel.project)
	}
	if m.releases[releaseID] != rel {
		m.mu.Unlock()
		return nil
	}
	delete(m.releases, releaseID)
	m.warm[rel.project] = slices.DeleteFunc(m.warm[rel.project], func(id string) bool { return id == releaseID })
	m.mu.Unlock()
	done := m.retire(rel.instances, rel.targets)
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("apps: retiring %s: %w", releaseID, ctx.Err())
	}
}

// Scale runs n instances of the release serving the project's production:
// new ones take traffic once ready; extra ones are drained and stopped.
// With 0 the release stays the project's production with no instance
// (its host answers 503 until something scales it up again: an app
// scaled to zero).
func (m *Manager) Scale(ctx context.Context, project string, n int) error {
	if n < 0 {
		return apogee.Errorf(apogee.EINVALID, "an app runs 0 or more instances (asked for %d)", n)
	}
	defer m.lock(project)()
	m.mu.Lock()
	rel := m.releases[m.current[project]]
	m.mu.Unlock()
	if rel == nil {
		return apogee.Errorf(apogee.ECONFLICT, "%s has no release serving", project)
	}
	if n >= len(rel.instances) {
		_, err := m.ensure(ctx, rel.spec, n)
		return err
	}
	m.mu.Lock()
	gone, goneT := m.trim(rel, n)
	m.mu.Unlock()
	m.retire(gone, goneT)
	return nil
}

// Shrink drains and stops a release's instances beyond the first n, the
// release serving production or not (a node of several runs what the
// scheduler placed on it). Fewer than n stay as they are.
func (m *Manager) Shrink(ctx context.Context, releaseID string, n int) error {
	if n < 0 {
		return apogee.Errorf(apogee.EINVALID, "a release runs 0 or more instances (asked for %d)", n)
	}
	m.mu.Lock()
	rel := m.releases[releaseID]
	m.mu.Unlock()
	if rel == nil {
		return nil
	}
	defer m.lock(rel.project)()
	m.mu.Lock()
	if n >= len(rel.instances) {
		m.mu.Unlock()
		return nil
	}
	gone, goneT := m.trim(rel, n)
	m.mu.Unlock()
	m.retire(gone, goneT)
	return nil
}

// trim keeps rel's first n instances in its pools (and production's, if
// it serves it) and returns the others, for retire. m.mu is held.
func (m *Manager) trim(rel *release, n int) ([]Instance, []*appproxy.Target) {
	gone, goneT := rel.instances[n:], rel.targets[n:]
	rel.instances, rel.targets = slices.Clip(rel.instances[:n]), slices.Clip(rel.targets[:n])
	rel.pool.Switch(rel.targets...)
	if m.current[rel.project] == rel.spec.Release {
		m.production[rel.project].Switch(rel.targets...)
	}
	return gone, goneT
}

// Restart replaces every instance of the release serving the project's
// production with a new one, with no downtime: the new set is started and
// ready before it takes the traffic, then the old set is drained.
func (m *Manager) Restart(ctx context.Context, project string) error {
	defer m.lock(project)()
	m.mu.Lock()
	rel := m.releases[m.current[project]]
	m.mu.Unlock()
	if rel == nil {
		return apogee.Errorf(apogee.ECONFLICT, "%s has no release serving", project)
	}
	started, err := m.startInstances(ctx, rel.spec, len(rel.instances))
	if err != nil {
		return err
	}
	if err := m.waitReady(ctx, rel.spec, started); err != nil {
		m.stopAll(started)
		return err
	}
	targets := make([]*appproxy.Target, len(started))
	for i, in := range started {
		targets[i] = m.proxy.NewTarget(labeled{in})
	}
	m.mu.Lock()
	old, oldT := rel.instances, rel.targets
	rel.instances, rel.targets = started, targets
	rel.pool.Switch(targets...)
	m.production[project].Switch(targets...)
	m.mu.Unlock()
	m.retire(old, oldT)
	return nil
}

// retire drains targets and then stops their instances, in the
// background. The returned channel is closed when all are stopped.
func (m *Manager) retire(ins []Instance, targets []*appproxy.Target) <-chan struct{} {
	done := make(chan struct{})
	// Add before Close's Wait or not at all (a WaitGroup may not grow
	// while it is waited for from zero): after Close the stop still runs,
	// untracked, before the runtime is closed.
	m.mu.Lock()
	tracked := !m.closed
	if tracked {
		m.background.Add(1)
	}
	m.mu.Unlock()
	go func() {
		if tracked {
			defer m.background.Done()
		}
		defer close(done)
		var wg sync.WaitGroup
		for i, in := range ins {
			wg.Go(func() {
				if i < len(targets) {
					if n := targets[i].Drain(context.Background(), m.opts.DrainTimeout); n > 0 {
						m.opts.Log.Info("app instance drained with requests cut", "instance", in.ID(), "cut", n)
					}
				}
				if err := in.Stop(context.Background(), 0); err != nil {
					m.opts.Log.Error("app instance: stop", "instance", in.ID(), "err", err)
				}
			})
		}
		wg.Wait()
	}()
	return done
}

// stopAll stops instances that never took traffic, in the background.
func (m *Manager) stopAll(ins []Instance) {
	if len(ins) > 0 {
		m.retire(ins, nil)
	}
}

// Close waits for the drains and stops in progress. It does not stop the
// runtime's instances: close the runtime for that.
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	done := make(chan struct{})
	go func() { m.background.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("apps: closing: %w", ctx.Err())
	}
}

// labeled is an instance as the proxy sees it: labeled with its release,
// which the proxy can name in each answer (appproxy.Options.LabelHeader).
type labeled struct{ Instance }

func (l labeled) Label() string { return l.Spec().Release }

// Prestart makes a spare sandbox for the next instance of the release
// serving the project's production, when the runtime can (Prestarter):
// the next start of an instance of it (an app scaled to zero woken by a
// request) skips the sandbox's set-up. It returns the release it made
// the spare for; "" when the runtime makes none or nothing serves.
func (m *Manager) Prestart(ctx context.Context, project string) (string, error) {
	ps, ok := m.rt.(Prestarter)
	if !ok {
		return "", nil
	}
	m.mu.Lock()
	rel := m.releases[m.current[project]]
	m.mu.Unlock()
	if rel == nil {
		return "", nil
	}
	if err := ps.Prestart(ctx, rel.spec); err != nil {
		return "", fmt.Errorf("apps: a spare sandbox for %s: %w", rel.spec.Release, err)
	}
	return rel.spec.Release, nil
}

// DropSpare removes the spare sandbox of a release, if the runtime made
// one.
func (m *Manager) DropSpare(release string) {
	if ps, ok := m.rt.(Prestarter); ok {
		ps.DropSpare(release)
	}
}
