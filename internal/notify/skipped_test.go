package notify_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/notify"
)

// TestSkippedBuildNotTold: a build skipped for a monorepo (status
// canceled, skipped) sends no deployment.canceled; a canceled build
// after it does, and is the only delivery.
func TestSkippedBuildNotTold(t *testing.T) {
	w := newWorld(t, notify.SenderConfig{AllowPrivate: true, Attempts: 1})
	rcv := newReceiver(t, 200)
	h := w.hook(rcv.URL, "0123456789abcdef")
	ctx := t.Context()
	sk := &apogee.Deployment{ID: apogee.NewID(), ProjectID: w.web.ID, Target: apogee.TargetProduction, Source: apogee.SourceGit,
		Branch: "main", Commit: "0123456789abcdef0123456789abcdef01234567", CreatedAt: time.Now()}
	sk.Host = "web--" + sk.ID
	must(t, w.store.QueueBuild(ctx, sk))
	_, err := w.store.SkipBuild(ctx, sk.ID, "Skipped: no change in apps/web", time.Now())
	must(t, err)
	must(t, w.bus.Publish(ctx, apogee.Event{Type: apogee.EventBuildEnded, DeploymentID: sk.ID}))
	canceled := w.failedBuild(apogee.StatusCanceled, "canceled by alice")
	must(t, w.bus.Publish(ctx, apogee.Event{Type: apogee.EventBuildEnded, DeploymentID: canceled.ID}))
	w.waitDelivery(h)
	time.Sleep(200 * time.Millisecond) // a delivery of the skipped build would have come first
	got := rcv.requests()
	if len(got) != 1 || !bytes.Contains(got[0].body, []byte(canceled.ID)) || bytes.Contains(got[0].body, []byte(sk.ID)) {
		t.Fatalf("%d deliveries; want only the canceled build's", len(got))
	}
}
