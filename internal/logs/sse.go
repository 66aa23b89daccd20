package logs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

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
			b, _ := json.Marshal(l)
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
