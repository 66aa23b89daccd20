package events

import (
	"context"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

func TestLocalFanOut(t *testing.T) {
	bus := NewLocal(nil)
	defer bus.Close()
	ctx, cancel := context.WithCancel(context.Background())
	a, _ := bus.Subscribe(ctx)
	b, _ := bus.Subscribe(context.Background())

	want := apogee.Event{Type: apogee.EventAliasChanged, Project: "hello", DeploymentID: "d1"}
	if err := bus.Publish(context.Background(), want); err != nil {
		t.Fatal(err)
	}
	for name, ch := range map[string]<-chan apogee.Event{"a": a, "b": b} {
		select {
		case got := <-ch:
			if got != want {
				t.Errorf("%s got %+v, want %+v", name, got, want)
			}
		case <-time.After(time.Second):
			t.Fatalf("%s got no event", name)
		}
	}

	cancel()
	select {
	case _, ok := <-a:
		if ok {
			t.Fatal("a delivered an event after its context ended")
		}
	case <-time.After(time.Second):
		t.Fatal("a was not closed after its context ended")
	}

	bus.Close()
	if _, ok := <-b; ok {
		t.Fatal("b still open after Close")
	}
}

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
