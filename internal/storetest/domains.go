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

	// A project claims a name once.
	wantCode(t, s.CreateDomain(ctx, &apogee.Domain{Name: "www.example.com", ProjectID: web.ID, Token: "t", CreatedAt: base}), apogee.ECONFLICT)
	// An unverified claim blocks no other project: bob claims it too,
	// with a token of his own.
	bobs := &apogee.Domain{Name: "www.example.com", ProjectID: blog.ID, Token: "bob-token", CreatedAt: base.Add(time.Second)}
	must(t, s.CreateDomain(ctx, bobs))
	claims, err := s.DomainClaims(ctx, "www.example.com")
	must(t, err)
	equal(t, "claims, oldest first", claims, []*apogee.Domain{www, bobs})
	got, err = s.DomainByName(ctx, "www.example.com")
	must(t, err)
	equal(t, "DomainByName of two unverified claims", got, www)
	claims, err = s.DomainClaims(ctx, "nosuch.example.com")
	must(t, err)
	equal(t, "claims of an unclaimed name", len(claims), 0)
	wantNotFound(t, s.CreateDomain(ctx, &apogee.Domain{Name: "x.example.com", ProjectID: "nosuchproject", Token: "t", CreatedAt: base}), "nosuchproject")
	_, err = s.DomainByName(ctx, "nosuch.example.com")
	wantNotFound(t, err, "nosuch.example.com")

	// The first to verify wins: bob, here. Web's claim stays, unverified,
	// and cannot be verified; nobody can claim the name any more.
	at := base.Add(time.Hour)
	bv, err := s.VerifyDomain(ctx, blog.ID, "www.example.com", at)
	must(t, err)
	if !bv.Verified() || bv.ProjectID != blog.ID {
		t.Fatalf("bob's verify: %+v", bv)
	}
	_, err = s.VerifyDomain(ctx, web.ID, "www.example.com", at)
	wantCode(t, err, apogee.ECONFLICT)
	got, err = s.DomainByName(ctx, "www.example.com")
	must(t, err)
	equal(t, "DomainByName after bob verified", got.ProjectID, blog.ID)
	claims, err = s.DomainClaims(ctx, "www.example.com")
	must(t, err)
	if len(claims) != 2 || claims[0].ProjectID != blog.ID || claims[1].Verified() {
		t.Fatalf("claims after bob verified: %+v", claims)
	}
	carol := project(t, s, user(t, s, "carol@example.com"), "carol")
	err = s.CreateDomain(ctx, &apogee.Domain{Name: "www.example.com", ProjectID: carol.ID, Token: "t", CreatedAt: base})
	wantCode(t, err, apogee.ECONFLICT)
	if msg := apogee.ErrorMessage(err); strings.Contains(msg, "blog") || strings.Contains(msg, blog.ID) {
		t.Errorf("conflict message %q reveals the project", msg)
	}
	// Bob removes his; web verifies its own claim.
	must(t, s.DeleteDomain(ctx, blog.ID, "www.example.com"))
	v, err := s.VerifyDomain(ctx, web.ID, "www.example.com", at)
	must(t, err)
	if v.VerifiedAt == nil || !v.VerifiedAt.Equal(at) || !v.Verified() {
		t.Fatalf("VerifyDomain: verified_at = %v; want %v", v.VerifiedAt, at)
	}
	v, err = s.VerifyDomain(ctx, web.ID, "www.example.com", at.Add(time.Hour)) // keeps the first time
	must(t, err)
	equal(t, "verified_at after verifying twice", *v.VerifiedAt, at)
	got, err = s.DomainByName(ctx, "www.example.com")
	must(t, err)
	equal(t, "stored after verify", got, v)
	_, err = s.VerifyDomain(ctx, web.ID, "nosuch.example.com", at)
	wantNotFound(t, err, "nosuch.example.com")
	_, err = s.VerifyDomain(ctx, blog.ID, "example.com", at) // web's claim, not blog's
	wantNotFound(t, err, "example.com")

	wantNotFound(t, s.DeleteDomain(ctx, blog.ID, "example.com"), "example.com")
	must(t, s.DeleteDomain(ctx, web.ID, "example.com"))
	wantNotFound(t, s.DeleteDomain(ctx, web.ID, "example.com"), "example.com")
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
	// Another project's unverified claim of the name changes nothing.
	other := project(t, s, user(t, s, "eve@example.com"), "eve")
	domain(t, s, other, "www.example.com")
	_, err := s.VerifyDomain(ctx, web.ID, "www.example.com", base)
	must(t, err)
	_, err = s.VerifyDomain(ctx, other.ID, "www.example.com", base)
	wantCode(t, err, apogee.ECONFLICT)

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
	must(t, s.DeleteDomain(ctx, web.ID, "www.example.com"))
	if _, ok := routeOf("www.example.com"); ok {
		t.Fatal("a deleted domain is routed")
	}
}

// testConcurrentCreateDomain races claims of one name and then their
// verifications: every project gets its claim once, and exactly one
// verification wins.
func testConcurrentCreateDomain(t *testing.T, s apogee.Store) {
	alice := user(t, s, "alice@example.com")
	projects := []*apogee.Project{project(t, s, alice, "one"), project(t, s, alice, "two"), project(t, s, alice, "three")}
	const n = 9
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.CreateDomain(t.Context(), &apogee.Domain{
				Name: "race.example.com", ProjectID: projects[i%3].ID, Token: "t", CreatedAt: base,
			})
		})
	}
	wg.Wait()
	count := func(errs []error) int {
		won := 0
		for _, err := range errs {
			switch apogee.ErrorCode(err) {
			case "":
				won++
			case apogee.ECONFLICT:
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}
		return won
	}
	equal(t, "claims made", count(errs), 3)

	verrs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, verrs[i] = s.VerifyDomain(t.Context(), projects[i%3].ID, "race.example.com", base)
		})
	}
	wg.Wait()
	// A project verifying its verified claim again succeeds: count the
	// projects whose verification held.
	claims, err := s.DomainClaims(t.Context(), "race.example.com")
	must(t, err)
	verified := 0
	for _, c := range claims {
		if c.Verified() {
			verified++
		}
	}
	equal(t, "verified claims", verified, 1)
	if count(verrs) < 1 {
		t.Error("no verification succeeded")
	}
}
