package supervisor

import (
	"log/slog"
	"testing"

	"github.com/apogee-dev/apogee/internal/apps"
	"github.com/apogee-dev/apogee/internal/apps/runtimetest"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// The shared suite on the host launcher: everything but limits and
// isolation, which only a sandbox gives.
func TestHostRuntime(t *testing.T) {
	runtimetest.Run(t, runtimetest.Caps{}, func(t *testing.T, obs apps.Observer) apps.Runtime {
		s, err := New(Options{Launcher: Host{}, DataDir: t.TempDir(), Observer: obs, Log: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
