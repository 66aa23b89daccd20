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

// TestCheck: a change no event told the edge of is served after the next
// Check, which reloads only the project it changed; when the store no
// longer keeps the changes since the edge's version, Check reloads all.
func TestCheck(t *testing.T) {
	f := newSiteFixture(t)
	ctx := t.Context()
	deploy(f.store, f.blobs, "site", "d2", map[string]string{"index.html": "v2"})
	f.store.setRoute("site", "d2") // the alias.changed event was lost
	loads := f.store.loads.Load()
	if err := f.edge.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if _, body := f.do(t, "GET", "site.localhost", "/", nil); body != "v2" {
		t.Fatalf("after a check the edge serves %q, want v2", body)
	}
	if n := f.store.loads.Load(); n != loads {
		t.Errorf("a check of one project's change reloaded everything (%d loads, want %d)", n, loads)
	}
	if err := f.edge.Check(ctx); err != nil || f.store.loads.Load() != loads {
		t.Errorf("a check with nothing new: %v, %d loads", err, f.store.loads.Load())
	}

	// Two more changes, of which the store keeps only the newest: a gap.
	f.store.mu.Lock()
	f.store.keep = 1
	f.store.mu.Unlock()
	deploy(f.store, f.blobs, "other", "o1", map[string]string{"index.html": "other"})
	f.store.setRoute("other", "o1")
	if err := f.edge.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if n := f.store.loads.Load(); n != loads+1 {
		t.Errorf("a check past the changes the store keeps made %d loads, want 1", n-loads)
	}
	if _, body := f.do(t, "GET", "other.localhost", "/", nil); body != "other" {
		t.Fatalf("after the full reload the edge serves %q", body)
	}
}
