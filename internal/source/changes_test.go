package source

import (
	"context"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/apogee-dev/apogee/internal/testio"
)

// TestFetchChanges: FetchChanges lists what differs between the commit
// before a push and the one checked out, fetching the base at depth 1
// from a real repository, and says so instead of failing when the base
// cannot be had.
func TestFetchChanges(t *testing.T) {
	_, r, v0 := sharedRepos(t)
	g := &Git{AllowFile: true}
	tests := []struct {
		name, url, ref, base string
		want                 []string // sorted; nil: not known
	}{
		{"first to main", "file://" + r.dir, "main", r.first, []string{".gitattributes", ".gitmodules", "index.html"}},
		{"second to main", "file://" + r.dir, "main", r.second, []string{".gitattributes", ".gitmodules", "index.html"}},
		{"feature to main (not an ancestor)", "file://" + r.dir, "main", r.feature, []string{".gitattributes", ".gitmodules", "feature.txt", "index.html"}},
		{"second to feature", "file://" + r.dir, "feature", r.second, []string{"feature.txt"}},
		{"same commit", "file://" + r.dir, r.main, r.main, []string{}},
		{"base unknown to the server", "file://" + r.dir, "main", strings.Repeat("ab", 20), nil},
		{"v0 server, base no tip", "file://" + v0.dir, "main", v0.first, []string{".gitattributes", ".gitmodules", "index.html"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var progress testio.Buffer
			co, err := g.FetchChanges(context.Background(), tc.url, tc.ref, tc.base, "", filepath.Join(t.TempDir(), "src"), &progress)
			if err != nil {
				t.Fatalf("FetchChanges: %v\n%s", err, progress.String())
			}
			if tc.want == nil {
				if co.ChangedKnown || co.Changed != nil {
					t.Errorf("Changed = %q (known %v), want unknown", co.Changed, co.ChangedKnown)
				}
				if !strings.Contains(progress.String(), "Cannot fetch the commit before the push") {
					t.Errorf("progress does not say the base could not be fetched:\n%s", progress.String())
				}
				return
			}
			slices.Sort(co.Changed)
			if !co.ChangedKnown || !reflect.DeepEqual(co.Changed, tc.want) {
				t.Errorf("Changed = %q (known %v), want %q\n%s", co.Changed, co.ChangedKnown, tc.want, progress.String())
			}
		})
	}
	if _, err := g.FetchChanges(context.Background(), "file://"+r.dir, "main", "HEAD~1", "", t.TempDir(), nil); err == nil {
		t.Error("a base that is no full SHA was taken")
	}
}
