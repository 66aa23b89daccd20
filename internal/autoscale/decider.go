// Package autoscale decides how many instances an app should run, from the
// requests in flight to it. The decider is the Knative Pod Autoscaler's
// (KPA) algorithm with Knative's published defaults; it is pure and
// deterministic: the caller passes the time in to every call, and nothing
// runs in the background.
//
// The input is the exact in-flight count the edge keeps: for an app served
// by an appproxy.Pool, the sum of Target.InFlight over Pool.Targets() (see
// Total). No metrics are scraped.
//
// internal/apphost runs one decider per production app, every second
// (apphost.Host.Autoscale), and applies its decisions.
package autoscale

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Knative's published defaults for the KPA, and the few values where
// Apogee differs. Sources:
//   - https://knative.dev/docs/serving/autoscaling/concurrency/
//     (container-concurrency-target-percentage / target utilisation: 70)
//   - https://knative.dev/docs/serving/autoscaling/kpa-specific/
//     (stable-window: 60s; panic-window-percentage: 10; panic-threshold-
//     percentage: 200; the last instance goes only after a stable window
//     without traffic; no scale-down while panicking)
//   - knative/serving config/core/configmaps/autoscaler.yaml
//     (max-scale-up-rate: 1000; max-scale-down-rate: 2.0; tick: 2s)
const (
	// DefaultTargetUtilization is the share of an instance's concurrency
	// the autoscaler aims for in steady state (Knative: 70%).
	DefaultTargetUtilization = 0.70
	// DefaultStableWindow is the window averaged in stable mode (Knative: 60 s).
	DefaultStableWindow = 60 * time.Second
	// DefaultPanicWindowPercentage sizes the panic window as a share of the
	// stable window (Knative: 10%, so 6 s).
	DefaultPanicWindowPercentage = 10.0
	// DefaultPanicThreshold enters panic mode when the panic window asks
	// for this many times the ready instances (Knative: 200%).
	DefaultPanicThreshold = 2.0
	// DefaultMaxScaleDownRate: one step removes at most half the ready
	// instances (Knative: 2.0).
	DefaultMaxScaleDownRate = 2.0
	// DefaultMaxScaleUpRate: one step adds at most 1000× the ready
	// instances (Knative: 1000.0).
	DefaultMaxScaleUpRate = 1000.0
	// DefaultTick is how often the caller should Decide. Knative ticks
	// every 2 s; Apogee decides every second, as its issue asks, because
	// the counts are local and cost nothing to read.
	DefaultTick = time.Second
)

// bucket is the granularity of the windows: one bucket per second.
const bucket = time.Second

// Config holds the algorithm's knobs, shared by all apps. The zero value
// is not valid; start from DefaultConfig.
type Config struct {
	TargetUtilization     float64       // in (0, 1]
	StableWindow          time.Duration // ≥ 6 s, whole seconds
	PanicWindowPercentage float64       // in (0, 100]
	PanicThreshold        float64       // > 1
	MaxScaleDownRate      float64       // > 1
	MaxScaleUpRate        float64       // > 1
}

// DefaultConfig returns Knative's defaults (see the constants).
func DefaultConfig() Config {
	return Config{
		TargetUtilization:     DefaultTargetUtilization,
		StableWindow:          DefaultStableWindow,
		PanicWindowPercentage: DefaultPanicWindowPercentage,
		PanicThreshold:        DefaultPanicThreshold,
		MaxScaleDownRate:      DefaultMaxScaleDownRate,
		MaxScaleUpRate:        DefaultMaxScaleUpRate,
	}
}

// PanicWindow returns the panic window: PanicWindowPercentage of the
// stable window, at least one bucket.
func (c Config) PanicWindow() time.Duration {
	w := time.Duration(float64(c.StableWindow) * c.PanicWindowPercentage / 100).Truncate(bucket)
	return max(w, bucket)
}

func (c Config) validate() error {
	switch {
	case !(c.TargetUtilization > 0 && c.TargetUtilization <= 1):
		return fmt.Errorf("autoscale: target utilization %v must be in (0, 1]", c.TargetUtilization)
	case c.StableWindow < 6*time.Second || c.StableWindow%bucket != 0:
		return fmt.Errorf("autoscale: stable window %v must be whole seconds, at least 6s", c.StableWindow)
	case !(c.PanicWindowPercentage > 0 && c.PanicWindowPercentage <= 100):
		return fmt.Errorf("autoscale: panic window percentage %v must be in (0, 100]", c.PanicWindowPercentage)
	case !(c.PanicThreshold > 1):
		return fmt.Errorf("autoscale: panic threshold %v must be above 1", c.PanicThreshold)
	case !(c.MaxScaleDownRate > 1):
		return fmt.Errorf("autoscale: max scale-down rate %v must be above 1", c.MaxScaleDownRate)
	case !(c.MaxScaleUpRate > 1):
		return fmt.Errorf("autoscale: max scale-up rate %v must be above 1", c.MaxScaleUpRate)
	}
	return nil
}

// Settings are one app's: the user's bounds and target.
type Settings struct {
	Min int // instances kept when idle; 0 allows scale to zero
	Max int // instances never exceeded; at least 1 and at least Min
	// Concurrency is the target number of requests in flight per instance
	// (Knative's containerConcurrency / target); the decider aims for
	// Concurrency × TargetUtilization.
	Concurrency float64
}

// Validate reports settings a decider cannot use.
func (s Settings) Validate() error {
	switch {
	case s.Min < 0:
		return fmt.Errorf("autoscale: min %d must not be negative", s.Min)
	case s.Max < 1:
		return fmt.Errorf("autoscale: max %d must be at least 1", s.Max)
	case s.Max < s.Min:
		return fmt.Errorf("autoscale: max %d must be at least min %d", s.Max, s.Min)
	case !(s.Concurrency > 0) || math.IsInf(s.Concurrency, 0):
		return fmt.Errorf("autoscale: concurrency %v must be a positive number", s.Concurrency)
	}
	return nil
}

// Decision is one step's outcome.
type Decision struct {
	At      time.Time
	Desired int // instances to run
	Ready   int // instances ready when deciding
	// StableInFlight and PanicInFlight are the average requests in flight
	// over the stable and the panic window.
	StableInFlight float64
	PanicInFlight  float64
	Panic          bool   // in panic mode after this step
	Reason         string // for people: "in-flight 160 over 2 instances at target 50×0.7 → 5"
}

type slot struct {
	sec int64 // unix second of the bucket; 0 = empty
	sum float64
	n   int
}

// Decider is one app's autoscaler. It is not safe for concurrent use: one
// goroutine (the app's ticker) owns it.
type Decider struct {
	cfg      Config
	set      Settings
	slots    []slot // ring of per-second buckets covering the stable window
	first    int64  // unix second of the first observation; 0 = none
	last     int64  // latest observed second
	panicAt  time.Time
	panicMax int // highest desired count since panic began
}

// New returns a decider for one app.
func New(cfg Config, s Settings) (*Decider, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &Decider{cfg: cfg, set: s, slots: make([]slot, int(cfg.StableWindow/bucket))}, nil
}

// SetSettings changes the app's bounds and target; the windows are kept.
func (d *Decider) SetSettings(s Settings) error {
	if err := s.Validate(); err != nil {
		return err
	}
	d.set = s
	return nil
}

// Settings returns the app's current settings.
func (d *Decider) Settings() Settings { return d.set }

// Observe records that inFlight requests were in flight at now. Call it at
// least once per second (more often is fine: a second's samples are
// averaged). Samples older than the latest one are dropped.
func (d *Decider) Observe(now time.Time, inFlight int64) {
	sec := now.Unix()
	if sec < d.last {
		return
	}
	if inFlight < 0 {
		inFlight = 0
	}
	d.last = sec
	if d.first == 0 {
		d.first = sec
	}
	s := &d.slots[int(sec%int64(len(d.slots)))]
	if s.sec != sec {
		*s = slot{sec: sec}
	}
	s.sum += float64(inFlight)
	s.n++
}

// average returns the mean of the per-second averages in the window
// ending at sec, and whether any second in it had a sample.
func (d *Decider) average(sec int64, window time.Duration) (float64, bool) {
	from := sec - int64(window/bucket) // exclusive
	var total float64
	var n int
	for i := range d.slots {
		s := &d.slots[i]
		if s.n == 0 || s.sec <= from || s.sec > sec {
			continue
		}
		total += s.sum / float64(s.n)
		n++
	}
	if n == 0 {
		return 0, false
	}
	return total / float64(n), true
}

// Decide returns the number of instances the app should run at now, given
// ready instances ready now. Call it once per tick (DefaultTick).
func (d *Decider) Decide(now time.Time, ready int) Decision {
	ready = max(ready, 0)
	sec := now.Unix()
	stable, _ := d.average(sec, d.cfg.StableWindow)
	panicAvg, _ := d.average(sec, d.cfg.PanicWindow())

	target := d.set.Concurrency * d.cfg.TargetUtilization
	readyF := float64(max(ready, 1)) // as Knative: count at least one
	maxUp := math.Ceil(d.cfg.MaxScaleUpRate * readyF)
	maxDown := math.Floor(readyF / d.cfg.MaxScaleDownRate)

	wantStable := math.Ceil(stable / target)
	wantPanic := math.Ceil(panicAvg / target)
	dspc := clampF(wantStable, maxDown, maxUp)
	dppc := clampF(wantPanic, maxDown, maxUp)

	// Panic: the short window asks for at least PanicThreshold × ready.
	over := dppc/readyF >= d.cfg.PanicThreshold
	entered, left := false, false
	switch {
	case over && d.panicAt.IsZero():
		d.panicAt, d.panicMax, entered = now, ready, true
	case over:
		d.panicAt = now // still over: stay a full stable window more
	case !d.panicAt.IsZero() && !now.Before(d.panicAt.Add(d.cfg.StableWindow)):
		d.panicAt, d.panicMax, left = time.Time{}, 0, true
	}
	panicking := !d.panicAt.IsZero()

	desired := int(dspc)
	shown := stable
	if panicking {
		// Never scale down in panic: keep the most asked for since it began.
		d.panicMax = max(d.panicMax, int(dppc))
		desired = d.panicMax
		shown = panicAvg
	}

	var notes []string
	if !panicking && wantStable < dspc && int(dspc) < ready {
		notes = append(notes, "scale-down limited to "+fmtNum(d.cfg.MaxScaleDownRate)+"× per step")
	}

	// Scale to zero: only with min 0 and a whole stable window observed
	// with no request in flight (Knative removes the last instance only
	// after a stable window without traffic).
	idle := d.first != 0 && sec-d.first >= int64(d.cfg.StableWindow/bucket) && stable == 0
	if desired == 0 && !(d.set.Min == 0 && idle) {
		desired = min(ready, 1)
		if desired == 1 && d.set.Min == 0 {
			notes = append(notes, "kept 1 until a stable window ("+d.cfg.StableWindow.String()+") without requests")
		}
	}

	switch {
	case desired < d.set.Min:
		desired = d.set.Min
		notes = append(notes, "raised to min "+strconv.Itoa(d.set.Min))
	case desired > d.set.Max:
		desired = d.set.Max
		notes = append(notes, "clamped to max "+strconv.Itoa(d.set.Max))
	}

	var reason string
	if desired == 0 && idle && d.set.Min == 0 {
		reason = "no requests for " + d.cfg.StableWindow.String() + ", min 0 → 0"
	} else {
		reason = fmt.Sprintf("in-flight %s over %d instances at target %s×%s → %d",
			fmtNum(shown), ready, fmtNum(d.set.Concurrency), fmtNum(d.cfg.TargetUtilization), desired)
	}
	switch {
	case entered:
		reason += fmt.Sprintf(" (panic: %s window asks %s ≥ %s× ready)", d.cfg.PanicWindow(), fmtNum(dppc), fmtNum(d.cfg.PanicThreshold))
	case panicking:
		reason += " (panic: no scale-down until " + d.cfg.StableWindow.String() + " without panic)"
	case left:
		reason += " (panic over)"
	}
	for _, n := range notes {
		reason += "; " + n
	}
	return Decision{
		At: now, Desired: desired, Ready: ready,
		StableInFlight: stable, PanicInFlight: panicAvg,
		Panic: panicking, Reason: reason,
	}
}

func clampF(v, lo, hi float64) float64 { return math.Min(math.Max(v, lo), hi) }

// fmtNum prints v with at most one decimal: 160, 0.7, 12.5.
func fmtNum(v float64) string {
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

// InFlighter is what the decider's caller reads counts from;
// *appproxy.Target implements it.
type InFlighter interface{ InFlight() int64 }

// Total returns the requests in flight to all of ts: the Observe input for
// an app whose instances are ts (appproxy.Pool.Targets()).
func Total[T InFlighter](ts []T) int64 {
	var n int64
	for _, t := range ts {
		n += t.InFlight()
	}
	return n
}
