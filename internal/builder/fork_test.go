package builder_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/sandbox"
)

// TestForkBuildGetsNoSecrets: the preview of a fork's pull request is
// built from the fork's repository, with none of the project's variables
// (secret or not) and no cache of the project's left behind; the
// project's own build of the same command gets them.
func TestForkBuildGetsNoSecrets(t *testing.T) {
	r := newRig(t, sandbox.Limits{}, env{"GREETING": "hello", "SECRET_TOKEN": "s3cr3t-v4lue-123"})
	build := `mkdir -p dist && cp index.html dist/ && echo "token=[$SECRET_TOKEN] greeting=[$GREETING]" > dist/env.txt`
	settings := apogee.BuildSettings{BuildCommand: ptr(build), OutputDir: ptr("dist"), InstallCommand: ptr("")}
	project := pushRepo(t, map[string]string{"index.html": "<h1>project</h1>"})
	fork := pushRepo(t, map[string]string{"index.html": "<h1>fork</h1>"})

	own, log := r.wait(r.buildGit(project, settings).ID, 2*time.Minute)
	if own.Status != apogee.StatusReady {
		t.Fatalf("the project's build %s (%s):\n%s", own.Status, own.Error, log)
	}
	if got := r.file(own, "env.txt"); got != "token=[s3cr3t-v4lue-123] greeting=[hello]\n" {
		t.Fatalf("the project's build saw %q", got)
	}

	d := &apogee.Deployment{ID: apogee.NewID(), ProjectID: r.project.ID, Target: apogee.TargetPreview, CreatedAt: time.Now(),
		Source: apogee.SourceGit, Branch: "main", PullRequest: 3, ForkRepo: fork}
	r.watch(d.ID)
	if err := r.store.QueueBuild(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	r.b.Kick()
	got, log := r.wait(d.ID, 2*time.Minute)
	if got.Status != apogee.StatusReady {
		t.Fatalf("the fork's build %s (%s):\n%s", got.Status, got.Error, log)
	}
	if idx := r.file(got, "index.html"); idx != "<h1>fork</h1>" {
		t.Fatalf("the fork's build deployed %q, want the fork's tree", idx)
	}
	if e := r.file(got, "env.txt"); e != "token=[] greeting=[]\n" {
		t.Fatalf("the fork's build saw the project's variables: %q", e)
	}
	if !strings.Contains(log, "Pull request #3 from a fork: the project's environment variables are not set") {
		t.Errorf("the log does not say why the variables are missing:\n%s", log)
	}
	if _, err := os.Stat(filepath.Join(r.data, "builds", "cache", "fork-"+d.ID)); !os.IsNotExist(err) {
		t.Errorf("the fork's cache folder stayed: %v", err)
	}
}
