//go:build !unix

package source

import "os/exec"

// killGroupOnCancel leaves exec's default: only git itself is killed.
func killGroupOnCancel(cmd *exec.Cmd) {}

const syscallNoFollow = 0
