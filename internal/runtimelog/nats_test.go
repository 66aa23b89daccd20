package runtimelog_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/events/natstest"
	"github.com/apogee-dev/apogee/internal/logs"
	"github.com/apogee-dev/apogee/internal/runtimelog"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// TestFollowAcrossServers: an app's lines written on server A reach a
// follower on server B live, through the hubs relayed over NATS (Follow
// never polls the store: a line it gets live came through the relay).
func TestFollowAcrossServers(t *testing.T) {
	ns := natstest.Start(t)
	url := ns.URL() + "?subject=apogee.test." + apogee.NewID()
	dir := t.TempDir()
	stA, stB := testbed.Store(t, dir), testbed.Store(t, dir) // one database, two servers
	var hubs []*logs.Hub
	for range 2 {
		bus, err := events.Open(t.Context(), url, testbed.Quiet)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { bus.Close() })
		hub := logs.NewHub(0)
		if err := bus.(*events.NATS).RelayLogs(hub); err != nil {
			t.Fatal(err)
		}
		hubs = append(hubs, hub)
	}
	u := &apogee.User{ID: apogee.NewID(), Email: "a@example.com", Password: "x", CreatedAt: time.Now()}
	p := &apogee.Project{ID: apogee.NewID(), Name: "api", OwnerID: u.ID, CreatedAt: time.Now()}
	if err := stA.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	if err := stA.CreateProject(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	w := runtimelog.NewWriter(stA, hubs[0], runtimelog.Options{Log: testbed.Quiet})
	defer w.Close(context.Background())

	got := make(chan apogee.LogLine, 100)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	subscribed := make(chan struct{})
	go runtimelog.Follow(ctx, stB, hubs[1], p.ID, apogee.RuntimeLogQuery{}, func(lines []apogee.LogLine) error {
		for _, l := range lines {
			got <- l
		}
		return nil
	})
	// The follower is subscribed once the first line written reaches it.
	go func() {
		for {
			w.Add("api", apogee.LogLine{Time: time.Now(), Stream: "system", Text: "hello"})
			select {
			case <-subscribed:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	first := <-got
	close(subscribed)
	for i := range 20 {
		w.Add("api", apogee.LogLine{Time: time.Now(), Stream: "stdout", Instance: "aaaaaaaaaaaa", Text: fmt.Sprint("line ", i)})
	}
	last := first.Seq
	for i := 0; i < 20; {
		select {
		case l := <-got:
			if l.Seq != last+1 {
				t.Fatalf("line %+v after seq %d", l, last)
			}
			last = l.Seq
			if l.Text == "hello" {
				continue
			}
			if l.Text != fmt.Sprint("line ", i) || l.Instance != "aaaaaaaaaaaa" {
				t.Fatalf("got %+v, want line %d", l, i)
			}
			i++
		case <-time.After(10 * time.Second):
			t.Fatalf("server B's follower got %d of 20 lines within 10s", i)
		}
	}
}
