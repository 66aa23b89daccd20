package supervisor

import (
	"context"
	"io"
	"net"
	"syscall"

	"github.com/apogee-dev/apogee/internal/apps"
)

// Launcher starts one process of an instance in isolation. The sandbox's
// kinds are launchers (bwrap, runsc); Host runs on the host for
// development.
type Launcher interface {
	// Launch starts s and returns at once. The process runs until it
	// exits or is killed; ctx bounds only the start.
	Launch(ctx context.Context, s LaunchSpec) (Process, error)
}

// LaunchSpec is one process of an instance.
type LaunchSpec struct {
	// Name names the process's cgroup and logs: the instance id and the
	// attempt.
	Name string
	// Argv is the program and its arguments (sh -c and the command).
	Argv []string
	// Dir is the release tree: read-only, the working directory.
	Dir string
	// Sandbox is the instance's sandbox (apps.Spec.Sandbox); "" the
	// launcher's default. Only Kinds looks at it.
	Sandbox string
	// DataDir is the instance's own writable folder on the host; the
	// launcher makes it the program's HOME.
	DataDir string
	// Node is the folder of the Node.js to run (apps.Spec.Node; "" the
	// machine's): the launcher puts its bin first on PATH.
	Node string
	// Env is the whole environment (PORT included; the launcher sets HOME).
	Env    []string
	Port   int
	Limits apps.Limits
	// Stdout and Stderr receive the output.
	Stdout, Stderr io.Writer
}

// Process is one running process tree of an instance (its cgroup).
type Process interface {
	// Done is closed when the process and all it started have ended and
	// its output is copied.
	Done() <-chan struct{}
	// Exit is how it ended; valid after Done.
	Exit() apps.Exit
	// DialContext connects to addr as seen from inside the process's
	// network: "127.0.0.1:PORT" is the app.
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
	// Signal sends sig to the process (the app's main process).
	Signal(sig syscall.Signal) error
	// Kill kills every process of the tree at once.
	Kill() error
	// Usage is what the tree uses now.
	Usage() (apps.Usage, error)
	// Freeze stops every process of the tree at once, memory kept, until
	// Thaw; connections made meanwhile wait in the kernel's queue.
	Freeze() error
	Thaw() error
}
