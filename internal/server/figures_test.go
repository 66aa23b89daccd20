package server

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/access"
	"github.com/apogee-dev/apogee/internal/client"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// The admin figures count what the edge served, read from the process's
// Prometheus metrics.
func TestAdminFiguresCountEdgeTraffic(t *testing.T) {
	s, c, addr := testServer(t)
	ctx := context.Background()
	if _, err := c.CreateProject(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Deploy(ctx, site(t, "hello"), client.DeployOptions{Project: "web", Production: true}); err != nil {
		t.Fatal(err)
	}
	admin := &apogee.User{ID: apogee.NewID(), Email: "root@example.com", Admin: true}
	figures := func() *apogee.AdminFigures {
		t.Helper()
		f, err := s.platform.Services().Admin.Figures(apogee.NewContextWithUser(ctx, admin))
		if err != nil {
			t.Fatal(err)
		}
		if f.Edge == nil {
			t.Fatal("the server's figures have no edge part")
		}
		return f
	}
	before := figures()
	for range 3 {
		if code, body := get(t, addr, "web.localhost", "/"); code != 200 || body != "hello" {
			t.Fatalf("edge answered %d %q", code, body)
		}
	}
	if code, _ := get(t, addr, "web.localhost", "/missing"); code != 404 {
		t.Fatalf("edge answered %d for a missing file", code)
	}
	after := figures()
	if got := after.Edge.Requests - before.Edge.Requests; got != 4 {
		t.Errorf("edge requests grew by %d, want 4", got)
	}
	if got := after.Edge.Bytes - before.Edge.Bytes; got < 3*uint64(len("hello")) {
		t.Errorf("edge bytes grew by %d, want at least 3×%d", got, len("hello"))
	}
	if after.Deployments != 1 || after.Projects != 1 || after.StoredBytes != int64(len("hello")) {
		t.Errorf("figures %+v, want the one deployment of 5 bytes", after.SystemFigures)
	}
}

// The figures' count of dropped request records is the access log's
// apogee_access_dropped_total, read from the same registry.
func TestEdgeCounterReadsDroppedRecords(t *testing.T) {
	reg := prometheus.NewRegistry()
	l, err := access.New(access.Config{Store: testbed.Store(t, t.TempDir()), Buffer: 1, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // the writer is not running: the first fills the buffer, two are dropped
		l.Record(access.Entry{Start: time.Now(), ProjectID: "p", Path: "/", Status: 200})
	}
	got, err := edgeCounter{g: reg}.EdgeTraffic(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got.AccessDropped != 2 || l.Dropped() != 2 {
		t.Errorf("dropped: figures %d, log %d; want 2", got.AccessDropped, l.Dropped())
	}
}
