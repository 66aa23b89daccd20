package apps_test

import (
	"context"
	"testing"
	"time"

	"github.com/apogee-dev/apogee/internal/apps"
)

// BenchmarkRollback measures a rollback: the switch of production back
// to the previous release, from the call until new requests go there.
// Warm: the previous release was kept running (KeepWarm 1), so it is a
// pool switch. Cold: its instance boots first (bwrap, Node). Targets:
// 50 ms warm, one boot + 0.5 s cold.
func BenchmarkRollback(b *testing.B) {
	for _, c := range []struct {
		name string
		keep int
	}{{"warm", 1}, {"cold", 0}} {
		b.Run(c.name, func(b *testing.B) {
			f := newFixture(b, apps.ManagerOptions{KeepWarm: c.keep, DrainTimeout: time.Second})
			ctx := context.Background()
			for _, id := range []string{"a", "b"} {
				if err := f.m.Rollout(ctx, f.release(id, 1)); err != nil {
					b.Fatal(err)
				}
			}
			next := "a"
			for b.Loop() {
				if err := f.m.Rollout(ctx, f.release(next, 1)); err != nil {
					b.Fatal(err)
				}
				if next == "a" {
					next = "b"
				} else {
					next = "a"
				}
			}
		})
	}
}
