package edge

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// appRecorder is an Apps that answers with what it was asked.
type appRecorder struct {
	mu    sync.Mutex
	calls []string
}

func (a *appRecorder) ServeApp(w http.ResponseWriter, r *http.Request, projectID, deploymentID string, own bool) {
	a.mu.Lock()
	a.calls = append(a.calls, fmt.Sprintf("%s %s %s own=%v", r.Method, projectID, deploymentID, own))
	a.mu.Unlock()
	fmt.Fprintf(w, "app %s %s own=%v", projectID, deploymentID, own)
}

// TestAppHosts: every host of an app's release (production, its own
// host, a custom domain) goes to Apps with any method, saying which kind
// of host it is; a static site beside it is served from its files; with
// no Apps, an app's host is 503.
func TestAppHosts(t *testing.T) {
	apps := &appRecorder{}
	f := newFixture(t, Config{Apps: apps})
	deploy(f.store, f.blobs, "api", "r1", map[string]string{"server.js": "secret source"})
	deploy(f.store, f.blobs, "web", "s1", map[string]string{"index.html": "static"})
	f.store.apps["r1"] = true
	f.store.setRoute("api", "r1")
	f.store.setRoute("www.example.com", "r1")
	f.store.setRoute("web", "s1")
	f.load(t)

	for _, tt := range []struct{ method, host, path, want string }{
		{"GET", "api.localhost", "/", " r1 own=false"},
		{"POST", "api.localhost", "/items", " r1 own=false"},
		{"GET", "api--r1.localhost", "/server.js", " r1 own=true"},
		{"DELETE", "www.example.com", "/x", " r1 own=false"}, // the fake store's domains are project "site", its site's project either
		{"GET", "web.localhost", "/", "static"},
	} {
		resp, body := f.do(t, tt.method, tt.host, tt.path, nil)
		if resp.StatusCode != 200 || !strings.HasSuffix(body, tt.want) {
			t.Errorf("%s %s%s = %d %q, want %q", tt.method, tt.host, tt.path, resp.StatusCode, body, tt.want)
		}
		if got := resp.Header.Get("X-Apogee-Deployment"); got == "" {
			t.Errorf("%s %s: no X-Apogee-Deployment", tt.method, tt.host)
		}
	}
	if len(apps.calls) != 4 {
		t.Errorf("apps asked %d times: %v", len(apps.calls), apps.calls)
	}

	bare := newFixture(t, Config{})
	deploy(bare.store, bare.blobs, "api", "r1", map[string]string{"server.js": "secret source"})
	bare.store.apps["r1"] = true
	bare.load(t)
	if resp, body := bare.do(t, "GET", "api--r1.localhost", "/server.js", nil); resp.StatusCode != 503 || body == "secret source" {
		t.Errorf("an app's host with no Apps: %d %q", resp.StatusCode, body)
	}
}
