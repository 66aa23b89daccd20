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
