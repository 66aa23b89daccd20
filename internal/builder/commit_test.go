package builder_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/sandbox"
)

// TestGitBuildRecordsCommit: a build of a branch records the commit it
// fetched, with its subject and author, and the log names it; it
// records the framework it detected too.
func TestGitBuildRecordsCommit(t *testing.T) {
	r := newRig(t, sandbox.Limits{}, nil)
	url := pushRepo(t, map[string]string{"index.html": "<h1>hi</h1>"})
	d, log := r.wait(r.buildGit(url, apogee.BuildSettings{}).ID, 2*time.Minute)
	if d.Status != apogee.StatusReady {
		t.Fatalf("build %s (%s):\n%s", d.Status, d.Error, log)
	}
	if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(d.Commit) || d.CommitMessage != "hostile" || d.CommitAuthor != "t" {
		t.Fatalf("recorded commit %q %q %q, want the pushed one (hostile, by t)", d.Commit, d.CommitMessage, d.CommitAuthor)
	}
	if d.Framework != "static" || d.NodeVersion != "" {
		t.Errorf("recorded framework %q, Node.js %q; want static and none (plain HTML runs nothing)", d.Framework, d.NodeVersion)
	}
	if d.CommitURL != "" {
		t.Errorf("a file:// repository got a commit link %q", d.CommitURL)
	}
	if want := "Commit " + d.Commit[:12] + ` "hostile" by t`; !strings.Contains(log, want) {
		t.Errorf("the log lacks %q:\n%s", want, log)
	}
	list, err := r.store.ListDeployments(context.Background(), r.project.ID, 0)
	if err != nil || len(list) != 1 || list[0].CommitMessage != "hostile" {
		t.Fatalf("listed: %v %+v", err, list)
	}
}
