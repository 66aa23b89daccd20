package server

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/access"
	"github.com/apogee-dev/apogee/internal/client"
)

// TestKafkaFleetRequestLog: on Kafka, the requests an edge-only node
// serves reach the database through the access work stream, written once
// by the fleet's consumer group: every request is in the request log and
// the rollups, none twice.
func TestKafkaFleetRequestLog(t *testing.T) {
	var kafka string
	for _, b := range benchBuses {
		if b.name == "kafka" {
			kafka = b.url(t)
		}
	}
	api, token, addrs := fleetServers(t, kafka, []string{RoleAPI, RoleEdge}, []string{RoleEdge})
	ctx := context.Background()
	c := client.New(addrs[0], token)
	p, err := c.CreateProject(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Deploy(ctx, site(t, "hello"), client.DeployOptions{Project: "web", Production: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, addrs[1], "web.localhost", "hello") // a request: counted too
	const n = 40
	for i := range n - 1 {
		if code, _ := get(t, addrs[1], "web.localhost", fmt.Sprint("/?i=", i)); code != 200 {
			t.Fatalf("request %d: %d", i, code)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		rs, err := api.Store().Requests(ctx, p.ID, apogee.RequestQuery{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) > n {
			t.Fatalf("%d requests in the log, want %d: some written twice", len(rs), n)
		}
		if len(rs) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of the %d requests served by the edge node in the request log after 30 s", len(rs), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// They came through Kafka: the work stream holds the edges' batches.
	u, err := url.Parse(kafka)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(u.Host))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, u.Query().Get("topic")+"."+access.QueueStream)
	if err != nil || ends.Error() != nil {
		t.Fatalf("end offsets of the access work stream: %v %v", err, ends.Error())
	}
	var records int64
	ends.Each(func(o kadm.ListedOffset) { records += o.Offset })
	if records == 0 {
		t.Fatal("the access work stream is empty: the edges wrote to the database themselves")
	}
}
