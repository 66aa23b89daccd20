package edge

import (
	"testing"

	"github.com/apogee-dev/apogee"
)

// TestCustomDomains: a route whose Host has a dot is a full host; a
// domain.changed event moves it or, without a deployment, reloads.
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

	// The alias moves: the project host and the domain follow.
	deploy(f.store, f.blobs, "site", "d2", map[string]string{"index.html": "v2"})
	f.edge.Apply(apogee.Event{Type: apogee.EventAliasChanged, Project: "site", DeploymentID: "d2"})
	f.edge.Apply(apogee.Event{Type: apogee.EventDomainChanged, Project: "site", Host: "www.example.com", DeploymentID: "d2"})
	if resp, body := f.do(t, "GET", "www.example.com", "/", nil); body != "v2" || resp.Header.Get("X-Apogee-Deployment") != "d2" {
		t.Fatalf("domain after promote = %q", body)
	}

	// A newly verified domain.
	f.edge.Apply(apogee.Event{Type: apogee.EventDomainChanged, Project: "site", Host: "example.com", DeploymentID: "d2"})
	if _, body := f.do(t, "GET", "example.com", "/", nil); body != "v2" {
		t.Fatalf("new domain = %q", body)
	}

	// Removed: the event has no deployment and the edge reloads.
	f.store.deleteRoute("www.example.com")
	f.edge.Apply(apogee.Event{Type: apogee.EventDomainChanged, Project: "site", Host: "www.example.com"})
	if resp, _ := f.do(t, "GET", "www.example.com", "/", nil); resp.StatusCode != 404 {
		t.Fatalf("removed domain answers %d", resp.StatusCode)
	}
	if _, body := f.do(t, "GET", "site.localhost", "/", nil); body != "<h1>home</h1>" {
		t.Fatalf("production after reload = %q", body) // the store says d1
	}

	// A label is not a domain: the event cannot take over a project host.
	f.edge.Apply(apogee.Event{Type: apogee.EventDomainChanged, Host: "site", DeploymentID: "d2"})
	if _, body := f.do(t, "GET", "site.localhost", "/", nil); body != "<h1>home</h1>" {
		t.Fatalf("a domain event with a label moved the project host: %q", body)
	}
}
