package sandbox

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/containerd/cgroups/v3/cgroup2"
)

// The cgroup v2 freezer (cgroup.freeze), which pauses app instances on
// v2 hosts, on a real unified tree: this machine's has no controllers
// (its limits come from v1), but the freezer is a core file of every v2
// cgroup, so the v2 path of setFrozen is tested here too.
func TestFreezeV2(t *testing.T) {
	_, v2, err := cgroupMounts()
	if err != nil {
		t.Fatal(err)
	}
	if len(v2) == 0 {
		t.Skip("no cgroup v2 tree is mounted on this host (pure cgroup v1): nothing to test")
	}
	rel := "/apogee-test-freeze-" + newRunID()
	m, err := cgroup2.NewManager(v2[0], rel, &cgroup2.Resources{})
	if err != nil {
		t.Fatalf("a cgroup in the v2 tree at %s (run as root): %v", v2[0], err)
	}
	cmd := exec.Command("/bin/sh", "-c", "while :; do :; done")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cg := &cgroup{v2: true, dirs: map[string]string{"pids": filepath.Join(v2[0], rel)}, m2: m}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		m.Delete()
	})
	if err := m.AddProc(uint64(cmd.Process.Pid)); err != nil {
		t.Fatal(err)
	}
	if cg.frozen() {
		t.Fatal("frozen before setFrozen")
	}
	if err := cg.setFrozen(true); err != nil {
		t.Fatal(err)
	}
	if !cg.frozen() {
		t.Fatal("setFrozen(true) returned but the kernel does not say frozen")
	}
	if err := cg.setFrozen(false); err != nil {
		t.Fatal(err)
	}
	if cg.frozen() {
		t.Fatal("still frozen after setFrozen(false)")
	}
	// Frozen again, the kill still works (Kill of a paused instance).
	if err := cg.setFrozen(true); err != nil {
		t.Fatal(err)
	}
	if err := cg.kill(); err != nil {
		t.Fatalf("killing a frozen v2 cgroup: %v", err)
	}
}
