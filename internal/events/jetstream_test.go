package events

import (
	"context"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/apogee-dev/apogee"
)

// jetStreamURL is the NATS with JetStream the replay test runs against:
// APOGEE_TEST_NATS, or the local one on 127.0.0.1:4222.
func jetStreamURL(t *testing.T) string {
	t.Helper()
	addr := os.Getenv("APOGEE_TEST_NATS")
	if addr == "" {
		addr = "nats://127.0.0.1:4222"
	}
	nc, err := nats.Connect(addr, nats.Timeout(2*time.Second))
	if err != nil {
		t.Fatalf("NATS is not reachable at %s: %v\nInstall nats-server and run it with JetStream: nats-server -a 127.0.0.1 -p 4222 -js (or set APOGEE_TEST_NATS)", addr, err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if _, err := js.AccountInfo(ctx); err != nil {
		t.Fatalf("NATS at %s has no JetStream (%v): run nats-server with -js", addr, err)
	}
	return addr
}

// flakyProxy forwards TCP connections to target until cut, which drops
// them all and refuses new ones until heal: a server's network outage.
type flakyProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  []net.Conn
}

func newFlakyProxy(t *testing.T, target string) *flakyProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &flakyProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			down := p.down
			p.mu.Unlock()
			if down {
				c.Close()
				continue
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
	return p
}

func (p *flakyProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *flakyProxy) heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// TestJetStreamReplay: with JetStream, a server whose connection to NATS
// was cut gets, once it is back, the events another server published
// meanwhile, in order, each once (with core NATS they were lost).
func TestJetStreamReplay(t *testing.T) {
	addr := jetStreamURL(t)
	subject := "apogee.jstest." + apogee.NewID()
	t.Cleanup(func() {
		nc, err := nats.Connect(addr)
		if err != nil {
			return
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		_ = js.DeleteStream(context.Background(), StreamName(subject))
	})
	proxy := newFlakyProxy(t, addr[len("nats://"):])
	a := dial(t, addr+"?subject="+subject, nil)
	b := dial(t, "nats://"+proxy.ln.Addr().String()+"?subject="+subject, nil)
	if b.consume == nil {
		t.Fatal("b reads the events through core NATS, not JetStream")
	}
	sub, err := b.Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(a.Publish(t.Context(), apogee.Event{Type: apogee.EventDeploymentReady, DeploymentID: "d1"}))
	if got := receive(t, "b before the outage", sub); got.DeploymentID != "d1" || !got.Remote {
		t.Fatalf("b got %+v, want d1 from a", got)
	}

	proxy.cut()
	deadline := time.Now().Add(5 * time.Second)
	for b.nc.IsConnected() {
		if time.Now().After(deadline) {
			t.Fatal("b still connected 5 s after its network was cut")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, id := range []string{"d2", "d3", "d4"} {
		must(a.Publish(t.Context(), apogee.Event{Type: apogee.EventDeploymentReady, DeploymentID: id}))
	}
	must(a.nc.Flush())
	time.Sleep(100 * time.Millisecond)
	proxy.heal()

	var got []string
	timeout := time.After(20 * time.Second)
	for len(got) < 3 {
		select {
		case e := <-sub:
			if e.Type == apogee.EventResync {
				continue
			}
			got = append(got, e.DeploymentID)
		case <-timeout:
			t.Fatalf("after reconnecting b got %v within 20 s, want the 3 events published while it was away", got)
		}
	}
	if got[0] != "d2" || got[1] != "d3" || got[2] != "d4" {
		t.Fatalf("b replayed %v, want [d2 d3 d4] in order", got)
	}
	// Each once: nothing more arrives.
	select {
	case e := <-sub:
		if e.Type != apogee.EventResync {
			t.Fatalf("b got %+v again after the replay", e)
		}
	case <-time.After(500 * time.Millisecond):
	}
}
