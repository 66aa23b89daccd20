package platform_test

import (
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// TestDeployFailedIsTold: a move of production the Gate refuses writes
// the reason into the project's runtime log, and a refused promote or
// rollback (whose deployment does not end in error) publishes
// app.deploy_failed; a refused upload does not (it is told as the
// deployment's own failure).
func TestDeployFailedIsTold(t *testing.T) {
	g := &gate{}
	w := newWorld(t, g)
	events, err := w.bus.Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	one, _ := w.deploy("one")
	if _, err := w.deploy("two"); err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	g.refuse = apogee.Errorf(apogee.EINVALID, "release of web did not become ready: instance x: exited with code 1 (crashed 3 times)")
	g.mu.Unlock()
	if _, err := w.deploy("three"); err == nil {
		t.Fatal("the gate's refusal did not fail the upload")
	}
	if _, err := w.svc.Deployments.Promote(w.ctx, "web", one.ID); err == nil {
		t.Fatal("the gate's refusal did not fail the promote")
	}
	var failed []apogee.Event
	deadline := time.After(5 * time.Second)
	for len(failed) == 0 {
		select {
		case e := <-events:
			if e.Type == apogee.EventAppDeployFailed {
				failed = append(failed, e)
			}
		case <-deadline:
			t.Fatal("no app.deploy_failed within 5s")
		}
	}
	if e := failed[0]; e.DeploymentID != one.ID || e.ProjectID != w.web.ID || !strings.Contains(e.Reason, "exited with code 1") {
		t.Errorf("event %+v", e)
	}
	page, err := w.svc.RuntimeLogs.RuntimeLogs(w.ctx, "web", apogee.RuntimeLogQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Lines) != 2 {
		t.Fatalf("runtime log: %+v", page.Lines)
	}
	for i, action := range []string{"(deploy)", "(promote)"} {
		l := page.Lines[i]
		if l.Stream != apogee.StreamSystem || !strings.Contains(l.Text, action+" failed: release of web did not become ready") ||
			!strings.HasSuffix(l.Text, "the release that served keeps serving") {
			t.Errorf("line %d: %+v", i, l)
		}
	}
	if strings.Contains(page.Lines[1].Text, one.ID) == false {
		t.Errorf("the promote's line does not name %s: %q", one.ID, page.Lines[1].Text)
	}
}
