package sandbox

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/apogee-dev/apogee"
)

// The controllers every run needs.
var cgroupControllers = []string{"memory", "cpu", "pids"}

// The v1 hierarchies used when mounted: CPU time (cpuacct) and the
// freezer. On v2 both are core files of every cgroup (cpu.stat,
// cgroup.freeze).
var cgroupOptional = []string{"cpuacct", "freezer"}

// ErrCgroups is wrapped by New's error when cgroups cannot be used.
var ErrCgroups = errors.New("sandbox: cgroups are not usable")

// cgroups is the cgroup layout found at New: either the unified v2 tree
// with the memory, cpu and pids controllers, or v1 hierarchies, one per
// controller (the hybrid layout, where v2 is mounted without controllers,
// counts as v1).
type cgroups struct {
	v2 bool
	// parents maps a controller to the directory under which runs get
	// their cgroup. On v2 all three share one directory.
	parents map[string]string
}

const cgroupFixHint = "run apogee as root with cgroups mounted read-write " +
	"(cgroup v2: /sys/fs/cgroup with the memory, cpu and pids controllers, " +
	"or under systemd a unit with Delegate=yes and --cgroup-parent inside it; " +
	"cgroup v1: /sys/fs/cgroup/{memory,cpu,pids}), or run without limits " +
	"(sandbox.WithoutLimits) where that is acceptable, such as development"

func cgroupErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s; fix: %s", ErrCgroups, fmt.Sprintf(format, args...), cgroupFixHint)
}

// detectCgroups finds the cgroup mounts in /proc/self/mountinfo, or uses
// root (a directory laid out as a v2 mount or as v1 controller
// directories) when it is set, and makes parent in each.
func detectCgroups(root, parent string) (*cgroups, error) {
	var v1 map[string]string // controller → mount point
	var v2mounts []string
	if root != "" {
		if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err == nil {
			v2mounts = []string{root}
		} else {
			v1 = map[string]string{}
			for _, c := range cgroupControllers {
				v1[c] = filepath.Join(root, c)
			}
		}
	} else {
		var err error
		v1, v2mounts, err = cgroupMounts()
		if err != nil {
			return nil, cgroupErr("reading the mount table: %v", err)
		}
	}
	parent = strings.Trim(filepath.Clean("/"+parent), "/")

	// v2 wins when its tree has the controllers we need.
	for _, m := range v2mounts {
		avail, err := os.ReadFile(filepath.Join(m, "cgroup.controllers"))
		if err != nil || !hasAll(strings.Fields(string(avail)), cgroupControllers) {
			continue
		}
		dir := filepath.Join(m, parent)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, cgroupErr("cgroup v2 at %s: %v", m, err)
		}
		// Enable the controllers on the way down to dir, and in dir for
		// the runs below it.
		rel := strings.Split(parent, "/")
		cur := m
		for i := 0; i <= len(rel); i++ {
			if err := enableControllers(cur); err != nil {
				return nil, cgroupErr("cgroup v2: enabling %s in %s: %v (a cgroup that holds processes cannot delegate controllers; choose a parent of its own)",
					strings.Join(cgroupControllers, ", "), cur, err)
			}
			if i < len(rel) {
				cur = filepath.Join(cur, rel[i])
			}
		}
		p := map[string]string{}
		for _, c := range cgroupControllers {
			p[c] = dir
		}
		return &cgroups{v2: true, parents: p}, nil
	}

	p := map[string]string{}
	for _, c := range cgroupControllers {
		m, ok := v1[c]
		if !ok {
			if len(v2mounts) > 0 {
				return nil, cgroupErr("the cgroup v2 tree lacks the %s controllers and no cgroup v1 %s hierarchy is mounted", strings.Join(cgroupControllers, ", "), c)
			}
			return nil, cgroupErr("no cgroup %s controller is mounted", c)
		}
		dir := filepath.Join(m, parent)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, cgroupErr("cgroup v1 %s at %s: %v", c, m, err)
		}
		p[c] = dir
	}
	for _, c := range cgroupOptional {
		if m, ok := v1[c]; ok {
			dir := filepath.Join(m, parent)
			if err := os.MkdirAll(dir, 0o755); err == nil {
				p[c] = dir
			}
		}
	}
	return &cgroups{parents: p}, nil
}

func hasAll(have, want []string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

func enableControllers(dir string) error {
	cur, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return err
	}
	if hasAll(strings.Fields(string(cur)), cgroupControllers) {
		return nil
	}
	return os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+memory +cpu +pids"), 0)
}

// cgroupMounts reads /proc/self/mountinfo: the v1 hierarchy of each
// controller and the v2 mounts.
func cgroupMounts() (v1 map[string]string, v2 []string, err error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	v1 = map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 {
			continue
		}
		mnt := unescapeMount(pf[4])
		switch qf[0] {
		case "cgroup2":
			v2 = append(v2, mnt)
		case "cgroup":
			for _, o := range strings.Split(qf[2], ",") {
				for _, c := range append(cgroupControllers, cgroupOptional...) {
					if o == c {
						if _, seen := v1[c]; !seen {
							v1[c] = mnt
						}
					}
				}
			}
		}
	}
	return v1, v2, sc.Err()
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// cgroup is the cgroup of one run: one directory on v2, one per
// controller on v1.
type cgroup struct {
	v2   bool
	dirs map[string]string // controller → directory
}

func newRunID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// create makes the run's cgroup and writes its limits.
func (g *cgroups) create(id string, l Limits) (_ *cgroup, err error) {
	cg := &cgroup{v2: g.v2, dirs: map[string]string{}}
	made := map[string]bool{}
	defer func() {
		if err != nil {
			for dir := range made {
				syscall.Rmdir(dir)
			}
		}
	}()
	for c, parent := range g.parents {
		dir := filepath.Join(parent, id)
		if !made[dir] {
			if err := os.Mkdir(dir, 0o755); err != nil {
				if errors.Is(err, fs.ErrExist) {
					return nil, apogee.Errorf(apogee.ECONFLICT, "sandbox: %s is already running", id)
				}
				return nil, fmt.Errorf("sandbox: creating cgroup: %w", err)
			}
			made[dir] = true
		}
		cg.dirs[c] = dir
	}
	w := func(c, file, val string) error {
		if err := os.WriteFile(filepath.Join(cg.dirs[c], file), []byte(val), 0); err != nil {
			return fmt.Errorf("sandbox: setting cgroup %s to %s: %w", file, val, err)
		}
		return nil
	}
	if l.MemoryBytes > 0 {
		v := strconv.FormatInt(l.MemoryBytes, 10)
		if g.v2 {
			if err := w("memory", "memory.max", v); err != nil {
				return nil, err
			}
			// No swap: the limit is the limit. Absent without swap accounting.
			w("memory", "memory.swap.max", "0")
		} else {
			if err := w("memory", "memory.limit_in_bytes", v); err != nil {
				return nil, err
			}
			// memsw is RAM+swap; present only with swap accounting.
			if _, err := os.Stat(filepath.Join(cg.dirs["memory"], "memory.memsw.limit_in_bytes")); err == nil {
				if err := w("memory", "memory.memsw.limit_in_bytes", v); err != nil {
					return nil, err
				}
			}
		}
	}
	if l.CPUs > 0 {
		const period = 100000
		quota := max(int64(l.CPUs*period), 1000)
		if g.v2 {
			if err := w("cpu", "cpu.max", fmt.Sprintf("%d %d", quota, period)); err != nil {
				return nil, err
			}
		} else {
			if err := w("cpu", "cpu.cfs_period_us", strconv.Itoa(period)); err != nil {
				return nil, err
			}
			if err := w("cpu", "cpu.cfs_quota_us", strconv.FormatInt(quota, 10)); err != nil {
				return nil, err
			}
		}
	}
	if l.Pids > 0 {
		if err := w("pids", "pids.max", strconv.FormatInt(l.Pids, 10)); err != nil {
			return nil, err
		}
	}
	return cg, nil
}

// add moves a process into the cgroup, in every hierarchy.
func (cg *cgroup) add(pid int) error {
	for _, dir := range cg.uniqueDirs() {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
			return fmt.Errorf("sandbox: moving process into cgroup %s: %w", dir, err)
		}
	}
	return nil
}

func (cg *cgroup) uniqueDirs() []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range append(cgroupControllers, cgroupOptional...) {
		if d := cg.dirs[c]; d != "" && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// open is the cgroup id below the parents, as create made it.
func (g *cgroups) open(id string) *cgroup {
	cg := &cgroup{v2: g.v2, dirs: map[string]string{}}
	for c, parent := range g.parents {
		cg.dirs[c] = filepath.Join(parent, id)
	}
	return cg
}

// children lists the cgroups below the parents whose names start with
// prefix.
func (g *cgroups) children(prefix string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, parent := range g.parents {
		ents, err := os.ReadDir(parent)
		if err != nil {
			return nil, fmt.Errorf("sandbox: listing cgroups: %w", err)
		}
		for _, e := range ents {
			if n := e.Name(); e.IsDir() && strings.HasPrefix(n, prefix) && !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out, nil
}

// setFrozen freezes or thaws every process of the cgroup and waits until
// the kernel says it is done.
func (cg *cgroup) setFrozen(on bool) error {
	var file, val, want string
	switch {
	case cg.v2:
		file, val, want = "cgroup.freeze", "0", "frozen 0"
		if on {
			val, want = "1", "frozen 1"
		}
	case cg.dirs["freezer"] != "":
		file, val, want = "freezer.state", "THAWED", "THAWED"
		if on {
			val, want = "FROZEN", "FROZEN"
		}
	default:
		return errors.New("no cgroup freezer is mounted")
	}
	dir := cg.dirs["freezer"]
	if cg.v2 {
		dir = cg.dirs["pids"]
	}
	if err := os.WriteFile(filepath.Join(dir, file), []byte(val), 0); err != nil {
		return err
	}
	state := filepath.Join(dir, "freezer.state")
	if cg.v2 {
		state = filepath.Join(dir, "cgroup.events")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(state)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), want) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still not %s after 10s: %s", want, strings.TrimSpace(string(b)))
		}
		if !cg.v2 && on {
			// A v1 freeze that met a busy task stays FREEZING: ask again.
			os.WriteFile(filepath.Join(dir, file), []byte(val), 0)
		}
		time.Sleep(time.Millisecond)
	}
}

func (cg *cgroup) frozen() bool {
	switch {
	case cg.v2:
		return readKeyed(filepath.Join(cg.dirs["pids"], "cgroup.events"), "frozen") == 1
	case cg.dirs["freezer"] != "":
		b, _ := os.ReadFile(filepath.Join(cg.dirs["freezer"], "freezer.state"))
		return strings.TrimSpace(string(b)) != "THAWED" && len(b) > 0
	}
	return false
}

// stats reads the cgroup's use.
func (cg *cgroup) stats() (Stats, error) {
	var st Stats
	mem := filepath.Join(cg.dirs["memory"], "memory.usage_in_bytes")
	if cg.v2 {
		mem = filepath.Join(cg.dirs["memory"], "memory.current")
	}
	st.MemoryBytes = readInt(mem)
	if st.MemoryBytes < 0 {
		return Stats{}, fmt.Errorf("reading %s", mem)
	}
	st.PeakMemoryBytes = cg.peakMemory()
	st.Pids = max(readInt(filepath.Join(cg.dirs["pids"], "pids.current")), 0)
	switch {
	case cg.v2:
		st.CPU = time.Duration(max(readKeyed(filepath.Join(cg.dirs["cpu"], "cpu.stat"), "usage_usec"), 0)) * time.Microsecond
	case cg.dirs["cpuacct"] != "":
		st.CPU = time.Duration(max(readInt(filepath.Join(cg.dirs["cpuacct"], "cpuacct.usage")), 0))
	}
	st.Frozen = cg.frozen()
	return st, nil
}

// procs lists the processes in the cgroup (the pids hierarchy holds all
// of them on v1 as on v2).
func (cg *cgroup) procs() ([]int, error) {
	if cg.dirs["pids"] == "" {
		return nil, nil
	}
	b, err := os.ReadFile(filepath.Join(cg.dirs["pids"], "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range bytes.Fields(b) {
		if n, err := strconv.Atoi(string(f)); err == nil {
			pids = append(pids, n)
		}
	}
	return pids, nil
}

// kill sends SIGKILL to every process in the cgroup until it is empty:
// cgroup.kill on v2 (Linux 5.14+), else a loop over cgroup.procs, which
// also catches processes forked while it runs.
func (cg *cgroup) kill() error {
	if cg.v2 {
		os.WriteFile(filepath.Join(cg.dirs["pids"], "cgroup.kill"), []byte("1"), 0)
	} else if cg.frozen() {
		// Frozen v1 tasks do not die until thawed.
		cg.setFrozen(false)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids, err := cg.procs()
		if err != nil {
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENODEV) {
				return nil // removed meanwhile
			}
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sandbox: %d processes survive SIGKILL in %s", len(pids), cg.dirs["pids"])
		}
		for _, p := range pids {
			syscall.Kill(p, syscall.SIGKILL)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// oomKilled reports whether the kernel killed a process of the cgroup for
// going over its memory limit.
func (cg *cgroup) oomKilled() bool {
	dir := cg.dirs["memory"]
	if cg.v2 {
		return readKeyed(filepath.Join(dir, "memory.events"), "oom_kill") > 0
	}
	if n := readKeyed(filepath.Join(dir, "memory.oom_control"), "oom_kill"); n >= 0 {
		return n > 0
	}
	// Kernels before 4.13 lack oom_kill: hitting the limit is the best sign.
	return readInt(filepath.Join(dir, "memory.failcnt")) > 0
}

// pidsLimitHit reports whether a fork failed at pids.max.
func (cg *cgroup) pidsLimitHit() bool {
	return readKeyed(filepath.Join(cg.dirs["pids"], "pids.events"), "max") > 0
}

// peakMemory is the highest memory use of the cgroup, or 0 when unknown
// (memory.peak needs Linux 5.19 on v2).
func (cg *cgroup) peakMemory() int64 {
	f := "memory.max_usage_in_bytes"
	if cg.v2 {
		f = "memory.peak"
	}
	return max(readInt(filepath.Join(cg.dirs["memory"], f)), 0)
}

// destroy kills what is left and removes the cgroup.
func (cg *cgroup) destroy() error {
	err := cg.kill()
	for _, dir := range cg.uniqueDirs() {
		var rmErr error
		for range 200 {
			rmErr = syscall.Rmdir(dir)
			if rmErr == nil || errors.Is(rmErr, syscall.ENOENT) {
				rmErr = nil
				break
			}
			if !errors.Is(rmErr, syscall.EBUSY) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if rmErr != nil && err == nil {
			err = fmt.Errorf("sandbox: removing cgroup %s: %w", dir, rmErr)
		}
	}
	return err
}

// readKeyed reads "key value" lines and returns key's value, or -1.
func readKeyed(path, key string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if ok && k == key {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

func readInt(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return -1
	}
	return n
}
