package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/logs"
)

// The checks every bus spanning processes (NATS, Kafka) makes on the wire,
// in one place: only the bus sends resyncs, an event needs a type, and
// nothing that arrives from the wire is delivered as this process's own.

// originHeader names the bus that published a message, so a bus skips its
// own messages coming back from the broker (it delivered them in process
// already).
const originHeader = "Apogee-Origin"

// endHeader marks the message that ends a live log.
const endHeader = "Apogee-Log-End"

// encodeEvent is e as it goes on the wire, or an error if a bus must not
// publish it.
func encodeEvent(e apogee.Event) ([]byte, error) {
	if e.Type == "" || e.Type == apogee.EventResync {
		return nil, fmt.Errorf("events: publish an event of type %q: only the bus sends resyncs, to its own subscribers", e.Type)
	}
	e.Remote = false
	data, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("events: encode %s: %w", e.Type, err)
	}
	return data, nil
}

// decodeRemoteEvent is the event another process published, marked Remote;
// a message without a type or claiming to be a resync is refused.
func decodeRemoteEvent(data []byte) (apogee.Event, error) {
	var e apogee.Event
	if err := json.Unmarshal(data, &e); err != nil {
		return e, err
	}
	if e.Type == "" || e.Type == apogee.EventResync {
		return e, errors.New("no event type, or a resync (only a bus sends those, to its own subscribers)")
	}
	e.Remote = true
	return e, nil
}

// encodeLines is a batch of live log lines as it goes on the wire.
func encodeLines(lines []apogee.LogLine) ([]byte, error) { return json.Marshal(lines) }

// relayFromPeer hands what another process relayed for log id to hub:
// its end, or lines; malformed lines are logged and dropped.
func relayFromPeer(hub *logs.Hub, id string, data []byte, end bool, log *slog.Logger) {
	if id == "" {
		return
	}
	if end {
		hub.EndFromPeer(id)
		return
	}
	var lines []apogee.LogLine
	if err := json.Unmarshal(data, &lines); err != nil {
		log.Warn("ignored malformed log lines from another server", "deployment", id, "err", err)
		return
	}
	hub.PublishFromPeer(id, lines)
}
