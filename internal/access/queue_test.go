package access_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/access"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/traffic"
)

// TestQueuedAcrossNodes: two edge nodes on Kafka hand their request
// records and rollups to the access work stream; the fleet's writers (a
// consumer group) put each in the database once. Writers that stop and
// come back resume from the committed offset: what was recorded
// meanwhile is written, nothing twice.
func TestQueuedAcrossNodes(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	url := "kafka://" + strings.Join(kc.ListenAddrs(), ",") + "?topic=apogee-test-" + apogee.NewID()
	st := openStore(t)
	quiet := slog.New(slog.DiscardHandler)
	var buses []*events.Kafka
	for range 2 {
		b, err := events.DialKafka(t.Context(), url, quiet)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		buses = append(buses, b)
	}
	writers := func() (stop func()) {
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, len(buses))
		for _, b := range buses {
			go func() { done <- access.WriteQueued(ctx, b, st, quiet) }()
		}
		return func() {
			cancel()
			for range buses {
				if err := <-done; err != nil {
					t.Errorf("WriteQueued: %v", err)
				}
			}
		}
	}
	var edges []*access.Log
	for i, b := range buses {
		l, err := access.New(access.Config{Store: access.QueuedStore{Store: st, Queue: b, Key: fmt.Sprint("edge", i)},
			Writer: fmt.Sprint("edge", i), FlushEvery: 10 * time.Millisecond, Log: quiet})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- l.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		edges = append(edges, l)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	n := 0
	record := func(l *access.Log, count int) {
		for range count {
			n++
			l.Record(access.Entry{Start: now.Add(time.Duration(n) * time.Millisecond), Duration: time.Millisecond, ProjectID: "web", DeploymentID: "d1",
				Host: "web.localhost", Method: "GET", Path: fmt.Sprint("/", n), Status: 200, Bytes: 10, RemoteAddr: fmt.Sprintf("192.0.2.%d:5000", n%200+1), UserAgent: chromeMac})
		}
	}
	stored := func(want int) {
		t.Helper()
		var rs []apogee.Request
		var tr apogee.Traffic
		waitFor(t, fmt.Sprint(want, " records and rollups in the database"), func() bool {
			rs, err = st.Requests(t.Context(), "web", apogee.RequestQuery{Limit: 1000})
			if err != nil || len(rs) < want {
				return false
			}
			tr, err = traffic.Sum(t.Context(), st, "web", apogee.TrafficQuery{Since: now.Add(-time.Minute), Bucket: time.Minute})
			return err == nil && tr.Requests >= int64(want)
		})
		if len(rs) != want || tr.Requests != int64(want) {
			t.Fatalf("%d records and %d requests in the rollups, want %d of each (once each)", len(rs), tr.Requests, want)
		}
		paths := map[string]bool{}
		for _, r := range rs {
			if paths[r.Path] {
				t.Fatalf("record of %s written twice", r.Path)
			}
			paths[r.Path] = true
		}
	}

	stop := writers()
	record(edges[0], 30)
	record(edges[1], 20)
	stored(50)
	stop()

	record(edges[0], 15) // no writer: Kafka keeps them
	waitFor(t, "the edge's batches in Kafka", func() bool { return edges[0].Written() == 45 })
	stop = writers()
	stored(65)
	stop()
}
