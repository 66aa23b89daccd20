package api_test

import (
	"context"
	"testing"

	"github.com/apogee-dev/apogee"
)

// TestDeploymentFramework: a built deployment carries the framework its
// build detected and the Node.js it ran with, as "framework" and
// "node_version", in the deployment and in the project's list; an upload
// of built files has neither; a redeploy records its own.
func TestDeploymentFramework(t *testing.T) {
	e := newAdminEnv(t)
	ctx := context.Background()
	e.must(e.call("POST", "/api/v1/projects", e.owner, apogee.CreateProjectRequest{Name: "site",
		Git: &apogee.GitSource{URL: "https://github.com/acme/site.git", Branch: "main"}}), 201, nil)
	upload := e.deploy(e.owner, "site", apogee.TargetProduction, file{"index.html", "hi"})
	p, err := e.store.ProjectByName(ctx, "site")
	if err != nil {
		t.Fatal(err)
	}
	built := &apogee.Deployment{ID: apogee.NewID(), ProjectID: p.ID, Target: apogee.TargetPreview, CreatedAt: e.clock(),
		Source: apogee.SourceGit, Branch: "main", Commit: "4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39"}
	if err := e.store.QueueBuild(ctx, built); err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetBuildInfo(ctx, built.ID, apogee.BuildInfo{Framework: "astro", NodeVersion: "22.12.0"}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		id              string
		framework, node any
	}{
		{built.ID, "astro", "22.12.0"},
		{upload.ID, nil, nil}, // omitted
	} {
		var got map[string]any
		e.must(e.call("GET", "/api/v1/deployments/"+tc.id, e.owner, nil), 200, &got)
		if got["framework"] != tc.framework || got["node_version"] != tc.node {
			t.Errorf("GET deployment %s: framework %v, node_version %v; want %v, %v", tc.id, got["framework"], got["node_version"], tc.framework, tc.node)
		}
	}
	var list struct{ Deployments []map[string]any }
	e.must(e.call("GET", "/api/v1/projects/site/deployments", e.owner, nil), 200, &list)
	found := false
	for _, d := range list.Deployments {
		if d["id"] == built.ID {
			found = d["framework"] == "astro" && d["node_version"] == "22.12.0"
		}
	}
	if !found {
		t.Errorf("the list lacks the build's framework and Node.js: %v", list)
	}
	e.wantErr(e.call("GET", "/api/v1/deployments/"+built.ID, e.other, nil), 404, apogee.ENOTFOUND)

	// A redeploy is a new build: it has not detected anything yet.
	var v map[string]any
	e.must(e.call("POST", "/api/v1/deployments/"+built.ID+"/redeploy", e.owner, nil), 201, &v)
	if v["framework"] != nil || v["node_version"] != nil {
		t.Errorf("a queued redeploy carries framework %v, node_version %v from the old build", v["framework"], v["node_version"])
	}
}
