package supervisor

// Tests where timing is the point (the restart backoff, its reset, the
// liveness windows, the boot timeout and the stop grace) run with the
// defaults on a fake clock (testing/synctest) against fake processes that
// answer health checks over in-memory pipes. Everything else runs real
// Node.js apps (runtimetest).

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/apogee-dev/apogee/internal/apps"
)

// fakeProc is a process that answers health checks with a status code (0:
// nothing listens) and exits when told or signaled.
type fakeProc struct {
	mu         sync.Mutex
	status     int
	ignoreTerm bool
	signals    []string // "TERM@1.5s", "KILL@…" relative to the bubble's start
	exit       apps.Exit
	done       chan struct{}
	epoch      time.Time
	// frozen: dials reach nothing that answers (counted in frozenDials),
	// and a SIGTERM waits for the thaw.
	frozen      bool
	frozenDials int
	pendingTerm bool
}

func (p *fakeProc) Freeze() error {
	p.mu.Lock()
	p.frozen = true
	p.mu.Unlock()
	return nil
}

func (p *fakeProc) Thaw() error {
	p.mu.Lock()
	p.frozen = false
	term := p.pendingTerm && !p.ignoreTerm
	p.mu.Unlock()
	if term {
		p.end(apps.Exit{Code: 143, Signal: int(syscall.SIGTERM)})
	}
	return nil
}

func (p *fakeProc) counts() (frozenDials int, signals []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.frozenDials, slices.Clone(p.signals)
}

func (p *fakeProc) setStatus(code int) {
	p.mu.Lock()
	p.status = code
	p.mu.Unlock()
}

func (p *fakeProc) end(e apps.Exit) {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		return
	default:
	}
	p.exit = e
	close(p.done)
}

func (p *fakeProc) Done() <-chan struct{} { return p.done }
func (p *fakeProc) Exit() apps.Exit {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exit
}

func (p *fakeProc) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	p.mu.Lock()
	code, frozen := p.status, p.frozen
	if frozen {
		p.frozenDials++
	}
	p.mu.Unlock()
	if frozen {
		// The kernel accepts; the app never reads.
		client, server := net.Pipe()
		go func() { <-ctx.Done(); server.Close() }()
		return client, nil
	}
	select {
	case <-p.done:
		code = 0
	default:
	}
	if code == 0 {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	client, server := net.Pipe()
	go func() {
		defer server.Close()
		if _, err := http.ReadRequest(bufio.NewReader(server)); err != nil {
			return
		}
		fmt.Fprintf(server, "HTTP/1.1 %d X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", code)
	}()
	return client, nil
}

func (p *fakeProc) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	p.signals = append(p.signals, fmt.Sprintf("TERM@%s", time.Since(p.epoch)))
	ignore := p.ignoreTerm
	if p.frozen {
		p.pendingTerm, ignore = true, true
	}
	p.mu.Unlock()
	if !ignore {
		p.end(apps.Exit{Code: 143, Signal: int(sig)})
	}
	return nil
}

func (p *fakeProc) Kill() error {
	p.mu.Lock()
	p.signals = append(p.signals, fmt.Sprintf("KILL@%s", time.Since(p.epoch)))
	p.mu.Unlock()
	p.end(apps.Exit{Code: 137, Signal: 9})
	return nil
}

func (p *fakeProc) Usage() (apps.Usage, error) { return apps.Usage{}, nil }

// fakeLauncher makes fakeProcs; behave sets up the n-th (from 0).
type fakeLauncher struct {
	epoch  time.Time
	behave func(n int, p *fakeProc)

	mu     sync.Mutex
	starts []time.Duration
	procs  []*fakeProc
}

func (l *fakeLauncher) Launch(ctx context.Context, s LaunchSpec) (Process, error) {
	l.mu.Lock()
	n := len(l.procs)
	p := &fakeProc{done: make(chan struct{}), epoch: l.epoch}
	l.procs = append(l.procs, p)
	l.starts = append(l.starts, time.Since(l.epoch))
	l.mu.Unlock()
	l.behave(n, p)
	return p, nil
}

func (l *fakeLauncher) proc(n int) *fakeProc {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n >= len(l.procs) {
		return nil
	}
	return l.procs[n]
}

func (l *fakeLauncher) startTimes() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.starts)
}

// bubble runs fn in a synctest bubble with a supervisor on l, whose
// jitter is 0.5 (no change to the delays), and closes it afterwards.
func bubble(t *testing.T, behave func(n int, p *fakeProc), fn func(s *Supervisor, l *fakeLauncher)) {
	synctest.Test(t, func(t *testing.T) {
		l := &fakeLauncher{epoch: time.Now(), behave: behave}
		s, err := New(context.Background(), Options{Launcher: l, DataDir: t.TempDir(), Log: quiet(), Jitter: func() float64 { return 0.5 }})
		if err != nil {
			t.Fatal(err)
		}
		fn(s, l)
		if err := s.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

func fakeSpec(t *testing.T) apps.Spec {
	return apps.Spec{Project: "web", Release: "r1", Dir: t.TempDir(), Command: "node server.js"}
}

func TestRestartBackoffSchedule(t *testing.T) {
	// Every process exits at once.
	bubble(t, func(n int, p *fakeProc) { p.end(apps.Exit{Code: 1}) }, func(s *Supervisor, l *fakeLauncher) {
		in, err := s.Start(context.Background(), fakeSpec(t))
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(4 * time.Minute)
		synctest.Wait()
		starts := l.startTimes()
		var gaps []time.Duration
		for i := 1; i < len(starts); i++ {
			gaps = append(gaps, starts[i]-starts[i-1])
		}
		// At once, then 1 s doubling to 60 s.
		want := []time.Duration{0, 1, 2, 4, 8, 16, 32, 60, 60}
		for i := range want {
			want[i] *= time.Second
		}
		if len(gaps) < len(want) || !slices.Equal(gaps[:len(want)], want) {
			t.Errorf("gaps between starts %v, want %v…", gaps, want)
		}
		st := in.Status()
		if st.State != apps.StateCrashed || st.Failures != len(starts) || st.Restarts != len(starts)-1 {
			t.Errorf("status %+v after %d starts", st, len(starts))
		}
		if got := st.NextStart.Sub(time.Now()); got <= 0 || got > time.Minute {
			t.Errorf("next start in %v", got)
		}
	})
}

func TestRestartBackoffJitter(t *testing.T) {
	r := apps.Spec{}.WithDefaults().Restart
	for _, c := range []struct {
		failures int
		jitter   float64
		want     time.Duration
	}{
		{1, 0.99, 0},
		{2, 0, 900 * time.Millisecond},
		{2, 0.5, time.Second},
		{2, 0.99, 1098 * time.Millisecond},
		{3, 0.5, 2 * time.Second},
		{8, 0.5, 60 * time.Second},
		{50, 0, 54 * time.Second},
		{50, 0.99, 65880 * time.Millisecond},
	} {
		if got := r.Delay(c.failures, c.jitter).Round(time.Millisecond); got != c.want {
			t.Errorf("Delay(%d, %v) = %v, want %v", c.failures, c.jitter, got, c.want)
		}
	}
}

func TestBackoffResetsAfterTenMinutesReady(t *testing.T) {
	for _, c := range []struct {
		ready time.Duration
		want  time.Duration // the wait before the start after that crash
	}{
		{10 * time.Minute, 0},              // the count starts over: at once
		{9 * time.Minute, 8 * time.Second}, // the fifth crash in a row: 1, 2, 4, 8 s
	} {
		t.Run(c.ready.String(), func(t *testing.T) {
			// Processes 0–3 exit at once; process 4 is healthy until told.
			bubble(t, func(n int, p *fakeProc) {
				if n < 4 {
					p.end(apps.Exit{Code: 1})
					return
				}
				p.setStatus(200)
			}, func(s *Supervisor, l *fakeLauncher) {
				in, _ := s.Start(context.Background(), fakeSpec(t))
				time.Sleep(10 * time.Second)
				synctest.Wait()
				if st := in.Status(); st.State != apps.StateReady || st.Failures != 4 {
					t.Fatalf("process 4: %+v", st)
				}
				time.Sleep(c.ready)
				l.proc(4).end(apps.Exit{Code: 1})
				crashed := time.Now()
				time.Sleep(time.Minute)
				synctest.Wait()
				starts := l.startTimes()
				if len(starts) < 6 {
					t.Fatalf("%d starts", len(starts))
				}
				if got := l.epoch.Add(starts[5]).Sub(crashed); got != c.want {
					t.Errorf("after %v ready, the restart came %v after the crash, want %v", c.ready, got, c.want)
				}
			})
		})
	}
}

func TestLivenessWindows(t *testing.T) {
	bubble(t, func(n int, p *fakeProc) { p.setStatus(200) }, func(s *Supervisor, l *fakeLauncher) {
		in, _ := s.Start(context.Background(), fakeSpec(t))
		synctest.Wait()
		if !in.Ready() {
			t.Fatalf("not ready: %+v", in.Status())
		}
		// Checks run every 5 s from the start; from t=1 s they fail. The
		// first failing check is at 5 s; out of rotation 15 s later, at 20 s.
		time.Sleep(time.Second)
		l.proc(0).setStatus(500)
		time.Sleep(18*time.Second + 900*time.Millisecond) // t = 19.9 s
		synctest.Wait()
		if !in.Ready() {
			t.Fatalf("out of rotation before 15 s of failing: %+v", in.Status())
		}
		time.Sleep(200 * time.Millisecond) // t = 20.1 s
		synctest.Wait()
		st := in.Status()
		if in.Ready() || st.State != apps.StateUnhealthy || st.Reason != "failing its health check for 15s: GET / answered 500" {
			t.Fatalf("at 20.1 s: %+v", st)
		}
		// Replaced once failing for 30 s (at 35 s), with SIGTERM first; the
		// new process is healthy and ready at once.
		time.Sleep(14*time.Second + 800*time.Millisecond) // t = 34.9 s
		synctest.Wait()
		if l.proc(1) != nil {
			t.Fatal("replaced before 30 s of failing")
		}
		time.Sleep(200 * time.Millisecond) // t = 35.1 s
		synctest.Wait()
		if sig := l.proc(0).signals; !slices.Equal(sig, []string{"TERM@35s"}) {
			t.Errorf("signals to the sick process: %v", sig)
		}
		st = in.Status()
		if st.State != apps.StateReady || st.Restarts != 1 || st.LastExit == nil ||
			st.LastExit.Reason != "failed its health check for 30s (GET / answered 500): replacing it" {
			t.Errorf("after the replacement: %+v (last exit %+v)", st, st.LastExit)
		}
	})
}

func TestLivenessRecovers(t *testing.T) {
	bubble(t, func(n int, p *fakeProc) { p.setStatus(200) }, func(s *Supervisor, l *fakeLauncher) {
		in, _ := s.Start(context.Background(), fakeSpec(t))
		time.Sleep(time.Second)
		l.proc(0).setStatus(503)
		time.Sleep(20 * time.Second) // t = 21 s: unhealthy since 20 s
		synctest.Wait()
		if in.Status().State != apps.StateUnhealthy {
			t.Fatalf("at 21 s: %+v", in.Status())
		}
		l.proc(0).setStatus(200)
		time.Sleep(4*time.Second + 100*time.Millisecond) // the check at 25 s passes
		synctest.Wait()
		if st := in.Status(); !in.Ready() || st.Restarts != 0 {
			t.Errorf("after the check passed again: %+v", st)
		}
		// A later failure starts the 15 s over.
		l.proc(0).setStatus(500)
		time.Sleep(15 * time.Second) // checks at 30, 35, 40: failing for 10 s
		synctest.Wait()
		if !in.Ready() {
			t.Errorf("the failure window did not start over: %+v", in.Status())
		}
	})
}

func TestBootTimeout(t *testing.T) {
	// Nothing ever listens.
	bubble(t, func(n int, p *fakeProc) {}, func(s *Supervisor, l *fakeLauncher) {
		in, _ := s.Start(context.Background(), fakeSpec(t))
		time.Sleep(59*time.Second + 900*time.Millisecond)
		synctest.Wait()
		if st := in.Status(); st.State != apps.StateStarting {
			t.Fatalf("at 59.9 s: %+v", st)
		}
		time.Sleep(200 * time.Millisecond)
		synctest.Wait()
		st := in.Status()
		if st.Failures != 1 || st.LastExit == nil || st.LastExit.Reason != "boot timeout: the app did not listen on PORT 8080 within 1m0s" {
			t.Errorf("after 60 s: %+v", st)
		}
		// A boot failure is killed at once, no SIGTERM.
		if sig := l.proc(0).signals; len(sig) != 1 || sig[0][:5] != "KILL@" {
			t.Errorf("signals %v", sig)
		}
	})
}

func TestStopGrace(t *testing.T) {
	bubble(t, func(n int, p *fakeProc) { p.setStatus(200); p.ignoreTerm = true }, func(s *Supervisor, l *fakeLauncher) {
		in, _ := s.Start(context.Background(), fakeSpec(t))
		time.Sleep(time.Second)
		done := make(chan error)
		go func() { done <- in.Stop(context.Background(), 0) }()
		synctest.Wait()
		if in.Ready() {
			t.Error("ready while stopping")
		}
		if st := in.Status(); st.State != apps.StateStopping {
			t.Errorf("while stopping: %+v", st)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		// SIGTERM at 1 s, the kill after the default grace of 10 s.
		if sig := l.proc(0).signals; !slices.Equal(sig, []string{"TERM@1s", "KILL@11s"}) {
			t.Errorf("signals %v", sig)
		}
		if st := in.Status(); st.State != apps.StateStopped || l.proc(1) != nil {
			t.Errorf("after Stop: %+v", st)
		}
	})
}

func TestStopDuringBackoff(t *testing.T) {
	bubble(t, func(n int, p *fakeProc) { p.end(apps.Exit{Code: 1}) }, func(s *Supervisor, l *fakeLauncher) {
		in, _ := s.Start(context.Background(), fakeSpec(t))
		time.Sleep(10 * time.Second) // waiting 8 s before the fifth start
		synctest.Wait()
		n := len(l.startTimes())
		if err := in.Stop(context.Background(), 0); err != nil {
			t.Fatal(err)
		}
		if st := in.Status(); st.State != apps.StateStopped {
			t.Errorf("after Stop: %+v", st)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if got := len(l.startTimes()); got != n {
			t.Errorf("%d starts after Stop", got-n)
		}
		if len(s.Instances()) != 0 {
			t.Error("the stopped instance is still listed")
		}
	})
}
