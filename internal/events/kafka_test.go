package events

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/testio"
)

// startKafka runs an in-process Kafka (kfake speaks the wire protocol).
func startKafka(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func kafkaURL(c *kfake.Cluster, cred, topic string) string {
	return "kafka://" + cred + strings.Join(c.ListenAddrs(), ",") + "?topic=" + topic
}

func dialKafka(t *testing.T, url string, log *slog.Logger) *Kafka {
	t.Helper()
	b, err := DialKafka(t.Context(), url, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestKafkaAcrossProcesses: two buses on one Kafka see each other's
// events, marked Remote, and their own once; another prefix sees none.
func TestKafkaAcrossProcesses(t *testing.T) {
	c := startKafka(t)
	topic := "apogee-test-" + apogee.NewID()
	a := dialKafka(t, kafkaURL(c, "", topic), nil)
	b := dialKafka(t, kafkaURL(c, "", topic), nil)
	other := dialKafka(t, kafkaURL(c, "", "other-"+apogee.NewID()), nil)
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
	none(t, "a (its own event back from Kafka)", subA)
	none(t, "b", subB)
	none(t, "a bus with another topic prefix", subOther)
}

// TestKafkaCredentials: SASL users from --events are sent; wrong ones are
// refused with an error that shows no secret; a URL without credentials is
// a warning. (kfake drops the connection on a wrong SCRAM proof where Kafka
// answers SASL_AUTHENTICATION_FAILED, which DialKafka reports as EINVALID
// "refused the credentials"; here the dial only times out.)
func TestKafkaCredentials(t *testing.T) {
	secured := startKafka(t, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "apogee", "s3cret"))
	open := startKafka(t)
	topic := "apogee-test-" + apogee.NewID()
	for _, tt := range []struct {
		name, url string
		ok, warn  bool
	}{
		{"user and password", kafkaURL(secured, "apogee:s3cret@", topic), true, false},
		{"wrong password", kafkaURL(secured, "apogee:wr0ng@", topic), false, false},
		{"no credentials", kafkaURL(secured, "", topic), false, false},
		{"open Kafka", kafkaURL(open, "", topic), true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs testio.Buffer
			b, err := DialKafka(t.Context(), tt.url, slog.New(slog.NewTextHandler(&logs, nil)))
			if !tt.ok {
				if err == nil {
					b.Close()
					t.Fatal("connected without the right credentials")
				}
				if !strings.Contains(err.Error(), "Kafka") {
					t.Fatalf("error %v does not say what failed", err)
				}
				if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "wr0ng") {
					t.Fatalf("error %v shows a secret", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if got := strings.Contains(logs.String(), "no credentials"); got != tt.warn {
				t.Errorf("warning about no credentials logged: %v, want %v; log:\n%s", got, tt.warn, logs.String())
			}
			ch, _ := b.Subscribe(t.Context())
			e := apogee.Event{Type: apogee.EventAliasChanged, ProjectID: "p"}
			if err := b.Publish(t.Context(), e); err != nil {
				t.Fatal(err)
			}
			if got := receive(t, tt.name, ch); got != e {
				t.Errorf("got %+v, want %+v", got, e)
			}
		})
	}
}

// TestKafkaReconnect: a broker that goes away and comes back (same data
// directory and port) is logged, subscribers get a resync, and events flow
// again on the same subscription.
func TestKafkaReconnect(t *testing.T) {
	dir := t.TempDir()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	addr := c.ListenAddrs()[0]
	url := kafkaURL(c, "", "apogee-test-"+apogee.NewID())
	var logBuf testio.Buffer
	a := dialKafka(t, url, slog.New(slog.NewTextHandler(&logBuf, nil)))
	b := dialKafka(t, url, nil)
	sub, _ := b.Subscribe(t.Context())
	subA, _ := a.Subscribe(t.Context())

	c.Close()
	time.Sleep(300 * time.Millisecond)
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	var portN int
	for _, r := range port {
		portN = portN*10 + int(r-'0')
	}
	c2, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(dir), kfake.Ports(portN))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c2.Close)

	wctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	if err := logBuf.Wait(wctx, "reconnected to Kafka"); err != nil {
		t.Fatalf("no reconnection logged within 15s; log:\n%s", logBuf.String())
	}
	if !strings.Contains(logBuf.String(), "lost the connection to Kafka") {
		t.Errorf("the lost connection was not logged; log:\n%s", logBuf.String())
	}
	if got := receive(t, "a after reconnecting", subA); got.Type != apogee.EventResync {
		t.Fatalf("a's subscriber got %+v after the reconnect, want %s", got, apogee.EventResync)
	}
	deadline := time.Now().Add(15 * time.Second)
	e := apogee.Event{Type: apogee.EventAliasChanged, Project: "web", DeploymentID: "d2"}
	for {
		if err := a.Publish(t.Context(), e); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-sub:
			if got.Type == apogee.EventResync {
				continue
			}
			if got.DeploymentID != "d2" || !got.Remote {
				t.Fatalf("got %+v", got)
			}
			return
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no event through Kafka after it came back")
		}
	}
}
