package logs

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/apogee-dev/apogee"
)

// After reads where a follower resumes: ?after=SEQ, or the Last-Event-ID
// header a reconnecting EventSource sends (which wins).
func After(r *http.Request) (int64, error) {
	after := int64(0)
	for _, s := range []string{r.URL.Query().Get("after"), r.Header.Get("Last-Event-ID")} {
		if s == "" {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return 0, apogee.Errorf(apogee.EINVALID, "after %q must be a line number (seq)", s)
		}
		after = n
	}
	return after, nil
}

// StatusFunc returns a deployment's current status.
type StatusFunc func(ctx context.Context) (apogee.Status, error)

// DeploymentStatus is the StatusFunc of deployment id in store.
func DeploymentStatus(store interface {
	DeploymentByID(ctx context.Context, id string) (*apogee.Deployment, error)
}, id string) StatusFunc {
	return func(ctx context.Context) (apogee.Status, error) {
		d, err := store.DeploymentByID(ctx, id)
		if err != nil {
			return "", err
		}
		return d.Status, nil
	}
}

// ServeSSE streams the lines of log id after after as Server-Sent Events
// ("line" events whose id is the seq and data the JSON line) while status
// says the deployment is queued or building, then one "end" event with
// the final status. The API and the dashboard serve the same stream.
func ServeSSE(w http.ResponseWriter, r *http.Request, store apogee.LogStore, hub *Hub, id string, after int64, status StatusFunc, log *slog.Logger) {
	ServeSSEAs(w, r, store, hub, id, after, status, log, nil)
}

// ServeSSEAs is ServeSSE with each line's data the JSON of encode(line)
// (nil: the line itself): the dashboard adds the line's HTML.
func ServeSSEAs(w http.ResponseWriter, r *http.Request, store apogee.LogStore, hub *Hub, id string, after int64, status StatusFunc, log *slog.Logger, encode func(apogee.LogLine) any) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	live := func(ctx context.Context) (bool, error) {
		s, err := status(ctx)
		return apogee.Building(s), err
	}
	err := Follow(r.Context(), store, hub, id, after, live, func(lines []apogee.LogLine) error {
		for _, l := range lines {
			var v any = l
			if encode != nil {
				v = encode(l)
			}
			b, _ := json.Marshal(v)
			if _, err := fmt.Fprintf(w, "id: %d\nevent: line\ndata: %s\n\n", l.Seq, b); err != nil {
				return err
			}
		}
		return rc.Flush()
	})
	if err != nil {
		if r.Context().Err() == nil {
			log.Warn("log stream ended", "deployment", id, "err", err)
		}
		return // the response has begun: nothing more to say
	}
	final, _ := status(context.WithoutCancel(r.Context()))
	fmt.Fprintf(w, "event: end\ndata: {\"status\":%q}\n\n", final)
	_ = rc.Flush()
}

// KeepAlive is how often a live stream with nothing to say sends a
// comment, so that proxies and load balancers (which cut idle connections
// after 30 to 60 s) keep it open.
const KeepAlive = 20 * time.Second

// StreamSSE serves a log that may never end (an app's runtime log) as
// Server-Sent Events. follow calls its callback once with no lines when
// it has begun (who may follow, and what, is checked by then): the
// stream's headers go out then. Each line becomes a "line" event (id the
// seq, data the JSON line); a comment goes out every KeepAlive while
// nothing else does. When follow returns nil (the range asked for has
// passed) one "end" event tells the client not to reconnect.
//
// StreamSSE returns follow's error if follow failed before it began, for
// the caller to answer as any error; once the stream has begun it ends
// the stream and returns nil. The API and the dashboard serve the same
// stream.
func StreamSSE(w http.ResponseWriter, r *http.Request, follow func(ctx context.Context, fn func([]apogee.LogLine) error) error, log *slog.Logger) error {
	rc := http.NewResponseController(w)
	var mu sync.Mutex // the keep-alive and the lines write in turn
	ctx, cancel := context.WithCancel(r.Context())
	keepAlive := make(chan struct{})
	started := false
	defer func() {
		cancel()
		if started {
			<-keepAlive // never a write after the handler returns
		}
	}()
	begin := func() {
		started = true
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
		_ = rc.Flush()
		go func() {
			defer close(keepAlive)
			t := time.NewTicker(KeepAlive)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					mu.Lock()
					_, err := io.WriteString(w, ": keep-alive\n\n")
					if err == nil {
						err = rc.Flush()
					}
					mu.Unlock()
					if err != nil {
						cancel()
						return
					}
				}
			}
		}()
	}
	err := follow(ctx, func(lines []apogee.LogLine) error {
		mu.Lock()
		defer mu.Unlock()
		if !started {
			begin()
		}
		for _, l := range lines {
			b, _ := json.Marshal(l)
			if _, err := fmt.Fprintf(w, "id: %d\nevent: line\ndata: %s\n\n", l.Seq, b); err != nil {
				return err
			}
		}
		return rc.Flush()
	})
	mu.Lock()
	defer mu.Unlock()
	if !started {
		return err
	}
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("log stream ended", "err", err)
		}
		return nil
	}
	io.WriteString(w, "event: end\ndata: {}\n\n")
	_ = rc.Flush()
	return nil
}
