package apphost

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/apps"
)

// Instances returns the instances of a project's releases running here
// (ordered by release, then start) and the releases kept warm.
func (h *Host) Instances(project string) (running []apogee.AppInstance, warm []string) {
	now := h.cfg.Now()
	ids := h.m.Running()[project]
	slices.Sort(ids)
	for _, id := range ids {
		if h.m.Warm(project, id) {
			warm = append(warm, id)
		}
		targets := h.m.Targets(id)
		for i, in := range h.m.Instances(id) {
			st := in.Status()
			v := apogee.AppInstance{
				ID: st.ID, Release: id, State: string(st.State), Reason: st.Reason,
				Healthy: in.Ready(), Restarts: st.Restarts, Started: st.Started,
			}
			if st.LastExit != nil {
				v.LastExit = st.LastExit.Reason
			}
			if !st.Started.IsZero() && (st.State == apps.StateReady || st.State == apps.StateStarting || st.State == apps.StateUnhealthy) {
				v.UptimeSeconds = now.Sub(st.Started).Round(time.Millisecond).Seconds()
			}
			if u, err := in.Usage(); err == nil {
				v.MemoryBytes, v.CPUSeconds, v.Processes = u.MemoryBytes, u.CPU.Seconds(), u.Pids
			}
			if i < len(targets) {
				v.InFlight = targets[i].InFlight()
			}
			running = append(running, v)
		}
	}
	slices.SortStableFunc(running, func(a, b apogee.AppInstance) int {
		if c := strings.Compare(a.Release, b.Release); c != 0 {
			return c
		}
		return a.Started.Compare(b.Started)
	})
	return running, warm
}

// Restart replaces every instance of the project's production release.
func (h *Host) Restart(ctx context.Context, project string) error {
	return h.m.Restart(ctx, project)
}
