package supervisor

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/apogee-dev/apogee/internal/apps"
	"github.com/apogee-dev/apogee/internal/apps/runtimetest"
)

// A spare made by Prestart becomes the next instance of its spec: the
// same sandbox runs the command (with the spec's environment), the gate
// is gone from its data folder, and Close kills a spare never started.
// A spare made for another spec of the release is not used.
func TestSpare(t *testing.T) {
	for _, c := range []struct {
		name     string
		launcher func(t *testing.T) Launcher
	}{
		{"bwrap", sandboxed("bwrap")},
		{"host", func(*testing.T) Launcher { return Host{} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := New(context.Background(), Options{Launcher: c.launcher(t), DataDir: t.TempDir(), Log: quiet()})
			if err != nil {
				t.Fatal(err)
			}
			spec := apps.Spec{Project: "web", Release: "r1", Dir: runtimetest.AppDir(t), Command: "exec node app.js", Env: []string{"GREETING=spare"}}
			if err := s.Prestart(context.Background(), spec); err != nil {
				t.Fatal(err)
			}
			if err := s.Prestart(context.Background(), spec); err != nil {
				t.Fatalf("a second Prestart: %v", err)
			}
			s.mu.Lock()
			sp := s.spares["r1"]
			s.mu.Unlock()
			if sp == nil || len(s.Instances()) != 0 {
				t.Fatalf("spare %v, instances %d", sp, len(s.Instances()))
			}
			in, err := s.Start(context.Background(), spec)
			if err != nil {
				t.Fatal(err)
			}
			if in.ID() != sp.id {
				t.Fatalf("started %s, not the spare %s", in.ID(), sp.id)
			}
			waitFor(t, in, func(st apps.Status) bool { return st.State == apps.StateReady })
			if code, err := getVia(in, "/", 0); err != nil || code != 200 {
				t.Fatalf("GET /: %d %v", code, err)
			}
			if st := in.Status(); st.Restarts != 0 {
				t.Fatalf("status %+v", st)
			}
			if _, err := os.Stat(filepath.Join(sp.dataDir, spareGate)); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("the gate is still in the data folder: %v", err)
			}

			// A spare for a spec that changed goes; the start is fresh.
			if err := s.Prestart(context.Background(), spec); err != nil {
				t.Fatal(err)
			}
			changed := spec
			changed.Env = []string{"GREETING=changed"}
			in2, err := s.Start(context.Background(), changed)
			if err != nil {
				t.Fatal(err)
			}
			s.mu.Lock()
			left := len(s.spares)
			s.mu.Unlock()
			if in2.ID() == sp.id || left != 0 {
				t.Fatalf("changed spec: started %s, %d spares left", in2.ID(), left)
			}
			waitFor(t, in2, func(st apps.Status) bool { return st.State == apps.StateReady })

			// Close kills a spare never started.
			if err := s.Prestart(context.Background(), apps.Spec{Project: "web", Release: "r2", Dir: spec.Dir, Command: spec.Command}); err != nil {
				t.Fatal(err)
			}
			s.mu.Lock()
			last := s.spares["r2"]
			s.mu.Unlock()
			proc := last.spare.proc
			if err := s.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			select {
			case <-proc.Done():
			default:
				t.Fatal("Close left a spare running")
			}
			if _, err := os.Stat(last.dataDir); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("the spare's data folder is left: %v", err)
			}
		})
	}
}
