package supervisor

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/apogee-dev/apogee/internal/apps"
	"github.com/apogee-dev/apogee/internal/apps/runtimetest"
	"github.com/apogee-dev/apogee/internal/sandbox"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// The shared suite on the host launcher: everything but limits and
// isolation, which only a sandbox gives.
func TestHostRuntime(t *testing.T) {
	runtimetest.Run(t, runtimetest.Caps{}, func(t *testing.T, obs apps.Observer) apps.Runtime {
		s, err := New(context.Background(), Options{Launcher: Host{}, DataDir: t.TempDir(), Observer: obs, Log: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// The shared suite on bubblewrap, the default: limits and isolation too.
func TestBwrapRuntime(t *testing.T) {
	testSandboxRuntime(t, "bwrap", 0)
}

func testSandboxRuntime(t *testing.T, kind string, boot time.Duration) {
	runtimetest.Run(t, runtimetest.Caps{Limits: true, Isolated: true, Boot: boot}, func(t *testing.T, obs apps.Observer) apps.Runtime {
		// One cgroup parent per kind; the tests of a kind run one after
		// the other, so KillOrphans at New finds only what a crashed run
		// of this test left.
		sb, err := sandbox.New(kind, sandbox.WithLogger(quiet()), sandbox.WithCgroupParent("apogee-test/supervisor-"+kind))
		if err != nil {
			t.Fatalf("sandbox %s: %v", kind, err)
		}
		s, err := New(context.Background(), Options{Launcher: Sandboxed{Sandbox: sb, Network: true}, DataDir: t.TempDir(), Observer: obs, Log: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// The shared suite on gVisor (ptrace here: a Node app listens after about
// 2 s).
func TestRunscRuntime(t *testing.T) {
	testSandboxRuntime(t, "runsc", 4*time.Second)
}
