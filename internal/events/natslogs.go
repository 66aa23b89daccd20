package events

import (
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/logs"
)

// logRelay carries a hub's live lines over NATS on <prefix>.logs.<id>.
type logRelay struct{ b *NATS }

var _ logs.Relay = logRelay{}

// RelayLogs connects hub to the hubs of every other server on this NATS:
// lines and ends it publishes go out, and those of other servers reach
// its followers. Every server receives every live line (a build's output
// is small next to what NATS carries); a server where nobody follows a log
// drops them at once. Call it before hub is used.
func (b *NATS) RelayLogs(hub *logs.Hub) error {
	_, err := b.nc.Subscribe(b.subject+".logs.*", func(m *nats.Msg) {
		if m.Header.Get(originHeader) == b.origin {
			return
		}
		id := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
		relayFromPeer(hub, id, m.Data, m.Header.Get(endHeader) != "", b.log)
	})
	if err != nil {
		return fmt.Errorf("subscribe to NATS subject %s.logs.*: %w", b.subject, err)
	}
	if err := b.nc.Flush(); err != nil {
		return fmt.Errorf("subscribe to NATS subject %s.logs.*: %w", b.subject, err)
	}
	hub.SetRelay(logRelay{b})
	return nil
}

func (r logRelay) RelayLines(id string, lines []apogee.LogLine) {
	data, err := encodeLines(lines)
	if err != nil {
		r.b.log.Warn("log lines not relayed", "deployment", id, "err", err)
		return
	}
	r.send(id, data, false)
}

func (r logRelay) RelayEnd(id string) { r.send(id, nil, true) }

func (r logRelay) send(id string, data []byte, end bool) {
	if id == "" || strings.ContainsAny(id, ". \t*>") {
		return // not a subject token; ids from apogee.NewID never are
	}
	m := &nats.Msg{Subject: r.b.subject + ".logs." + id, Data: data, Header: nats.Header{}}
	m.Header.Set(originHeader, r.b.origin)
	if end {
		m.Header.Set(endHeader, "1")
	}
	if err := r.b.nc.PublishMsg(m); err != nil {
		r.b.log.Warn("live log not relayed to other servers", "deployment", id, "err", err)
	}
}
