package sandbox

import (
	"encoding/binary"
	"fmt"
	"os"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// The seccomp filter of every program under bwrap (passed with
// --seccomp, loaded just before the program's init runs, so bwrap's own
// set-up is not filtered). It follows Docker's default profile for what
// an unprivileged container never needs, and is stricter on a few:
//
//   - no new namespaces: unshare and setns fail, clone with any
//     CLONE_NEW* flag fails, clone3 says ENOSYS (its flags are out of a
//     filter's reach; C libraries then fall back to clone). So
//     `unshare -Ur` cannot make the program root in a user namespace, the
//     way in to most kernel attack surface;
//   - no mounts or file system handles (mount, umount2, pivot_root, the
//     new mount API, open_by_handle_at), no ptrace or reading other
//     processes' memory (process_vm_*, kcmp, pidfd_getfd), no kernel
//     keyrings, bpf, perf_event_open, userfaultfd, io_uring, fanotify;
//   - nothing only an admin does: modules, kexec, reboot, swap, clocks,
//     quotas, acct, syslog, iopl/ioperm.
//
// Denied calls fail with EPERM (ENOSYS for clone3), so programs that probe
// for a feature go on without it. Calls of any other ABI than the
// native one (i386 or x32 on x86-64) fail with ENOSYS: a deny-list must
// not be bypassed through a second syscall table.
var deniedSyscalls = []string{
	"unshare", "setns",
	"mount", "umount", "umount2", "pivot_root", "chroot",
	"mount_setattr", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
	"open_by_handle_at", "name_to_handle_at",
	"ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
	"keyctl", "add_key", "request_key",
	"bpf", "perf_event_open", "userfaultfd", "fanotify_init", "lookup_dcookie",
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"create_module", "get_kernel_syms", "query_module",
	"reboot", "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "nfsservctl",
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "stime",
	"syslog", "iopl", "ioperm", "uselib", "_sysctl", "sysfs", "ustat", "vhangup",
	"vm86", "vm86old",
}

// cloneNamespaceFlags are the clone flags that make namespaces.
// (CLONE_NEWTIME is only for clone3 and unshare: in clone's flags its bit
// is part of the exit signal.)
const cloneNamespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS |
	unix.CLONE_NEWIPC | unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET

// seccompFilter assembles the filter for this machine's architecture as
// the array of struct sock_filter that bwrap reads.
func seccompFilter() ([]byte, error) {
	info, err := arch.GetInfo("")
	if err != nil {
		return nil, fmt.Errorf("sandbox: seccomp: %w", err)
	}
	var names []string
	for _, n := range deniedSyscalls {
		if _, ok := info.SyscallNames[n]; ok { // not every name exists everywhere
			names = append(names, n)
		}
	}
	policy := seccomp.Policy{
		DefaultAction: seccomp.ActionAllow,
		Syscalls: []seccomp.SyscallGroup{
			{Action: seccomp.ActionErrno | seccomp.Action(unix.EPERM), Names: names},
			{Action: seccomp.ActionErrno | seccomp.Action(unix.EPERM), NamesWithCondtions: []seccomp.NameWithConditions{{
				Name:       "clone",
				Conditions: seccomp.ArgumentConditions{{Argument: 0, Operation: seccomp.BitsSet, Value: cloneNamespaceFlags}},
			}}},
			{Action: seccomp.ActionErrno | seccomp.Action(unix.ENOSYS), Names: []string{"clone3"}},
		},
	}
	prog, err := policy.Assemble()
	if err != nil {
		return nil, fmt.Errorf("sandbox: seccomp: %w", err)
	}
	// The library lets calls of another architecture through to the
	// default action (allow): refuse them first.
	enosys := uint32(seccomp.ActionErrno) | uint32(unix.ENOSYS)
	prog = append([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4}, // seccomp_data.arch
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(info.ID), SkipTrue: 1},
		bpf.RetConstant{Val: enosys},
	}, prog...)
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("sandbox: seccomp: %w", err)
	}
	out := make([]byte, 0, 8*len(raw))
	for _, ins := range raw {
		out = binary.NativeEndian.AppendUint16(out, ins.Op)
		out = append(out, ins.Jt, ins.Jf)
		out = binary.NativeEndian.AppendUint32(out, ins.K)
	}
	return out, nil
}

// seccompFile is a memfd holding the filter, for one bwrap to read.
func seccompFile(filter []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate("apogee-seccomp", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("sandbox: seccomp: %w", err)
	}
	f := os.NewFile(uintptr(fd), "seccomp")
	if _, err := f.Write(filter); err != nil {
		f.Close()
		return nil, fmt.Errorf("sandbox: seccomp: %w", err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("sandbox: seccomp: %w", err)
	}
	return f, nil
}
