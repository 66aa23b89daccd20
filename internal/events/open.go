package events

import (
	"context"
	"log/slog"
	"strings"

	"github.com/apogee-dev/apogee"
)

// Open returns the bus named by rawURL: "" or "local" for the in-process
// bus (one server), nats://host:4222[?subject=prefix] for NATS (several
// servers sharing a database), kafka://host:9092[?topic=prefix] (or
// kafka+tls://) for Kafka.
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
	case strings.HasPrefix(rawURL, "kafka://") || strings.HasPrefix(rawURL, "kafka+tls://"):
		b, err := DialKafka(ctx, rawURL, log)
		if err != nil {
			return nil, err
		}
		return b, nil
	}
	return nil, apogee.Errorf(apogee.EINVALID, "events URL %q: use local (one server), nats://host:4222 or kafka://host:9092", redactURL(rawURL))
}
