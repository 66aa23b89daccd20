package notify_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/notify"
)

// TestTeamWebhooksFollowTheOwner: a team's webhook is sent the
// notifications of the team's projects, signed with its own secret and
// naming the team, besides the project's own webhook; a project moved
// out of the team no longer reaches it, and one moved in does.
func TestTeamWebhooksFollowTheOwner(t *testing.T) {
	w := newWorld(t, notify.SenderConfig{AllowPrivate: true})
	ctx := t.Context()
	acme := &apogee.Team{Name: "acme", CreatedBy: w.alice.ID, CreatedAt: time.Now()}
	must(t, w.store.CreateTeam(ctx, acme, w.alice.ID))
	teamRcv, ownRcv := newReceiver(t, http.StatusOK), newReceiver(t, http.StatusOK)
	const secret = "team-secret-0123456789"
	th := &apogee.Webhook{ID: apogee.NewID(), TeamID: acme.ID, URL: teamRcv.URL + "/team"}
	th.Secret = w.box.Seal(secret, th.SecretPurpose())
	must(t, w.store.CreateWebhook(ctx, th))
	w.hook(ownRcv.URL+"/own", "own-secret-0123456789")

	ready := func() *apogee.Deployment {
		d := w.uploaded(true)
		must(t, w.bus.Publish(ctx, apogee.Event{Type: apogee.EventDeploymentReady, ProjectID: w.web.ID, Project: "web", DeploymentID: d.ID}))
		return d
	}

	// alice's own project: its webhook only.
	ready()
	ownRcv.wait(t, 1)
	<-w.sender.Idle()
	if n := len(teamRcv.requests()); n != 0 {
		t.Fatalf("the team's webhook got %d deliveries of a person's project", n)
	}

	// Moved into the team: both.
	must(t, w.store.MoveProject(ctx, w.web.ID, acme.ID))
	d := ready()
	teamRcv.wait(t, 1)
	ownRcv.wait(t, 2)
	r := teamRcv.requests()[0]
	if r.header.Get("X-Apogee-Event") != apogee.NotifyDeploymentReady || r.header.Get("X-Apogee-Signature") != sign(secret, r.body) {
		t.Errorf("team delivery: event %q, signature %q; want deployment.ready signed with the team webhook's secret",
			r.header.Get("X-Apogee-Event"), r.header.Get("X-Apogee-Signature"))
	}
	var body struct{ Type, Project, Team string }
	must(t, json.Unmarshal(r.body, &body))
	if body.Type != apogee.NotifyDeploymentReady || body.Project != "web" || body.Team != "acme" {
		t.Errorf("team delivery body = %s", r.body)
	}
	if !json.Valid(r.body) || !containsID(r.body, d.ID) {
		t.Errorf("team delivery does not name deployment %s: %s", d.ID, r.body)
	}
	got := w.waitDelivery(th)
	if got.LastStatus != apogee.DeliveryOK || got.LastCode != 200 {
		t.Errorf("team webhook's last delivery = %s %d", got.LastStatus, got.LastCode)
	}

	// Moved out again: the team's webhook hears no more of it.
	must(t, w.store.MoveProject(ctx, w.web.ID, w.alice.ID))
	ready()
	ownRcv.wait(t, 3)
	<-w.sender.Idle()
	if n := len(teamRcv.requests()); n != 1 {
		t.Fatalf("the team's webhook got %d deliveries; want 1 (none after the project left the team)", n)
	}
}

func containsID(body []byte, id string) bool {
	var b struct {
		Deployment struct{ ID string } `json:"deployment"`
	}
	return json.Unmarshal(body, &b) == nil && b.Deployment.ID == id
}
