package events

import (
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/events/natstest"
	"github.com/apogee-dev/apogee/internal/logs"
)

// logRelayer is a bus that carries live logs between servers.
type logRelayer interface{ RelayLogs(*logs.Hub) error }

// relayBuses open two buses ("two servers") on one broker.
var relayBuses = []struct {
	name string
	open func(t *testing.T) (a, b logRelayer)
}{
	{"nats", func(t *testing.T) (logRelayer, logRelayer) {
		url := natstest.Start(t).URL() + "?subject=" + uniqueSubject()
		return dial(t, url, nil), dial(t, url, nil)
	}},
	{"nats-jetstream", func(t *testing.T) (logRelayer, logRelayer) {
		url := natstest.StartJetStream(t).URL() + "?subject=" + uniqueSubject()
		return dial(t, url, nil), dial(t, url, nil)
	}},
	{"kafka", func(t *testing.T) (logRelayer, logRelayer) {
		url := kafkaURL(startKafka(t), "", "apogee-test-"+apogee.NewID())
		return dialKafka(t, url, nil), dialKafka(t, url, nil)
	}},
}

// TestRelayLogs: a follower on server B sees the live lines of a log
// written on server A, in order, and its end; A's own follower gets each
// line once (not again from the broker).
func TestRelayLogs(t *testing.T) {
	for _, rb := range relayBuses {
		t.Run(rb.name, func(t *testing.T) { testRelayLogs(t, rb.open) })
	}
}

func testRelayLogs(t *testing.T, open func(t *testing.T) (a, b logRelayer)) {
	busA, busB := open(t)
	hubA, hubB := logs.NewHub(0), logs.NewHub(0)
	for _, x := range []struct {
		b logRelayer
		h *logs.Hub
	}{{busA, hubA}, {busB, hubB}} {
		if err := x.b.RelayLogs(x.h); err != nil {
			t.Fatal(err)
		}
	}
	subB := hubB.Subscribe("d1")
	defer subB.Close()
	subA := hubA.Subscribe("d1")
	defer subA.Close()

	now := time.Now().UTC().Truncate(time.Millisecond)
	want := []apogee.LogLine{
		{Seq: 1, Time: now, Stream: "stdout", Text: "npm install"},
		{Seq: 2, Time: now, Stream: "stderr", Text: "warn: deprecated"},
		{Seq: 3, Time: now, Stream: "system", Text: "Build succeeded"},
	}
	hubA.Publish("d1", want[0])
	hubA.Publish("d1", want[1:]...)
	hubA.Publish("other", apogee.LogLine{Seq: 1, Text: "not followed on B"})
	hubA.End("d1")

	for name, sub := range map[string]*logs.Subscription{"A": subA, "B": subB} {
		var got []apogee.LogLine
		timeout := time.After(5 * time.Second)
	read:
		for {
			select {
			case l, ok := <-sub.C:
				if !ok {
					break read
				}
				got = append(got, l)
			case <-timeout:
				t.Fatalf("%s: the log did not end within 5s; got %d lines", name, len(got))
			}
		}
		if !sub.Ended() {
			t.Errorf("%s: channel closed but the log is not ended", name)
		}
		if len(got) != len(want) {
			t.Fatalf("%s got %d lines %+v, want %d", name, len(got), got, len(want))
		}
		for i := range want {
			if !got[i].Time.Equal(want[i].Time) || got[i].Seq != want[i].Seq || got[i].Text != want[i].Text || got[i].Stream != want[i].Stream {
				t.Errorf("%s line %d = %+v, want %+v", name, i, got[i], want[i])
			}
		}
	}
	if hubB.Active("other") || hubB.Active("d1") {
		t.Error("B keeps live state for logs written on A")
	}
}
