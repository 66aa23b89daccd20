package notify_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/notify"
)

// BenchmarkEventToPage is the time from a deployment.ready on the bus to
// the notification in a live subscriber's channel (what the dashboard's
// /events writes out): two store reads and a channel send.
func BenchmarkEventToPage(b *testing.B) {
	w := newWorld(b, notify.SenderConfig{AllowPrivate: true})
	live := w.n.Subscribe(b.Context(), w.alice.ID)
	d := w.uploaded(false)
	e := apogee.Event{Type: apogee.EventDeploymentReady, DeploymentID: d.ID}
	b.ResetTimer()
	for b.Loop() {
		if err := w.bus.Publish(b.Context(), e); err != nil {
			b.Fatal(err)
		}
		<-live
	}
}

// BenchmarkEventToWebhook is the time from a deployment.ready on the bus
// to a signed delivery received by an HTTP server on loopback.
func BenchmarkEventToWebhook(b *testing.B) {
	w := newWorld(b, notify.SenderConfig{AllowPrivate: true})
	got := make(chan struct{}, 1)
	rcv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { got <- struct{}{} }))
	defer rcv.Close()
	w.hook(rcv.URL, "0123456789abcdef")
	d := w.uploaded(false)
	e := apogee.Event{Type: apogee.EventDeploymentReady, DeploymentID: d.ID}
	b.ResetTimer()
	for b.Loop() {
		if err := w.bus.Publish(b.Context(), e); err != nil {
			b.Fatal(err)
		}
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			b.Fatal("no delivery")
		}
	}
}
