package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/apps"
	"github.com/apogee-dev/apogee/internal/client"
	"github.com/apogee-dev/apogee/internal/events/natstest"
)

// TestRuntimeLogsAcrossServers: what an app's instance writes on server A
// (through the observer A gives its runtime) is read and followed live
// through server B's API, over one PostgreSQL and one NATS.
func TestRuntimeLogsAcrossServers(t *testing.T) {
	ns := natstest.Start(t)
	a, _, addrA, addrB := twoServers(t, ns, Config{})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	secret := userToken(t, a.Store(), "ada@example.com", "password", false)
	if _, err := client.New(addrA, secret).CreateProject(ctx, "api"); err != nil {
		t.Fatal(err)
	}
	out := func(text string) {
		a.appWatch.InstanceOutput(apps.Line{Project: "api", Release: "r1",
			LogLine: apogee.LogLine{Time: time.Now(), Stream: apogee.StreamStdout, Instance: "aaaaaaaaaaaa", Text: text}})
	}
	out("booting")
	cb := client.New(addrB, secret)
	got := make(chan apogee.LogLine, 16)
	go cb.FollowRuntimeLogs(ctx, "api", client.RuntimeLogOptions{}, func(l apogee.LogLine) error {
		got <- l
		return nil
	})
	next := func() apogee.LogLine {
		select {
		case l := <-got:
			return l
		case <-ctx.Done():
			t.Fatal("B's follower got nothing within a minute")
			return apogee.LogLine{}
		}
	}
	if l := next(); l.Text != "booting" || l.Seq != 1 {
		t.Fatalf("first line through B: %+v", l)
	}
	for i := range 3 {
		out(fmt.Sprint("request ", i))
		if l := next(); l.Text != fmt.Sprint("request ", i) || l.Instance != "aaaaaaaaaaaa" || l.Seq != int64(i+2) {
			t.Fatalf("live line %d through B: %+v", i, l)
		}
	}
	page, err := cb.RuntimeLogs(ctx, "api", client.RuntimeLogOptions{Search: "request"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Lines) != 3 || page.LastSeq != 4 {
		t.Errorf("B's history: %+v", page)
	}
}
