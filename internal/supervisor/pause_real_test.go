package supervisor

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/apogee-dev/apogee/internal/apps"
	"github.com/apogee-dev/apogee/internal/apps/runtimetest"
	"github.com/apogee-dev/apogee/internal/sandbox"
)

// A real Node app, paused: it keeps its memory, uses no CPU and answers
// nothing; a request sent while it is paused is answered once it is
// resumed, and it serves as before.
func TestPauseResumeReal(t *testing.T) {
	for _, c := range []struct {
		name     string
		launcher func(t *testing.T) Launcher
	}{
		{"bwrap", sandboxed("bwrap")},
		{"runsc", sandboxed("runsc")},
		{"host", func(*testing.T) Launcher { return Host{} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := New(context.Background(), Options{Launcher: c.launcher(t), DataDir: t.TempDir(), Log: quiet()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close(context.Background()) })
			in, err := s.Start(context.Background(), apps.Spec{
				Project: "web", Release: "r1", Dir: runtimetest.AppDir(t), Command: "exec node app.js",
				Health: apps.Health{Interval: 20 * time.Millisecond},
			})
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, in, func(st apps.Status) bool { return st.State == apps.StateReady })
			if code, err := getVia(in, "/", 10*time.Second); err != nil || code != 200 {
				t.Fatalf("before pause: %d %v", code, err)
			}
			pz := in.(apps.Pauser)
			if err := pz.Pause(context.Background()); err != nil {
				t.Fatal(err)
			}
			before, err := in.Usage()
			if err != nil {
				t.Fatal(err)
			}
			// The frozen app does not answer, however short the wait.
			_, err = getVia(in, "/", 300*time.Millisecond)
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("a paused app answered: %v", err)
			}
			answered := make(chan error, 1)
			go func() {
				code, err := getVia(in, "/", 30*time.Second)
				if err == nil && code != 200 {
					err = errors.New(http.StatusText(code))
				}
				answered <- err
			}()
			after, err := in.Usage()
			if err != nil {
				t.Fatal(err)
			}
			if after.CPU != before.CPU || after.MemoryBytes < before.MemoryBytes*9/10 || before.MemoryBytes == 0 {
				t.Errorf("paused: CPU %v then %v (want no change), memory %d then %d (kept)", before.CPU, after.CPU, before.MemoryBytes, after.MemoryBytes)
			}
			if st := in.Status(); st.State != apps.StatePaused || in.Ready() {
				t.Fatalf("paused: %+v", st)
			}
			if err := pz.Resume(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := <-answered; err != nil {
				t.Fatalf("the request sent while paused: %v", err)
			}
			if st := in.Status(); st.State != apps.StateReady || !in.Ready() {
				t.Fatalf("resumed: %+v", st)
			}
			if code, err := getVia(in, "/", 10*time.Second); err != nil || code != 200 {
				t.Fatalf("after resume: %d %v", code, err)
			}
		})
	}
}

func sandboxed(kind string) func(t *testing.T) Launcher {
	return func(t *testing.T) Launcher {
		sb, err := sandbox.New(kind, sandbox.WithLogger(quiet()), sandbox.WithCgroupParent("apogee-test/supervisor-pause-"+kind))
		if err != nil {
			t.Fatalf("sandbox %s (run as root with cgroups; bwrap: apt-get install bubblewrap, runsc: apt-get install runsc): %v", kind, err)
		}
		return Sandboxed{Sandbox: sb}
	}
}

func waitFor(t *testing.T, in apps.Instance, cond func(apps.Status) bool) {
	t.Helper()
	deadline := time.NewTimer(time.Minute)
	defer deadline.Stop()
	for {
		ch := in.Changed()
		if cond(in.Status()) {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("instance %s: %+v", in.ID(), in.Status())
		}
	}
}

func getVia(in apps.Instance, path string, timeout time.Duration) (int, error) {
	c := &http.Client{
		Transport: &http.Transport{
			DialContext:       func(ctx context.Context, _, _ string) (net.Conn, error) { return in.Dial(ctx) },
			DisableKeepAlives: true,
		},
		Timeout: timeout,
	}
	res, err := c.Get("http://instance" + path)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	io.Copy(io.Discard, res.Body)
	return res.StatusCode, nil
}
