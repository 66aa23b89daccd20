package builder_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/builder"
	"github.com/apogee-dev/apogee/internal/sandbox"
)

// TestFrameworkCache: a Vite project's node_modules/.vite (the cache
// the preset names) is kept after a build and is in place before the
// next build's step runs; --no-cache builds without it; the cache counts
// against the owner's storage; a cache over the bound is not kept.
func TestFrameworkCache(t *testing.T) {
	r := newRigWith(t, sandbox.Limits{}, nil, nil, func(c *builder.Config) { c.FrameworkCacheBytes = 64 << 10 })
	// A Vite project whose build script stands in for vite: it says
	// whether its cache is there, as Next.js does ("No build cache
	// found"), then writes it.
	files := func(cacheKB int) map[string]string {
		return map[string]string{
			"package.json": `{"name":"v","private":true,"devDependencies":{"vite":"*"},"scripts":{"build":` +
				`"if [ -f node_modules/.vite/deps.json ]; then echo \"cache found: $(cat node_modules/.vite/deps.json)\"; else echo No build cache found; fi; ` +
				`mkdir -p node_modules/.vite dist && echo built-before > node_modules/.vite/deps.json && ` +
				`head -c ` + itoaKB(cacheKB) + ` /dev/zero > node_modules/.vite/blob && echo ok > dist/index.html"}}`,
		}
	}
	const noCache = "[stdout] No build cache found\n"         // the script's line, not npm's echo of it
	settings := apogee.BuildSettings{InstallCommand: ptr("")} // no registry: node_modules is the build's own
	r.project.Settings.Build = settings
	if err := r.store.UpdateProject(context.Background(), r.project); err != nil {
		t.Fatal(err)
	}
	h := r.zipOf(files(4))
	first, log1 := r.wait(r.build(h, apogee.TargetPreview, false).ID, 2*time.Minute)
	if first.Status != apogee.StatusReady || !strings.Contains(log1, noCache) ||
		!strings.Contains(log1, "Kept the framework cache (node_modules/.vite") {
		t.Fatalf("first build %s (%s):\n%s", first.Status, first.Error, log1)
	}
	use, err := r.store.Usage(context.Background(), r.project.OwnerID, apogee.MonthStart(time.Now()), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if use.Storage.Caches < 4<<10 {
		t.Errorf("the framework cache does not count against storage: %+v", use.Storage)
	}

	second, log2 := r.wait(r.build(h, apogee.TargetPreview, false).ID, 2*time.Minute)
	if second.Status != apogee.StatusReady || strings.Contains(log2, noCache) ||
		!strings.Contains(log2, "cache found: built-before") || !strings.Contains(log2, "Restored the framework cache (node_modules/.vite)") {
		t.Fatalf("second build did not find the cache (%s):\n%s", second.Status, log2)
	}

	third, log3 := r.wait(r.build(h, apogee.TargetPreview, true).ID, 2*time.Minute)
	if third.Status != apogee.StatusReady || !strings.Contains(log3, noCache) {
		t.Fatalf("--no-cache build found a cache (%s):\n%s", third.Status, log3)
	}

	// Over the bound (64 KiB here): not kept, and the next build has none.
	big := r.zipOf(files(100))
	fourth, log4 := r.wait(r.build(big, apogee.TargetPreview, false).ID, 2*time.Minute)
	if fourth.Status != apogee.StatusReady || !strings.Contains(log4, "Framework cache not kept") {
		t.Fatalf("an oversized cache (%s):\n%s", fourth.Status, log4)
	}
	fifth, log5 := r.wait(r.build(h, apogee.TargetPreview, false).ID, 2*time.Minute)
	if fifth.Status != apogee.StatusReady || !strings.Contains(log5, noCache) {
		t.Fatalf("after an oversized cache (%s):\n%s", fifth.Status, log5)
	}
}

func itoaKB(kb int) string { return strconv.Itoa(kb * 1024) }
