package gitserve_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/apogee-dev/apogee/internal/auth"
)

// TestPushWithPassword: git over HTTP takes the account's email and
// password too, under the same sign-in limits as the API and the
// dashboard: past them the right password gets 429 with Retry-After.
func TestPushWithPassword(t *testing.T) {
	e := newEnv(t, 0)
	ada, _ := e.user("ada@example.com", false)
	hash, err := auth.HashPassword("ada's password")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetPassword(context.Background(), ada.ID, hash); err != nil {
		t.Fatal(err)
	}
	e.project("web", ada, nil)
	wt := workTree(t)
	remote := func(password string) string {
		u, _ := url.Parse(e.url + "/git/web.git")
		u.User = url.UserPassword("ada@example.com", password)
		return u.String()
	}
	mustGit(t, wt, "push", remote("ada's password"), "main")
	if n := len(e.builds("web")); n != 1 {
		t.Fatalf("a push with email and password queued %d builds, want 1", n)
	}

	refs := func(password string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", e.url+"/git/web.git/info/refs?service=git-receive-pack", nil)
		req.SetBasicAuth("ada@example.com", password)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	for i := range auth.DefaultPerPair {
		if res := refs(fmt.Sprint("guess ", i)); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d, want 401", i, res.StatusCode)
		}
	}
	res := refs("ada's password")
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("right password past the limit: %d (Retry-After %q), want 429 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}
	out, err := git(t, wt, "push", remote("ada's password"), "main")
	if err == nil || !strings.Contains(out, "429") && !strings.Contains(strings.ToLower(out), "too many") {
		t.Fatalf("git push past the limit: %v\n%s", err, out)
	}
}
