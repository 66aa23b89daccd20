package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// TestDeploymentPageActions: a deployment's page has Visit, Rollback (an
// older production deployment) or Promote (a preview), each coming back
// to the page, and lists the deployed files.
func TestDeploymentPageActions(t *testing.T) {
	e := newEnv(t, SignupClosed)
	p, older, prod := e.project(e.alice, "web")
	alice, bob := e.signedIn(e.alice), e.signedIn(e.bob)
	ctx := context.Background()

	// A preview with files.
	id := apogee.NewID()
	files := []apogee.File{
		{Path: "index.html", SHA256: strings.Repeat("a", 64), Size: 2048},
		{Path: "assets/app 1.js", SHA256: strings.Repeat("b", 64), Size: 10},
	}
	if err := e.store.CreateDeployment(ctx, &apogee.Deployment{ID: id, ProjectID: p.ID, Status: apogee.StatusUploading,
		Target: apogee.TargetPreview, Host: apogee.DeploymentHost("web", id), CreatedAt: time.Now().UTC(), Source: apogee.SourceUpload}, files); err != nil {
		t.Fatal(err)
	}
	preview, err := e.store.FinalizeDeployment(ctx, id, time.Now().UTC(), false)
	if err != nil {
		t.Fatal(err)
	}
	host := "http://" + preview.Host + ".localhost/"
	page := alice.get("/deployments/" + preview.ID)
	want(t, "preview page", page, 200, `href="`+host+`" target="_blank" rel="noopener">Visit</a>`, ">Promote</button>",
		`<a href="`+host+`assets/app%201.js"`, ">assets/app 1.js</a>", "2.0 KiB", "text/html", "text/javascript", "aaaaaaaaaaaa", "2 files")
	if strings.Contains(page.body, ">Rollback</button>") {
		t.Error("a preview offers Rollback")
	}
	want(t, "production page", alice.get("/deployments/"+prod.ID), 200, ">Visit</a>")
	if page := alice.get("/deployments/" + prod.ID); strings.Contains(page.body, ">Promote</button>") || strings.Contains(page.body, ">Rollback</button>") {
		t.Error("production offers to promote or roll back to itself")
	}

	// Rollback to the older one, from its page, comes back to it.
	want(t, "older page", alice.get("/deployments/"+older.ID), 200, ">Rollback</button>")
	res := alice.post("/projects/web/rollback", url.Values{"deployment_id": {older.ID}, "return_to": {"/deployments/" + older.ID}})
	if res.code != http.StatusSeeOther || res.location != "/deployments/"+older.ID {
		t.Fatalf("rollback = %d %q", res.code, res.location)
	}
	if e.production("web") != older.ID {
		t.Fatal("rollback did not move production to the deployment")
	}
	want(t, "after rollback", alice.get(res.location), 200, "Rolled back", `<span class="tag prod">Production</span>`)

	res = alice.post("/projects/web/promote", url.Values{"deployment_id": {preview.ID}, "return_to": {"/deployments/" + preview.ID}})
	if res.code != http.StatusSeeOther || res.location != "/deployments/"+preview.ID || e.production("web") != preview.ID {
		t.Fatalf("promote = %d %q, production %s", res.code, res.location, e.production("web"))
	}
	// return_to goes nowhere but a deployment page of this site.
	for _, to := range []string{"https://evil.example/", "//evil.example/deployments/x", "/deployments/../admin", "/account"} {
		res := alice.post("/projects/web/promote", url.Values{"deployment_id": {prod.ID}, "return_to": {to}})
		if res.location != "/projects/web" {
			t.Errorf("return_to %q sent the browser to %q", to, res.location)
		}
	}
	want(t, "bob", bob.get("/deployments/"+preview.ID), 404)
}

// TestBranchURLs: the Deployments tab lists each branch's stable URL and
// a deployment's page says whether its branch's URL serves it.
func TestBranchURLs(t *testing.T) {
	e := newEnv(t, SignupClosed)
	p, _, _ := e.project(e.alice, "web")
	ctx := context.Background()
	var ids []string
	for i := range 2 {
		id := apogee.NewID()
		at := time.Now().UTC().Add(time.Duration(i) * time.Second)
		if err := e.store.CreateDeployment(ctx, &apogee.Deployment{ID: id, ProjectID: p.ID, Status: apogee.StatusUploading,
			Target: apogee.TargetPreview, Host: apogee.DeploymentHost("web", id), CreatedAt: at, Source: apogee.SourceUpload, Branch: "feature/x"}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.FinalizeDeployment(ctx, id, at, false); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := e.store.SetBranchAlias(ctx, apogee.BranchAlias{ProjectID: p.ID, Branch: "feature/x", Host: apogee.BranchHost("web", "feature/x", false), DeploymentID: ids[1]}); err != nil {
		t.Fatal(err)
	}
	alice := e.signedIn(e.alice)
	want(t, "project", alice.get("/projects/web"), 200, "Branch URLs", `href="http://web-git-feature-x.localhost/"`, `<a class="mono" href="/deployments/`+ids[1]+`">`)
	want(t, "newest", alice.get("/deployments/"+ids[1]), 200, "Branch URL", "serves this deployment")
	want(t, "older", alice.get("/deployments/"+ids[0]), 200, "Branch URL", `serves <a class="mono" href="/deployments/`+ids[1]+`">`)
}
