package server

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/client"
	"github.com/apogee-dev/apogee/internal/resolver/resolvertest"
)

// buildZip builds a ZIP of files as a production deployment of project
// through the API, the builder (in the real sandbox) and the edge, and
// returns the deployment once the build has ended ready.
func buildZip(t *testing.T, c *client.Client, project string, files map[string]string) *apogee.DeploymentView {
	t.Helper()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "site.zip")
	writeZip(t, path, files)
	zip, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	up, err := c.CreateUpload(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.PutUpload(ctx, up.UploadURL, bytes.NewReader(zip), int64(len(zip))); err != nil {
		t.Fatal(err)
	}
	d, err := c.QueueBuild(ctx, project, apogee.BuildRequest{UploadID: up.ID})
	if err != nil {
		t.Fatal(err)
	}
	// Following the log ends when the build does.
	status, err := c.FollowLogs(ctx, d.ID, 0, func(apogee.LogLine) error { return nil })
	if err != nil || status != apogee.StatusReady {
		got, _ := c.GetDeployment(ctx, d.ID)
		t.Fatalf("build %s ended %q (%v): %+v", d.ID, status, err, got)
	}
	if d, err = c.GetDeployment(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestCustomDomainFollowsBuild: a verified custom domain serves the
// project's production deployment, also after a Git or ZIP build moves
// production (the builder's path once moved the project's host and left
// the domain on the old deployment).
func TestCustomDomainFollowsBuild(t *testing.T) {
	if _, err := exec.LookPath("bwrap"); err != nil {
		t.Fatal("bwrap is missing: apt-get install bubblewrap")
	}
	zone, dns := resolvertest.Start(t)
	s, addr := startServer(t, Config{Data: t.TempDir(), BuildWorkers: 1, Sandbox: "bwrap", DNSResolver: dns})
	c := client.New(addr, userToken(t, s.Store(), "me@example.com", "password", false))
	ctx := context.Background()
	if _, err := c.CreateProject(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	one := buildZip(t, c, "web", map[string]string{"index.html": "one"})
	if !one.Production {
		t.Fatalf("first build is not production: %+v", one)
	}

	dom, err := c.AddDomain(ctx, "web", "www.example.com")
	if err != nil {
		t.Fatal(err)
	}
	zone.Set(dom.Verification.Name, dom.Verification.Value)
	if _, err := c.VerifyDomain(ctx, "www.example.com"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, addr, "www.example.com", "one")

	two := buildZip(t, c, "web", map[string]string{"index.html": "two"})
	if !two.Production {
		t.Fatalf("second build is not production: %+v", two)
	}
	waitFor(t, addr, "web.localhost", "two")
	waitFor(t, addr, "www.example.com", "two")
}
