package events

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/apogee-dev/apogee"
)

// TestDecodeRemoteEvent: what arrives from a broker is refused when it is
// not an event or claims to be a resync, and is marked Remote otherwise.
func TestDecodeRemoteEvent(t *testing.T) {
	for _, tt := range []struct {
		data string
		ok   bool
	}{
		{`{"type":"alias.changed","project":"web"}`, true},
		{`{"type":"alias.changed","project":"web","remote":false}`, true},
		{`{"type":"events.resync"}`, false},
		{`{"project":"web"}`, false},
		{`not json`, false},
	} {
		e, err := decodeRemoteEvent([]byte(tt.data))
		if (err == nil) != tt.ok {
			t.Errorf("%s: error %v, want ok=%v", tt.data, err, tt.ok)
		}
		if err == nil && !e.Remote {
			t.Errorf("%s: not marked Remote", tt.data)
		}
	}
}

// TestKafkaRefusesForgedResync: a record written straight to the events
// topic that claims to be a resync, or is malformed, reaches no subscriber;
// a well-formed one does.
func TestKafkaRefusesForgedResync(t *testing.T) {
	c := startKafka(t)
	topic := "apogee-test-" + apogee.NewID()
	b := dialKafka(t, kafkaURL(c, "", topic), nil)
	sub, _ := b.Subscribe(t.Context())
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, v := range []string{`{"type":"` + apogee.EventResync + `"}`, `garbage`, `{"type":"alias.changed","project":"web"}`} {
		if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: topic + ".events", Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	got := receive(t, "subscriber", sub)
	if got.Type != apogee.EventAliasChanged || !got.Remote || got.Project != "web" {
		t.Fatalf("got %+v, want the alias.changed from outside, Remote", got)
	}
	none(t, "subscriber", sub)
}
