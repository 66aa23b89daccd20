package edge

import (
	"testing"

	"github.com/apogee-dev/apogee"
)

// TestApplyResync: after a bus says events were missed, the edge serves
// what the store says, though no event told it of the move.
func TestApplyResync(t *testing.T) {
	f := newSiteFixture(t)
	deploy(f.store, f.blobs, "site", "d2", map[string]string{"index.html": "v2"})
	f.store.setRoute("site", "d2") // the alias.changed event was missed
	if _, body := f.do(t, "GET", "site.localhost", "/", nil); body != "<h1>home</h1>" {
		t.Fatalf("before the resync the edge serves %q, want the old deployment", body)
	}
	f.edge.Apply(apogee.Event{Type: apogee.EventResync})
	if _, body := f.do(t, "GET", "site.localhost", "/", nil); body != "v2" {
		t.Fatalf("after the resync the edge serves %q, want v2", body)
	}
}
