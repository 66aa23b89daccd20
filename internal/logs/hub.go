// Package logs turns process output into numbered log lines, stores them
// and fans them out live. A Writer numbers and masks lines, hands each to
// the Hub at once (live followers see it within milliseconds) and stores
// them in batches; Follow replays what is stored and then follows the Hub
// without a gap or a duplicate.
package logs

import (
	"sync"

	"github.com/apogee-dev/apogee"
)

// Hub fans the live lines of each log out to the followers in this
// process. It keeps the recent lines of every active log in a ring, so a
// follower that subscribes sees the lines the Writer has not stored yet.
// It is safe for concurrent use.
type Hub struct {
	mu      sync.Mutex
	logs    map[string]*live
	ringLen int
	relay   Relay // other processes' hubs, if any (relay.go)
}

type live struct {
	published bool
	ring      []apogee.LogLine // the last lines, oldest first
	subs      map[*Subscription]struct{}
}

// Subscription is one follower of one log. C delivers lines in order; it
// is closed when the log ends (Ended reports true) or when the follower
// fell too far behind (Ended reports false: replay from the store and
// subscribe again).
type Subscription struct {
	C <-chan apogee.LogLine
	// Backlog holds the recent lines the hub had when the subscription
	// began; they come before anything on C.
	Backlog []apogee.LogLine

	c     chan apogee.LogLine
	hub   *Hub
	id    string
	ended bool
}

// subscriberBuffer is how many lines a follower may lag before it is cut
// loose to catch up from the store.
const subscriberBuffer = 4096

// NewHub returns a hub that keeps the last ringLen lines of each active
// log (default 10,000).
func NewHub(ringLen int) *Hub {
	if ringLen <= 0 {
		ringLen = 10_000
	}
	return &Hub{logs: make(map[string]*live), ringLen: ringLen}
}

// Publish hands lines of log id to its followers. It never blocks.
func (h *Hub) Publish(id string, lines ...apogee.LogLine) {
	if h.relay != nil {
		h.relay.RelayLines(id, lines)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.logs[id]
	if l == nil {
		l = &live{subs: make(map[*Subscription]struct{})}
		h.logs[id] = l
	}
	l.published = true
	l.ring = append(l.ring, lines...)
	if over := len(l.ring) - h.ringLen; over > 0 {
		l.ring = append(l.ring[:0], l.ring[over:]...)
	}
	l.send(lines)
}

// PublishStored hands lines of log id that are stored already to its
// followers here and, through the relay, elsewhere. Unlike Publish it
// keeps no ring and makes no entry: a follower that subscribes later
// replays them from the store. Runtime logs go this way (the store
// numbers their lines), so a project that logs a lot costs the hub no
// memory while nobody follows it. It never blocks.
func (h *Hub) PublishStored(id string, lines ...apogee.LogLine) {
	if h.relay != nil {
		h.relay.RelayLines(id, lines)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if l := h.logs[id]; l != nil {
		l.send(lines)
	}
}

// End marks log id finished: its followers' channels close with Ended
// true and its ring is dropped. Call it after the last line is stored and
// after the record that says the log is over (a deployment's final
// status) is written, so that a follower arriving later learns from that
// record that there is nothing to wait for.
func (h *Hub) End(id string) {
	if h.relay != nil {
		h.relay.RelayEnd(id)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.logs[id]
	if l == nil {
		return
	}
	for s := range l.subs {
		s.ended = true
		close(s.c)
	}
	delete(h.logs, id)
}

// Active reports whether log id has had lines published and not ended.
func (h *Hub) Active(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.logs[id]
	return l != nil && l.published
}

// Subscribe follows log id from now on. Backlog holds the ring's lines.
func (h *Hub) Subscribe(id string) *Subscription {
	c := make(chan apogee.LogLine, subscriberBuffer)
	s := &Subscription{C: c, c: c, hub: h, id: id}
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.logs[id]
	if l == nil {
		l = &live{subs: make(map[*Subscription]struct{})}
		h.logs[id] = l
	}
	s.Backlog = append([]apogee.LogLine(nil), l.ring...)
	l.subs[s] = struct{}{}
	return s
}

// Ended reports, once C is closed, whether the log ended (rather than the
// follower being cut loose).
func (s *Subscription) Ended() bool {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.ended
}

// Close stops the subscription. It is safe to call more than once.
func (s *Subscription) Close() {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.logs[s.id]
	if l == nil {
		return
	}
	if _, ok := l.subs[s]; ok {
		delete(l.subs, s)
		close(s.c)
	}
	// A log nobody writes to or follows needs no entry.
	if len(l.subs) == 0 && !l.published {
		delete(h.logs, s.id)
	}
}

// send hands lines to every follower of l, in order. A follower too slow
// to take them is cut loose: its channel closes and it catches up from
// the store. The hub's lock must be held.
func (l *live) send(lines []apogee.LogLine) {
	for s := range l.subs {
		for _, line := range lines {
			select {
			case s.c <- line:
			default:
				delete(l.subs, s)
				close(s.c)
				goto next
			}
		}
	next:
	}
}
