//go:build unix

package source

import (
	"os/exec"
	"syscall"
)

// killGroupOnCancel runs cmd in a process group of its own and, when its
// context ends, kills the whole group: git's helpers (git-remote-https,
// git-upload-pack) die with it instead of keeping its pipes open.
func killGroupOnCancel(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// syscallNoFollow makes opening a link fail.
const syscallNoFollow = syscall.O_NOFOLLOW
