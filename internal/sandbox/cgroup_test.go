package sandbox

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The v2 layout cannot be exercised for real on a v1 host, so these
// tests lay both out in plain folders and check what New and a run write
// there. The real v1 hierarchies are exercised by TestBwrap and TestNone.

func TestCgroupV2Layout(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "cgroup.controllers"), "cpuset cpu io memory hugetlb pids rdma misc")
	write(t, filepath.Join(root, "cgroup.subtree_control"), "")
	// The parent's own subtree_control exists in a real cgroup; here it is
	// made by hand once MkdirAll created the folder.
	os.MkdirAll(filepath.Join(root, "apogee", "builds"), 0o755)
	write(t, filepath.Join(root, "apogee", "cgroup.subtree_control"), "")
	write(t, filepath.Join(root, "apogee", "builds", "cgroup.subtree_control"), "")
	// Swap is accounted: the parent has memory.swap.max.
	write(t, filepath.Join(root, "apogee", "builds", "memory.swap.max"), "max")

	g, err := detectCgroups(root, "apogee/builds")
	if err != nil {
		t.Fatal(err)
	}
	if !g.v2 || g.parents["memory"] != filepath.Join(root, "apogee", "builds") {
		t.Fatalf("layout %+v", g)
	}
	for _, dir := range []string{root, filepath.Join(root, "apogee"), filepath.Join(root, "apogee", "builds")} {
		if got := read(t, filepath.Join(dir, "cgroup.subtree_control")); got != "+memory +cpu +pids" {
			t.Errorf("%s/cgroup.subtree_control = %q", dir, got)
		}
	}
	cg, err := g.create("run1", Limits{MemoryBytes: 512 << 20, CPUs: 1.5, Pids: 64, Wall: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "apogee", "builds", "run1")
	for file, want := range map[string]string{
		"memory.max":      "536870912",
		"memory.swap.max": "0",
		"cpu.max":         "150000 100000",
		"pids.max":        "64",
	} {
		if got := read(t, filepath.Join(dir, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	if cg.oomKilled() {
		t.Error("oomKilled without memory.events")
	}
	write(t, filepath.Join(dir, "memory.events"), "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n")
	write(t, filepath.Join(dir, "memory.peak"), "536870000\n")
	if !cg.oomKilled() || cg.peakMemory() != 536870000 {
		t.Errorf("oomKilled %v, peak %d", cg.oomKilled(), cg.peakMemory())
	}
}

func TestCgroupV1Layout(t *testing.T) {
	root := t.TempDir()
	for _, c := range cgroupControllers {
		os.MkdirAll(filepath.Join(root, c), 0o755)
	}
	g, err := detectCgroups(root, "apogee")
	if err != nil {
		t.Fatal(err)
	}
	if g.v2 || g.parents["cpu"] != filepath.Join(root, "cpu", "apogee") {
		t.Fatalf("layout %+v", g)
	}
	// memsw is written only where swap accounting exists.
	os.MkdirAll(filepath.Join(root, "memory", "apogee"), 0o755)
	cg, err := g.create("run1", Limits{MemoryBytes: 256 << 20, CPUs: 0.5, Pids: 10})
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"memory/apogee/run1/memory.limit_in_bytes": "268435456",
		"cpu/apogee/run1/cpu.cfs_period_us":        "100000",
		"cpu/apogee/run1/cpu.cfs_quota_us":         "50000",
		"pids/apogee/run1/pids.max":                "10",
	} {
		if got := read(t, filepath.Join(root, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "memory/apogee/run1/memory.memsw.limit_in_bytes")); err == nil {
		t.Error("memsw written without swap accounting")
	}
	write(t, filepath.Join(root, "memory/apogee/run1/memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
	if !cg.oomKilled() {
		t.Error("oom_kill 2 not seen")
	}
}

func TestCgroupsNotWritable(t *testing.T) {
	root := t.TempDir()
	for _, c := range cgroupControllers {
		// A file where the hierarchy should be: nothing can be made below it.
		write(t, filepath.Join(root, c), "")
	}
	_, err := detectCgroups(root, "apogee")
	if !errors.Is(err, ErrCgroups) || !strings.Contains(err.Error(), "fix:") || !strings.Contains(err.Error(), "WithoutLimits") {
		t.Errorf("error %v: want ErrCgroups with how to fix it", err)
	}
}

func TestNewRejects(t *testing.T) {
	if _, err := New("docker", WithoutLimits()); err == nil || !strings.Contains(err.Error(), "bwrap, runsc, none") {
		t.Errorf("unknown kind: %v", err)
	}
	if _, err := New("none", WithCgroupParent("/")); err == nil {
		t.Error("the root cgroup accepted as parent")
	}
	sb, err := New("none", WithoutLimits())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []Spec{
		{Dir: "/tmp"},
		{Argv: []string{"true"}, Dir: "relative"},
		{Argv: []string{"true"}, Dir: "/tmp", Env: []string{"NOEQUALS"}},
		{Argv: []string{"true"}, Dir: "/tmp", Mounts: []Mount{{Source: "/usr", Target: "/"}}},
	} {
		if _, err := sb.Run(t.Context(), s); err == nil {
			t.Errorf("spec %+v accepted", s)
		}
	}
}

func TestFormat(t *testing.T) {
	for got, want := range map[string]string{
		memoryReason(512 << 20):      "killed: memory limit 512 MiB",
		memoryReason(2 << 30):        "killed: memory limit 2.0 GiB",
		timeReason(10 * time.Minute): "killed: time limit 10m",
		timeReason(time.Second):      "killed: time limit 1s",
		timeReason(90 * time.Second): "killed: time limit 1m30s",
		timeReason(time.Hour):        "killed: time limit 1h",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
