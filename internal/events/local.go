// Package events carries platform events between roles. Local is the
// in-process bus of the embedded mode; a NATS or Kafka bus satisfies the
// same apogee.EventBus contract when roles run in several processes.
package events

import (
	"context"
	"log/slog"
	"sync"

	"github.com/apogee-dev/apogee"
)

// Local is an in-process apogee.EventBus. Publish never blocks on a slow
// subscriber: each has a buffered channel, and an event that does not fit
// is dropped for that subscriber and logged. The subscriber then gets an
// apogee.EventResync before its next event, as soon as one fits, so that
// it rebuilds from the store (see apogee.EventBus).
type Local struct {
	mu     sync.Mutex
	subs   map[chan apogee.Event]*subscriber
	closed bool
	log    *slog.Logger
}

// subscriber is one subscription's state; guarded by Local.mu.
type subscriber struct {
	missed bool // an event was dropped: send a resync first
}

var _ apogee.EventBus = (*Local)(nil)

// subscriberBuffer is how many events a subscriber may lag behind.
const subscriberBuffer = 1024

// NewLocal returns an empty in-process bus.
func NewLocal(log *slog.Logger) *Local {
	if log == nil {
		log = slog.Default()
	}
	return &Local{subs: make(map[chan apogee.Event]*subscriber), log: log}
}

// Publish hands e to every current subscriber. A subscriber that missed
// an event gets a resync before e.
func (b *Local) Publish(ctx context.Context, e apogee.Event) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch, sub := range b.subs {
		if sub.missed {
			select {
			case ch <- apogee.Event{Type: apogee.EventResync}:
				sub.missed = false
			default:
			}
		}
		if !sub.missed {
			select {
			case ch <- e:
				continue
			default:
				sub.missed = true
			}
		}
		b.log.Warn("event dropped for a slow subscriber; it reloads from the store when it catches up", "type", e.Type, "deployment", e.DeploymentID)
	}
	return nil
}

// Subscribe returns a channel of events published from now until ctx ends
// or the bus is closed.
func (b *Local) Subscribe(ctx context.Context) (<-chan apogee.Event, error) {
	ch := make(chan apogee.Event, subscriberBuffer)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		close(ch)
		return ch, nil
	}
	b.subs[ch] = &subscriber{}
	go func() {
		<-ctx.Done()
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := b.subs[ch]; ok {
			delete(b.subs, ch)
			close(ch)
		}
	}()
	return ch, nil
}

// Close ends every subscription.
func (b *Local) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for ch := range b.subs {
		delete(b.subs, ch)
		close(ch)
	}
	return nil
}
