package supervisor

import (
	"context"
	"fmt"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/apps"
)

var _ apps.Pauser = (*instance)(nil)

// lockPause takes pauseSem, or gives up when ctx ends.
func (in *instance) lockPause(ctx context.Context) error {
	select {
	case in.pauseSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (in *instance) unlockPause() { <-in.pauseSem }

// Pause freezes a ready instance. See apps.Pauser.
//
// It waits for a liveness check in flight, takes the instance out of
// rotation (Ready false, State paused), then freezes its cgroup; should
// the freeze fail, the instance goes back in rotation and Pause says why.
func (in *instance) Pause(ctx context.Context) error {
	if err := in.lockPause(ctx); err != nil {
		return fmt.Errorf("supervisor: pausing %s: %w", in.id, err)
	}
	defer in.unlockPause()
	var p Process
	var state apps.State
	if !in.update(func(s *apps.Status) bool {
		p, state = in.proc, s.State
		if in.paused || p == nil || s.State != apps.StateReady || in.stopRequested() {
			return false
		}
		in.paused = true
		s.State, s.Reason, s.PausedSince = apps.StatePaused, "paused", time.Now()
		return true
	}) {
		if state == apps.StatePaused {
			return nil
		}
		return apogee.Errorf(apogee.ECONFLICT, "instance %s is %s: only a ready instance can be paused", in.id, state)
	}
	if err := p.Freeze(); err != nil {
		in.update(func(s *apps.Status) bool {
			if in.proc != p || !in.paused {
				return false
			}
			in.paused = false
			s.State, s.Reason, s.PausedSince = apps.StateReady, "", time.Time{}
			return true
		})
		return fmt.Errorf("supervisor: pausing %s: %w", in.id, err)
	}
	in.capture.Systemf("paused")
	return nil
}

// Resume thaws a paused instance and puts it back in rotation. See
// apps.Pauser.
func (in *instance) Resume(ctx context.Context) error {
	if err := in.lockPause(ctx); err != nil {
		return fmt.Errorf("supervisor: resuming %s: %w", in.id, err)
	}
	defer in.unlockPause()
	in.mu.Lock()
	p, paused := in.proc, in.paused
	in.mu.Unlock()
	if !paused {
		return nil
	}
	if err := p.Thaw(); err != nil {
		return fmt.Errorf("supervisor: resuming %s: %w", in.id, err)
	}
	var since time.Time
	if in.update(func(s *apps.Status) bool {
		if in.proc != p || !in.paused {
			return false
		}
		since = s.PausedSince
		in.paused = false
		s.State, s.Reason, s.PausedSince = apps.StateReady, "", time.Time{}
		return true
	}) {
		in.capture.Systemf("resumed after %s paused", roundDuration(time.Since(since)))
	}
	return nil
}

// paused reports whether the instance is frozen.
func (in *instance) isPaused() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.paused
}
