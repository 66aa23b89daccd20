package events

import (
	"context"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

func TestLocalSlowSubscriberDoesNotBlock(t *testing.T) {
	bus := NewLocal(nil)
	defer bus.Close()
	_, _ = bus.Subscribe(context.Background()) // never read
	done := make(chan struct{})
	go func() {
		for i := 0; i < subscriberBuffer*2; i++ {
			_ = bus.Publish(context.Background(), apogee.Event{Type: apogee.EventDeploymentReady})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked on a subscriber that never reads")
	}
}

// TestLocalResyncAfterDrop: a subscriber that fell behind and lost
// events gets a resync before the next event it can take, and only one.
func TestLocalResyncAfterDrop(t *testing.T) {
	bus := NewLocal(nil)
	defer bus.Close()
	ch, _ := bus.Subscribe(t.Context())
	ready := apogee.Event{Type: apogee.EventDeploymentReady, DeploymentID: "d"}
	for range subscriberBuffer + 1 { // one more than fits: dropped
		_ = bus.Publish(t.Context(), ready)
	}
	for range subscriberBuffer {
		if e := <-ch; e.Type != ready.Type {
			t.Fatalf("got %+v among the buffered events", e)
		}
	}
	_ = bus.Publish(t.Context(), apogee.Event{Type: apogee.EventAliasChanged})
	_ = bus.Publish(t.Context(), apogee.Event{Type: apogee.EventAliasChanged})
	for i, want := range []string{apogee.EventResync, apogee.EventAliasChanged, apogee.EventAliasChanged} {
		if e := <-ch; e.Type != want {
			t.Fatalf("event %d after the drop is %s; want %s", i, e.Type, want)
		}
	}
	select {
	case e := <-ch:
		t.Fatalf("unexpected %+v", e)
	default:
	}
}
