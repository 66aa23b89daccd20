package supervisor

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/apps"
	"github.com/apogee-dev/apogee/internal/apps/runtimetest"
	"github.com/apogee-dev/apogee/internal/sandbox"
)

// The orphan helper is this test binary run again: a "server" that starts
// an instance, says it is ready and waits to be killed -9.
const orphanEnv = "APOGEE_TEST_SUPERVISOR_ORPHAN"

func TestMain(m *testing.M) {
	if spec := os.Getenv(orphanEnv); spec != "" {
		os.Exit(orphanHelper(spec))
	}
	os.Exit(m.Run())
}

func orphanHelper(spec string) int {
	parts := strings.Split(spec, ",")
	parent, data, dir, marker := parts[0], parts[1], parts[2], parts[3]
	sb, err := sandbox.New("bwrap", sandbox.WithLogger(quiet()), sandbox.WithCgroupParent(parent))
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	s, err := New(context.Background(), Options{Launcher: Sandboxed{Sandbox: sb}, DataDir: data, Log: quiet()})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	in, err := s.Start(context.Background(), apps.Spec{Project: "web", Release: "r1", Dir: dir, Command: "exec node app.js " + marker})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	for in.Status().State != apps.StateReady {
		<-in.Changed()
	}
	fmt.Println("ready", in.ID())
	select {} // until killed
}

// markerProcesses counts the processes whose command line holds marker.
func markerProcesses(t *testing.T, marker string) int {
	t.Helper()
	n := 0
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), marker) {
			n++
		}
	}
	return n
}

// A server killed with -9 leaves its sandboxed instances running (they
// are not its children); the next server's New kills them and removes
// their data folders.
func TestServerKilledLeavesNoOrphan(t *testing.T) {
	parent := "apogee-test/supervisor-orphan"
	data := t.TempDir()
	dir := runtimetest.AppDir(t)
	marker := "orphan-marker-" + apogee.NewID()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), orphanEnv+"="+strings.Join([]string{parent, data, dir, marker}, ","))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready ") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper: %q, %v", line, err)
	}
	id := strings.TrimSpace(strings.TrimPrefix(line, "ready "))
	cmd.Process.Kill() // kill -9 of the server
	cmd.Wait()
	if markerProcesses(t, marker) == 0 {
		t.Fatal("the instance died with its server: the test proves nothing")
	}
	if _, err := os.Stat(filepath.Join(data, id)); err != nil {
		t.Fatalf("the instance's data folder: %v", err)
	}

	sb, err := sandbox.New("bwrap", sandbox.WithLogger(quiet()), sandbox.WithCgroupParent(parent))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(context.Background(), Options{Launcher: Sandboxed{Sandbox: sb}, DataDir: data, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	if n := markerProcesses(t, marker); n != 0 {
		t.Errorf("%d processes of the killed server's instance are left", n)
	}
	if _, err := os.Stat(filepath.Join(data, id)); !os.IsNotExist(err) {
		t.Errorf("the orphan's data folder is left: %v", err)
	}
}
