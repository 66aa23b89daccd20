package sandbox

import (
	"bufio"
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

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"

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
	rel     string // the parent, relative to each hierarchy's root
	mount   string // v2: the unified tree's mount point
	// roots maps a v1 controller to the folder its hierarchy is named in
	// (/sys/fs/cgroup for /sys/fs/cgroup/memory), as cgroup1 takes it.
	roots map[string]string
	swap  bool // swap is accounted: the memory limit covers it too
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
		_, serr := os.Stat(filepath.Join(dir, "memory.swap.max"))
		return &cgroups{v2: true, parents: p, rel: parent, mount: m, swap: serr == nil}, nil
	}

	p, roots := map[string]string{}, map[string]string{}
	for _, c := range cgroupControllers {
		m, ok := v1[c]
		if ok {
			if roots[c], ok = v1Root(m, c); !ok {
				return nil, cgroupErr("the cgroup v1 %s hierarchy is mounted at %s, not in a folder named %s", c, m, c)
			}
		} else {
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
			root, ok := v1Root(m, c)
			if err := os.MkdirAll(dir, 0o755); err == nil && ok {
				p[c], roots[c] = dir, root
			}
		}
	}
	_, err := os.Stat(filepath.Join(p["memory"], "memory.memsw.limit_in_bytes"))
	return &cgroups{parents: p, rel: parent, roots: roots, swap: err == nil}, nil
}

// v1Root is the folder in which the v1 hierarchy mounted at mount is
// named after controller c (co-mounted hierarchies such as
// "cpu,cpuacct" usually have such a link).
func v1Root(mount, c string) (string, bool) {
	dir := filepath.Dir(mount)
	if filepath.Base(mount) == c {
		return dir, true
	}
	if _, err := os.Stat(filepath.Join(dir, c)); err == nil {
		return dir, true
	}
	return "", false
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
// controller on v1, driven through containerd's cgroups library.
type cgroup struct {
	v2   bool
	dirs map[string]string // controller → directory
	m2   *cgroup2.Manager  // v2
	c1   cgroup1.Cgroup    // v1
}

func newRunID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// create makes the run's cgroup with its limits. A cgroup of that name
// already there is ECONFLICT.
func (g *cgroups) create(id string, l Limits) (_ *cgroup, err error) {
	cg := g.open(id)
	// Made here first, so that a name in use is told apart.
	if err := os.Mkdir(cg.dirs["pids"], 0o755); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, apogee.Errorf(apogee.ECONFLICT, "sandbox: %s is already running", id)
		}
		return nil, fmt.Errorf("sandbox: creating cgroup: %w", err)
	}
	defer func() {
		if err != nil {
			for _, d := range cg.uniqueDirs() {
				syscall.Rmdir(d)
			}
		}
	}()
	const period = 100000
	quota := max(int64(l.CPUs*period), 1000)
	if g.v2 {
		res := &cgroup2.Resources{}
		if l.MemoryBytes > 0 {
			res.Memory = &cgroup2.Memory{Max: &l.MemoryBytes}
			if g.swap {
				none := int64(0) // no swap: the limit is the limit
				res.Memory.Swap = &none
			}
		}
		if l.CPUs > 0 {
			p := uint64(period)
			res.CPU = &cgroup2.CPU{Max: cgroup2.NewCPUMax(&quota, &p)}
		}
		if l.Pids > 0 {
			res.Pids = &cgroup2.Pids{Max: l.Pids}
		}
		if cg.m2, err = cgroup2.NewManager(g.mount, "/"+g.rel+"/"+id, res); err != nil {
			return nil, fmt.Errorf("sandbox: creating cgroup: %w", err)
		}
		return cg, nil
	}
	res := &specs.LinuxResources{}
	if l.MemoryBytes > 0 {
		res.Memory = &specs.LinuxMemory{Limit: &l.MemoryBytes}
		if g.swap {
			res.Memory.Swap = &l.MemoryBytes // memsw is RAM+swap: no swap
		}
	}
	if l.CPUs > 0 {
		p := uint64(period)
		res.CPU = &specs.LinuxCPU{Quota: &quota, Period: &p}
	}
	if l.Pids > 0 {
		res.Pids = &specs.LinuxPids{Limit: &l.Pids}
	}
	if cg.c1, err = cgroup1.New(cgroup1.StaticPath("/"+g.rel+"/"+id), res, cgroup1.WithHierarchy(g.hierarchy)); err != nil {
		return nil, fmt.Errorf("sandbox: creating cgroup: %w", err)
	}
	return cg, nil
}

// hierarchy is the v1 controllers a run uses, for cgroup1.
func (g *cgroups) hierarchy() ([]cgroup1.Subsystem, error) {
	var subs []cgroup1.Subsystem
	for _, c := range append(cgroupControllers, cgroupOptional...) {
		root, ok := g.roots[c]
		if !ok {
			continue
		}
		switch c {
		case "memory":
			subs = append(subs, cgroup1.NewMemory(root))
		case "cpu":
			subs = append(subs, cgroup1.NewCpu(root))
		case "pids":
			subs = append(subs, cgroup1.NewPids(root))
		case "cpuacct":
			subs = append(subs, cgroup1.NewCpuacct(root))
		case "freezer":
			subs = append(subs, cgroup1.NewFreezer(root))
		}
	}
	return subs, nil
}

// add moves a process into the cgroup, in every hierarchy.
func (cg *cgroup) add(pid int) error {
	var err error
	if cg.v2 {
		err = cg.m2.AddProc(uint64(pid))
	} else {
		err = cg.c1.AddProc(uint64(pid))
	}
	if err != nil {
		return fmt.Errorf("sandbox: moving process into cgroup %s: %w", cg.dirs["pids"], err)
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

// open is the cgroup id below the parents, as create made it (or an
// earlier server: KillOrphans).
func (g *cgroups) open(id string) *cgroup {
	cg := &cgroup{v2: g.v2, dirs: map[string]string{}}
	for c, parent := range g.parents {
		cg.dirs[c] = filepath.Join(parent, id)
	}
	if g.v2 {
		cg.m2, _ = cgroup2.Load("/"+g.rel+"/"+id, cgroup2.WithMountpoint(g.mount))
	} else {
		cg.c1, _ = cgroup1.Load(cgroup1.StaticPath("/"+g.rel+"/"+id), cgroup1.WithHierarchy(g.hierarchy))
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

// setFrozen freezes or thaws every process of the cgroup and returns
// once the kernel says it is done. On v1 the library waits for
// freezer.state; on v2 it only reads back cgroup.freeze (what was asked,
// not what is done), so the wait for cgroup.events' "frozen" is here.
func (cg *cgroup) setFrozen(on bool) error {
	switch {
	case cg.v2:
		var err error
		if on {
			err = cg.m2.Freeze()
		} else {
			err = cg.m2.Thaw()
		}
		if err != nil {
			return err
		}
		deadline := time.Now().Add(10 * time.Second)
		for cg.frozen() != on {
			if time.Now().After(deadline) {
				return fmt.Errorf("cgroup.events of %s does not say frozen %v after 10s", cg.dirs["pids"], on)
			}
			time.Sleep(100 * time.Microsecond)
		}
		return nil
	case cg.dirs["freezer"] == "" || cg.c1 == nil:
		return errors.New("no cgroup freezer is mounted")
	case on:
		return cg.c1.Freeze()
	}
	return cg.c1.Thaw()
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
	if cg.v2 {
		m, err := cg.m2.Stat()
		if err != nil {
			return Stats{}, err
		}
		if m.Memory != nil {
			st.MemoryBytes = int64(m.Memory.Usage)
		}
		if m.CPU != nil {
			st.CPU = time.Duration(m.CPU.UsageUsec) * time.Microsecond
		}
		if m.Pids != nil {
			st.Pids = int64(m.Pids.Current)
		}
	} else {
		m, err := cg.c1.Stat(cgroup1.IgnoreNotExist)
		if err != nil {
			return Stats{}, err
		}
		if m.Memory != nil && m.Memory.Usage != nil {
			st.MemoryBytes = int64(m.Memory.Usage.Usage)
		}
		if m.CPU != nil && m.CPU.Usage != nil {
			st.CPU = time.Duration(m.CPU.Usage.Total)
		}
		if m.Pids != nil {
			st.Pids = int64(m.Pids.Current)
		}
	}
	st.PeakMemoryBytes = cg.peakMemory()
	st.Frozen = cg.frozen()
	return st, nil
}

// procs lists the processes in the cgroup (the pids hierarchy holds all
// of them on v1 as on v2).
func (cg *cgroup) procs() ([]int, error) {
	var pids []int
	if cg.v2 {
		ps, err := cg.m2.Procs(false)
		for _, p := range ps {
			pids = append(pids, int(p))
		}
		return pids, err
	}
	ps, err := cg.c1.Processes(cgroup1.Pids, false)
	for _, p := range ps {
		pids = append(pids, p.Pid)
	}
	return pids, err
}

// kill sends SIGKILL to every process in the cgroup until it is empty:
// cgroup.kill on v2 (Linux 5.14+; the library falls back to a loop),
// else a loop over the processes, which also catches those forked while
// it runs.
func (cg *cgroup) kill() error {
	if cg.v2 && cg.m2 != nil {
		cg.m2.Kill()
	} else if cg.frozen() {
		// Frozen v1 tasks do not die until thawed.
		cg.setFrozen(false)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids, err := cg.procs()
		if err != nil {
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENODEV) || errors.Is(err, cgroup1.ErrCgroupDeleted) {
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

// destroy kills what is left and removes the cgroup (the library retries
// while the kernel still counts the dead).
func (cg *cgroup) destroy() error {
	err := cg.kill()
	var derr error
	switch {
	case cg.v2 && cg.m2 != nil:
		derr = cg.m2.Delete()
	case cg.c1 != nil:
		derr = cg.c1.Delete()
	}
	if derr != nil && !errors.Is(derr, os.ErrNotExist) && !errors.Is(derr, cgroup1.ErrCgroupDeleted) && err == nil {
		err = fmt.Errorf("sandbox: removing cgroup %s: %w", cg.dirs["pids"], derr)
	}
	// What the library does not know of (a hierarchy it was not given).
	for _, d := range cg.uniqueDirs() {
		syscall.Rmdir(d)
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
