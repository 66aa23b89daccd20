package logs

import "github.com/apogee-dev/apogee"

// Relay carries live log lines to the hubs of other processes (a build
// runs on one server, its log may be followed through another). Its
// methods must not block; lines it cannot carry are lost to live
// followers elsewhere, who still read them from the store.
type Relay interface {
	RelayLines(id string, lines []apogee.LogLine)
	RelayEnd(id string)
}

// SetRelay makes the hub hand every line and end it publishes to r as
// well. Call it before the hub is used.
func (h *Hub) SetRelay(r Relay) { h.relay = r }

// PublishFromPeer hands lines that another process's hub published to the
// followers of log id in this process. Unlike Publish it keeps no ring and
// makes no entry: a follower that subscribes later replays the store, and
// a log nobody here follows costs nothing. Lines arrive with gaps when the
// relay lost some; Follow fills them from the store.
func (h *Hub) PublishFromPeer(id string, lines []apogee.LogLine) {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.logs[id]
	if l == nil {
		return
	}
	l.send(lines)
}

// EndFromPeer ends log id for its followers in this process, as End does,
// when the process that wrote it ended it.
func (h *Hub) EndFromPeer(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.logs[id]
	if l == nil || l.published { // a log written here ends here
		return
	}
	for s := range l.subs {
		s.ended = true
		close(s.c)
	}
	delete(h.logs, id)
}
