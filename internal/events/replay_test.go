package events

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/events/natstest"
	"github.com/apogee-dev/apogee/internal/logs"
)

// replayer is a bus spanning processes that promises replay: a server
// whose connection to the broker was cut gets what it missed once back.
type replayer interface {
	apogee.EventBus
	logRelayer
}

// outage cuts server b off the broker and heals it.
type outage struct {
	cut  func()      // drops b's connections and refuses new ones
	down func() bool // b has noticed
	heal func()      // lets b reconnect
}

// replayBuses open two servers on one broker (a and b) where b's network
// to the broker can be cut: NATS with JetStream, through a TCP proxy as
// TestJetStreamReplay does, and Kafka (kfake), through a dialer whose
// connections the test closes (kfake tells clients its own address, so a
// proxy in front of it would be bypassed).
var replayBuses = []struct {
	name string
	open func(t *testing.T) (a, b replayer, o outage)
}{
	{"nats-jetstream", func(t *testing.T) (replayer, replayer, outage) {
		ns := natstest.StartJetStream(t)
		subject := uniqueSubject()
		proxy := newFlakyProxy(t, ns.URL()[len("nats://"):])
		a := dial(t, ns.URL()+"?subject="+subject, nil)
		b := dial(t, "nats://"+proxy.ln.Addr().String()+"?subject="+subject, nil)
		if b.consume == nil {
			t.Fatal("b reads the events through core NATS, not JetStream")
		}
		return a, b, outage{cut: proxy.cut, heal: proxy.heal, down: func() bool { return !b.nc.IsConnected() }}
	}},
	{"kafka", func(t *testing.T) (replayer, replayer, outage) {
		url := kafkaURL(startKafka(t), "", "apogee-test-"+apogee.NewID())
		a := dialKafka(t, url, nil)
		d := &cutDialer{}
		b, err := dialKafkaOpts(t.Context(), url, nil, kgo.Dialer(d.DialContext))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.heal(); b.Close() })
		return a, b, outage{cut: d.cut, heal: d.heal, down: func() bool { return true }}
	}},
}

// cutDialer dials TCP and can close every connection it made and refuse
// new ones until healed: a server's network outage, for a Kafka client.
type cutDialer struct {
	mu    sync.Mutex
	down  bool
	conns []net.Conn
}

func (d *cutDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.down {
		return nil, fmt.Errorf("dial %s: network cut by the test", addr)
	}
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, addr)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *cutDialer) cut() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.down = true
	for _, c := range d.conns {
		c.Close()
	}
	d.conns = nil
}

func (d *cutDialer) heal() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.down = false
}

func (o outage) start(t *testing.T) {
	t.Helper()
	o.cut()
	deadline := time.Now().Add(5 * time.Second)
	for !o.down() {
		if time.Now().After(deadline) {
			t.Fatal("b still connected 5 s after its network was cut")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBusReplay: events another server publishes while b is cut off the
// broker reach b once it is back, in order, each once.
func TestBusReplay(t *testing.T) {
	for _, rb := range replayBuses {
		t.Run(rb.name, func(t *testing.T) {
			a, b, o := rb.open(t)
			sub, err := b.Subscribe(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			publish := func(id string) {
				t.Helper()
				if err := a.Publish(t.Context(), apogee.Event{Type: apogee.EventDeploymentReady, DeploymentID: id}); err != nil {
					t.Fatal(err)
				}
			}
			publish("d1")
			if got := receive(t, "b before the outage", sub); got.DeploymentID != "d1" || !got.Remote {
				t.Fatalf("b got %+v, want d1 from a", got)
			}
			o.start(t)
			for i := 2; i <= 20; i++ {
				publish(fmt.Sprintf("d%d", i))
			}
			o.heal()
			publish("d21")
			var got []string
			timeout := time.After(30 * time.Second)
			for len(got) < 20 {
				select {
				case e := <-sub:
					if e.Type == apogee.EventResync {
						continue
					}
					got = append(got, e.DeploymentID)
				case <-timeout:
					t.Fatalf("after reconnecting b got %v within 30 s, want d2…d21", got)
				}
			}
			for i, id := range got {
				if want := fmt.Sprintf("d%d", i+2); id != want {
					t.Fatalf("b got %v, want d2…d21 in order, each once", got)
				}
			}
			select {
			case e := <-sub:
				if e.Type != apogee.EventResync {
					t.Fatalf("b got %+v again after the replay", e)
				}
			case <-time.After(300 * time.Millisecond):
			}
		})
	}
}

// TestLogReplay: a follower on server b of a log written on server a sees
// every line, in order and each once, and the end, though b was cut off
// the broker while a wrote most of them (build, runtime and request logs
// all go through the hub's relay).
func TestLogReplay(t *testing.T) {
	for _, rb := range replayBuses {
		t.Run(rb.name, func(t *testing.T) {
			busA, busB, o := rb.open(t)
			hubA, hubB := logs.NewHub(0), logs.NewHub(0)
			if err := busA.RelayLogs(hubA); err != nil {
				t.Fatal(err)
			}
			if err := busB.RelayLogs(hubB); err != nil {
				t.Fatal(err)
			}
			sub := hubB.Subscribe("d1")
			defer sub.Close()
			line := func(seq int) apogee.LogLine {
				return apogee.LogLine{Seq: int64(seq), Time: time.Unix(1700000000, 0).UTC(), Stream: "stdout", Text: fmt.Sprintf("line %d", seq)}
			}
			var got []apogee.LogLine
			next := func(what string) {
				t.Helper()
				select {
				case l, ok := <-sub.C:
					if !ok {
						t.Fatalf("%s: the follower was cut off after %d lines", what, len(got))
					}
					got = append(got, l)
				case <-time.After(30 * time.Second):
					t.Fatalf("%s: no line within 30 s after %d", what, len(got))
				}
			}
			hubA.Publish("d1", line(1))
			next("before the outage")

			o.start(t)
			for i := 2; i < 200; i += 3 { // 2…199
				hubA.Publish("d1", line(i), line(i+1), line(i+2))
			}
			o.heal()
			hubA.Publish("d1", line(200))
			hubA.End("d1")
			for len(got) < 200 {
				next("after the outage")
			}
			select {
			case l, ok := <-sub.C:
				if ok {
					t.Fatalf("line %+v after the last one", l)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the log did not end on b within 30 s")
			}
			if !sub.Ended() {
				t.Fatal("b's follower was cut loose, not ended")
			}
			for i, l := range got {
				if l.Seq != int64(i+1) || l.Text != fmt.Sprintf("line %d", i+1) {
					t.Fatalf("line %d on b is %+v: want every line in order, each once", i, l)
				}
			}
		})
	}
}
