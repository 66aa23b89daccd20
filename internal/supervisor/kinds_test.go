package supervisor

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// TestKindsLaunchesInTheSandboxAsked: "" goes to the default kind's
// launcher, a kind to its own, an unknown kind is refused with the kinds
// there are.
func TestKindsLaunchesInTheSandboxAsked(t *testing.T) {
	bwrap := &fakeLauncher{epoch: time.Now(), behave: func(int, *fakeProc) {}}
	runsc := &fakeLauncher{epoch: time.Now(), behave: func(int, *fakeProc) {}}
	k := Kinds{Default: "bwrap", Launchers: map[string]Launcher{"bwrap": bwrap, "runsc": runsc}}
	for _, tc := range []struct {
		sandbox string
		want    *fakeLauncher
		err     string
	}{
		{"", bwrap, ""},
		{"bwrap", bwrap, ""},
		{"runsc", runsc, ""},
		{"docker", nil, `no apps in the "docker" sandbox; it runs them in bwrap, runsc`},
	} {
		before := map[*fakeLauncher]int{bwrap: len(bwrap.startTimes()), runsc: len(runsc.startTimes())}
		_, err := k.Launch(context.Background(), LaunchSpec{Name: "i", Sandbox: tc.sandbox})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || apogee.ErrorCode(err) != apogee.EINVALID {
				t.Errorf("%q: err %v, want EINVALID saying %q", tc.sandbox, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tc.sandbox, err)
		}
		for l, n := range before {
			got := len(l.startTimes()) - n
			if want := map[bool]int{true: 1, false: 0}[l == tc.want]; got != want {
				t.Errorf("%q: a launcher started %d processes, want %d", tc.sandbox, got, want)
			}
		}
	}
}
