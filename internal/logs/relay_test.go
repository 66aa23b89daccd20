package logs

import (
	"testing"

	"github.com/apogee-dev/apogee"
)

type recordRelay struct {
	lines []apogee.LogLine
	ends  []string
}

func (r *recordRelay) RelayLines(id string, lines []apogee.LogLine) {
	r.lines = append(r.lines, lines...)
}
func (r *recordRelay) RelayEnd(id string) { r.ends = append(r.ends, id) }

func TestHubRelay(t *testing.T) {
	h := NewHub(0)
	r := &recordRelay{}
	h.SetRelay(r)
	sub := h.Subscribe("d1")
	h.Publish("d1", apogee.LogLine{Seq: 1, Text: "a"})
	h.PublishFromPeer("d1", []apogee.LogLine{{Seq: 2, Text: "b"}}) // from a peer: not relayed back
	h.PublishFromPeer("nobody", []apogee.LogLine{{Seq: 1}})        // no follower: no entry
	if len(r.lines) != 1 || r.lines[0].Text != "a" {
		t.Fatalf("relayed %+v, want only the local line", r.lines)
	}
	for _, want := range []string{"a", "b"} {
		if l := <-sub.C; l.Text != want {
			t.Fatalf("got %q, want %q", l.Text, want)
		}
	}
	h.EndFromPeer("d1") // d1 is written here: only End here ends it
	select {
	case _, ok := <-sub.C:
		t.Fatalf("a peer ended a log written here (ok=%v)", ok)
	default:
	}
	h.End("d1")
	if _, ok := <-sub.C; ok || !sub.Ended() || len(r.ends) != 1 {
		t.Fatalf("End: open=%v ended=%v relayed ends %v", ok, sub.Ended(), r.ends)
	}

	peer := h.Subscribe("d2") // a log written on another server
	h.PublishFromPeer("d2", []apogee.LogLine{{Seq: 1, Text: "x"}})
	h.EndFromPeer("d2")
	if l := <-peer.C; l.Text != "x" {
		t.Fatalf("got %q", l.Text)
	}
	if _, ok := <-peer.C; ok || !peer.Ended() {
		t.Fatal("EndFromPeer did not end a follower of a peer's log")
	}
	h.mu.Lock()
	n := len(h.logs)
	h.mu.Unlock()
	if n != 0 {
		t.Errorf("hub keeps %d entries after every log ended", n)
	}
}
