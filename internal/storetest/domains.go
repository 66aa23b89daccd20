package storetest

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

func domain(t *testing.T, s apogee.Store, p *apogee.Project, name string) *apogee.Domain {
	t.Helper()
	d := &apogee.Domain{Name: name, ProjectID: p.ID, Token: apogee.NewVerificationToken(), CreatedAt: base}
	must(t, s.CreateDomain(t.Context(), d))
	return d
}

func testDomains(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	bob := user(t, s, "bob@example.com")
	web := project(t, s, alice, "web")
	blog := project(t, s, bob, "blog")

	www := domain(t, s, web, "www.example.com")
	apex := domain(t, s, web, "example.com")
	got, err := s.DomainByName(ctx, "www.example.com")
	must(t, err)
	equal(t, "DomainByName", got, www)
	if got.Verified() || got.Token == "" {
		t.Errorf("new domain: verified %v, token %q", got.Verified(), got.Token)
	}

	// A store fills in a missing token and creation time.
	gen := &apogee.Domain{Name: "gen.example.org", ProjectID: blog.ID}
	must(t, s.CreateDomain(ctx, gen))
	if !strings.HasPrefix(gen.Token, "apogee-") || gen.CreatedAt.IsZero() {
		t.Errorf("CreateDomain did not fill in token and time: %+v", gen)
	}

	list, err := s.ListDomains(ctx, web.ID)
	must(t, err)
	equal(t, "ListDomains(web)", list, []*apogee.Domain{apex, www})
	list, err = s.ListDomains(ctx, "nosuchproject")
	must(t, err)
	equal(t, "ListDomains(unknown)", len(list), 0)

	// One name, one project, whoever asks; the message does not say who
	// has it.
	for _, p := range []*apogee.Project{blog, web} {
		err = s.CreateDomain(ctx, &apogee.Domain{Name: "www.example.com", ProjectID: p.ID, Token: "t", CreatedAt: base})
		wantCode(t, err, apogee.ECONFLICT)
		if msg := apogee.ErrorMessage(err); strings.Contains(msg, "web") || strings.Contains(msg, web.ID) {
			t.Errorf("conflict message %q reveals the project", msg)
		}
	}
	wantNotFound(t, s.CreateDomain(ctx, &apogee.Domain{Name: "x.example.com", ProjectID: "nosuchproject", Token: "t", CreatedAt: base}), "nosuchproject")
	_, err = s.DomainByName(ctx, "nosuch.example.com")
	wantNotFound(t, err, "nosuch.example.com")

	at := base.Add(time.Hour)
	v, err := s.VerifyDomain(ctx, "www.example.com", at)
	must(t, err)
	if v.VerifiedAt == nil || !v.VerifiedAt.Equal(at) || !v.Verified() {
		t.Fatalf("VerifyDomain: verified_at = %v; want %v", v.VerifiedAt, at)
	}
	v, err = s.VerifyDomain(ctx, "www.example.com", at.Add(time.Hour)) // keeps the first time
	must(t, err)
	equal(t, "verified_at after verifying twice", *v.VerifiedAt, at)
	got, err = s.DomainByName(ctx, "www.example.com")
	must(t, err)
	equal(t, "stored after verify", got, v)
	_, err = s.VerifyDomain(ctx, "nosuch.example.com", at)
	wantNotFound(t, err, "nosuch.example.com")

	must(t, s.DeleteDomain(ctx, "example.com"))
	wantNotFound(t, s.DeleteDomain(ctx, "example.com"), "example.com")
	_, err = s.DomainByName(ctx, "example.com")
	wantNotFound(t, err, "example.com")
	// The name is free again, for any project.
	domain(t, s, blog, "example.com")

	// Deleting a project deletes its domains and frees their names.
	must(t, s.DeleteProject(ctx, web.ID))
	_, err = s.DomainByName(ctx, "www.example.com")
	wantNotFound(t, err, "www.example.com")
	domain(t, s, blog, "www.example.com")
}

// testDomainRoutes checks that a custom domain is routed only once it is
// verified and its project has a production deployment, and that it
// follows the production alias.
func testDomainRoutes(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	web := project(t, s, alice, "web")
	domain(t, s, web, "www.example.com")
	domain(t, s, web, "unverified.example.com")
	_, err := s.VerifyDomain(ctx, "www.example.com", base)
	must(t, err)

	routeOf := func(host string) (string, bool) {
		t.Helper()
		rs, err := s.Routes(ctx)
		must(t, err)
		for _, r := range rs {
			if r.Host == host {
				return r.DeploymentID, true
			}
		}
		return "", false
	}
	if id, ok := routeOf("www.example.com"); ok {
		t.Fatalf("verified domain of a project without production routes to %q", id)
	}
	a := ready(t, s, web, apogee.TargetProduction, base, true)
	if id, _ := routeOf("www.example.com"); id != a.ID {
		t.Fatalf("domain routes to %q; want production %q", id, a.ID)
	}
	if _, ok := routeOf("unverified.example.com"); ok {
		t.Fatal("an unverified domain is routed")
	}
	b := ready(t, s, web, apogee.TargetProduction, base.Add(time.Minute), true)
	if id, _ := routeOf("www.example.com"); id != b.ID {
		t.Fatalf("after promote the domain routes to %q; want %q", id, b.ID)
	}
	_, err = rollback(ctx, s, web.ID)
	must(t, err)
	if id, _ := routeOf("www.example.com"); id != a.ID {
		t.Fatalf("after rollback the domain routes to %q; want %q", id, a.ID)
	}
	must(t, s.DeleteDomain(ctx, "www.example.com"))
	if _, ok := routeOf("www.example.com"); ok {
		t.Fatal("a deleted domain is routed")
	}
}

// testConcurrentCreateDomain races two projects for one name: exactly one
// wins.
func testConcurrentCreateDomain(t *testing.T, s apogee.Store) {
	alice := user(t, s, "alice@example.com")
	projects := []*apogee.Project{project(t, s, alice, "one"), project(t, s, alice, "two")}
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.CreateDomain(t.Context(), &apogee.Domain{
				Name: "race.example.com", ProjectID: projects[i%2].ID, Token: "t", CreatedAt: base,
			})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch apogee.ErrorCode(err) {
		case "":
			won++
		case apogee.ECONFLICT:
		default:
			t.Errorf("CreateDomain: %v", err)
		}
	}
	equal(t, "winners", won, 1)
}
