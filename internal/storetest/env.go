package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// testEnv covers setting, replacing, listing and deleting a project's
// environment variables. The store keeps values as given (callers seal
// them), so plain strings stand in for sealed ones here.
func testEnv(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	web := project(t, s, alice, "web")
	blog := project(t, s, alice, "blog")

	list := func(p *apogee.Project) []*apogee.EnvVar {
		t.Helper()
		vs, err := s.ListEnv(ctx, p.ID)
		must(t, err)
		return vs
	}
	equal(t, "ListEnv of a new project", len(list(web)), 0)

	token := &apogee.EnvVar{Key: "TOKEN", Value: "v1:sealed-token", Secret: true, UpdatedAt: base}
	must(t, s.SetEnv(ctx, web.ID, token))
	// A zero time is filled in.
	node := &apogee.EnvVar{Key: "NODE_ENV", Value: "v1:sealed-production"}
	must(t, s.SetEnv(ctx, web.ID, node))
	if node.UpdatedAt.IsZero() {
		t.Fatal("SetEnv did not fill in UpdatedAt")
	}
	lower := &apogee.EnvVar{Key: "a_lower", Value: "", UpdatedAt: base} // empty values are values
	must(t, s.SetEnv(ctx, web.ID, lower))
	must(t, s.SetEnv(ctx, blog.ID, &apogee.EnvVar{Key: "TOKEN", Value: "v1:blog", UpdatedAt: base}))

	// By key in byte order: upper case before lower case.
	equal(t, "ListEnv(web)", list(web), []*apogee.EnvVar{node, token, lower})
	equal(t, "ListEnv(blog)", len(list(blog)), 1)

	// Replacing changes value, flag and time, and adds no row.
	later := base.Add(time.Hour)
	token2 := &apogee.EnvVar{Key: "TOKEN", Value: "v1:rotated", Secret: false, UpdatedAt: later}
	must(t, s.SetEnv(ctx, web.ID, token2))
	equal(t, "ListEnv after replace", list(web), []*apogee.EnvVar{node, token2, lower})
	equal(t, "other project's variable", list(blog)[0].Value, "v1:blog")

	// Keys are case-sensitive, as in a process environment.
	must(t, s.SetEnv(ctx, web.ID, &apogee.EnvVar{Key: "token", Value: "x", UpdatedAt: base}))
	equal(t, "variables after a lower-case twin", len(list(web)), 4)

	must(t, s.DeleteEnv(ctx, web.ID, "TOKEN"))
	wantNotFound(t, s.DeleteEnv(ctx, web.ID, "TOKEN"), "TOKEN")
	wantNotFound(t, s.DeleteEnv(ctx, blog.ID, "NODE_ENV"), "NODE_ENV")
	equal(t, "blog keeps its TOKEN", len(list(blog)), 1)

	wantNotFound(t, s.SetEnv(ctx, "nosuchproject", &apogee.EnvVar{Key: "K", Value: "v", UpdatedAt: base}), "nosuchproject")
	vs, err := s.ListEnv(ctx, "nosuchproject")
	must(t, err)
	equal(t, "ListEnv(unknown)", len(vs), 0)

	// Deleting a project deletes its variables.
	must(t, s.DeleteProject(ctx, web.ID))
	vs, err = s.ListEnv(ctx, web.ID)
	must(t, err)
	equal(t, "ListEnv of a deleted project", len(vs), 0)
}

// testEnvLimit fills a project to apogee.MaxEnvVars: a new key is then
// refused, replacing one is not, and racing adds of new keys at the limit
// let exactly one in.
func testEnvLimit(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	web := project(t, s, alice, "web")
	for i := range apogee.MaxEnvVars - 1 {
		must(t, s.SetEnv(ctx, web.ID, &apogee.EnvVar{Key: fmt.Sprintf("K%03d", i), Value: "v", UpdatedAt: base}))
	}
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.SetEnv(ctx, web.ID, &apogee.EnvVar{Key: fmt.Sprintf("RACE%d", i), Value: "v", UpdatedAt: base})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch apogee.ErrorCode(err) {
		case "":
			won++
		case apogee.ETOOLARGE:
		default:
			t.Errorf("SetEnv: %v", err)
		}
	}
	equal(t, "racing adds that got in", won, 1)
	vs, err := s.ListEnv(ctx, web.ID)
	must(t, err)
	equal(t, "variables at the limit", len(vs), apogee.MaxEnvVars)

	wantCode(t, s.SetEnv(ctx, web.ID, &apogee.EnvVar{Key: "ONE_MORE", Value: "v", UpdatedAt: base}), apogee.ETOOLARGE)
	must(t, s.SetEnv(ctx, web.ID, &apogee.EnvVar{Key: "K000", Value: "replaced", UpdatedAt: base}))
	must(t, s.DeleteEnv(ctx, web.ID, "K001"))
	must(t, s.SetEnv(ctx, web.ID, &apogee.EnvVar{Key: "ONE_MORE", Value: "v", UpdatedAt: base}))
}
