package events

import (
	"context"
	"log/slog"
	"strings"

	"github.com/apogee-dev/apogee"
)

// Open returns the bus named by rawURL: "" or "local" for the in-process
// bus (one server), nats://host:4222[?subject=prefix] for NATS (several
// servers sharing a database).
func Open(ctx context.Context, rawURL string, log *slog.Logger) (apogee.EventBus, error) {
	switch {
	case rawURL == "" || rawURL == "local":
		return NewLocal(log), nil
	case strings.HasPrefix(rawURL, "nats://") || strings.HasPrefix(rawURL, "tls://"):
		b, err := DialNATS(ctx, rawURL, log)
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return b, nil
	}
	return nil, apogee.Errorf(apogee.EINVALID, "events URL %q: use local (one server) or nats://host:4222", redactURL(rawURL))
}
