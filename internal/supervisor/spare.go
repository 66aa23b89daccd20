package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/apps"
	"golang.org/x/sys/unix"
)

// A spare is an instance's sandbox made before the instance is started
// (Prestart): its cgroup, namespaces, egress and mounts are ready, and a
// shell in it waits on a FIFO in the data folder before it runs the
// start command. Start of the same spec takes the spare and opens the
// gate, which saves the sandbox's set-up on a cold start
// (BenchmarkColdStartFirstByte/bwrap-spare). A spare costs a waiting
// shell and the sandbox's own processes (about 1.1 MiB in its cgroup,
// BenchmarkPausedMemory), no CPU.
type spare struct {
	proc           Process
	stdout, stderr io.WriteCloser
	gate           string // the FIFO, on the host
}

var _ apps.Prestarter = (*Supervisor)(nil)

// spareGate is the FIFO's name in the data folder, which is HOME under
// every launcher.
const spareGate = ".apogee-start"

// Prestart makes a spare sandbox for spec's release, so that its next
// Start (of an equal spec) skips the sandbox's set-up: the shell runs
// the command at once. One spare per release; Prestart for a release
// that has one does nothing. A spare left when the release's spec
// changes is replaced at the next Start; DropSpare removes one, Close
// all. ctx bounds the sandbox's start.
func (s *Supervisor) Prestart(ctx context.Context, spec apps.Spec) error {
	spec = spec.WithDefaults()
	if err := validate(spec); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("supervisor: closed")
	}
	if _, ok := s.spares[spec.Release]; ok {
		s.mu.Unlock()
		return nil
	}
	s.spares[spec.Release] = nil // being made
	s.mu.Unlock()
	in, err := s.makeSpare(ctx, spec)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil || s.closed {
		delete(s.spares, spec.Release)
		if err == nil {
			in.discard()
			err = errors.New("supervisor: closed")
		}
		return err
	}
	s.spares[spec.Release] = in
	return nil
}

func (s *Supervisor) makeSpare(ctx context.Context, spec apps.Spec) (*instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	id := apogee.NewID()
	dataDir := filepath.Join(s.opts.DataDir, id)
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("supervisor: data folder of %s: %w", id, err)
	}
	gate := filepath.Join(dataDir, spareGate)
	if err := unix.Mkfifo(gate, 0o600); err != nil {
		os.RemoveAll(dataDir)
		return nil, fmt.Errorf("supervisor: spare of %s: %w", spec.Release, err)
	}
	in := newInstance(s, id, spec, dataDir)
	proc, stdout, stderr, err := in.launch(0, `read _ < "$HOME/`+spareGate+`" || exit 1`+"\n")
	if err != nil {
		os.RemoveAll(dataDir)
		return nil, fmt.Errorf("supervisor: spare of %s: %w", spec.Release, err)
	}
	in.spare = &spare{proc: proc, stdout: stdout, stderr: stderr, gate: gate}
	return in, nil
}

// takeSpare returns the instance's spare sandbox, once.
func (in *instance) takeSpare() *spare {
	in.mu.Lock()
	defer in.mu.Unlock()
	sp := in.spare
	in.spare = nil
	return sp
}

// adoptSpare returns the spare made for spec, if it is still good; one
// made for another spec of the release, or whose shell ended, goes.
// s.mu is held.
func (s *Supervisor) adoptSpare(spec apps.Spec) *instance {
	in, ok := s.spares[spec.Release]
	if !ok || in == nil {
		return nil
	}
	delete(s.spares, spec.Release)
	select {
	case <-in.spare.proc.Done():
		go in.discard()
		return nil
	default:
	}
	if !reflect.DeepEqual(in.spec, spec) {
		go in.discard()
		return nil
	}
	in.status.Created = time.Now()
	return in
}

// DropSpare kills the spare sandbox of a release, if it has one.
func (s *Supervisor) DropSpare(release string) {
	s.mu.Lock()
	in := s.spares[release]
	if in != nil {
		delete(s.spares, release)
	}
	s.mu.Unlock()
	if in != nil {
		in.discard()
	}
}

// discard kills a spare that was never started and removes its folder.
func (in *instance) discard() {
	if sp := in.takeSpare(); sp != nil {
		if err := sp.proc.Kill(); err != nil {
			in.sup.opts.Log.Error("app instance: killing a spare", "instance", in.id, "err", err)
		}
		<-sp.proc.Done()
		sp.stdout.Close()
		sp.stderr.Close()
	}
	os.RemoveAll(in.dataDir)
}

// release opens the gate: the shell runs the start command. The shell
// opens the FIFO just after its start; until it has, opening the write
// end fails (ENXIO) and is tried again every millisecond, for at most
// 10 s.
func (sp *spare) release() error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		f, err := os.OpenFile(sp.gate, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err == nil {
			_, err = f.Write([]byte("go\n"))
			f.Close()
			os.Remove(sp.gate)
			return err
		}
		if !errors.Is(err, syscall.ENXIO) || time.Now().After(deadline) {
			return fmt.Errorf("opening the spare's gate: %w", err)
		}
		select {
		case <-sp.proc.Done():
			return errors.New("the spare's shell ended before its start")
		case <-time.After(time.Millisecond):
		}
	}
}
