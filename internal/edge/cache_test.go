package edge

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestCacheEvictionStress serves many small files from a cache that holds
// a few of them, from several goroutines at once, so that inserts evict
// entries other requests have just been handed. Every response must be
// whole and right. (It caught a nil dereference when a request used an
// entry after the single-flight load that made it, by which time another
// insert could have evicted it.)
func TestCacheEvictionStress(t *testing.T) {
	f := newFixture(t, Config{CacheBytes: 64 << 10}) // holds about 16 of the files
	files := map[string]string{}
	for i := range 200 {
		files[fmt.Sprintf("f%03d.txt", i)] = strings.Repeat(string(rune('a'+i%26)), 4000+i)
	}
	deploy(f.store, f.blobs, "site", "d1", files)
	f.store.setRoute("site", "d1")
	f.load(t)

	const workers, rounds = 8, 2
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				for i := range 200 {
					// Each worker walks the files from another place, so
					// that loads of one blob overlap and evict each other.
					p := fmt.Sprintf("f%03d.txt", (i+w*25+r*7)%200)
					rec := httptest.NewRecorder()
					f.edge.ServeHTTP(rec, httptest.NewRequest("GET", "http://site.localhost/"+p, nil))
					if rec.Code != http.StatusOK || rec.Body.String() != files[p] {
						t.Errorf("GET /%s = %d, %d bytes; want 200 with %d", p, rec.Code, rec.Body.Len(), len(files[p]))
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if n := f.edge.cache.bytesCached(); n > 64<<10 {
		t.Errorf("cache holds %d bytes; bound is %d", n, 64<<10)
	}
}
