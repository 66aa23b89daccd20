package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/apogee-dev/apogee/internal/notify"
)

// Notifications gives the live notifications of one user (internal/notify's
// *Notifier implements it): the channel closes when ctx ends.
type Notifications interface {
	Subscribe(ctx context.Context, userID string) <-chan notify.Notification
}

// heartbeat is how often the event stream says it is alive (a comment
// line, which keeps proxies from closing an idle stream) and checks that
// its session still holds.
const heartbeat = 20 * time.Second

// events streams the signed-in user's notifications as Server-Sent
// Events: "deployment" events whose data is the notification's JSON (the
// body of a webhook delivery). Every page opens it (app.js) to show a
// toast and refresh status badges. It ends when the session does: at each
// heartbeat the session is looked up again, and a signed-out or expired
// one gets an "end" event.
func (d *Dashboard) events(w http.ResponseWriter, r *http.Request, s *session) error {
	if d.notify == nil {
		http.Error(w, "live notifications are off on this server", http.StatusNotFound)
		return nil
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	notes := d.notify.Subscribe(ctx, s.user.ID)
	rc := startEvents(w)
	// A retry hint: browsers reconnect after this many ms when cut off.
	if _, err := fmt.Fprint(w, "retry: 5000\n: hello\n\n"); err != nil {
		return nil
	}
	_ = rc.Flush()
	tick := time.NewTicker(d.heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case n, ok := <-notes:
			if !ok {
				return nil
			}
			b, err := json.Marshal(n)
			if err != nil {
				return nil
			}
			if _, err := fmt.Fprintf(w, "event: deployment\ndata: %s\n\n", b); err != nil {
				return nil
			}
			_ = rc.Flush()
		case <-tick.C:
			now, err := d.session(r)
			if err != nil || now == nil || now.user.ID != s.user.ID {
				// Signed out (or the session expired): say so, and stop.
				fmt.Fprint(w, "event: end\ndata: {\"reason\":\"signed out\"}\n\n")
				_ = rc.Flush()
				return nil
			}
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return nil
			}
			_ = rc.Flush()
		}
	}
}

// startEvents answers 200 as a Server-Sent Events stream (not cached, not
// buffered by a proxy in front) and returns the controller that flushes it.
func startEvents(w http.ResponseWriter) *http.ResponseController {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	return http.NewResponseController(w)
}
