package apphost

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/appproxy"
	"github.com/apogee-dev/apogee/internal/apps"
	"github.com/apogee-dev/apogee/internal/autoscale"
)

// Autoscaling: every second (Config.AutoscaleTick) Autoscale feeds each
// production app's decider (internal/autoscale) the exact requests in
// flight the edge counts on its targets, and applies what it decides:
// new instances are started and join the pool once ready, extra ones are
// drained and stopped (apps.Manager.Scale). The count is clamped to the
// app's min and max and to its owner's plan, and new instances must fit
// the memory the server gives apps (Config.AppsMemory).
//
// An app with min 0 keeps its last instance until its idle tiers: after
// PauseAfter without a request it is paused (the runtime freezes it: no
// CPU, memory kept, back in milliseconds), after StopAfter (or earlier,
// when another app needs the memory: least recently used first) it is
// stopped and its memory freed. The next request wakes it (Wake): it is
// held (the edge's activator, appproxy.Waker) while the instance resumes
// or starts. Instances that are no apps.Pauser are never paused: their
// app's last instance runs until StopAfter.
//
// What the autoscaler decided, and a sample of instances and requests in
// flight every ScaleSampleEvery, are kept in memory for the last hour
// (apogee.ScaleDecisionsKept decisions): a restart of the server forgets
// them, and each server knows only the apps it runs.

// App states, as apogee.AppScaling.State says them.
const (
	stateRunning = "running"
	statePaused  = "paused"
	stateStopped = "stopped"
)

// A stopped app whose start failed (it crashed as it started, or missed
// its boot timeout) is not started again before a backoff: 10 s, doubling
// with each failure in a row, at most 5 min (Kubernetes' CrashLoopBackOff).
// Requests meanwhile are answered 503 at once, with the reason and
// Retry-After; the first request after the backoff tries again.
const (
	wakeBackoffInitial = 10 * time.Second
	wakeBackoffMax     = 5 * time.Minute
)

// wakeBackoff is the backoff after n failed starts in a row (n ≥ 1).
func wakeBackoff(n int) time.Duration {
	d := wakeBackoffInitial
	for i := 1; i < n && d < wakeBackoffMax; i++ {
		d *= 2
	}
	return min(d, wakeBackoffMax)
}

// memoryRetry is the Retry-After of a request refused because the memory
// for apps is full: nothing frees on a schedule, so a short one.
const memoryRetry = 10 * time.Second

// DefaultAutoscaleTick is how often the autoscaler decides.
const DefaultAutoscaleTick = autoscale.DefaultTick

// scaler is one production app's autoscaler and what it remembers.
type scaler struct {
	project string

	// op serializes what changes the app's instances: a scale, a pause,
	// a resume, a stop, a start.
	op sync.Mutex

	// lastReq is the unix nanoseconds of the last request the edge
	// handed to the app (ServeApp): requests shorter than a tick are
	// seen here, not in the in-flight count.
	lastReq atomic.Int64
	// state is one of the states; read on every request.
	state atomic.Value // string

	// The rest is guarded by Host.scaleMu.
	set      apogee.AppScale
	dec      *autoscale.Decider
	desired  int
	busy     bool // a scale runs in the background
	panic    bool
	ready    int
	inflight int64
	activeAt time.Time // last tick with a request in flight, or a request
	stateAt  time.Time // when the app was paused or stopped
	plan     apogee.AppLimits
	planAt   time.Time
	// A start that failed (Wake of a stopped app) backs off: failures in
	// a row, when the next may start, and why the last did not.
	failures  int
	retryAt   time.Time
	failed    string
	decisions []apogee.ScaleDecision // oldest first
	samples   []apogee.ScaleSample   // oldest first, one per ScaleSampleEvery
}

func (s *scaler) State() string {
	st, _ := s.state.Load().(string)
	return st
}

// planEvery is how often a scaler reads its owner's plan again.
const planEvery = time.Minute

// scalerFor returns the project's scaler, made with settings set when
// there is none (nil set: the defaults of an app with no settings).
func (h *Host) scalerFor(project string, set *apogee.AppScale) *scaler {
	h.scaleMu.Lock()
	defer h.scaleMu.Unlock()
	s := h.scalers[project]
	if s == nil {
		st := (apogee.AppSettings{}).Scale()
		if set != nil {
			st = *set
		}
		dec, err := autoscale.New(h.cfg.Autoscale, settingsOf(st))
		if err != nil {
			// Validated settings and config: a bug.
			panic(fmt.Sprintf("apphost: autoscaler of %s: %v", project, err))
		}
		s = &scaler{project: project, set: st, dec: dec}
		s.state.Store(stateRunning)
		h.scalers[project] = s
		return s
	}
	if set != nil && *set != s.set {
		s.set = *set
		if err := s.dec.SetSettings(settingsOf(*set)); err != nil {
			panic(fmt.Sprintf("apphost: autoscaler of %s: %v", project, err))
		}
	}
	return s
}

func settingsOf(s apogee.AppScale) autoscale.Settings {
	return autoscale.Settings{Min: s.Min, Max: max(s.Max, 1), Concurrency: float64(max(s.Concurrency, 1))}
}

// SetScale records a project's scaling settings and applies their bounds
// now: an app below its new min gets the instances it lacks (ready before
// SetScale returns), one above its new max is drained down to it. The
// plan is checked by the caller (the platform) and again here.
func (h *Host) SetScale(ctx context.Context, project string, set apogee.AppScale) error {
	if err := apogee.ValidateScale(set); err != nil {
		return err
	}
	s := h.scalerFor(project, &set)
	cur := h.m.Current(project)
	if cur == "" {
		return nil
	}
	have := len(h.m.Instances(cur))
	want := min(max(have, set.Min), set.Max)
	if s.State() != stateRunning && set.Min > 0 {
		if err := h.Wake(ctx, project); err != nil {
			return err
		}
		have = len(h.m.Instances(cur))
	}
	if want == have {
		return nil
	}
	plan, err := h.appLimits(ctx, project)
	if err != nil {
		return err
	}
	if err := plan.CheckInstances(want); err != nil {
		return err
	}
	s.op.Lock()
	defer s.op.Unlock()
	if want > have {
		done, err := h.reserve(ctx, s, cur, want-have)
		if err != nil {
			return err
		}
		defer done()
	}
	if err := h.m.Scale(ctx, project, want); err != nil {
		return err
	}
	h.record(s, apogee.ScaleDecision{At: h.cfg.Now(), From: have, To: want, Action: "scale",
		Reason: fmt.Sprintf("settings changed: min %d, max %d → %d", set.Min, set.Max, want)})
	h.scaleMu.Lock()
	s.desired = want
	h.scaleMu.Unlock()
	return nil
}

var _ appproxy.Waker = (*Host)(nil)

// Wake makes the project's production app take requests: a paused app is
// resumed, a stopped one starts its min instances (at least one), and
// Wake returns once one is ready (or ctx ends). An app that runs returns
// at once. The edge calls it for every request to an app's production
// host (and an activator that holds requests calls it when it has one
// for an app with no ready instance).
func (h *Host) Wake(ctx context.Context, project string) error {
	h.scaleMu.Lock()
	s := h.scalers[project]
	h.scaleMu.Unlock()
	if s == nil {
		return nil
	}
	s.lastReq.Store(h.cfg.Now().UnixNano())
	if s.State() == stateRunning {
		return nil
	}
	if err := h.backingOff(s); err != nil {
		return err
	}
	ch := h.flights.DoChan("wake/"+project, func() (any, error) {
		return nil, h.wake(context.WithoutCancel(ctx), s)
	})
	select {
	case res := <-ch:
		return res.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// backingOff returns the error of the last failed start while its backoff
// lasts (a *appproxy.WakeError), nil when the app may start.
func (h *Host) backingOff(s *scaler) error {
	now := h.cfg.Now()
	h.scaleMu.Lock()
	defer h.scaleMu.Unlock()
	if s.failures == 0 || !now.Before(s.retryAt) {
		return nil
	}
	wait := s.retryAt.Sub(now)
	return &appproxy.WakeError{
		Reason:     fmt.Sprintf("%s; it is tried again in %s", s.failed, wait.Round(time.Second)),
		RetryAfter: wait,
	}
}

// startFailed records a failed start of a stopped app and starts its
// backoff; it returns the error every request gets until the backoff ends.
func (h *Host) startFailed(s *scaler, now time.Time, n int, err error) error {
	why := "the app did not start: " + apogee.ErrorMessage(err)
	h.scaleMu.Lock()
	s.failures++
	wait := wakeBackoff(s.failures)
	s.retryAt, s.failed = now.Add(wait), why
	failures := s.failures
	h.scaleMu.Unlock()
	h.log.Warn("app start failed; backing off", "project", s.project, "failures", failures, "retry_in", wait, "err", err)
	h.record(s, apogee.ScaleDecision{At: now, From: 0, To: 0, Action: "start-failed",
		Reason: fmt.Sprintf("a request woke it to start %s, but %s; requests are answered 503 for %s, then the next one tries again (failure %d in a row)",
			plural(n, "instance"), strings.TrimPrefix(why, "the app "), wait, failures)})
	return &appproxy.WakeError{Reason: fmt.Sprintf("%s; it is tried again in %s", why, wait), RetryAfter: wait, Err: err}
}

func (h *Host) wake(ctx context.Context, s *scaler) error {
	s.op.Lock()
	defer s.op.Unlock()
	if err := h.backingOff(s); err != nil {
		return err // failed while this one waited for the lock
	}
	now := h.cfg.Now()
	cur := h.m.Current(s.project)
	if cur == "" {
		return apogee.Errorf(apogee.ECONFLICT, "%s has no release serving", s.project)
	}
	h.scaleMu.Lock()
	set, idle := s.set, now.Sub(s.activeAt).Round(time.Second)
	h.scaleMu.Unlock()
	switch s.State() {
	case statePaused:
		start := time.Now()
		for _, in := range h.m.Instances(cur) {
			if p, ok := in.(apps.Pauser); ok {
				if err := p.Resume(ctx); err != nil {
					return fmt.Errorf("apphost: resume %s: %w", in.ID(), err)
				}
			}
		}
		s.state.Store(stateRunning)
		n := len(h.m.Instances(cur))
		h.record(s, apogee.ScaleDecision{At: now, From: n, To: n, Action: "resume",
			Reason: fmt.Sprintf("a request after %s idle: resumed in %s", idle, time.Since(start).Round(time.Microsecond))})
	case stateStopped:
		n := max(set.Min, 1)
		done, err := h.reserve(ctx, s, cur, n)
		if err != nil {
			return err
		}
		defer done()
		spare := h.takeSpare(s.project, cur)
		start := time.Now()
		ctx, cancel := context.WithTimeout(ctx, apps.DefaultBootTimeout)
		defer cancel()
		if err := h.m.Scale(ctx, s.project, n); err != nil {
			if ctx.Err() != nil && apogee.ErrorCode(err) == apogee.EINTERNAL {
				err = apogee.Errorf(apogee.EINVALID, "no instance was ready within %s", apps.DefaultBootTimeout)
			}
			return h.startFailed(s, now, n, err)
		}
		s.state.Store(stateRunning)
		h.scaleMu.Lock()
		s.failures, s.failed = 0, ""
		h.scaleMu.Unlock()
		how := ""
		if spare {
			how = " (its sandbox made beforehand)"
		}
		h.record(s, apogee.ScaleDecision{At: now, From: 0, To: n, Action: "start",
			Reason: fmt.Sprintf("a request after %s idle (stopped): %s ready in %s%s", idle, plural(n, "instance"), time.Since(start).Round(time.Millisecond), how)})
	}
	h.scaleMu.Lock()
	s.activeAt = now
	s.desired = max(s.desired, 1)
	h.scaleMu.Unlock()
	return nil
}

// record keeps d in s's history and tells who waits for a change.
func (h *Host) record(s *scaler, d apogee.ScaleDecision) {
	h.scaleMu.Lock()
	s.decisions = append(s.decisions, d)
	if n := len(s.decisions) - apogee.ScaleDecisionsKept; n > 0 {
		s.decisions = slices.Delete(s.decisions, 0, n)
	}
	close(h.scaleChanged)
	h.scaleChanged = make(chan struct{})
	h.scaleMu.Unlock()
	h.log.Info("app scaled", "project", s.project, "action", d.Action, "from", d.From, "to", d.To, "reason", d.Reason)
}

// ScaleChanged returns a channel closed at the next scaling decision or
// change of an app's state (for tests and live views).
func (h *Host) ScaleChanged() <-chan struct{} {
	h.scaleMu.Lock()
	defer h.scaleMu.Unlock()
	return h.scaleChanged
}

// Settle waits until the scaling Autoscale started is done (for tests
// that step the autoscaler themselves).
func (h *Host) Settle() { h.scaleWG.Wait() }

// runAutoscaler calls Autoscale every tick until ctx ends.
func (h *Host) runAutoscaler(ctx context.Context) {
	if h.cfg.AutoscaleTick < 0 {
		return
	}
	t := time.NewTicker(h.cfg.AutoscaleTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.Autoscale(ctx)
		}
	}
}

// Autoscale runs one step of every production app's autoscaler at
// Config.Now: it observes the requests in flight, decides, and starts
// what the decision asks for in the background (one change at a time
// per app). Call it every DefaultAutoscaleTick; Run does.
func (h *Host) Autoscale(ctx context.Context) {
	now := h.cfg.Now()
	h.roomMu.Lock()
	defer h.roomMu.Unlock()
	running := h.m.Running()
	mem := h.memoryUse(running)
	for project := range running {
		cur := h.m.Current(project)
		if cur == "" {
			continue
		}
		h.autoscaleApp(ctx, now, h.scalerFor(project, nil), cur, mem)
	}
}

// forgetScaler drops what the autoscaler knows of a project whose app
// stopped for good (it became static, or was deleted).
func (h *Host) forgetScaler(project string) {
	h.dropSpare(project, "")
	h.scaleMu.Lock()
	defer h.scaleMu.Unlock()
	delete(h.scalers, project)
}

// memory is what the apps' instances hold of Config.AppsMemory.
type memory struct {
	used int64
}

// memoryUse adds up the memory limits of every instance running or
// paused here, the spare sandboxes' and what starts reserved.
func (h *Host) memoryUse(running map[string][]string) *memory {
	h.scaleMu.Lock()
	m := &memory{used: h.reserved + int64(len(h.spares))*spareMemory}
	h.scaleMu.Unlock()
	for _, ids := range running {
		for _, id := range ids {
			for _, in := range h.m.Instances(id) {
				m.used += instanceMemory(in.Spec().Limits)
			}
		}
	}
	return m
}

func instanceMemory(l apps.Limits) int64 {
	if l.MemoryBytes > 0 {
		return l.MemoryBytes
	}
	return apps.DefaultMemory
}

func (h *Host) autoscaleApp(ctx context.Context, now time.Time, s *scaler, cur string, mem *memory) {
	targets := h.m.Targets(cur)
	inflight := autoscale.Total(targets)
	ready := 0
	for _, t := range targets {
		if !t.Draining() && t.Backend().Ready() {
			ready++
		}
	}
	if s.planAt.IsZero() || now.Sub(s.planAt) >= planEvery {
		if plan, err := h.appLimits(ctx, s.project); err == nil {
			h.scaleMu.Lock()
			s.plan, s.planAt = plan, now
			h.scaleMu.Unlock()
		}
	}

	h.scaleMu.Lock()
	s.dec.Observe(now, inflight)
	if last := time.Unix(0, s.lastReq.Load()); inflight > 0 || s.activeAt.IsZero() {
		s.activeAt = now
	} else if last.After(s.activeAt) {
		s.activeAt = last
	}
	state := s.State()
	if state == statePaused {
		ready = len(targets) // frozen, out of the pool, but there
	}
	d := s.dec.Decide(now, ready)
	s.ready, s.inflight, s.panic = ready, inflight, d.Panic
	s.sample(now, len(targets), inflight)
	want, reason := d.Desired, d.Reason
	if pm := s.plan.MaxInstances; pm != apogee.Unlimited && s.plan.Plan != nil && int64(want) > pm {
		want = int(pm)
		reason += fmt.Sprintf("; clamped to %d by the %s plan", want, s.plan.Plan.Name)
	}
	set, busy, idle, prev := s.set, s.busy, now.Sub(s.activeAt), s.desired
	h.scaleMu.Unlock()

	have := len(targets)
	if busy {
		return
	}
	// The idle tiers of an app with min 0: its last instance is paused,
	// then stopped; never scaled to zero at once.
	if want == 0 {
		switch {
		case have > 1:
			want = 1
			reason += "; the last instance waits for the idle tiers (pause, then stop)"
		case have == 0:
			return
		case idle >= time.Duration(set.StopAfter)*time.Second:
			h.background(ctx, s, func(ctx context.Context) {
				h.stop(ctx, s, now, fmt.Sprintf("no request for %s (stop after %s)", idle.Round(time.Second), secs(set.StopAfter)))
			})
			return
		case idle >= time.Duration(set.PauseAfter)*time.Second && state == stateRunning:
			h.background(ctx, s, func(ctx context.Context) { h.pause(ctx, s, cur, now, idle, set) })
			return
		default:
			return
		}
	}
	if state != stateRunning {
		return // Wake brings it back; the decider only sees it then
	}
	if want > have && h.cfg.AppsMemory > 0 {
		var note string
		want, note = h.fitMemory(ctx, s, cur, want, have, mem)
		if note != "" {
			reason += "; " + note
		}
	}
	if want == have {
		if want != prev {
			h.scaleMu.Lock()
			s.desired = want
			h.scaleMu.Unlock()
		}
		return
	}
	dec := apogee.ScaleDecision{At: now, From: have, To: want, InFlight: d.StableInFlight, Panic: d.Panic, Action: "scale", Reason: reason}
	if d.Panic {
		dec.InFlight = d.PanicInFlight
	}
	h.scaleMu.Lock()
	s.desired = want
	h.scaleMu.Unlock()
	h.record(s, dec)
	h.background(ctx, s, func(ctx context.Context) {
		start := time.Now()
		if err := h.m.Scale(ctx, s.project, want); err != nil {
			h.log.Warn("autoscale", "project", s.project, "to", want, "err", err)
			return
		}
		if want > have {
			h.met.scaleUp.Observe(time.Since(start).Seconds())
		}
	})
}

// background runs f for s, one at a time, marking s busy meanwhile.
func (h *Host) background(ctx context.Context, s *scaler, f func(ctx context.Context)) {
	h.scaleMu.Lock()
	s.busy = true
	h.scaleMu.Unlock()
	h.scaleWG.Go(func() {
		defer func() {
			h.scaleMu.Lock()
			s.busy = false
			close(h.scaleChanged)
			h.scaleChanged = make(chan struct{})
			h.scaleMu.Unlock()
		}()
		s.op.Lock()
		defer s.op.Unlock()
		f(context.WithoutCancel(ctx))
	})
}

// pause freezes the app's instances (the runtime takes them out of
// rotation: the edge's activator holds requests and calls Wake). It
// gives up when a request is in flight or arrived meanwhile, or the
// runtime cannot pause them.
func (h *Host) pause(ctx context.Context, s *scaler, cur string, now time.Time, idle time.Duration, set apogee.AppScale) {
	ins := h.m.Instances(cur)
	for _, in := range ins {
		if _, ok := in.(apps.Pauser); !ok {
			h.scaleMu.Lock()
			noted := len(s.decisions) > 0 && s.decisions[len(s.decisions)-1].Action == "keep"
			h.scaleMu.Unlock()
			if !noted {
				h.record(s, apogee.ScaleDecision{At: now, From: len(ins), To: len(ins), Action: "keep",
					Reason: fmt.Sprintf("no request for %s, but this runtime cannot pause instances: it runs until stop after (%s)", idle.Round(time.Second), secs(set.StopAfter))})
			}
			return
		}
	}
	if autoscale.Total(h.m.Targets(cur)) > 0 || s.lastReq.Load() > now.UnixNano() {
		return
	}
	s.state.Store(statePaused)
	for _, in := range ins {
		if err := in.(apps.Pauser).Pause(ctx); err != nil {
			h.log.Warn("pause an idle instance", "project", s.project, "instance", in.ID(), "err", err)
			for _, in := range ins {
				_ = in.(apps.Pauser).Resume(ctx)
			}
			s.state.Store(stateRunning)
			return
		}
	}
	h.scaleMu.Lock()
	s.stateAt = now
	h.scaleMu.Unlock()
	h.record(s, apogee.ScaleDecision{At: now, From: len(ins), To: len(ins), Action: "pause",
		Reason: fmt.Sprintf("no request for %s (pause after %s): paused, memory kept", idle.Round(time.Second), secs(set.PauseAfter))})
}

// stop stops the app's instances (a paused one is resumed first, so that
// it can exit): its memory is freed, the next request starts one, in a
// spare sandbox made now (prestart).
func (h *Host) stop(ctx context.Context, s *scaler, now time.Time, why string) {
	h.stopFor(ctx, s, now, why, true)
}

// stopFor is stop; spare says whether to make the app a spare sandbox
// (not when it is stopped to free memory).
func (h *Host) stopFor(ctx context.Context, s *scaler, now time.Time, why string, spare bool) {
	cur := h.m.Current(s.project)
	ins := h.m.Instances(cur)
	was := s.State()
	s.state.Store(stateStopped)
	if was == statePaused {
		for _, in := range ins {
			if p, ok := in.(apps.Pauser); ok {
				if err := p.Resume(ctx); err != nil {
					h.log.Warn("resume a paused instance to stop it", "instance", in.ID(), "err", err)
				}
			}
		}
	}
	if err := h.m.Scale(ctx, s.project, 0); err != nil {
		h.log.Warn("stop an idle app", "project", s.project, "err", err)
		s.state.Store(was)
		return
	}
	h.scaleMu.Lock()
	s.stateAt, s.desired = now, 0
	h.scaleMu.Unlock()
	why += ": stopped, memory freed"
	if spare && h.prestart(ctx, s.project, now) {
		why += "; a spare sandbox waits for its next start"
	}
	h.record(s, apogee.ScaleDecision{At: now, From: len(ins), To: 0, Action: "stop", Reason: why})
}

// fitMemory returns how many of want instances fit Config.AppsMemory,
// stopping the least recently used paused apps to make room, and a note
// when it could not fit them all.
func (h *Host) fitMemory(ctx context.Context, s *scaler, cur string, want, have int, mem *memory) (int, string) {
	per := int64(apps.DefaultMemory)
	if spec, ok := h.m.Spec(cur); ok {
		per = instanceMemory(spec.Limits)
	}
	need := int64(want-have) * per
	if mem.used+need <= h.cfg.AppsMemory {
		mem.used += need
		return want, ""
	}
	// Spare sandboxes first (the oldest first), then the least recently
	// used paused apps.
	for mem.used+need > h.cfg.AppsMemory && h.dropOldestSpare() {
		mem.used -= spareMemory
	}
	h.scaleMu.Lock()
	var paused []*scaler
	for _, o := range h.scalers {
		if o != s && o.State() == statePaused && !o.busy {
			paused = append(paused, o)
		}
	}
	h.scaleMu.Unlock()
	slices.SortFunc(paused, func(a, b *scaler) int { return a.stateAt.Compare(b.stateAt) })
	now := h.cfg.Now()
	for _, o := range paused {
		if mem.used+need <= h.cfg.AppsMemory {
			break
		}
		// One busy with a change of its own is left alone (and no two
		// apps making room can wait for each other).
		if !o.op.TryLock() {
			continue
		}
		if o.State() != statePaused {
			o.op.Unlock()
			continue
		}
		var freed int64
		for _, in := range h.m.Instances(h.m.Current(o.project)) {
			freed += instanceMemory(in.Spec().Limits)
		}
		h.stopFor(ctx, o, now, fmt.Sprintf("%s needs the memory (--apps-memory is full; the least recently used paused app goes first)", s.project), false)
		o.op.Unlock()
		if o.State() == stateStopped {
			mem.used -= freed
		}
	}
	fit := want
	for fit > have && mem.used+int64(fit-have)*per > h.cfg.AppsMemory {
		fit--
	}
	mem.used += int64(fit-have) * per
	if fit < want {
		return fit, fmt.Sprintf("limited to %d by the memory for apps (--apps-memory %d MiB)", fit, h.cfg.AppsMemory>>20)
	}
	return fit, ""
}

// sample keeps the most instances and requests in flight of each
// ScaleSampleEvery of the last ScaleHistory. scaleMu is held.
func (s *scaler) sample(now time.Time, instances int, inflight int64) {
	at := now.Truncate(apogee.ScaleSampleEvery)
	if n := len(s.samples); n > 0 && s.samples[n-1].At.Equal(at) {
		last := &s.samples[n-1]
		last.Instances = max(last.Instances, instances)
		last.InFlight = max(last.InFlight, inflight)
		return
	}
	s.samples = append(s.samples, apogee.ScaleSample{At: at, Instances: instances, InFlight: inflight})
	from := now.Add(-apogee.ScaleHistory)
	i := 0
	for i < len(s.samples) && !s.samples[i].At.After(from) {
		i++
	}
	s.samples = slices.Delete(s.samples, 0, i)
}

// Scaling returns what the autoscaler does with a project's app here; nil
// when it does not run here.
func (h *Host) Scaling(project string) *apogee.AppScaling {
	h.scaleMu.Lock()
	defer h.scaleMu.Unlock()
	s := h.scalers[project]
	if s == nil {
		return nil
	}
	v := &apogee.AppScaling{
		State: s.State(), Desired: s.desired, Ready: s.ready, InFlight: s.inflight, Panic: s.panic,
		IdleSince: s.activeAt, Decisions: slices.Clone(s.decisions), History: slices.Clone(s.samples),
	}
	slices.Reverse(v.Decisions)
	if v.Decisions == nil {
		v.Decisions = []apogee.ScaleDecision{}
	}
	return v
}

func secs(n int) time.Duration { return time.Duration(n) * time.Second }
