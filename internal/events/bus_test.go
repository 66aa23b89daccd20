package events

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/events/natstest"
	"github.com/apogee-dev/apogee/internal/testio"
)

// buses are the implementations every contract test runs on: the shared
// event-bus suite (TestBusContract here, and TestBusReplay, TestLogReplay,
// TestRelayLogs and TestCloseDrains for the buses spanning processes).
var buses = []struct {
	name string
	open func(t *testing.T) apogee.EventBus
}{
	{"local", func(t *testing.T) apogee.EventBus { return NewLocal(nil) }},
	{"nats", func(t *testing.T) apogee.EventBus {
		return dial(t, natstest.Start(t).URL()+"?subject="+uniqueSubject(), nil)
	}},
	{"nats-jetstream", func(t *testing.T) apogee.EventBus {
		return dial(t, natstest.StartJetStream(t).URL()+"?subject="+uniqueSubject(), nil)
	}},
	{"kafka", func(t *testing.T) apogee.EventBus {
		return dialKafka(t, kafkaURL(startKafka(t), "", "apogee-test-"+apogee.NewID()), nil)
	}},
}

func uniqueSubject() string { return "apogee.test." + apogee.NewID() }

func dial(t *testing.T, url string, log *slog.Logger) *NATS {
	t.Helper()
	b, err := DialNATS(t.Context(), url, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func receive(t *testing.T, name string, ch <-chan apogee.Event) apogee.Event {
	t.Helper()
	select {
	case got, ok := <-ch:
		if !ok {
			t.Fatalf("%s: channel closed, want an event", name)
		}
		return got
	case <-time.After(5 * time.Second):
		t.Fatalf("%s got no event within 5s", name)
	}
	return apogee.Event{}
}

func none(t *testing.T, name string, ch <-chan apogee.Event) {
	t.Helper()
	select {
	case got, ok := <-ch:
		if ok {
			t.Fatalf("%s got an extra event %+v", name, got)
		}
	case <-time.After(100 * time.Millisecond):
	}
}

func closed(t *testing.T, name string, ch <-chan apogee.Event) {
	t.Helper()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatalf("%s delivered an event, want it closed", name)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s was not closed within 5s", name)
	}
}

// TestBusContract is the apogee.EventBus contract: every subscriber gets
// each event once, a subscription ends with its context, Close ends them
// all and later ones come closed.
func TestBusContract(t *testing.T) {
	for _, bt := range buses {
		t.Run(bt.name, func(t *testing.T) {
			bus := bt.open(t)
			ctx, cancel := context.WithCancel(context.Background())
			a, err := bus.Subscribe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			b, err := bus.Subscribe(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := []apogee.Event{
				{Type: apogee.EventAliasChanged, ProjectID: "p1", Project: "hello", DeploymentID: "d1"},
				{Type: apogee.EventDomainChanged, Project: "hello", Host: "www.example.com"},
			}
			for _, e := range want {
				if err := bus.Publish(context.Background(), e); err != nil {
					t.Fatal(err)
				}
			}
			for name, ch := range map[string]<-chan apogee.Event{"a": a, "b": b} {
				for _, w := range want {
					if got := receive(t, name, ch); got != w {
						t.Errorf("%s got %+v, want %+v", name, got, w)
					}
				}
				none(t, name, ch)
			}

			cancel()
			closed(t, "a after its context ended", a)

			if err := bus.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			closed(t, "b after Close", b)
			c, err := bus.Subscribe(context.Background())
			if err == nil {
				closed(t, "a subscription after Close", c)
			}
		})
	}
}

// TestNATSAcrossProcesses: two buses on one NATS (two servers) see each
// other's events, marked Remote, and their own once, not Remote; a bus with
// another subject prefix (another platform) sees none.
func TestNATSAcrossProcesses(t *testing.T) {
	ns := natstest.Start(t)
	subject := uniqueSubject()
	a := dial(t, ns.URL()+"?subject="+subject, nil)
	b := dial(t, ns.URL()+"?subject="+subject, nil)
	other := dial(t, ns.URL()+"?subject="+uniqueSubject(), nil)
	subA, _ := a.Subscribe(t.Context())
	subB, _ := b.Subscribe(t.Context())
	subOther, _ := other.Subscribe(t.Context())

	e := apogee.Event{Type: apogee.EventDeploymentReady, ProjectID: "p1", Project: "web", DeploymentID: "d1"}
	if err := a.Publish(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, "a", subA); got != e {
		t.Errorf("a got %+v, want its own %+v", got, e)
	}
	remote := e
	remote.Remote = true
	if got := receive(t, "b", subB); got != remote {
		t.Errorf("b got %+v, want %+v", got, remote)
	}
	none(t, "a (its own event back from NATS)", subA)
	none(t, "b", subB)
	none(t, "a bus with another subject prefix", subOther)
}

// TestCloseDrains: events published just before Close still reach the
// other process, on NATS and on Kafka.
func TestCloseDrains(t *testing.T) {
	for _, rb := range relayBuses {
		t.Run(rb.name, func(t *testing.T) {
			ra, rb := rb.open(t)
			testCloseDrains(t, ra.(apogee.EventBus), rb.(apogee.EventBus))
		})
	}
}

func testCloseDrains(t *testing.T, a, b apogee.EventBus) {
	sub, _ := b.Subscribe(t.Context())
	const n = 200
	for i := range n {
		if err := a.Publish(t.Context(), apogee.Event{Type: apogee.EventBuildQueued, DeploymentID: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if got := receive(t, "b", sub); got.DeploymentID != fmt.Sprint(i) {
			t.Fatalf("event %d is %+v", i, got)
		}
	}
	if err := a.Publish(t.Context(), apogee.Event{Type: apogee.EventBuildQueued}); err == nil {
		t.Error("Publish after Close succeeded")
	}
}

// TestNATSReconnect: when NATS goes away and comes back, the bus says so
// in the log and events flow again without a new subscription.
func TestNATSReconnect(t *testing.T) {
	ns := natstest.Start(t)
	url := ns.URL() + "?subject=" + uniqueSubject()
	var logBuf testio.Buffer
	log := slog.New(slog.NewTextHandler(&logBuf, nil))
	a, b := dial(t, url, log), dial(t, url, nil)
	sub, _ := b.Subscribe(t.Context())
	subA, _ := a.Subscribe(t.Context())

	ns.Restart(t, 200*time.Millisecond)
	if got := receive(t, "a after reconnecting", subA); got.Type != apogee.EventResync {
		t.Fatalf("a's subscriber got %+v after the reconnect, want %s", got, apogee.EventResync)
	}
	wctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := logBuf.Wait(wctx, "reconnected to NATS"); err != nil {
		t.Fatalf("no reconnection logged within 10s; log:\n%s", logBuf.String())
	}
	deadline := time.Now().Add(10 * time.Second)
	if !strings.Contains(logBuf.String(), "lost the connection to NATS") {
		t.Errorf("the lost connection was not logged; log:\n%s", logBuf.String())
	}
	// b may reconnect after a: publish until b's subscription is back.
	e := apogee.Event{Type: apogee.EventAliasChanged, Project: "web", DeploymentID: "d2"}
	for {
		if err := a.Publish(t.Context(), e); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-sub:
			if got.Type == apogee.EventResync {
				continue // b's own reconnect
			}
			if got.DeploymentID != "d2" || !got.Remote {
				t.Fatalf("got %+v", got)
			}
			return
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no event through NATS after it came back")
		}
	}
}

func TestOpen(t *testing.T) {
	ns := natstest.Start(t)
	kc := startKafka(t)
	tests := []struct {
		url, kind, err string
	}{
		{"", "*events.Local", ""},
		{"local", "*events.Local", ""},
		{ns.URL(), "*events.NATS", ""},
		{ns.URL() + "?subject=acme.events", "*events.NATS", ""},
		{"nats://127.0.0.1:1", "", "connect to NATS"},
		{"ftp://broker:9092", "", "or kafka://host:9092"},
		{kafkaURL(kc, "", "acme"), "*events.Kafka", ""},
		{"kafka://u:hunter2@127.0.0.1:1", "", "connect to Kafka"},
		{"kafka://u:hunter2@127.0.0.1:1?x=1", "", "unknown parameter"},
		{kafkaURL(kc, "", "a b"), "", "not a Kafka topic prefix"},
		{"kafka://u:hunter2@/nohost", "", "is not kafka://host:port"},
		{"nats://u:hunter2@127.0.0.1:1?x=1", "", "unknown parameter"},
		{ns.URL() + "?subject=a.>", "", "not a NATS subject prefix"},
		{"nats://u:hunter2@/nohost", "", "is not nats://host:port"},
	}
	for _, tt := range tests {
		bus, err := Open(t.Context(), tt.url, nil)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Open(%q) error %v, want one containing %q", tt.url, err, tt.err)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("Open(%q) error shows the password: %v", tt.url, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Open(%q): %v", tt.url, err)
			continue
		}
		if kind := fmt.Sprintf("%T", bus); kind != tt.kind {
			t.Errorf("Open(%q) is a %s, want %s", tt.url, kind, tt.kind)
		}
		bus.Close()
	}
}
