package api_test

import (
	"testing"

	"github.com/apogee-dev/apogee"
)

// PATCH {"name"} renames a project: the new name finds it with its
// production and deployments, the old one is free; a taken or invalid
// name, or another user, changes nothing.
func TestRenameProject(t *testing.T) {
	e := newEnv(t)
	tok, other := e.user("a@example.com"), e.user("b@example.com")
	e.must(e.call("POST", "/api/v1/projects", tok, apogee.CreateProjectRequest{Name: "web"}), 201, nil)
	e.must(e.call("POST", "/api/v1/projects", tok, apogee.CreateProjectRequest{Name: "blog"}), 201, nil)
	live := e.deploy(tok, "web", apogee.TargetProduction, file{"index.html", "v1"})
	events, err := e.bus.Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	e.wantErr(e.call("PATCH", "/api/v1/projects/web", tok, map[string]string{"name": "blog"}), 409, apogee.ECONFLICT)
	e.wantErr(e.call("PATCH", "/api/v1/projects/web", tok, map[string]string{"name": "Not Valid"}), 400, apogee.EINVALID)
	e.wantErr(e.call("PATCH", "/api/v1/projects/web", tok, map[string]string{"name": "web"}), 400, apogee.EINVALID)
	e.wantErr(e.call("PATCH", "/api/v1/projects/web", other, map[string]string{"name": "mine"}), 404, apogee.ENOTFOUND)
	if len(events) != 0 {
		t.Fatalf("refused renames published %d events", len(events))
	}

	var v apogee.ProjectView
	e.must(e.call("PATCH", "/api/v1/projects/web", tok, map[string]string{"name": "site"}), 200, &v)
	if v.Name != "site" || v.ProductionID != live.ID || v.PushURL == "" {
		t.Fatalf("renamed project = %+v", v)
	}
	if ev := <-events; ev.Type != apogee.EventAliasChanged || ev.Project != "site" || ev.ProjectID != v.ID {
		t.Errorf("rename told the edges %+v, want an alias change of site", ev)
	}
	e.wantErr(e.call("GET", "/api/v1/projects/web", tok, nil), 404, apogee.ENOTFOUND)
	var d apogee.DeploymentView
	e.must(e.call("GET", "/api/v1/deployments/"+live.ID, tok, nil), 200, &d)
	if d.Project != "site" || !d.Production {
		t.Errorf("the deployment after rename: project %q, production %v", d.Project, d.Production)
	}
	// The old name is free for a new project.
	e.must(e.call("POST", "/api/v1/projects", tok, apogee.CreateProjectRequest{Name: "web"}), 201, nil)
}
