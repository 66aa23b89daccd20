package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/apogee-dev/apogee/internal/appproxy"
	"github.com/apogee-dev/apogee/internal/apps"
)

// bootDialInterval is how often a booting instance that does not yet
// listen on PORT is tried. Until it listens a check is one refused
// connect (microseconds through setns), so it can be frequent: a Node
// hello world listens about 100 ms after its start, and a 50 ms poll
// (BootInterval) saw it ready 85 ms after its listen on this loaded
// machine, a 10 ms poll 51 ms, a 2 ms poll 42 ms (the rest is Node
// answering its first request; BenchmarkColdStartFirstByte, seen-ready).
const bootDialInterval = 5 * time.Millisecond

// check runs the health checks of one process: the boot (startup and
// readiness) and then liveness. It sends at most one verdict, when the
// process must go, and returns when ctx ends or after the verdict.
func (in *instance) check(ctx context.Context, p Process, verdicts chan<- verdict) {
	h := in.spec.Health
	port := strconv.Itoa(in.spec.Port)
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			c, err := p.DialContext(ctx, "tcp", "127.0.0.1:"+port)
			if err != nil {
				return nil, &dialError{err}
			}
			return c, nil
		},
		DisableKeepAlives:  true,
		DisableCompression: true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport:     tr,
		Timeout:       h.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	url := "http://127.0.0.1:" + port + h.Path

	// Boot: poll until ready or BootTimeout.
	start := time.Now()
	listening := false
	wait := time.NewTimer(h.BootInterval)
	defer wait.Stop()
	for {
		r := probe(ctx, client, url, h, port)
		if ctx.Err() != nil {
			return
		}
		if r.ok {
			in.becameReady(p, time.Since(start))
			break
		}
		listening = listening || r.listening
		if time.Since(start) >= h.BootTimeout {
			reason := fmt.Sprintf("boot timeout: the app did not listen on PORT %s within %s", port, roundDuration(h.BootTimeout))
			if listening {
				reason = fmt.Sprintf("boot timeout: the app was not ready within %s: %s", roundDuration(h.BootTimeout), r.reason)
			}
			verdicts <- verdict{reason: reason}
			return
		}
		// Until the app listens, a check is one refused connect (a few
		// microseconds through setns): poll those often, so that
		// readiness is seen within bootDialInterval of the listen rather
		// than within BootInterval; once it listens, it gets BootInterval
		// between full checks.
		next := h.BootInterval
		if !r.listening {
			next = min(next, bootDialInterval)
		}
		wait.Reset(next)
		select {
		case <-ctx.Done():
			return
		case <-wait.C:
		}
	}

	// Liveness: every Interval; failing for Unready takes the instance out
	// of rotation, for Replace replaces it.
	var failingSince time.Time
	tick := time.NewTicker(h.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		// No check while paused: a frozen app answers nothing, and the
		// time it spent frozen is no failure.
		if in.lockPause(ctx) != nil {
			return
		}
		if in.isPaused() {
			in.unlockPause()
			failingSince = time.Time{}
			continue
		}
		r := probe(ctx, client, url, h, port)
		in.unlockPause()
		if ctx.Err() != nil {
			return
		}
		if r.ok {
			if !failingSince.IsZero() {
				in.capture.Systemf("health check passes again")
				in.recovered(p)
			}
			failingSince = time.Time{}
			continue
		}
		now := time.Now()
		if failingSince.IsZero() {
			failingSince = now
			in.capture.Systemf("health check failed: %s", r.reason)
		}
		failing := now.Sub(failingSince)
		if failing >= h.Replace {
			verdicts <- verdict{
				reason: fmt.Sprintf("failed its health check for %s (%s): replacing it", roundDuration(failing), r.reason),
				grace:  in.spec.Restart.StopGrace,
			}
			return
		}
		if failing >= h.Unready {
			in.unhealthy(p, fmt.Sprintf("failing its health check for %s: %s", roundDuration(failing), r.reason))
		}
	}
}

// probeResult is one health check.
type probeResult struct {
	ok        bool
	listening bool // a connection to PORT was accepted
	reason    string
}

func probe(ctx context.Context, c *http.Client, url string, h apps.Health, port string) probeResult {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return probeResult{reason: err.Error()}
	}
	req.Header.Set("User-Agent", appproxy.HealthCheckUserAgent)
	res, err := c.Do(req)
	if err != nil {
		var de *dialError
		var ne net.Error
		switch {
		case errors.As(err, &de) && errors.Is(de.err, syscall.ECONNREFUSED):
			return probeResult{reason: "nothing listens on PORT " + port}
		case errors.As(err, &de):
			return probeResult{reason: "connecting to PORT " + port + ": " + de.err.Error()}
		case errors.As(err, &ne) && ne.Timeout():
			return probeResult{listening: true, reason: fmt.Sprintf("GET %s did not answer within %s", h.Path, roundDuration(h.Timeout))}
		}
		return probeResult{listening: true, reason: fmt.Sprintf("GET %s failed: %v", h.Path, errors.Unwrap(err))}
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	if res.StatusCode >= 200 && res.StatusCode < 400 {
		return probeResult{ok: true, listening: true}
	}
	return probeResult{listening: true, reason: fmt.Sprintf("GET %s answered %d", h.Path, res.StatusCode)}
}

type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// becameReady puts a booting process in rotation.
func (in *instance) becameReady(p Process, took time.Duration) {
	if in.update(func(s *apps.Status) bool {
		if in.proc != p || s.State != apps.StateStarting {
			return false
		}
		s.State, s.Reason, s.ReadySince = apps.StateReady, "", time.Now()
		return true
	}) {
		in.capture.Systemf("ready in %s", roundDuration(took))
	}
}

// recovered puts an unhealthy process back in rotation.
func (in *instance) recovered(p Process) {
	in.update(func(s *apps.Status) bool {
		if in.proc != p || s.State != apps.StateUnhealthy {
			return false
		}
		s.State, s.Reason = apps.StateReady, ""
		return true
	})
}

// unhealthy takes a ready process out of rotation.
func (in *instance) unhealthy(p Process, reason string) {
	if in.update(func(s *apps.Status) bool {
		if in.proc != p || s.State != apps.StateReady {
			return false
		}
		s.State, s.Reason = apps.StateUnhealthy, reason
		return true
	}) {
		in.capture.Systemf("out of rotation: %s", reason)
	}
}
