package platform_test

import (
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// TestAppLimits: the accessor the apps runtime uses gives the limits of
// the plan of the project's owner, and follows a change of plan.
func TestAppLimits(t *testing.T) {
	w := newWorld(t, nil)
	got, err := w.pl.AppLimits(t.Context(), "web")
	if err != nil {
		t.Fatal(err)
	}
	if got.Plan.Name != "free" || got.MemoryBytes != 512<<20 || got.CPUs != 1 || got.Pids != 256 || got.MaxInstances != 3 ||
		got.ReleasesKept != 10 || got.RuntimeLogAge != 7*24*time.Hour || got.RuntimeLogBytes != 100<<20 {
		t.Errorf("free: %+v", got)
	}
	big := &apogee.Plan{Name: "big", Limits: apogee.PlanLimits{Projects: -1, AppMemoryMB: 4096, AppCPUs: 2, AppPids: -1, AppInstances: -1, ReleasesKept: 50, RuntimeLogBytes: -1, RuntimeLogDays: 30}}
	if err := w.store.CreatePlan(t.Context(), big); err != nil {
		t.Fatal(err)
	}
	if err := w.store.SetUserPlan(t.Context(), w.web.OwnerID, big.ID); err != nil {
		t.Fatal(err)
	}
	got, err = w.pl.AppLimits(t.Context(), "web")
	if err != nil {
		t.Fatal(err)
	}
	if got.MemoryBytes != 4<<30 || got.CPUs != 2 || got.Pids != 0 || got.MaxInstances != -1 || got.ReleasesKept != 50 ||
		got.RuntimeLogAge != 30*24*time.Hour || got.RuntimeLogBytes != -1 || got.CheckInstances(1000) != nil {
		t.Errorf("big: %+v", got)
	}
	if _, err := w.pl.AppLimits(t.Context(), "nosuch"); apogee.ErrorCode(err) != apogee.ENOTFOUND {
		t.Errorf("no such project: %v", err)
	}
}
