package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

func testServeSettings(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	web := project(t, s, alice, "web")
	d := deployment(t, s, web, apogee.TargetProduction, base)

	got, err := s.DeploymentServe(ctx, d.ID)
	must(t, err)
	equal(t, "serve settings by default", got, apogee.ServeSettings{})

	no := false
	want := apogee.ServeSettings{SPA: true, CleanURLs: true, TrailingSlash: &no, HSTS: true, NoSniff: true}
	must(t, s.SetDeploymentServe(ctx, d.ID, want))
	got, err = s.DeploymentServe(ctx, d.ID)
	must(t, err)
	equal(t, "serve settings", got, want)

	// Once ready, a deployment's settings never change.
	_, err = s.FinalizeDeployment(ctx, d.ID, base.Add(time.Second), true)
	must(t, err)
	wantCode(t, s.SetDeploymentServe(ctx, d.ID, apogee.ServeSettings{}), apogee.ECONFLICT)
	got, err = s.DeploymentServe(ctx, d.ID)
	must(t, err)
	equal(t, "serve settings after finalize", got, want)

	wantNotFound(t, s.SetDeploymentServe(ctx, "nosuch", want), "nosuch")
	_, err = s.DeploymentServe(ctx, "nosuch")
	wantNotFound(t, err, "nosuch")
}

func testRuleWarnings(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	web := project(t, s, alice, "web")
	d := deployment(t, s, web, apogee.TargetProduction, base)

	got, err := s.DeploymentByID(ctx, d.ID)
	must(t, err)
	equal(t, "warnings by default", len(got.Warnings), 0)

	want := []apogee.RuleWarning{
		{File: "_redirects", Line: 3, Rule: "/a /b 999", Message: "status 999 is not a redirect status"},
		{File: "netlify.toml", Message: "Role conditions need Netlify Identity: skipped"},
	}
	must(t, s.SetDeploymentWarnings(ctx, d.ID, want))
	got, err = s.DeploymentByID(ctx, d.ID)
	must(t, err)
	equal(t, "warnings", got.Warnings, want)

	// Every read of a deployment carries them, ready and listed too.
	final, err := s.FinalizeDeployment(ctx, d.ID, base.Add(time.Second), true)
	must(t, err)
	equal(t, "warnings of the finalized deployment", final.Warnings, want)
	list, err := s.ListDeployments(ctx, web.ID, 0)
	must(t, err)
	equal(t, "listed warnings", list[0].Warnings, want)
	wantCode(t, s.SetDeploymentWarnings(ctx, d.ID, nil), apogee.ECONFLICT)
	wantNotFound(t, s.SetDeploymentWarnings(ctx, "nosuch", want), "nosuch")

	// nil clears them.
	other := deployment(t, s, web, apogee.TargetPreview, base.Add(time.Minute))
	must(t, s.SetDeploymentWarnings(ctx, other.ID, want))
	must(t, s.SetDeploymentWarnings(ctx, other.ID, nil))
	got, err = s.DeploymentByID(ctx, other.ID)
	must(t, err)
	equal(t, "cleared warnings", len(got.Warnings), 0)
}

func testFailDeployment(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	web := project(t, s, alice, "web")
	live := ready(t, s, web, apogee.TargetProduction, base, true)
	d := deployment(t, s, web, apogee.TargetProduction, base.Add(time.Minute))

	failed, err := s.FailDeployment(ctx, d.ID, "vercel.json: redirects[0]: source is empty")
	must(t, err)
	equal(t, "failed", string(failed.Status)+": "+failed.Error, "error: vercel.json: redirects[0]: source is empty")
	got, err := s.DeploymentByID(ctx, d.ID)
	must(t, err)
	equal(t, "stored failure", string(got.Status)+": "+got.Error, string(failed.Status)+": "+failed.Error)
	equal(t, "production after a failed deployment", productionID(t, s, web.ID), live.ID)

	// It is final: it can neither fail again nor be finalized.
	_, err = s.FailDeployment(ctx, d.ID, "again")
	wantCode(t, err, apogee.ECONFLICT)
	_, err = s.FinalizeDeployment(ctx, d.ID, base.Add(2*time.Minute), true)
	wantCode(t, err, apogee.ECONFLICT)
	_, err = s.FailDeployment(ctx, live.ID, "x")
	wantCode(t, err, apogee.ECONFLICT)
	_, err = s.FailDeployment(ctx, "nosuch", "x")
	wantNotFound(t, err, "nosuch")

	// A failed deployment serves nothing.
	routes, err := s.Routes(ctx)
	must(t, err)
	for _, r := range routes {
		if r.DeploymentID == d.ID {
			t.Errorf("failed deployment is routed: %+v", r)
		}
	}
}

func sortVariants(vs []apogee.BlobVariant) {
	slices.SortFunc(vs, func(a, b apogee.BlobVariant) int {
		if c := strings.Compare(a.SHA256, b.SHA256); c != 0 {
			return c
		}
		return strings.Compare(a.Encoding, b.Encoding)
	})
}

func testVariants(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	web := project(t, s, alice, "web")

	a, b, c := hash("a"), hash("b"), hash("c")
	vs := []apogee.BlobVariant{
		{SHA256: a, Encoding: apogee.EncodingBrotli, VariantSHA256: hash("a.br"), Size: 10},
		{SHA256: a, Encoding: apogee.EncodingGzip, VariantSHA256: hash("a.gz"), Size: 12},
		{SHA256: b, Encoding: apogee.EncodingBrotli, VariantSHA256: "", Size: 0}, // did not pay off
		{SHA256: c, Encoding: apogee.EncodingGzip, VariantSHA256: hash("c.gz"), Size: 5},
	}
	must(t, s.PutVariants(ctx, vs))
	must(t, s.PutVariants(ctx, nil))
	// Recording again replaces.
	vs[1].Size = 11
	must(t, s.PutVariants(ctx, vs[1:2]))

	got, err := s.Variants(ctx, []string{a, b, hash("none")})
	must(t, err)
	sortVariants(got)
	want := slices.Clone(vs[:3])
	sortVariants(want)
	equal(t, "variants", got, want)

	// A deployment sees the variants of its own files, negatives left out.
	id := apogee.NewID()
	d := &apogee.Deployment{ID: id, ProjectID: web.ID, Target: apogee.TargetPreview, Host: apogee.DeploymentHost(web.Name, id), CreatedAt: base}
	must(t, s.CreateDeployment(ctx, d, []apogee.File{
		{Path: "a.js", SHA256: a, Size: 100}, {Path: "copy/a.js", SHA256: a, Size: 100}, {Path: "b.css", SHA256: b, Size: 100},
	}))
	got, err = s.DeploymentVariants(ctx, d.ID)
	must(t, err)
	sortVariants(got)
	equal(t, "deployment variants", got, []apogee.BlobVariant{vs[0], vs[1]})

	// Variant blobs are in use while their original is.
	got2, err := s.HashesInUse(ctx, []string{hash("a.br"), hash("a.gz"), hash("c.gz"), a, c})
	must(t, err)
	slices.Sort(got2)
	wantHashes := []string{hash("a.br"), hash("a.gz"), a}
	slices.Sort(wantHashes)
	equal(t, "hashes in use with variants", got2, wantHashes)

	many := make([]string, 0, 1200)
	for i := range 1200 {
		many = append(many, hash(strings.Repeat("x", i)))
	}
	got, err = s.Variants(ctx, append(many, c))
	must(t, err)
	equal(t, "variants over many batches", got, vs[3:])
}
