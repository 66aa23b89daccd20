package platform_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/apogee-dev/apogee"
)

// TestLocalRepositoryRefused: a repository on the server's disk is
// refused unless file:// is allowed, and the message says how to allow
// it and what to do instead.
func TestLocalRepositoryRefused(t *testing.T) {
	w := newWorld(t, nil)
	for _, url := range []string{"file:///srv/repos/web.git", "/srv/repos/web.git"} {
		_, err := w.svc.Projects.CreateProject(w.ctx, apogee.CreateProjectRequest{Name: "local", Git: &apogee.GitSource{URL: url}})
		msg := apogee.ErrorMessage(err)
		if apogee.ErrorCode(err) != apogee.EINVALID || !strings.Contains(msg, "--allow-file-git") || !strings.Contains(msg, "git push") {
			t.Errorf("%s: %v", url, err)
		}
	}
}

// TestSourceFolder: a source folder goes through the deploy protocol and
// is queued for a build at finalize, never served as it is.
func TestSourceFolder(t *testing.T) {
	w := newWorld(t, nil)
	evs, _ := w.bus.Subscribe(t.Context())
	body := `{"scripts":{"build":"vite build"}}`
	sum := sha256.Sum256([]byte(body))
	h := hex.EncodeToString(sum[:])
	d, err := w.svc.Deployments.CreateDeployment(w.ctx, "web", apogee.CreateDeploymentRequest{
		Build: true, NoCache: true, Target: apogee.TargetProduction,
		Files: []apogee.File{{Path: "package.json", SHA256: h, Size: int64(len(body))}}})
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != apogee.StatusUploading || d.Source != apogee.SourceFolder || len(d.Missing) != 1 {
		t.Fatalf("created %+v", d.Deployment)
	}
	if _, err := w.svc.Deployments.Finalize(w.ctx, d.ID); apogee.ErrorCode(err) != apogee.EMISSING {
		t.Fatalf("finalize before the upload: %v", err)
	}
	if err := w.svc.Deployments.UploadFile(w.ctx, d.ID, h, bytes.NewReader([]byte(body)), int64(len(body))); err != nil {
		t.Fatal(err)
	}
	q, err := w.svc.Deployments.Finalize(w.ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if q.Status != apogee.StatusQueued || !q.NoCache || q.Production || q.Target != apogee.TargetProduction {
		t.Fatalf("finalized source folder %+v, want a queued production build", q.Deployment)
	}
	for e := range evs {
		if e.Type == apogee.EventBuildQueued && e.DeploymentID == d.ID {
			break
		}
		if e.Type == apogee.EventDeploymentReady || e.Type == apogee.EventAliasChanged {
			t.Fatalf("a source folder was served: %+v", e)
		}
	}
	if _, err := w.svc.Deployments.Finalize(w.ctx, d.ID); apogee.ErrorCode(err) != apogee.ECONFLICT {
		t.Fatalf("second finalize: %v", err)
	}
}
