package notify_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/notify"
)

// TestAppNotifications: an app's crash (named by project name, as a
// runtime publishes it) and a failed deploy reach the owner live and the
// webhooks that want them, with the instance and the reason; a webhook
// that wants only deployment events gets neither.
func TestAppNotifications(t *testing.T) {
	w := newWorld(t, notify.SenderConfig{AllowPrivate: true})
	all := newReceiver(t, http.StatusNoContent)
	crashes := newReceiver(t, http.StatusNoContent)
	deploys := newReceiver(t, http.StatusNoContent)
	w.hook(all.URL, "s3cret-s3cret-s3cret")
	w.hook(crashes.URL, "s3cret-s3cret-s3cret", apogee.NotifyAppCrashed)
	w.hook(deploys.URL, "s3cret-s3cret-s3cret", apogee.NotifyDeploymentReady)
	live := w.n.Subscribe(t.Context(), w.alice.ID)
	d := w.uploaded(true)

	must(t, w.bus.Publish(t.Context(), apogee.Event{Type: apogee.EventAppCrashed, Project: "web", DeploymentID: d.ID,
		Instance: "3f9a1c2b7d0e", Reason: "killed: out of memory (limit 512 MiB)", Count: 4}))
	must(t, w.bus.Publish(t.Context(), apogee.Event{Type: apogee.EventAppDeployFailed, ProjectID: w.web.ID, DeploymentID: d.ID,
		Reason: "release did not become ready: instance x: exited with code 1 (crashed 3 times)"}))
	// A crash of a release that is not the project's names no deployment.
	must(t, w.bus.Publish(t.Context(), apogee.Event{Type: apogee.EventAppCrashed, Project: "web", DeploymentID: "nosuch",
		Instance: "3f9a1c2b7d0e", Reason: "exited with code 1", Count: 1}))

	wantTexts := []string{
		"web: instance 3f9a1c2b7d0e of deployment " + d.ID + " crashed: killed: out of memory (limit 512 MiB) (4 crashes since the last notice)",
		"web: deployment " + d.ID + " could not go live: release did not become ready: instance x: exited with code 1 (crashed 3 times); the release that served keeps serving",
		"web: instance 3f9a1c2b7d0e crashed: exited with code 1",
	}
	for i, want := range wantTexts {
		select {
		case n := <-live:
			if n.Text != want {
				t.Errorf("live %d: %q\nwant %q", i, n.Text, want)
			}
			if i == 0 && (n.Type != apogee.NotifyAppCrashed || n.Instance != "3f9a1c2b7d0e" || n.Count != 4 || n.Deployment == nil || n.Deployment.ID != d.ID) {
				t.Errorf("live crash: %+v", n)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("live notification %d did not come", i)
		}
	}
	all.wait(t, 3)
	crashes.wait(t, 2)
	// The outbox's workers deliver at once, in no promised order: find
	// the out-of-memory crash among the two.
	var body notify.Notification
	oom := -1
	for i, r := range crashes.requests() {
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatal(err)
		}
		if body.Reason == "killed: out of memory (limit 512 MiB)" {
			oom = i
			break
		}
	}
	if oom < 0 || body.Type != apogee.NotifyAppCrashed || !strings.HasPrefix(body.Text, "web: instance") {
		t.Errorf("crash webhook bodies: no out-of-memory crash of an instance (last read: %+v)", body)
	}
	if h := crashes.requests()[max(oom, 0)].header.Get("X-Apogee-Event"); h != apogee.NotifyAppCrashed {
		t.Errorf("X-Apogee-Event %q", h)
	}
	// The deliveries are done once the sender is idle: the webhook that
	// wants deployment.ready only got nothing.
	select {
	case <-w.sender.Idle():
	case <-time.After(10 * time.Second):
		t.Fatal("deliveries still under way after 10 s")
	}
	if n := len(deploys.requests()); n != 0 {
		t.Errorf("the deployment.ready webhook got %d requests", n)
	}
}
