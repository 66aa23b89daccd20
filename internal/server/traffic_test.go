package server

import (
	"context"
	"testing"
	"time"

	"github.com/apogee-dev/apogee/internal/client"
)

// Requests through the real edge reach the store by the access writer,
// and the analytics count exactly what was sent.
func TestTrafficThroughTheEdge(t *testing.T) {
	s, c, addr := testServer(t)
	ctx := context.Background()
	if _, err := c.CreateProject(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Deploy(ctx, site(t, "hello"), client.DeployOptions{Project: "web", Production: true}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for { // the route reaches the edge by an event; Lookup serves no request
		if _, ok := s.edge.Lookup("web.localhost"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the edge never routed web.localhost")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for range 3 {
		if code, body := get(t, addr, "web.localhost", "/"); code != 200 {
			t.Fatalf("edge answered %d %q", code, body)
		}
	}
	if code, _ := get(t, addr, "web.localhost", "/missing"); code != 404 {
		t.Fatalf("edge answered %d for a missing file", code)
	}
	for {
		tr, err := c.Traffic(ctx, "web", "1h")
		if err != nil {
			t.Fatal(err)
		}
		if tr.Requests == 4 && len(tr.Paths) == 2 { // the top tables come a second after the rollups
			if tr.Status["2xx"] != 3 || tr.Status["4xx"] != 1 || tr.Visitors != 1 || len(tr.NotFound) != 1 || tr.NotFound[0].Key != "/missing" {
				t.Errorf("traffic = %+v", tr)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("traffic shows %d requests, want 4", tr.Requests)
		}
		time.Sleep(50 * time.Millisecond)
	}
	rs, err := c.Requests(ctx, "web", client.RequestOptions{Status: "2xx"})
	if err != nil || len(rs) != 3 || rs[0].Path != "/" {
		t.Errorf("request log: %+v, %v", rs, err)
	}
}
