package server

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/client"
	"github.com/apogee-dev/apogee/internal/events/natstest"
)

// counter returns the value of the counter name in reg (0 if absent).
func counter(t *testing.T, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// TestForgedEventsOverNATS: something on the platform's NATS that is not
// an Apogee server (a build script that reached it, say) publishes an
// alias.changed naming its own deployment for another user's project, a
// deployment.ready claiming that project's host, and a domain.changed for
// a domain nobody verified. Every edge reloads the projects the events
// name from the database and keeps serving what the database says: a
// forged event costs a reload, never a route.
func TestForgedEventsOverNATS(t *testing.T) {
	ns := natstest.Start(t)
	a, b, addrA, addrB := twoServers(t, ns, Config{})
	ctx := t.Context()
	victim := client.New(addrA, userToken(t, a.Store(), "victim@example.com", "password", false))
	attacker := client.New(addrA, userToken(t, a.Store(), "attacker@example.com", "password", false))
	for c, name := range map[*client.Client]string{victim: "shop", attacker: "evil"} {
		if _, err := c.CreateProject(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := victim.Deploy(ctx, site(t, "the shop"), client.DeployOptions{Project: "shop", Production: true}); err != nil {
		t.Fatal(err)
	}
	evil, err := attacker.Deploy(ctx, site(t, "evil"), client.DeployOptions{Project: "evil", Production: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attacker.AddDomain(ctx, "evil", "www.shop.example"); err != nil {
		t.Fatal(err)
	}
	shop, err := victim.GetProject(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{addrA, addrB} {
		waitFor(t, addr, "shop.localhost", "the shop")
		waitFor(t, addr, "evil.localhost", "evil")
	}

	// Publish as the attacker would, on the platform's subject prefix.
	u, err := url.Parse(a.cfg.Events)
	if err != nil {
		t.Fatal(err)
	}
	subject := u.Query().Get("subject")
	nc, err := nats.Connect(ns.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	forged := []apogee.Event{
		{Type: apogee.EventAliasChanged, ProjectID: shop.ID, Project: "shop", DeploymentID: evil.Deployment.ID},
		{Type: apogee.EventDeploymentReady, ProjectID: shop.ID, Project: "shop", Host: "shop", DeploymentID: evil.Deployment.ID},
		{Type: apogee.EventDomainChanged, ProjectID: evil.Deployment.ProjectID, Project: "evil", Host: "www.shop.example", DeploymentID: evil.Deployment.ID},
	}
	const reloads = "apogee_edge_project_route_loads_total"
	before := []float64{counter(t, a.reg, reloads), counter(t, b.reg, reloads)}
	for _, e := range forged {
		data, _ := json.Marshal(e)
		if err := nc.Publish(subject+".events."+e.Type, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// Each edge has applied the three events once it has reloaded the
	// projects they name three more times.
	for i, s := range []*Server{a, b} {
		deadline := time.After(10 * time.Second)
		for counter(t, s.reg, reloads) < before[i]+float64(len(forged)) {
			select {
			case <-deadline:
				t.Fatalf("server %d applied %v of the forged events within 10 s", i, counter(t, s.reg, reloads)-before[i])
			case <-time.After(time.Millisecond):
			}
		}
	}
	for _, addr := range []string{addrA, addrB} {
		if code, body := get(t, addr, "shop.localhost", "/"); code != 200 || body != "the shop" {
			t.Errorf("%s: the victim's host after forged events answers %d %q", addr, code, body)
		}
		if code, _ := get(t, addr, "www.shop.example", "/"); code != 404 {
			t.Errorf("%s: an unverified domain named by a forged event answers %d", addr, code)
		}
		if code, body := get(t, addr, "evil.localhost", "/"); code != 200 || body != "evil" {
			t.Errorf("%s: the attacker's own host answers %d %q", addr, code, body)
		}
	}
	if !strings.HasPrefix(subject, "apogee.test.") {
		t.Fatalf("subject %q is not the test's own", subject)
	}
}
