package main_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// attack sends wrong sign-ins to POST /api/v1/auth/login from n
// goroutines until stopped, each guess for one of a few accounts (known
// and unknown), and counts the answers by status.
type attack struct {
	stop  chan struct{}
	wg    sync.WaitGroup
	total atomic.Int64
	mu    sync.Mutex
	codes map[int]int
	errs  []string
}

func (w *world) signInAttack(n int, emails ...string) *attack {
	a := &attack{stop: make(chan struct{}), codes: map[int]int{}}
	// Connections kept open, as a real attacker would: new ones for each
	// guess would run this machine out of ports, not the server.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	for g := range n {
		a.wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-a.stop:
					return
				default:
				}
				body := fmt.Sprintf(`{"email":%q,"password":"guess-%d-%d"}`, emails[(g+i)%len(emails)], g, i)
				res, err := client.Post(w.server()+"/api/v1/auth/login", "application/json", strings.NewReader(body))
				a.total.Add(1)
				a.mu.Lock()
				if err != nil {
					a.errs = append(a.errs, err.Error())
				} else {
					res.Body.Close()
					a.codes[res.StatusCode]++
				}
				a.mu.Unlock()
			}
		})
	}
	return a
}

func (a *attack) done() map[int]int {
	close(a.stop)
	a.wg.Wait()
	return a.codes
}

// TestSitesUnderSignInAttack is the security suite's "load during change"
// under a sign-in attack (issue 10, item 3): 64 parallel wrong sign-ins
// for the whole run, while sites are served under load and production
// moves by deploys and rollbacks. No site request may fail, the attack
// must be held back (429), and the owner's token keeps working.
func TestSitesUnderSignInAttack(t *testing.T) {
	w := newWorld(t)
	w.cli(true, "admin", "create-user", "--data", w.data, "--email", "me@example.com", "--password", "correct horse", "--admin")
	w.start()
	w.cli(true, "login", "--server", w.server(), "--email", "me@example.com", "--password", "correct horse")
	w.cli(true, "projects", "create", "hello")
	site := t.TempDir()
	writeSite(t, site, 20, "<h1>v0</h1>")
	w.cli(true, "deploy", site, "--project", "hello", "--prod")
	w.eventually("hello.localhost", "/", "<h1>v0</h1>")

	// Guesses for the owner and for 199 other names: past the per-pair
	// limits, the per-address limit (100) has to hold too.
	emails := []string{"me@example.com"}
	for i := range 199 {
		emails = append(emails, fmt.Sprintf("user%d@example.com", i))
	}
	atk := w.signInAttack(64, emails...)
	load := w.hammer("hello.localhost")
	bodies := []string{"<h1>v0</h1>"}
	const rounds = 5
	for i := 1; i <= rounds; i++ {
		body := fmt.Sprintf("<h1>v%d</h1>", i)
		bodies = append(bodies, body)
		writeSite(t, site, 0, body)
		w.cli(true, "deploy", site, "--project", "hello", "--prod")
		w.eventually("hello.localhost", "/", body)
	}
	for i := rounds - 1; i >= rounds-3; i-- {
		w.cli(true, "rollback", "--project", "hello")
		w.eventually("hello.localhost", "/", bodies[i])
	}
	load.done(t, "sites during deploys and rollbacks under a sign-in attack", bodies...)
	codes := atk.done()
	t.Logf("sign-in attack: %d requests, answers %v, %d transport errors", atk.total.Load(), codes, len(atk.errs))
	if codes[http.StatusTooManyRequests] == 0 {
		t.Errorf("the attack was never held back (no 429): %v", codes)
	}
	for code, n := range codes {
		if code != http.StatusUnauthorized && code != http.StatusTooManyRequests {
			t.Errorf("%d wrong sign-ins answered %d, want only 401 and 429", n, code)
		}
	}
	if len(atk.errs) > 0 {
		t.Errorf("%d sign-in requests failed at the transport: %s", len(atk.errs), atk.errs[0])
	}
}
