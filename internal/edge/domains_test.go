package edge

import (
	"testing"

	"github.com/apogee-dev/apogee"
)

// TestCustomDomains: a route whose Host has a dot is a full host; a
// domain.changed event reloads its project's routes from the store.
func TestCustomDomains(t *testing.T) {
	f := newSiteFixture(t)
	f.store.setRoute("www.example.com", "d1")
	f.load(t)
	for _, h := range []string{"www.example.com", "WWW.Example.com:443", "www.example.com."} {
		if _, body := f.do(t, "GET", h, "/", nil); body != "<h1>home</h1>" {
			t.Fatalf("GET %s = %q", h, body)
		}
	}
	if resp, _ := f.do(t, "GET", "www.example.com.localhost", "/", nil); resp.StatusCode != 404 {
		t.Errorf("a custom domain is also served under the platform domain: %d", resp.StatusCode)
	}

	// The alias moves: the project host and the domain follow, on one
	// event, since the edge reads the whole project from the store.
	deploy(f.store, f.blobs, "site", "d2", map[string]string{"index.html": "v2"})
	f.store.setRoute("site", "d2")
	f.store.setRoute("www.example.com", "d2")
	f.edge.Apply(apogee.Event{Type: apogee.EventAliasChanged, ProjectID: "site", Project: "site", DeploymentID: "d2"})
	if resp, body := f.do(t, "GET", "www.example.com", "/", nil); body != "v2" || resp.Header.Get("X-Apogee-Deployment") != "d2" {
		t.Fatalf("domain after promote = %q", body)
	}

	// A newly verified domain.
	f.store.setRoute("example.com", "d2")
	f.edge.Apply(apogee.Event{Type: apogee.EventDomainChanged, ProjectID: "site", Project: "site", Host: "example.com", DeploymentID: "d2"})
	if _, body := f.do(t, "GET", "example.com", "/", nil); body != "v2" {
		t.Fatalf("new domain = %q", body)
	}

	// Removed.
	f.store.deleteRoute("www.example.com")
	f.edge.Apply(apogee.Event{Type: apogee.EventDomainChanged, ProjectID: "site", Project: "site", Host: "www.example.com"})
	if resp, _ := f.do(t, "GET", "www.example.com", "/", nil); resp.StatusCode != 404 {
		t.Fatalf("removed domain answers %d", resp.StatusCode)
	}
	if _, body := f.do(t, "GET", "site.localhost", "/", nil); body != "v2" {
		t.Fatalf("production after the domain's removal = %q", body)
	}
}

// TestForgedEvents: events name what changed, never what to serve. An
// event that names another project's deployment, a host, or a domain the
// store does not route costs one reload of the project it names and
// routes nothing the store does not say.
func TestForgedEvents(t *testing.T) {
	f := newSiteFixture(t)
	deploy(f.store, f.blobs, "evil", "e1", map[string]string{"index.html": "evil"})
	f.store.setRoute("evil", "e1")
	f.load(t)
	for _, e := range []apogee.Event{
		{Type: apogee.EventAliasChanged, ProjectID: "site", Project: "site", DeploymentID: "e1"},
		{Type: apogee.EventDeploymentReady, ProjectID: "site", Host: "site", DeploymentID: "e1"},
		{Type: apogee.EventDomainChanged, ProjectID: "site", Project: "site", Host: "www.example.com", DeploymentID: "e1"},
		{Type: apogee.EventDomainChanged, ProjectID: "evil", Project: "evil", Host: "www.example.com", DeploymentID: "e1"},
		{Type: apogee.EventAliasChanged, Project: "site", DeploymentID: "e1"}, // no project id
	} {
		f.edge.Apply(e)
	}
	if resp, body := f.do(t, "GET", "site.localhost", "/", nil); body != "<h1>home</h1>" || resp.Header.Get("X-Apogee-Deployment") != "d1" {
		t.Errorf("site after forged events serves %q from %q; want its own d1", body, resp.Header.Get("X-Apogee-Deployment"))
	}
	if resp, _ := f.do(t, "GET", "www.example.com", "/", nil); resp.StatusCode != 404 {
		t.Errorf("a domain only a forged event named answers %d; want 404", resp.StatusCode)
	}
	if _, body := f.do(t, "GET", "evil.localhost", "/", nil); body != "evil" {
		t.Errorf("the other project after forged events serves %q", body)
	}
}
