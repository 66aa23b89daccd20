package api_test

import (
	"context"
	"testing"

	"github.com/apogee-dev/apogee"
)

// TestRedeploy: a Git deployment's commit is built again with its branch
// and target; only its owner (or an admin) may; an uploaded deployment
// has nothing to build again; a refused redeploy queues nothing.
func TestRedeploy(t *testing.T) {
	e := newAdminEnv(t)
	ctx := context.Background()
	e.must(e.call("POST", "/api/v1/projects", e.owner, apogee.CreateProjectRequest{Name: "app",
		Git: &apogee.GitSource{URL: "https://github.com/acme/app.git", Branch: "main"}}), 201, nil)
	p, err := e.store.ProjectByName(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	const commit = "4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39"
	old := &apogee.Deployment{ID: apogee.NewID(), ProjectID: p.ID, Target: apogee.TargetPreview, CreatedAt: e.clock(),
		Source: apogee.SourceGit, Branch: "feature", Commit: commit}
	old.Host = apogee.DeploymentHost("app", old.ID)
	if err := e.store.QueueBuild(ctx, old); err != nil {
		t.Fatal(err)
	}
	upload := e.deploy(e.owner, "web", apogee.TargetProduction, file{"index.html", "hi"})
	path := "/api/v1/deployments/" + old.ID + "/redeploy"

	e.wantErr(e.call("POST", path, "", nil), 401, apogee.EUNAUTHORIZED)
	e.wantErr(e.call("POST", path, e.other, nil), 404, apogee.ENOTFOUND)
	e.wantErr(e.call("POST", "/api/v1/deployments/nosuch/redeploy", e.owner, nil), 404, apogee.ENOTFOUND)
	e.wantErr(e.call("POST", "/api/v1/deployments/"+upload.ID+"/redeploy", e.owner, nil), 400, apogee.EINVALID)
	e.wantErr(e.call("POST", path, e.owner, map[string]any{"no_cache": "yes"}), 400, apogee.EINVALID)
	if n := len(e.deployments("app")); n != 1 {
		t.Fatalf("refused redeploys left %d deployments, want the 1 there was", n)
	}

	for _, tok := range []string{e.owner, e.admin} {
		var v apogee.DeploymentView
		e.must(e.call("POST", path, tok, apogee.RedeployRequest{NoCache: true}), 201, &v)
		if v.ID == old.ID || v.Status != apogee.StatusQueued || v.Commit != commit || v.Branch != "feature" ||
			v.Target != apogee.TargetPreview || !v.NoCache || v.Project != "app" {
			t.Fatalf("redeploy made %+v", v)
		}
	}
}
