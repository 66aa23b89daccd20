package autoscale

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

// sim drives a decider one second at a time: Observe then Decide, as the
// runtime's ticker will. When follow is set, ready instances become the
// desired count at once (the instance start is not what is tested here).
type sim struct {
	d      *Decider
	now    time.Time
	ready  int
	follow bool
	log    []Decision
}

func newSim(t *testing.T, s Settings, ready int, follow bool) *sim {
	t.Helper()
	d, err := New(DefaultConfig(), s)
	if err != nil {
		t.Fatal(err)
	}
	return &sim{d: d, now: t0, ready: ready, follow: follow}
}

// run steps n seconds with load(i) in flight at second i of this run.
func (s *sim) run(n int, load func(i int) int64) []Decision {
	out := make([]Decision, 0, n)
	for i := range n {
		s.d.Observe(s.now, load(i))
		dec := s.d.Decide(s.now, s.ready)
		out = append(out, dec)
		if s.follow {
			s.ready = dec.Desired
		}
		s.now = s.now.Add(time.Second)
	}
	s.log = append(s.log, out...)
	return out
}

func flat(v int64) func(int) int64 { return func(int) int64 { return v } }

func desired(ds []Decision) []int {
	out := make([]int, len(ds))
	for i, d := range ds {
		out[i] = d.Desired
	}
	return out
}

func TestDecider(t *testing.T) {
	s50 := Settings{Min: 0, Max: 10, Concurrency: 50} // target 35 per instance
	tests := []struct {
		name  string
		set   Settings
		ready int
		check func(t *testing.T, s *sim)
	}{
		{
			name: "steady load keeps the count, no panic", set: s50, ready: 2,
			check: func(t *testing.T, s *sim) {
				for i, d := range s.run(180, flat(70)) {
					if d.Desired != 2 || d.Panic {
						t.Fatalf("second %d: %+v", i, d)
					}
				}
				last := s.log[len(s.log)-1]
				if want := "in-flight 70 over 2 instances at target 50×0.7 → 2"; last.Reason != want {
					t.Errorf("reason %q, want %q", last.Reason, want)
				}
			},
		},
		{
			name: "the issue's example: 160 over 2 at 50×0.7 → 5, in panic", set: s50, ready: 2,
			check: func(t *testing.T, s *sim) {
				d := s.run(1, flat(160))[0]
				if d.Desired != 5 || !d.Panic {
					t.Fatalf("%+v", d)
				}
				if !strings.HasPrefix(d.Reason, "in-flight 160 over 2 instances at target 50×0.7 → 5 (panic: 6s window") {
					t.Errorf("reason %q", d.Reason)
				}
			},
		},
		{
			name: "step up enters panic and reaches the load within the panic window", set: s50, ready: 1,
			check: func(t *testing.T, s *sim) {
				s.follow = true
				for i, d := range s.run(120, flat(30)) {
					if d.Desired != 1 || d.Panic {
						t.Fatalf("warm-up second %d: %+v", i, d)
					}
				}
				step := s.run(6, flat(200)) // ceil(200/35) = 6
				if !step[0].Panic {
					t.Errorf("first second of the step is not panic: %+v", step[0])
				}
				if got := step[len(step)-1].Desired; got != 6 {
					t.Errorf("after the panic window: desired %d, want 6; %v", got, desired(step))
				}
				// The stable window alone would still ask for less.
				if w := step[len(step)-1].StableInFlight; w >= 200 {
					t.Errorf("stable average %v should lag the step", w)
				}
				for i := 1; i < len(step); i++ {
					if step[i].Desired < step[i-1].Desired {
						t.Errorf("scaled down in panic: %v", desired(step))
					}
				}
			},
		},
		{
			name: "panic never scales down and ends a stable window after the burst", set: s50, ready: 1,
			check: func(t *testing.T, s *sim) {
				s.follow = true
				s.run(60, flat(0))
				burst := s.run(6, flat(300)) // ceil(300/35) = 9
				peak := burst[len(burst)-1].Desired
				if peak != 9 {
					t.Fatalf("peak %d, want 9: %v", peak, desired(burst))
				}
				after := s.run(90, flat(0))
				end := -1
				for i, d := range after {
					if !d.Panic {
						end = i
						break
					}
					if d.Desired != peak {
						t.Fatalf("second %d after the burst, in panic: desired %d, want %d", i, d.Desired, peak)
					}
				}
				if end < 0 {
					t.Fatal("never left panic")
				}
				// Left exactly a stable window after the last tick whose
				// panic window asked for ≥ 2× the ready instances.
				all := append(burst, after...)
				lastOver := -1
				for i, d := range all {
					if math.Ceil(d.PanicInFlight/35) >= 2*float64(max(d.Ready, 1)) {
						lastOver = i
					}
				}
				if got := len(burst) + end - lastOver; lastOver < 0 || got != 60 {
					t.Errorf("left panic %d s after the last tick over the threshold, want 60", got)
				}
				if !strings.Contains(after[end].Reason, "panic over") {
					t.Errorf("reason %q", after[end].Reason)
				}
				// Left exactly a stable window after the last tick over the threshold.
				sinceOver := (len(burst) - 1 - lastOver) + end + 1
				if lastOver < 0 || sinceOver != 60 {
					t.Errorf("left panic %d s after the last tick over the threshold, want 60", sinceOver)
				}
			},
		},
		{
			name: "step down halves at most per step", set: Settings{Min: 1, Max: 10, Concurrency: 50}, ready: 8,
			check: func(t *testing.T, s *sim) {
				s.follow = true
				got := desired(s.run(5, flat(0)))
				if want := []int{4, 2, 1, 1, 1}; fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("desired %v, want %v", got, want)
				}
				if r := s.log[0].Reason; !strings.Contains(r, "scale-down limited to 2× per step") {
					t.Errorf("reason %q", r)
				}
			},
		},
		{
			name: "load falls: never below half the ready instances, settles at min", set: Settings{Min: 1, Max: 20, Concurrency: 50}, ready: 10,
			check: func(t *testing.T, s *sim) {
				s.follow = true
				s.run(120, flat(350)) // ceil(350/35) = 10
				if s.ready != 10 {
					t.Fatalf("ready %d under 350 in flight, want 10", s.ready)
				}
				for _, d := range s.run(120, flat(0)) {
					if d.Desired < d.Ready/2 {
						t.Fatalf("dropped more than half: %+v", d)
					}
				}
				if s.ready != 1 {
					t.Errorf("ready %d after 2 idle minutes, want min 1", s.ready)
				}
			},
		},
		{
			name: "scale to zero only after a stable window without requests", set: s50, ready: 1,
			check: func(t *testing.T, s *sim) {
				s.follow = true
				s.run(10, flat(10))
				idle := s.run(80, flat(0))
				// The last request was at second 9; the window (now-60 s, now]
				// is first free of it at second 69, 59 s into the idle run.
				for i, d := range idle {
					want := 1
					if i >= 59 {
						want = 0
					}
					if d.Desired != want {
						t.Fatalf("idle second %d: desired %d, want %d (%s)", i, d.Desired, want, d.Reason)
					}
				}
				if r := idle[59].Reason; r != "no requests for 1m0s, min 0 → 0" {
					t.Errorf("reason %q", r)
				}
				if r := idle[58].Reason; r != "in-flight 0.2 over 1 instances at target 50×0.7 → 1" {
					t.Errorf("reason %q", r)
				}
				// The next request starts one instance at once.
				if d := s.run(1, flat(1))[0]; d.Desired != 1 {
					t.Errorf("a request at zero: %+v", d)
				}
			},
		},
		{
			name: "a fresh decider does not scale to zero before a whole window", set: s50, ready: 1,
			check: func(t *testing.T, s *sim) {
				s.follow = true
				ds := s.run(61, flat(0))
				if ds[59].Desired != 1 || ds[60].Desired != 0 {
					t.Errorf("desired at 59 s %d, at 60 s %d; want 1 then 0", ds[59].Desired, ds[60].Desired)
				}
				if r := ds[59].Reason; !strings.HasSuffix(r, "→ 1; kept 1 until a stable window (1m0s) without requests") {
					t.Errorf("reason %q", r)
				}
			},
		},
		{
			name: "min 1 never scales to zero", set: Settings{Min: 1, Max: 3, Concurrency: 50}, ready: 1,
			check: func(t *testing.T, s *sim) {
				s.follow = true
				for _, d := range s.run(200, flat(0)) {
					if d.Desired != 1 {
						t.Fatalf("%+v", d)
					}
				}
			},
		},
		{
			name: "clamped to max", set: Settings{Min: 0, Max: 3, Concurrency: 50}, ready: 2,
			check: func(t *testing.T, s *sim) {
				s.follow = true
				for _, d := range s.run(30, flat(1000)) {
					if d.Desired != 3 {
						t.Fatalf("%+v", d)
					}
				}
				if r := s.log[0].Reason; !strings.Contains(r, "clamped to max 3") {
					t.Errorf("reason %q", r)
				}
			},
		},
		{
			name: "raised to min", set: Settings{Min: 2, Max: 5, Concurrency: 50}, ready: 2,
			check: func(t *testing.T, s *sim) {
				d := s.run(1, flat(0))[0]
				if d.Desired != 2 || !strings.Contains(d.Reason, "raised to min 2") {
					t.Errorf("%+v", d)
				}
			},
		},
		{
			name: "fixed count: min = max", set: Settings{Min: 2, Max: 2, Concurrency: 50}, ready: 2,
			check: func(t *testing.T, s *sim) {
				s.follow = true
				loads := []int64{0, 500, 0, 35}
				for _, l := range loads {
					for _, d := range s.run(70, flat(l)) {
						if d.Desired != 2 {
							t.Fatalf("load %d: %+v", l, d)
						}
					}
				}
			},
		},
		{
			name: "requests held with no ready instance start one at once", set: s50, ready: 0,
			check: func(t *testing.T, s *sim) {
				d := s.run(1, flat(3))[0]
				if d.Desired != 1 {
					t.Errorf("%+v", d)
				}
				if d.Reason != "in-flight 3 over 0 instances at target 50×0.7 → 1" {
					t.Errorf("reason %q", d.Reason)
				}
			},
		},
		{
			name: "no traffic and nothing running stays at zero", set: s50, ready: 0,
			check: func(t *testing.T, s *sim) {
				for _, d := range s.run(90, flat(0)) {
					if d.Desired != 0 {
						t.Fatalf("%+v", d)
					}
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, newSim(t, tc.set, tc.ready, false))
		})
	}
}

func TestObserveAveragesWithinASecond(t *testing.T) {
	d, err := New(DefaultConfig(), Settings{Max: 10, Concurrency: 10})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range []int64{0, 10, 20, 30} {
		d.Observe(t0.Add(time.Duration(i)*250*time.Millisecond), v)
	}
	d.Observe(t0.Add(-time.Second), 1000) // late: dropped
	dec := d.Decide(t0.Add(999*time.Millisecond), 3)
	if dec.StableInFlight != 15 || dec.PanicInFlight != 15 {
		t.Errorf("averages %v / %v, want 15", dec.StableInFlight, dec.PanicInFlight)
	}
	if dec.Desired != 3 { // ceil(15/7)
		t.Errorf("desired %d, want 3", dec.Desired)
	}
}

func TestDeterministic(t *testing.T) {
	load := func(i int) int64 { return int64((i * 37) % 250) }
	a := newSim(t, Settings{Min: 0, Max: 8, Concurrency: 20}, 1, true)
	b := newSim(t, Settings{Min: 0, Max: 8, Concurrency: 20}, 1, true)
	da, db := a.run(300, load), b.run(300, load)
	for i := range da {
		if da[i] != db[i] {
			t.Fatalf("second %d differs: %+v vs %+v", i, da[i], db[i])
		}
	}
}

func TestValidation(t *testing.T) {
	bad := []struct {
		name string
		cfg  func(*Config)
		set  Settings
		want string
	}{
		{"negative min", nil, Settings{Min: -1, Max: 1, Concurrency: 1}, "min -1"},
		{"zero max", nil, Settings{Max: 0, Concurrency: 1}, "max 0 must be at least 1"},
		{"max below min", nil, Settings{Min: 3, Max: 2, Concurrency: 1}, "max 2 must be at least min 3"},
		{"zero concurrency", nil, Settings{Max: 1}, "concurrency 0"},
		{"utilization over 1", func(c *Config) { c.TargetUtilization = 1.5 }, Settings{Max: 1, Concurrency: 1}, "target utilization"},
		{"short stable window", func(c *Config) { c.StableWindow = time.Second }, Settings{Max: 1, Concurrency: 1}, "stable window"},
		{"fractional stable window", func(c *Config) { c.StableWindow = 6500 * time.Millisecond }, Settings{Max: 1, Concurrency: 1}, "stable window"},
		{"panic threshold 1", func(c *Config) { c.PanicThreshold = 1 }, Settings{Max: 1, Concurrency: 1}, "panic threshold"},
		{"scale-down rate 1", func(c *Config) { c.MaxScaleDownRate = 1 }, Settings{Max: 1, Concurrency: 1}, "scale-down rate"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			_, err := New(cfg, tc.set)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	d, err := New(DefaultConfig(), Settings{Max: 2, Concurrency: 5})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetSettings(Settings{Min: 5, Max: 2, Concurrency: 5}); err == nil {
		t.Error("SetSettings took max below min")
	}
	if d.Settings().Max != 2 {
		t.Errorf("a rejected SetSettings changed the settings: %+v", d.Settings())
	}
}

func TestDefaults(t *testing.T) {
	c := DefaultConfig()
	if c.PanicWindow() != 6*time.Second {
		t.Errorf("panic window %v, want 6s", c.PanicWindow())
	}
	if c.TargetUtilization != 0.7 || c.StableWindow != time.Minute || c.PanicThreshold != 2 ||
		c.MaxScaleDownRate != 2 || c.MaxScaleUpRate != 1000 || DefaultTick != time.Second {
		t.Errorf("defaults drifted from Knative's: %+v", c)
	}
}

type counter int64

func (c counter) InFlight() int64 { return int64(c) }

func TestTotal(t *testing.T) {
	if got := Total([]counter{3, 0, 7}); got != 10 {
		t.Errorf("Total = %d, want 10", got)
	}
	if got := Total[counter](nil); got != 0 {
		t.Errorf("Total(nil) = %d", got)
	}
}

// BenchmarkDecide measures one tick (Observe + Decide) with full windows.
func BenchmarkDecide(b *testing.B) {
	d, err := New(DefaultConfig(), Settings{Min: 0, Max: 100, Concurrency: 50})
	if err != nil {
		b.Fatal(err)
	}
	now := t0
	for i := range 120 {
		d.Observe(now, int64(i%300))
		now = now.Add(time.Second)
	}
	ready := 5
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		d.Observe(now, int64(i%300))
		ready = d.Decide(now, ready).Desired
		now = now.Add(time.Second)
	}
}
