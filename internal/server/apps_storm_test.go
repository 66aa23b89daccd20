package server

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// releaseApp answers every request with the release it belongs to
// (APOGEE_RELEASE_ID, which the platform sets) in its body and in the
// X-Release header; counter makes each build's tree differ.
func releaseApp(counter int) map[string]string {
	return map[string]string{
		"Procfile": "web: node server.js",
		"server.js": fmt.Sprintf(`// build %d
const id = process.env.APOGEE_RELEASE_ID;
require('http').createServer((q, s) => { s.setHeader('X-Release', id); s.end(id) }).listen(process.env.PORT);
`, counter),
	}
}

// storm sends GET / to host from n goroutines, each over its own
// keep-alive connection, until stopped, and checks every answer: 200,
// and the body, the app's X-Release header and the edge's
// X-Apogee-Deployment header all naming the same release.
type storm struct {
	stop     chan struct{}
	wg       sync.WaitGroup
	total    atomic.Int64
	mu       sync.Mutex
	releases map[string]int
	failures []string
}

func startStorm(addr, host string, n int) *storm {
	s := &storm{stop: make(chan struct{}), releases: map[string]int{}}
	for range n {
		client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		s.wg.Go(func() {
			for {
				select {
				case <-s.stop:
					return
				default:
				}
				s.total.Add(1)
				req, _ := http.NewRequest("GET", addr+"/", nil)
				req.Host = host
				res, err := client.Do(req)
				if err != nil {
					s.fail(err.Error())
					continue
				}
				b, err := io.ReadAll(res.Body)
				res.Body.Close()
				body, app, edge := string(b), res.Header.Get("X-Release"), res.Header.Get("X-Apogee-Deployment")
				switch {
				case err != nil:
					s.fail("reading the body: " + err.Error())
				case res.StatusCode != 200:
					s.fail(fmt.Sprintf("%d %.200q", res.StatusCode, b))
				case body == "" || app != body || edge != body:
					s.fail(fmt.Sprintf("mixed releases: body %q, X-Release %q, X-Apogee-Deployment %q", body, app, edge))
				default:
					s.mu.Lock()
					s.releases[body]++
					s.mu.Unlock()
				}
			}
		})
	}
	return s
}

func (s *storm) fail(what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, what)
}

func (s *storm) end() {
	close(s.stop)
	s.wg.Wait()
}

// TestDeploysAndRollbacksUnderLoad runs 10 deploys (a build of a changed
// tree each) and 10 rollbacks of an app while clients keep requesting it
// through the edge: no request fails, and every answer comes whole from
// one release that was deployed, the edge's X-Apogee-Deployment header
// naming the same release as the app's own answer.
func TestDeploysAndRollbacksUnderLoad(t *testing.T) {
	_, c, addr, _ := appServer(t)
	ctx := t.Context()
	if _, err := c.CreateProject(ctx, "api"); err != nil {
		t.Fatal(err)
	}
	d, log := zipBuild(t, c, "api", releaseApp(0))
	if d.Status != apogee.StatusReady {
		t.Fatalf("the first build: %s (%s)\n%s", d.Status, d.Error, log)
	}
	serves(t, addr, "api.localhost", "/", d.ID)
	deployed := []string{d.ID}

	s := startStorm(addr, "api.localhost", 8)
	var switches []string
	for i := 1; i <= 10; i++ {
		d, log := zipBuild(t, c, "api", releaseApp(i))
		if d.Status != apogee.StatusReady || !d.Production {
			s.end()
			t.Fatalf("deploy %d: %s (%s)\n%s", i, d.Status, d.Error, log)
		}
		deployed = append(deployed, d.ID)
		switches = append(switches, "deploy "+d.ID)
		back, err := c.Rollback(ctx, "api", "")
		if err != nil {
			s.end()
			t.Fatalf("rollback %d: %v", i, err)
		}
		switches = append(switches, "rollback to "+back.ID)
	}
	s.end()

	if len(s.failures) > 0 {
		t.Errorf("%d of %d requests failed during 10 deploys and 10 rollbacks; the first ones:\n%s",
			len(s.failures), s.total.Load(), strings.Join(s.failures[:min(10, len(s.failures))], "\n"))
	}
	for id := range s.releases {
		if !slices.Contains(deployed, id) {
			t.Errorf("%d answers came from %q, no release deployed here", s.releases[id], id)
		}
	}
	if len(s.releases) < 3 {
		t.Errorf("the answers came from %d releases only: %v (switches %v)", len(s.releases), s.releases, switches)
	}
	t.Logf("%d requests, %d failed, from %d releases; switches: %s", s.total.Load(), len(s.failures), len(s.releases), strings.Join(switches, ", "))
}
