package apphost

import (
	"context"
	"fmt"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/appproxy"
)

// Spare sandboxes: when an app is stopped for being idle, the host asks
// the runtime for a spare sandbox of its release (apps.Manager.Prestart,
// the supervisor's Prestart), so that the request that wakes it skips
// the sandbox's set-up (BenchmarkColdStartFirstByte: spare-p50-ms against
// p50-ms). Spares are bounded: at most Config.MaxSpares on the server
// (the oldest goes first), each counted as spareMemory of
// Config.AppsMemory, none made when that is full, and they are the first
// thing dropped when an instance needs the memory. An app stopped to
// free memory gets none.

// spareMemory is what a spare sandbox counts of Config.AppsMemory:
// BenchmarkPausedMemory measured 1–2.4 MiB in its cgroup (the waiting
// shell, bwrap's init, slirp4netns); rounded up.
const spareMemory = 4 << 20

// DefaultMaxSpares bounds the spare sandboxes of a server.
const DefaultMaxSpares = 16

// spareOf is the spare sandbox made for a stopped app.
type spareOf struct {
	release string
	at      time.Time // when the app stopped
}

// prestart makes a spare sandbox for the project's production release,
// within the bounds, and reports whether there is one. Errors are
// logged: the app starts without one.
func (h *Host) prestart(ctx context.Context, project string, now time.Time) bool {
	if h.cfg.MaxSpares < 0 {
		return false
	}
	h.roomMu.Lock()
	defer h.roomMu.Unlock()
	for {
		h.scaleMu.Lock()
		n := len(h.spares)
		_, has := h.spares[project]
		h.scaleMu.Unlock()
		if has {
			h.dropSpare(project, "")
			continue
		}
		if n < h.cfg.MaxSpares || !h.dropOldestSpare() {
			break
		}
	}
	if h.cfg.AppsMemory > 0 {
		if mem := h.memoryUse(h.m.Running()); mem.used+spareMemory > h.cfg.AppsMemory {
			h.log.Info("no spare sandbox for a stopped app: the memory for apps is full", "project", project)
			return false
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rel, err := h.m.Prestart(ctx, project)
	if err != nil {
		h.log.Warn("spare sandbox for a stopped app", "project", project, "err", err)
		return false
	}
	if rel == "" {
		return false
	}
	h.scaleMu.Lock()
	h.spares[project] = spareOf{release: rel, at: now}
	h.scaleMu.Unlock()
	return true
}

// takeSpare forgets the project's spare as its app starts (the runtime
// takes the spare of release cur with the start) and reports whether
// there was one for cur; one for another release is dropped.
func (h *Host) takeSpare(project, cur string) bool {
	h.scaleMu.Lock()
	sp, ok := h.spares[project]
	delete(h.spares, project)
	h.scaleMu.Unlock()
	if ok && sp.release != cur {
		h.m.DropSpare(sp.release)
		return false
	}
	return ok
}

// DropSpare drops the spare sandbox made for the project's stopped app,
// if there is one: its next start sets up a sandbox of its own.
func (h *Host) DropSpare(project string) { h.dropSpare(project, "") }

// dropSpare drops the project's spare unless it is release keep's.
func (h *Host) dropSpare(project, keep string) {
	h.scaleMu.Lock()
	sp, ok := h.spares[project]
	if ok && sp.release != keep {
		delete(h.spares, project)
	}
	h.scaleMu.Unlock()
	if ok && sp.release != keep {
		h.m.DropSpare(sp.release)
	}
}

// dropOldestSpare drops the spare of the app stopped longest ago, and
// reports whether there was one.
func (h *Host) dropOldestSpare() bool {
	h.scaleMu.Lock()
	var oldest string
	for p, sp := range h.spares {
		if oldest == "" || sp.at.Before(h.spares[oldest].at) {
			oldest = p
		}
	}
	sp := h.spares[oldest]
	delete(h.spares, oldest)
	h.scaleMu.Unlock()
	if oldest == "" {
		return false
	}
	h.m.DropSpare(sp.release)
	return true
}

// reserve makes room in Config.AppsMemory for n more instances of s's
// app (release cur), stopping the least recently used paused apps when
// it must, and holds it until done is called (by then the instances run
// and count themselves). When there is no room, it changes nothing of
// s's and returns an *appproxy.WakeError whose cause is an
// apogee.ECONFLICT error saying so.
func (h *Host) reserve(ctx context.Context, s *scaler, cur string, n int) (done func(), err error) {
	if h.cfg.AppsMemory <= 0 {
		return func() {}, nil
	}
	h.roomMu.Lock()
	defer h.roomMu.Unlock()
	mem := h.memoryUse(h.m.Running())
	before := mem.used
	fit, _ := h.fitMemory(ctx, s, cur, n, 0, mem)
	if fit < n {
		msg := fmt.Sprintf("no room for %s: the memory for apps on this server (--apps-memory %d MiB) is full, and no paused app can be stopped to make room",
			plural(n, "more instance"), h.cfg.AppsMemory>>20)
		h.scaleMu.Lock()
		noted := len(s.decisions) > 0 && s.decisions[len(s.decisions)-1].Action == "refused"
		h.scaleMu.Unlock()
		if !noted {
			have := len(h.m.Instances(cur))
			h.record(s, apogee.ScaleDecision{At: h.cfg.Now(), From: have, To: have, Action: "refused", Reason: msg})
		}
		return nil, &appproxy.WakeError{Reason: "this app cannot start now: " + msg, RetryAfter: memoryRetry,
			Err: apogee.Errorf(apogee.ECONFLICT, "%s", msg)}
	}
	took := mem.used - before
	h.scaleMu.Lock()
	h.reserved += took
	h.scaleMu.Unlock()
	return func() {
		h.scaleMu.Lock()
		h.reserved -= took
		h.scaleMu.Unlock()
	}, nil
}
