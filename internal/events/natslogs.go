package events

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/logs"
)

// logRelay carries a hub's live lines over NATS on <prefix>.logs.<id>.
type logRelay struct{ b *NATS }

var _ logs.Relay = logRelay{}

// The live-log stream keeps the lines of every log for a server that
// reconnects, bounded in age and size: a follower away longer than
// LogStreamMaxAge reads the rest from the store, as it would anyway.
const (
	LogStreamMaxAge   = 10 * time.Minute
	LogStreamMaxBytes = 256 << 20
)

// LogStreamName is the JetStream stream of the live logs under subject
// prefix subject.
func LogStreamName(subject string) string {
	return strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(subject)) + "_LOGS"
}

// RelayLogs connects hub to the hubs of every other server on this NATS:
// lines and ends it publishes go out, and those of other servers reach
// its followers. Every server receives every live line (a build's output
// is small next to what NATS carries); a server where nobody follows a log
// drops them at once. Call it before hub is used.
//
// With JetStream the lines are kept in a stream (LogStreamMaxAge,
// LogStreamMaxBytes) read through an ordered consumer, so a server whose
// connection to NATS was cut gets the lines published meanwhile once it
// is back, in order and each once, and its followers see no gap (issue
// 16); without JetStream they fill the gap from the store.
func (b *NATS) RelayLogs(hub *logs.Hub) error {
	handle := func(subject string, h nats.Header, data []byte) {
		if h.Get(originHeader) == b.origin {
			return
		}
		id := subject[strings.LastIndexByte(subject, '.')+1:]
		relayFromPeer(hub, id, data, h.Get(endHeader) != "", b.log)
	}
	if b.replays.Load() { // JetStream carries the events: let it carry the logs
		err := b.consumeLogStream(context.Background(), func(m jetstream.Msg) { handle(m.Subject(), m.Headers(), m.Data()) })
		if err == nil {
			hub.SetRelay(logRelay{b})
			return nil
		}
		b.log.Warn("live logs through core NATS, not JetStream (lines published while this server is disconnected are read from the store instead)", "err", err)
	}
	_, err := b.nc.Subscribe(b.subject+".logs.*", func(m *nats.Msg) { handle(m.Subject, m.Header, m.Data) })
	if err != nil {
		return fmt.Errorf("subscribe to NATS subject %s.logs.*: %w", b.subject, err)
	}
	if err := b.nc.Flush(); err != nil {
		return fmt.Errorf("subscribe to NATS subject %s.logs.*: %w", b.subject, err)
	}
	hub.SetRelay(logRelay{b})
	return nil
}

// consumeLogStream makes the live-log stream if missing and reads it from
// now on through an ordered consumer, which resumes after the last line
// it delivered when the connection comes back.
func (b *NATS) consumeLogStream(ctx context.Context, fn func(jetstream.Msg)) error {
	js, err := jetstream.New(b.nc)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	stream, err := js.CreateOrUpdateStream(sctx, jetstream.StreamConfig{
		Name:        LogStreamName(b.subject),
		Description: "Apogee's live log lines, kept for servers that reconnect",
		Subjects:    []string{b.subject + ".logs.*"},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      LogStreamMaxAge,
		MaxBytes:    LogStreamMaxBytes,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return fmt.Errorf("stream %s: %w", LogStreamName(b.subject), err)
	}
	cons, err := stream.OrderedConsumer(sctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{b.subject + ".logs.*"},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return fmt.Errorf("ordered consumer: %w", err)
	}
	cc, err := cons.Consume(fn, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, jetstream.ErrConsumerDeleted) {
			b.log.Debug("JetStream log consumer", "err", err)
		}
	}))
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	b.mu.Lock()
	b.logConsume = cc
	b.mu.Unlock()
	b.log.Info("live logs through JetStream: a server that reconnects replays the lines it missed", "stream", LogStreamName(b.subject))
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
