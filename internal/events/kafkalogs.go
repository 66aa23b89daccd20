package events

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/logs"
)

// kafkaRelay carries a hub's live lines over Kafka on <prefix>.logs, keyed
// by deployment id (so one log's lines stay in order on one partition).
type kafkaRelay struct{ b *Kafka }

var _ logs.Relay = kafkaRelay{}

// RelayLogs connects hub to the hubs of every other server on this Kafka,
// as NATS.RelayLogs does: every server reads every live line and drops
// those of logs nobody follows. Call it before hub is used.
func (b *Kafka) RelayLogs(hub *logs.Hub) error {
	b.hub.Store(hub)
	hub.SetRelay(kafkaRelay{b})
	return nil
}

func (r kafkaRelay) RelayLines(id string, lines []apogee.LogLine) {
	data, err := encodeLines(lines)
	if err != nil {
		r.b.log.Warn("log lines not relayed", "deployment", id, "err", err)
		return
	}
	r.b.produce(context.Background(), &kgo.Record{Topic: r.b.logs, Key: []byte(id), Value: data})
}

func (r kafkaRelay) RelayEnd(id string) {
	r.b.produce(context.Background(), &kgo.Record{Topic: r.b.logs, Key: []byte(id)}, kgo.RecordHeader{Key: endHeader, Value: []byte("1")})
}
