package supervisor

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/apps"
)

// A paused instance is out of rotation and not health-checked however
// long it stays paused (a frozen app answers nothing, and that is no
// failure); resumed, it is ready at once and checked again.
func TestPauseSuspendsHealthChecks(t *testing.T) {
	bubble(t, func(n int, p *fakeProc) { p.setStatus(200) }, func(s *Supervisor, l *fakeLauncher) {
		in, _ := s.Start(context.Background(), fakeSpec(t))
		synctest.Wait()
		if !in.Ready() {
			t.Fatalf("not ready: %+v", in.Status())
		}
		pz := in.(apps.Pauser)
		time.Sleep(2 * time.Second)
		if err := pz.Pause(context.Background()); err != nil {
			t.Fatal(err)
		}
		pausedAt := time.Now()
		st := in.Status()
		if in.Ready() || st.State != apps.StatePaused || !st.PausedSince.Equal(pausedAt) {
			t.Fatalf("after Pause: ready %v, %+v", in.Ready(), st)
		}
		if err := pz.Pause(context.Background()); err != nil {
			t.Errorf("pausing a paused instance: %v", err)
		}
		// Far past Unready and Replace (15 s, 30 s).
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		dials, signals := l.proc(0).counts()
		if st := in.Status(); st.State != apps.StatePaused || in.Ready() || dials != 0 || len(signals) != 0 || l.proc(1) != nil {
			t.Fatalf("after 10 min paused: %+v; %d checks of the frozen app, signals %v", st, dials, signals)
		}
		if err := pz.Resume(context.Background()); err != nil {
			t.Fatal(err)
		}
		if st := in.Status(); !in.Ready() || st.State != apps.StateReady || !st.PausedSince.IsZero() {
			t.Fatalf("after Resume: %+v", st)
		}
		if err := pz.Resume(context.Background()); err != nil {
			t.Errorf("resuming a running instance: %v", err)
		}
		// Checked again: failing now takes it out of rotation 15 s after
		// the first failed check (at most 5 s away).
		l.proc(0).setStatus(500)
		time.Sleep(20*time.Second + time.Millisecond)
		synctest.Wait()
		if st := in.Status(); st.State != apps.StateUnhealthy {
			t.Fatalf("failing checks after Resume: %+v", st)
		}
	})
}

// Only a ready instance can be paused: a booting one is ECONFLICT and
// stays as it was.
func TestPauseNeedsReady(t *testing.T) {
	bubble(t, func(n int, p *fakeProc) {}, func(s *Supervisor, l *fakeLauncher) {
		in, _ := s.Start(context.Background(), fakeSpec(t))
		synctest.Wait()
		err := in.(apps.Pauser).Pause(context.Background())
		if apogee.ErrorCode(err) != apogee.ECONFLICT {
			t.Fatalf("pausing a booting instance: %v", err)
		}
		if st := in.Status(); st.State != apps.StateStarting {
			t.Fatalf("after a refused Pause: %+v", st)
		}
	})
}

// Stopping a paused instance thaws it first, so the app gets its SIGTERM
// and exits within the grace rather than being killed.
func TestStopPausedInstance(t *testing.T) {
	bubble(t, func(n int, p *fakeProc) { p.setStatus(200) }, func(s *Supervisor, l *fakeLauncher) {
		in, _ := s.Start(context.Background(), fakeSpec(t))
		synctest.Wait()
		if err := in.(apps.Pauser).Pause(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := in.Stop(context.Background(), 0); err != nil {
			t.Fatal(err)
		}
		_, signals := l.proc(0).counts()
		if st := in.Status(); st.State != apps.StateStopped || !slices.Equal(signals, []string{"TERM@0s"}) || l.proc(0).Exit().Code != 143 {
			t.Fatalf("stopped paused instance: %+v, signals %v, exit %+v", st, signals, l.proc(0).Exit())
		}
	})
}
