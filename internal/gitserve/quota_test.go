package gitserve_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// TestPushQuota: a push whose build the owner's plan refuses (build
// minutes used up, or a disabled owner pushed to by an admin) is refused
// before git receives anything, with the plan's message; a disabled
// user's own token is refused at once. Nothing is queued and the
// platform's repository does not move.
func TestPushQuota(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	owner, tok := e.user("owner@example.com", false)
	_, adminTok := e.user("root@example.com", true)
	p := e.project("web", owner, nil)
	dir := workTree(t)
	mustGit(t, dir, "push", "-q", e.remote(tok, "web"), "main")
	if n := len(e.builds("web")); n != 1 {
		t.Fatalf("first push queued %d builds", n)
	}

	// Use up the plan's build minutes with the queued build.
	plan := &apogee.Plan{Name: "short", Limits: apogee.PlanLimits{Projects: -1, ConcurrentBuilds: -1, BuildMinutes: 1, StorageBytes: -1, CustomDomains: -1}}
	if err := e.store.CreatePlan(ctx, plan); err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetUserPlan(ctx, owner.ID, plan.ID); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	d, err := e.store.ClaimBuild(ctx, "test/1", start)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.EndBuild(ctx, d.ID, apogee.StatusError, "test", start.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}

	head := commit(t, dir, "about.html", "about")
	out, err := git(t, dir, "push", e.remote(tok, "web"), "main")
	if err == nil || !strings.Contains(out, "402") {
		t.Fatalf("push over the build minutes: err %v\n%s", err, out)
	}
	if n := len(e.builds("web")); n != 1 {
		t.Errorf("refused push queued: %d builds", n)
	}
	bare := filepath.Join(e.root, p.ID+".git")
	if got := mustGit(t, bare, "rev-parse", "main"); got == head {
		t.Errorf("refused push moved main to %s", got)
	}

	// A disabled owner: their token fails (401); an admin's push to
	// their project is refused (403), so nothing builds.
	disabled := time.Now()
	if err := e.store.SetUserDisabled(ctx, owner.ID, &disabled); err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetUserPlan(ctx, owner.ID, ""); err != nil {
		t.Fatal(err)
	}
	out, err = git(t, dir, "push", e.remote(tok, "web"), "main")
	if err == nil || !strings.Contains(out, "account is disabled") {
		t.Errorf("disabled user's push: err %v\n%s", err, out)
	}
	out, err = git(t, dir, "push", e.remote(adminTok, "web"), "main")
	if err == nil || !strings.Contains(out, "403") {
		t.Errorf("admin's push to a disabled user's project: err %v\n%s", err, out)
	}
	if n := len(e.builds("web")); n != 1 {
		t.Errorf("pushes for a disabled owner queued: %d builds", n)
	}
}
