// Package storetest is the suite every apogee.Store must pass. A backend's
// test calls Run with a function that opens a fresh, empty store:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) apogee.Store { return openTemp(t) })
//	}
//
// Subtests run in parallel, each on its own store, so open must give every
// call its own database (a file, a schema) and close it in t.Cleanup.
package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// Run runs the suite against stores made by open.
func Run(t *testing.T, open func(t *testing.T) apogee.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s apogee.Store)
	}{
		{"Users", testUsers},
		{"Tokens", testTokens},
		{"Projects", testProjects},
		{"CreateDeployment", testCreateDeployment},
		{"ListDeployments", testListDeployments},
		{"Finalize", testFinalize},
		{"SetProduction", testSetProduction},
		{"Rollback", testRollback},
		{"ExpireUploads", testExpireUploads},
		{"HashesInUse", testHashesInUse},
		{"ServeSettings", testServeSettings},
		{"RuleWarnings", testRuleWarnings},
		{"FailDeployment", testFailDeployment},
		{"Variants", testVariants},
		{"BuildQueue", testBuildQueue},
		{"SkippedBuilds", testSkippedBuilds}, // monorepo.go
		{"AppProjects", testAppProjects},     // githubapp.go
		{"SourceFolder", testSourceFolder},   // sources.go
		{"ConcurrentClaims", testConcurrentClaims},
		{"ProjectSettings", testProjectSettings},
		{"Logs", testLogs},
		{"RuntimeLogs", testRuntimeLogs},
		{"RuntimeLogsLargePrune", testRuntimeLogsLargePrune},
		{"ConcurrentRuntimeLogs", testConcurrentRuntimeLogs},
		{"Routes", testRoutes},
		{"RouteChanges", testRouteChanges},
		{"BranchAliases", testBranchAliases}, // branches.go
		{"DeleteProject", testDeleteProject},
		{"ConcurrentCreateProject", testConcurrentCreateProject},
		{"ConcurrentPromote", testConcurrentPromote},
		{"LargeManifest", testLargeManifest},
		{"CanceledContext", testCanceledContext},
		{"Domains", testDomains},
		{"Zones", testZones},             // zones.go
		{"ZoneRecords", testZoneRecords}, // zones.go
		{"DomainRoutes", testDomainRoutes},
		{"WildcardRoutes", testWildcardRoutes}, // wildcard.go
		{"ConcurrentCreateDomain", testConcurrentCreateDomain},
		{"Env", testEnv},
		{"EnvLimit", testEnvLimit},
		{"Uploads", testUploads},
		{"ConcurrentUseUpload", testConcurrentUseUpload},
		{"BlobHolds", testBlobHolds},
		{"Sessions", testSessions},
		{"Webhooks", testWebhooks},
		{"TeamWebhooks", testTeamWebhooks},   // webhooks.go
		{"GitRepos", testGitRepos},           // gitrepos.go
		{"WebhookOutbox", testWebhookOutbox}, // outbox.go
		{"Plans", testPlans}, {"DisableUser", testDisableUser}, {"Usage", testUsage}, {"ConcurrentBuildLimit", testConcurrentBuildLimit},
		{"Identities", testIdentities},
		{"Admin", testAdmin},
		{"Invites", testInvites},
		{"Releases", testReleases},
		{"PruneReleases", testPruneReleases},
		{"ConcurrentReleases", testConcurrentReleases},
		{"Requests", testRequests},         // requests.go
		{"PullRequests", testPullRequests}, // pullrequests.go
		{"Teams", testTeams},               // teams.go
		{"Audit", testAudit},               // teams.go
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t))
		})
	}
}

// base is the time fixtures start from; every store must keep
// microseconds.
var base = time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)

// wantCode fails t unless err carries code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := apogee.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q); want code %q", err, got, code)
	}
}

// wantNotFound fails t unless err matches apogee.ErrNotFound and its
// message names key.
func wantNotFound(t *testing.T, err error, key string) {
	t.Helper()
	if !errors.Is(err, apogee.ErrNotFound) {
		t.Fatalf("error = %v; want one matching apogee.ErrNotFound", err)
	}
	if msg := apogee.ErrorMessage(err); !strings.Contains(msg, key) {
		t.Errorf("not-found message %q does not name %q", msg, key)
	}
}

func ptr[T any](v T) *T { return &v }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

func user(t *testing.T, s apogee.Store, email string) *apogee.User {
	t.Helper()
	u := &apogee.User{ID: apogee.NewID(), Email: email, Password: "$argon2id$v=19$x", CreatedAt: base}
	must(t, s.CreateUser(t.Context(), u))
	return u
}

func project(t *testing.T, s apogee.Store, owner *apogee.User, name string) *apogee.Project {
	t.Helper()
	p := &apogee.Project{ID: apogee.NewID(), Name: name, OwnerID: owner.ID, CreatedAt: base}
	must(t, s.CreateProject(t.Context(), p))
	return p
}

// hash returns the hex SHA-256 of s.
func hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// manifest returns n files named f0000… with distinct hashes.
func manifest(n int) []apogee.File {
	files := make([]apogee.File, n)
	for i := range files {
		p := fmt.Sprintf("dir%d/f%05d.html", i%7, i)
		files[i] = apogee.File{Path: p, SHA256: hash(p), Size: int64(i), Mode: 0o644}
	}
	return files
}

// deployment creates an uploading deployment of p created at at.
func deployment(t *testing.T, s apogee.Store, p *apogee.Project, target string, at time.Time) *apogee.Deployment {
	t.Helper()
	id := apogee.NewID()
	d := &apogee.Deployment{
		ID: id, ProjectID: p.ID, Target: target,
		Host: apogee.DeploymentHost(p.Name, id), CreatedAt: at,
	}
	must(t, s.CreateDeployment(t.Context(), d, manifest(3)))
	return d
}

// ready creates a deployment of p created at at and finalizes it,
// promoting it if promote.
func ready(t *testing.T, s apogee.Store, p *apogee.Project, target string, at time.Time, promote bool) *apogee.Deployment {
	t.Helper()
	d := deployment(t, s, p, target, at)
	got, err := s.FinalizeDeployment(t.Context(), d.ID, at.Add(time.Second), promote)
	must(t, err)
	return got
}

func productionID(t *testing.T, s apogee.Store, projectID string) string {
	t.Helper()
	p, err := s.ProjectByID(t.Context(), projectID)
	must(t, err)
	return p.ProductionID
}

func testUsers(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "Alice@Example.COM")
	bob := user(t, s, "bob@example.com")
	equal(t, "stored email", alice.Email, "alice@example.com")

	for _, email := range []string{"alice@example.com", "ALICE@example.com", "Alice@Example.COM"} {
		got, err := s.UserByEmail(ctx, email)
		must(t, err)
		equal(t, "UserByEmail("+email+")", got, alice)
	}
	got, err := s.UserByID(ctx, bob.ID)
	must(t, err)
	equal(t, "UserByID", got, bob)

	admin := &apogee.User{ID: apogee.NewID(), Email: "root@example.com", Password: "h", Admin: true, CreatedAt: base}
	must(t, s.CreateUser(ctx, admin))
	got, err = s.UserByID(ctx, admin.ID)
	must(t, err)
	equal(t, "admin flag", got.Admin, true)

	users, err := s.ListUsers(ctx)
	must(t, err)
	if len(users) != 3 {
		t.Fatalf("ListUsers returned %d users; want 3", len(users))
	}

	err = s.CreateUser(ctx, &apogee.User{ID: apogee.NewID(), Email: "ALICE@EXAMPLE.COM", Password: "h", CreatedAt: base})
	wantCode(t, err, apogee.ECONFLICT)

	_, err = s.UserByEmail(ctx, "nobody@example.com")
	wantNotFound(t, err, "nobody@example.com")
	_, err = s.UserByID(ctx, "nosuchuser")
	wantNotFound(t, err, "nosuchuser")
}

func testTokens(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	bob := user(t, s, "bob@example.com")

	expires := base.Add(30 * 24 * time.Hour)
	tok := &apogee.Token{
		ID: apogee.NewID(), UserID: alice.ID, Name: "laptop",
		Hash: []byte("0123456789abcdef0123456789abcdef"), CreatedAt: base, ExpiresAt: &expires,
	}
	must(t, s.CreateToken(ctx, tok))
	plain := &apogee.Token{ID: apogee.NewID(), UserID: alice.ID, Name: "ci", Hash: []byte("another hash"), CreatedAt: base.Add(time.Minute)}
	must(t, s.CreateToken(ctx, plain))

	got, err := s.TokenByHash(ctx, tok.Hash)
	must(t, err)
	equal(t, "TokenByHash", got, tok)
	if !got.Valid(base) || got.Valid(expires) {
		t.Errorf("round-tripped expiry does not decide Valid: %v", got.ExpiresAt)
	}

	list, err := s.ListTokens(ctx, alice.ID)
	must(t, err)
	equal(t, "ListTokens(alice)", list, []*apogee.Token{tok, plain})
	list, err = s.ListTokens(ctx, bob.ID)
	must(t, err)
	equal(t, "ListTokens(bob)", len(list), 0)

	used := base.Add(time.Hour)
	must(t, s.TouchToken(ctx, tok.ID, used))
	must(t, s.TouchToken(ctx, tok.ID, used.Add(-time.Minute))) // may be ignored, must not fail
	got, err = s.TokenByHash(ctx, tok.Hash)
	must(t, err)
	if got.LastUsed == nil || got.LastUsed.Before(used.Add(-time.Minute)) {
		t.Errorf("LastUsed = %v after touching at %v", got.LastUsed, used)
	}

	// Revoking another user's token or a missing one is not found.
	wantNotFound(t, s.RevokeToken(ctx, bob.ID, tok.ID, used), tok.ID)
	wantNotFound(t, s.RevokeToken(ctx, alice.ID, "nosuchtoken", used), "nosuchtoken")

	revoked := base.Add(2 * time.Hour)
	must(t, s.RevokeToken(ctx, alice.ID, tok.ID, revoked))
	got, err = s.TokenByHash(ctx, tok.Hash) // revoked tokens are still found
	must(t, err)
	if got.RevokedAt == nil || !got.RevokedAt.Equal(revoked) {
		t.Errorf("RevokedAt = %v; want %v", got.RevokedAt, revoked)
	}
	if got.Valid(base) {
		t.Error("revoked token is valid")
	}
	got, err = s.TokenByHash(ctx, plain.Hash)
	must(t, err)
	if got.RevokedAt != nil || got.ExpiresAt != nil || got.LastUsed != nil {
		t.Errorf("untouched token has times set: %+v", got)
	}

	dup := &apogee.Token{ID: apogee.NewID(), UserID: bob.ID, Name: "dup", Hash: tok.Hash, CreatedAt: base}
	wantCode(t, s.CreateToken(ctx, dup), apogee.ECONFLICT)

	_, err = s.TokenByHash(ctx, []byte("unknown"))
	if !errors.Is(err, apogee.ErrNotFound) {
		t.Errorf("TokenByHash(unknown) = %v; want ErrNotFound", err)
	}
	orphan := &apogee.Token{ID: apogee.NewID(), UserID: "nosuchuser", Name: "x", Hash: []byte("orphan"), CreatedAt: base}
	wantNotFound(t, s.CreateToken(ctx, orphan), "nosuchuser")
	wantNotFound(t, s.TouchToken(ctx, "nosuchtoken", used), "nosuchtoken")
}

func testProjects(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	bob := user(t, s, "bob@example.com")
	web := project(t, s, alice, "web")
	api := project(t, s, alice, "api")
	blog := project(t, s, bob, "blog")

	got, err := s.ProjectByName(ctx, "web")
	must(t, err)
	equal(t, "ProjectByName", got, web)
	got, err = s.ProjectByID(ctx, api.ID)
	must(t, err)
	equal(t, "ProjectByID", got, api)
	equal(t, "new project's ProductionID", got.ProductionID, "")

	for _, tt := range []struct {
		owner string
		want  []*apogee.Project
	}{
		{alice.ID, []*apogee.Project{api, web}},
		{bob.ID, []*apogee.Project{blog}},
		{"", []*apogee.Project{api, blog, web}},
		{"nosuchuser", nil},
	} {
		list, err := s.ListProjects(ctx, tt.owner)
		must(t, err)
		if len(list) == 0 && len(tt.want) == 0 {
			continue
		}
		equal(t, fmt.Sprintf("ListProjects(%q)", tt.owner), list, tt.want)
	}

	dup := &apogee.Project{ID: apogee.NewID(), Name: "web", OwnerID: bob.ID, CreatedAt: base}
	err = s.CreateProject(ctx, dup)
	wantCode(t, err, apogee.ECONFLICT)
	if !strings.Contains(apogee.ErrorMessage(err), `"web"`) {
		t.Errorf("conflict message %q does not name the project", apogee.ErrorMessage(err))
	}
	orphan := &apogee.Project{ID: apogee.NewID(), Name: "orphan", OwnerID: "nosuchuser", CreatedAt: base}
	wantNotFound(t, s.CreateProject(ctx, orphan), "nosuchuser")

	_, err = s.ProjectByName(ctx, "nosuchproject")
	wantNotFound(t, err, "nosuchproject")
	_, err = s.ProjectByID(ctx, "nosuchid")
	wantNotFound(t, err, "nosuchid")

	// Rename: the new name finds it, the old does not; a taken name or a
	// missing project changes nothing; the routes moved.
	v0, err := s.RouteVersion(ctx)
	must(t, err)
	must(t, s.RenameProject(ctx, api.ID, "api-v2"))
	if got, err := s.ProjectByName(ctx, "api-v2"); err != nil || got.ID != api.ID {
		t.Fatalf("after rename, api-v2 = %+v, %v", got, err)
	}
	_, err = s.ProjectByName(ctx, "api")
	wantNotFound(t, err, "api")
	if v1, _ := s.RouteVersion(ctx); v1 != v0+1 {
		t.Errorf("rename moved the route version from %d to %d, want one step", v0, v1)
	}
	wantCode(t, s.RenameProject(ctx, api.ID, "web"), apogee.ECONFLICT)
	wantNotFound(t, s.RenameProject(ctx, "nosuchid", "free"), "nosuchid")
	must(t, s.RenameProject(ctx, api.ID, "api"))

	must(t, s.DeleteProject(ctx, api.ID))
	_, err = s.ProjectByID(ctx, api.ID)
	wantNotFound(t, err, api.ID)
	wantNotFound(t, s.DeleteProject(ctx, api.ID), api.ID)
	// The name is free again.
	project(t, s, bob, "api")
}

func testCreateDeployment(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	web := project(t, s, alice, "web")

	files := []apogee.File{
		{Path: "index.html", SHA256: hash("index"), Size: 10, Mode: 0o644},
		{Path: "assets/app.js", SHA256: hash("app"), Size: 200, Mode: 0o644},
		{Path: "bin/run", SHA256: hash("run"), Size: 3000, Mode: 0o755},
		{Path: "assets/copy.js", SHA256: hash("app"), Size: 200}, // same blob twice
	}
	d := &apogee.Deployment{
		ID: apogee.NewID(), ProjectID: web.ID, Target: apogee.TargetPreview,
		CreatedBy: alice.ID, CreatedAt: base,
	}
	d.Host = apogee.DeploymentHost(web.Name, d.ID)
	must(t, s.CreateDeployment(ctx, d, files))
	equal(t, "status after create", d.Status, apogee.StatusUploading)

	got, err := s.DeploymentByID(ctx, d.ID)
	must(t, err)
	want := &apogee.Deployment{
		ID: d.ID, ProjectID: web.ID, Status: apogee.StatusUploading, Target: apogee.TargetPreview,
		Host: d.Host, Files: 4, Size: 3410, CreatedBy: alice.ID, CreatedAt: base, Source: apogee.SourceUpload,
	}
	equal(t, "DeploymentByID", got, want)

	gotFiles, err := s.DeploymentFiles(ctx, d.ID)
	must(t, err)
	wantFiles := slices.Clone(files)
	slices.SortFunc(wantFiles, func(a, b apogee.File) int { return strings.Compare(a.Path, b.Path) })
	equal(t, "DeploymentFiles", gotFiles, wantFiles)

	for _, tt := range []struct {
		hash string
		want bool
	}{
		{hash("index"), true},
		{hash("app"), true},
		{hash("run"), true},
		{hash("absent"), false},
	} {
		ok, err := s.HasFile(ctx, d.ID, tt.hash)
		must(t, err)
		if ok != tt.want {
			t.Errorf("HasFile(%s…) = %v; want %v", tt.hash[:8], ok, tt.want)
		}
	}

	_, err = s.DeploymentByID(ctx, "nosuchdeploy")
	wantNotFound(t, err, "nosuchdeploy")
	_, err = s.DeploymentFiles(ctx, "nosuchdeploy")
	wantNotFound(t, err, "nosuchdeploy")
	_, err = s.HasFile(ctx, "nosuchdeploy", hash("index"))
	wantNotFound(t, err, "nosuchdeploy")

	for _, tt := range []struct {
		name string
		d    apogee.Deployment
		code string
	}{
		{"same id", apogee.Deployment{ID: d.ID, ProjectID: web.ID, Target: apogee.TargetPreview, Host: "web--other"}, apogee.ECONFLICT},
		{"same host", apogee.Deployment{ID: apogee.NewID(), ProjectID: web.ID, Target: apogee.TargetPreview, Host: d.Host}, apogee.ECONFLICT},
		{"no project", apogee.Deployment{ID: apogee.NewID(), ProjectID: "nosuchproject", Target: apogee.TargetPreview, Host: "x--y"}, apogee.ENOTFOUND},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.d
			d.CreatedAt = base
			wantCode(t, s.CreateDeployment(ctx, &d, manifest(2)), tt.code)
		})
	}
	// The failed creates left nothing behind.
	list, err := s.ListDeployments(ctx, web.ID, 0)
	must(t, err)
	equal(t, "deployments after failed creates", len(list), 1)
	gotFiles, err = s.DeploymentFiles(ctx, d.ID)
	must(t, err)
	equal(t, "manifest after failed creates", len(gotFiles), len(files))
}

func testListDeployments(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	web := project(t, s, alice, "web")
	other := project(t, s, alice, "other")
	deployment(t, s, other, apogee.TargetProduction, base)

	var all []*apogee.Deployment
	for i := range 5 {
		all = append(all, deployment(t, s, web, apogee.TargetProduction, base.Add(time.Duration(i)*time.Minute)))
	}
	// Two deployments created at the same instant are ordered by id.
	twin := deployment(t, s, web, apogee.TargetPreview, all[4].CreatedAt)
	all = append(all, twin)
	slices.SortStableFunc(all, func(a, b *apogee.Deployment) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})

	for _, limit := range []int{0, -1, 3, 6, 10} {
		got, err := s.ListDeployments(ctx, web.ID, limit)
		must(t, err)
		want := all
		if limit > 0 && limit < len(all) {
			want = all[:limit]
		}
		equal(t, fmt.Sprintf("ListDeployments(limit %d)", limit), got, want)
	}
	got, err := s.ListDeployments(ctx, "nosuchproject", 0)
	must(t, err)
	equal(t, "deployments of unknown project", len(got), 0)
}

func testFinalize(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	web := project(t, s, alice, "web")

	preview := deployment(t, s, web, apogee.TargetPreview, base)
	at := base.Add(time.Minute)
	got, err := s.FinalizeDeployment(ctx, preview.ID, at, false)
	must(t, err)
	want := *preview
	want.Status, want.ReadyAt = apogee.StatusReady, &at
	equal(t, "finalized deployment", got, &want)
	stored, err := s.DeploymentByID(ctx, preview.ID)
	must(t, err)
	equal(t, "stored after finalize", stored, &want)
	equal(t, "production after finalize without promote", productionID(t, s, web.ID), "")

	prod := deployment(t, s, web, apogee.TargetProduction, base.Add(time.Second))
	_, err = s.FinalizeDeployment(ctx, prod.ID, at, true)
	must(t, err)
	equal(t, "production after promote", productionID(t, s, web.ID), prod.ID)

	_, err = s.FinalizeDeployment(ctx, prod.ID, at, true)
	wantCode(t, err, apogee.ECONFLICT)
	_, err = s.FinalizeDeployment(ctx, preview.ID, at, false)
	wantCode(t, err, apogee.ECONFLICT)
	_, err = s.FinalizeDeployment(ctx, "nosuchdeploy", at, true)
	wantNotFound(t, err, "nosuchdeploy")
	equal(t, "production after failed finalizes", productionID(t, s, web.ID), prod.ID)
}

func testSetProduction(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	web := project(t, s, alice, "web")
	other := project(t, s, alice, "other")

	a := ready(t, s, web, apogee.TargetProduction, base, true)
	b := ready(t, s, web, apogee.TargetProduction, base.Add(time.Minute), false)
	preview := ready(t, s, web, apogee.TargetPreview, base.Add(2*time.Minute), false)
	uploading := deployment(t, s, web, apogee.TargetProduction, base.Add(3*time.Minute))
	foreign := ready(t, s, other, apogee.TargetProduction, base, true)
	equal(t, "production", productionID(t, s, web.ID), a.ID)

	must(t, s.SetProduction(ctx, web.ID, b.ID))
	equal(t, "production after SetProduction(b)", productionID(t, s, web.ID), b.ID)
	must(t, s.SetProduction(ctx, web.ID, preview.ID)) // a preview may be promoted
	equal(t, "production after SetProduction(preview)", productionID(t, s, web.ID), preview.ID)
	must(t, s.SetProduction(ctx, web.ID, a.ID))

	wantNotFound(t, s.SetProduction(ctx, web.ID, foreign.ID), foreign.ID)
	wantNotFound(t, s.SetProduction(ctx, web.ID, "nosuchdeploy"), "nosuchdeploy")
	wantNotFound(t, s.SetProduction(ctx, "nosuchproject", a.ID), "nosuchproject")
	wantCode(t, s.SetProduction(ctx, web.ID, uploading.ID), apogee.ECONFLICT)
	equal(t, "production after failed SetProduction", productionID(t, s, web.ID), a.ID)
	equal(t, "other project's production", productionID(t, s, other.ID), foreign.ID)
}

func testRollback(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	web := project(t, s, alice, "web")

	_, err := rollback(ctx, s, web.ID)
	wantCode(t, err, apogee.ECONFLICT) // nothing in production yet
	_, err = rollback(ctx, s, "nosuchproject")
	wantNotFound(t, err, "nosuchproject")

	a := ready(t, s, web, apogee.TargetProduction, base, true)
	ready(t, s, web, apogee.TargetPreview, base.Add(1*time.Minute), false)  // skipped: preview
	deployment(t, s, web, apogee.TargetProduction, base.Add(2*time.Minute)) // skipped: never finalized
	b := ready(t, s, web, apogee.TargetProduction, base.Add(3*time.Minute), true)
	ready(t, s, web, apogee.TargetPreview, base.Add(4*time.Minute), false)
	c := ready(t, s, web, apogee.TargetProduction, base.Add(5*time.Minute), true)
	ready(t, s, web, apogee.TargetProduction, base.Add(6*time.Minute), false) // newer than production: not a rollback target
	equal(t, "production", productionID(t, s, web.ID), c.ID)

	for _, want := range []*apogee.Deployment{b, a} {
		got, err := rollback(ctx, s, web.ID)
		must(t, err)
		equal(t, "rolled back to", got, want)
		equal(t, "production after rollback", productionID(t, s, web.ID), want.ID)
	}
	_, err = rollback(ctx, s, web.ID)
	wantCode(t, err, apogee.ECONFLICT)
	equal(t, "production after failed rollback", productionID(t, s, web.ID), a.ID)

	// Rolling back from a deployment set by hand starts from its place.
	must(t, s.SetProduction(ctx, web.ID, c.ID))
	got, err := rollback(ctx, s, web.ID)
	must(t, err)
	equal(t, "rolled back from c", got.ID, b.ID)
}

func testExpireUploads(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	web := project(t, s, alice, "web")

	old1 := deployment(t, s, web, apogee.TargetProduction, base)
	old2 := deployment(t, s, web, apogee.TargetPreview, base.Add(time.Minute))
	oldReady := ready(t, s, web, apogee.TargetProduction, base, true)
	fresh := deployment(t, s, web, apogee.TargetProduction, base.Add(time.Hour))

	ids, err := s.ExpireUploads(ctx, base.Add(30*time.Minute))
	must(t, err)
	want := []string{old1.ID, old2.ID}
	slices.Sort(want)
	slices.Sort(ids)
	equal(t, "expired ids", ids, want)

	for _, tt := range []struct {
		d      *apogee.Deployment
		status apogee.Status
		files  int
	}{
		{old1, apogee.StatusExpired, 0},
		{old2, apogee.StatusExpired, 0},
		{oldReady, apogee.StatusReady, 3},
		{fresh, apogee.StatusUploading, 3},
	} {
		got, err := s.DeploymentByID(ctx, tt.d.ID)
		must(t, err)
		equal(t, "status of "+tt.d.ID, got.Status, tt.status)
		files, err := s.DeploymentFiles(ctx, tt.d.ID)
		must(t, err)
		equal(t, "manifest length of "+tt.d.ID, len(files), tt.files)
	}

	_, err = s.FinalizeDeployment(ctx, old1.ID, base.Add(time.Hour), true)
	wantCode(t, err, apogee.ECONFLICT)
	ids, err = s.ExpireUploads(ctx, base.Add(30*time.Minute))
	must(t, err)
	equal(t, "second expiry", len(ids), 0)
}

func testProjectSettings(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	out, yes := "build", true
	p := &apogee.Project{
		ID: apogee.NewID(), Name: "app", OwnerID: alice.ID, CreatedAt: base,
		Git:           &apogee.GitSource{URL: "https://git.example.com/acme/app.git", Branch: "main"},
		WebhookSecret: "sealed-secret",
		Settings: apogee.ProjectSettings{
			Build: apogee.BuildSettings{OutputDir: &out},
			Serve: apogee.ServeSettings{SPA: true, TrailingSlash: &yes},
			App:   apogee.AppSettings{Kind: ptr(apogee.KindApp), StartCommand: ptr("node server.js"), HealthPath: ptr("/healthz"), BootTimeout: ptr(30), Instances: ptr(2)},
		},
	}
	must(t, s.CreateProject(ctx, p))
	got, err := s.ProjectByName(ctx, "app")
	must(t, err)
	equal(t, "project with git and settings", got, p)

	plain := project(t, s, alice, "plain")
	equal(t, "a project without git", plain.Git == nil, true)
	got, err = s.ProjectByID(ctx, plain.ID)
	must(t, err)
	equal(t, "plain project settings", got.Settings, apogee.ProjectSettings{})

	// UpdateProject replaces git, secret and settings.
	cmd := "npm run build:prod"
	got.Git = &apogee.GitSource{URL: p.Git.URL, Branch: "release"}
	got.WebhookSecret = "another"
	got.Settings.Build.BuildCommand = &cmd
	must(t, s.UpdateProject(ctx, got))
	again, err := s.ProjectByID(ctx, plain.ID)
	must(t, err)
	equal(t, "updated project", again, got)
	wantCode(t, s.UpdateProject(ctx, &apogee.Project{ID: "nosuch"}), apogee.ENOTFOUND)

	byURL, err := s.ProjectsByGitURL(ctx, p.Git.URL)
	must(t, err)
	equal(t, "projects by git url", len(byURL), 2)
	equal(t, "projects by git url, by name", byURL[0].Name+","+byURL[1].Name, "app,plain")
	byURL, err = s.ProjectsByGitURL(ctx, "")
	must(t, err)
	equal(t, "projects by empty url", len(byURL), 0)

	// A deployment keeps where it came from.
	d := &apogee.Deployment{ID: apogee.NewID(), ProjectID: p.ID, Target: apogee.TargetPreview, CreatedAt: base,
		Source: apogee.SourceGit, Branch: "feature/x", Commit: strings.Repeat("a", 40)}
	must(t, s.CreateDeployment(ctx, d, manifest(1)))
	gd, err := s.DeploymentByID(ctx, d.ID)
	must(t, err)
	equal(t, "deployment source", gd.Source+" "+gd.Branch+" "+gd.Commit, "git feature/x "+strings.Repeat("a", 40))
	z := &apogee.Deployment{ID: apogee.NewID(), ProjectID: p.ID, Target: apogee.TargetPreview, CreatedAt: base,
		Source: apogee.SourceZip, SourceBlob: hash("zip")}
	must(t, s.QueueBuild(ctx, z))
	gz, err := s.DeploymentByID(ctx, z.ID)
	must(t, err)
	equal(t, "zip source blob", gz.SourceBlob, hash("zip"))
}

func queued(t *testing.T, s apogee.Store, p *apogee.Project, target string, at time.Time) *apogee.Deployment {
	t.Helper()
	d := &apogee.Deployment{ID: apogee.NewID(), ProjectID: p.ID, Target: target, CreatedAt: at,
		Source: apogee.SourceGit, Branch: "main", Commit: strings.Repeat("c", 40), NoCache: true}
	must(t, s.QueueBuild(t.Context(), d))
	got, err := s.DeploymentByID(t.Context(), d.ID)
	must(t, err)
	equal(t, "queued build options", got.NoCache, true)
	return d
}

func testBuildQueue(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	unlimited(t, s, alice) // several builds at once
	web := project(t, s, alice, "web")
	live := ready(t, s, web, apogee.TargetProduction, base, true)

	_, err := s.ClaimBuild(ctx, "node/a", base)
	wantCode(t, err, apogee.ENOTFOUND)

	second := queued(t, s, web, apogee.TargetProduction, base.Add(2*time.Minute))
	first := queued(t, s, web, apogee.TargetProduction, base.Add(time.Minute))
	third := queued(t, s, web, apogee.TargetPreview, base.Add(3*time.Minute))
	equal(t, "queued status", first.Status, apogee.StatusQueued)
	got, err := s.DeploymentByID(ctx, first.ID)
	must(t, err)
	equal(t, "queued deployment", string(got.Status)+" "+got.Source+" "+got.Branch, "queued git main")

	c1, err := s.ClaimBuild(ctx, "node/a", base.Add(4*time.Minute))
	must(t, err)
	equal(t, "first claim takes the oldest", c1.ID, first.ID)
	equal(t, "claimed status", c1.Status, apogee.StatusBuilding)
	equal(t, "build start", *c1.BuildStartedAt, base.Add(4*time.Minute))
	must(t, s.BuildHeartbeat(ctx, c1.ID, "node/a", base.Add(5*time.Minute)))
	wantCode(t, s.BuildHeartbeat(ctx, c1.ID, "node/b", base.Add(5*time.Minute)), apogee.ECONFLICT)

	// The commit a build fetched is recorded with its message, author
	// and link, and every read of the deployment carries them.
	commit := apogee.CommitInfo{SHA: strings.Repeat("ab", 20), Message: "Fix the header's colour ✓", Author: "Ada Lovelace",
		URL: "https://github.com/acme/web/commit/" + strings.Repeat("ab", 20)}
	must(t, s.SetBuildCommit(ctx, c1.ID, commit))
	got, err = s.DeploymentByID(ctx, c1.ID)
	must(t, err)
	equal(t, "recorded commit", apogee.CommitInfo{SHA: got.Commit, Message: got.CommitMessage, Author: got.CommitAuthor, URL: got.CommitURL}, commit)
	listed, err := s.ListDeployments(ctx, web.ID, 0)
	must(t, err)
	for _, d := range listed {
		if d.ID == c1.ID {
			equal(t, "listed commit message", d.CommitMessage, commit.Message)
		}
	}
	wantCode(t, s.SetBuildCommit(ctx, "nosuch", commit), apogee.ENOTFOUND)
	wantCode(t, s.SetBuildCommit(ctx, live.ID, commit), apogee.ECONFLICT)

	// What the build detected and ran with is recorded the same way.
	info := apogee.BuildInfo{Framework: "astro", NodeVersion: "22.12.0"}
	must(t, s.SetBuildInfo(ctx, c1.ID, info))
	got, err = s.DeploymentByID(ctx, c1.ID)
	must(t, err)
	equal(t, "recorded build info", apogee.BuildInfo{Framework: got.Framework, NodeVersion: got.NodeVersion}, info)
	listed, err = s.ListDeployments(ctx, web.ID, 0)
	must(t, err)
	for _, d := range listed {
		if d.ID == c1.ID {
			equal(t, "listed framework", d.Framework+" "+d.NodeVersion, "astro 22.12.0")
		}
	}
	wantCode(t, s.SetBuildInfo(ctx, "nosuch", info), apogee.ENOTFOUND)
	wantCode(t, s.SetBuildInfo(ctx, live.ID, info), apogee.ECONFLICT)

	// Finishing stores the output and moves production in one go.
	out := manifest(4)
	done, err := s.FinishBuild(ctx, c1.ID, out, base.Add(6*time.Minute), true)
	must(t, err)
	equal(t, "finished", string(done.Status)+" "+fmt.Sprint(done.Files), "ready 4")
	equal(t, "finished keeps the framework", done.Framework, "astro")
	equal(t, "production after finish", productionID(t, s, web.ID), c1.ID)
	files, err := s.DeploymentFiles(ctx, c1.ID)
	must(t, err)
	equal(t, "build output", len(files), 4)
	_, err = s.FinishBuild(ctx, c1.ID, out, base.Add(6*time.Minute), true)
	wantCode(t, err, apogee.ECONFLICT)
	wantCode(t, s.BuildHeartbeat(ctx, c1.ID, "node/a", base.Add(7*time.Minute)), apogee.ECONFLICT)

	// A queued build can be canceled; an ended one cannot end again.
	ended, err := s.EndBuild(ctx, third.ID, apogee.StatusCanceled, "canceled by alice", base.Add(7*time.Minute))
	must(t, err)
	equal(t, "canceled", string(ended.Status)+": "+ended.Error, "canceled: canceled by alice")
	_, err = s.EndBuild(ctx, third.ID, apogee.StatusError, "x", base)
	wantCode(t, err, apogee.ECONFLICT)
	_, err = s.EndBuild(ctx, third.ID, apogee.StatusReady, "x", base)
	wantCode(t, err, apogee.EINVALID)
	_, err = s.EndBuild(ctx, "nosuch", apogee.StatusError, "x", base)
	wantCode(t, err, apogee.ENOTFOUND)

	// A failed build leaves production where it was.
	c2, err := s.ClaimBuild(ctx, "node/a", base.Add(8*time.Minute))
	must(t, err)
	equal(t, "second claim", c2.ID, second.ID)
	failed, err := s.EndBuild(ctx, c2.ID, apogee.StatusError, "build failed: exit 1", base.Add(9*time.Minute))
	must(t, err)
	equal(t, "failed", failed.Status, apogee.StatusError)
	equal(t, "production after a failed build", productionID(t, s, web.ID), c1.ID)
	_ = live

	// Stale builds: by heartbeat, and by a previous run of this node.
	old := queued(t, s, web, apogee.TargetPreview, base.Add(10*time.Minute))
	mine := queued(t, s, web, apogee.TargetPreview, base.Add(11*time.Minute))
	fresh := queued(t, s, web, apogee.TargetPreview, base.Add(12*time.Minute))
	_, err = s.ClaimBuild(ctx, "other/1", base.Add(13*time.Minute)) // old, heartbeat at 13m
	must(t, err)
	_, err = s.ClaimBuild(ctx, "node/previous", base.Add(30*time.Minute)) // mine
	must(t, err)
	_, err = s.ClaimBuild(ctx, "nodelike/x", base.Add(30*time.Minute)) // fresh: prefix must match a whole name
	must(t, err)
	stale, err := s.FailStaleBuilds(ctx, base.Add(20*time.Minute), "node", "interrupted by restart")
	must(t, err)
	var ids []string
	for _, d := range stale {
		ids = append(ids, d.ID)
		equal(t, "stale reason", d.Error, "interrupted by restart")
	}
	slices.Sort(ids)
	want := []string{old.ID, mine.ID}
	slices.Sort(want)
	equal(t, "stale builds", ids, want)
	got, err = s.DeploymentByID(ctx, fresh.ID)
	must(t, err)
	equal(t, "fresh build untouched", got.Status, apogee.StatusBuilding)
	stale, err = s.FailStaleBuilds(ctx, base.Add(20*time.Minute), "", "x")
	must(t, err)
	equal(t, "nothing more is stale", len(stale), 0)

	// Takeover: a stale build is queued again for another builder, up to
	// a bound of takeovers; then it can only fail.
	_, err = s.EndBuild(ctx, fresh.ID, apogee.StatusCanceled, "out of the way", base.Add(31*time.Minute))
	must(t, err)
	orphan := queued(t, s, web, apogee.TargetPreview, base.Add(32*time.Minute))
	for i, worker := range []string{"gone/1", "gone/2"} {
		_, err = s.ClaimBuild(ctx, worker, base.Add(40*time.Minute+time.Duration(i)*time.Minute))
		must(t, err)
		again, err := s.RequeueStaleBuilds(ctx, base.Add(50*time.Minute), "", 2)
		must(t, err)
		equal(t, fmt.Sprintf("takeover %d", i+1), len(again), 1)
		equal(t, "taken over", again[0].ID, orphan.ID)
		equal(t, "queued again", again[0].Status, apogee.StatusQueued)
	}
	_, err = s.ClaimBuild(ctx, "gone/3", base.Add(42*time.Minute))
	must(t, err)
	again, err := s.RequeueStaleBuilds(ctx, base.Add(50*time.Minute), "", 2)
	must(t, err)
	equal(t, "no third takeover", len(again), 0)
	stale, err = s.FailStaleBuilds(ctx, base.Add(50*time.Minute), "", "gave up")
	must(t, err)
	equal(t, "failed after its takeovers", len(stale), 1)
}

func testConcurrentClaims(t *testing.T, s apogee.Store) {
	alice := user(t, s, "alice@example.com")
	unlimited(t, s, alice) // five builds at once
	web := project(t, s, alice, "web")
	for i := 0; i < 5; i++ {
		queued(t, s, web, apogee.TargetPreview, base.Add(time.Duration(i)*time.Second))
	}
	claimed := map[string]int{}
	for _, d := range claimConcurrently(t, s, 10, base.Add(time.Hour)) {
		claimed[d.ID]++
	}
	equal(t, "distinct builds claimed", len(claimed), 5)
	for id, n := range claimed {
		if n != 1 {
			t.Errorf("build %s claimed %d times", id, n)
		}
	}
}

func testHashesInUse(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	web := project(t, s, alice, "web")
	file := func(name string) apogee.File { return apogee.File{Path: name, SHA256: hash(name), Size: 1} }
	create := func(at time.Time, files ...apogee.File) *apogee.Deployment {
		id := apogee.NewID()
		d := &apogee.Deployment{ID: id, ProjectID: web.ID, Target: apogee.TargetPreview, Host: apogee.DeploymentHost(web.Name, id), CreatedAt: at}
		must(t, s.CreateDeployment(ctx, d, files))
		return d
	}
	d1 := create(base.Add(time.Hour), file("a"), file("b"))
	_, err := s.FinalizeDeployment(ctx, d1.ID, base.Add(time.Hour), false)
	must(t, err)
	create(base.Add(time.Hour), file("b"), file("c"))
	create(base, file("d"))
	_, err = s.ExpireUploads(ctx, base.Add(time.Minute)) // drops d's manifest
	must(t, err)

	// A queued zip build holds its ZIP; an ended one does not.
	zq := &apogee.Deployment{ID: apogee.NewID(), ProjectID: web.ID, Target: apogee.TargetPreview, CreatedAt: base.Add(time.Hour),
		Source: apogee.SourceZip, SourceBlob: hash("zip-queued")}
	must(t, s.QueueBuild(ctx, zq))
	ze := &apogee.Deployment{ID: apogee.NewID(), ProjectID: web.ID, Target: apogee.TargetPreview, CreatedAt: base.Add(time.Hour),
		Source: apogee.SourceZip, SourceBlob: hash("zip-ended")}
	must(t, s.QueueBuild(ctx, ze))
	_, err = s.EndBuild(ctx, ze.ID, apogee.StatusCanceled, "x", base.Add(time.Hour))
	must(t, err)

	query := []string{hash("a"), hash("b"), hash("c"), hash("d"), hash("e"), hash("zip-queued"), hash("zip-ended")}
	for i := 0; i < 1200; i++ { // more than one batch
		query = append(query, hash(fmt.Sprint("none", i)))
	}
	got, err := s.HashesInUse(ctx, query)
	must(t, err)
	slices.Sort(got)
	want := []string{hash("a"), hash("b"), hash("c"), hash("zip-queued")}
	slices.Sort(want)
	equal(t, "hashes in use", got, want)

	must(t, s.DeleteProject(ctx, web.ID))
	got, err = s.HashesInUse(ctx, query)
	must(t, err)
	equal(t, "hashes in use after delete", len(got), 0)
}

func testLogs(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	web := project(t, s, alice, "web")
	d := deployment(t, s, web, apogee.TargetProduction, base)
	other := deployment(t, s, web, apogee.TargetProduction, base)

	var lines []apogee.LogLine
	for i := int64(1); i <= 1200; i++ { // more than one insert
		stream := apogee.StreamStdout
		if i%3 == 0 {
			stream = apogee.StreamStderr
		}
		lines = append(lines, apogee.LogLine{Seq: i, Time: base.Add(time.Duration(i) * time.Millisecond), Stream: stream, Text: fmt.Sprintf("line %d ünïcode\ttab", i)})
	}
	must(t, s.AppendLogs(ctx, d.ID, lines[:700]))
	must(t, s.AppendLogs(ctx, d.ID, lines[600:])) // overlaps: retried lines are skipped
	must(t, s.AppendLogs(ctx, other.ID, lines[:1]))
	must(t, s.AppendLogs(ctx, d.ID, nil))

	got, err := s.Logs(ctx, d.ID, 0, 0)
	must(t, err)
	equal(t, "all lines", got, lines)
	got, err = s.Logs(ctx, d.ID, 1000, 50)
	must(t, err)
	equal(t, "a page after seq 1000", got, lines[1000:1050])
	got, err = s.Logs(ctx, d.ID, 1200, 0)
	must(t, err)
	equal(t, "after the last", len(got), 0)

	err = s.AppendLogs(ctx, "nosuch", lines[:1])
	wantCode(t, err, apogee.ENOTFOUND)

	must(t, s.DeleteProject(ctx, web.ID))
	got, err = s.Logs(ctx, d.ID, 0, 0)
	must(t, err)
	equal(t, "lines after the project is deleted", len(got), 0)
}

func testRoutes(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	web := project(t, s, alice, "web")
	blog := project(t, s, alice, "blog")
	project(t, s, alice, "empty")

	a := ready(t, s, web, apogee.TargetProduction, base, false)
	b := ready(t, s, web, apogee.TargetProduction, base.Add(time.Minute), true)
	p := ready(t, s, blog, apogee.TargetPreview, base, false)
	deployment(t, s, blog, apogee.TargetProduction, base) // uploading: no route

	got, err := s.Routes(ctx)
	must(t, err)
	webRoutes := []apogee.Route{
		{Host: "web", DeploymentID: b.ID, ProjectID: web.ID},
		{Host: a.Host, DeploymentID: a.ID, ProjectID: web.ID},
		{Host: b.Host, DeploymentID: b.ID, ProjectID: web.ID},
	}
	want := append(slices.Clone(webRoutes), apogee.Route{Host: p.Host, DeploymentID: p.ID, ProjectID: blog.ID})
	sortRoutes(got)
	sortRoutes(want)
	equal(t, "Routes", got, want)

	got, err = s.ProjectRoutes(ctx, web.ID)
	must(t, err)
	sortRoutes(got)
	sortRoutes(webRoutes)
	equal(t, "ProjectRoutes(web)", got, webRoutes)
	got, err = s.ProjectRoutes(ctx, "nosuchproject")
	must(t, err)
	equal(t, "ProjectRoutes of no project", len(got), 0)
}

// rollback moves production where a rollback goes, as the platform does.
func rollback(ctx context.Context, s apogee.Store, projectID string) (*apogee.Deployment, error) {
	d, err := s.RollbackTarget(ctx, projectID)
	if err != nil {
		return nil, err
	}
	return d, s.SetProduction(ctx, projectID, d.ID)
}

// testRouteChanges checks that every change of a route moves the route
// version by one, in order and naming the project, and that nothing else
// does.
func testRouteChanges(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	web := project(t, s, alice, "web")
	blog := project(t, s, alice, "blog")

	v0, err := s.RouteVersion(ctx)
	must(t, err)
	var want []apogee.RouteChange
	changed := func(what string, p *apogee.Project) {
		t.Helper()
		want = append(want, apogee.RouteChange{Version: v0 + int64(len(want)) + 1, ProjectID: p.ID})
		got, err := s.RouteChanges(ctx, v0, 100)
		must(t, err)
		equal(t, "route changes after "+what, got, want)
		v, err := s.RouteVersion(ctx)
		must(t, err)
		equal(t, "route version after "+what, v, v0+int64(len(want)))
	}
	unchanged := func(what string) {
		t.Helper()
		v, err := s.RouteVersion(ctx)
		must(t, err)
		equal(t, "route version after "+what, v, v0+int64(len(want)))
	}

	d := deployment(t, s, web, apogee.TargetProduction, base)
	unchanged("an upload starts")
	_, err = s.FinalizeDeployment(ctx, d.ID, base, true)
	must(t, err)
	changed("finalize", web)
	b := &apogee.Deployment{ID: apogee.NewID(), ProjectID: blog.ID, Target: apogee.TargetPreview, Source: apogee.SourceGit, CreatedAt: base}
	b.Host = apogee.DeploymentHost(blog.Name, b.ID)
	must(t, s.QueueBuild(ctx, b))
	_, err = s.ClaimBuild(ctx, "w", base)
	must(t, err)
	unchanged("a build is queued and claimed")
	_, err = s.FinishBuild(ctx, b.ID, manifest(2), base, false)
	must(t, err)
	changed("finish build", blog)
	must(t, s.SetProduction(ctx, blog.ID, b.ID))
	changed("set production", blog)
	domain(t, s, web, "www.example.com")
	unchanged("a domain is added")
	_, err = s.VerifyDomain(ctx, web.ID, "www.example.com", base)
	must(t, err)
	changed("verify domain", web)
	must(t, s.DeleteDomain(ctx, web.ID, "www.example.com"))
	changed("delete domain", web)
	wantCode(t, s.SetProduction(ctx, web.ID, "nosuchdeploy"), apogee.ENOTFOUND)
	unchanged("a refused set production")
	must(t, s.DeleteProject(ctx, blog.ID))
	changed("delete project", blog)

	got, err := s.RouteChanges(ctx, v0+2, 2)
	must(t, err)
	equal(t, "two changes after the second", got, want[2:4])
}

func sortRoutes(r []apogee.Route) {
	slices.SortFunc(r, func(a, b apogee.Route) int { return strings.Compare(a.Host, b.Host) })
}

func testDeleteProject(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	web := project(t, s, alice, "web")
	keep := project(t, s, alice, "keep")

	a := ready(t, s, web, apogee.TargetProduction, base, true)
	b := deployment(t, s, web, apogee.TargetPreview, base)
	k := ready(t, s, keep, apogee.TargetProduction, base, true)

	must(t, s.DeleteProject(ctx, web.ID))
	for _, id := range []string{a.ID, b.ID} {
		_, err := s.DeploymentByID(ctx, id)
		wantNotFound(t, err, id)
		_, err = s.DeploymentFiles(ctx, id)
		wantNotFound(t, err, id)
	}
	list, err := s.ListDeployments(ctx, web.ID, 0)
	must(t, err)
	equal(t, "deployments of deleted project", len(list), 0)

	routes, err := s.Routes(ctx)
	must(t, err)
	sortRoutes(routes)
	equal(t, "routes after delete", routes, []apogee.Route{{Host: "keep", DeploymentID: k.ID, ProjectID: k.ProjectID}, {Host: k.Host, DeploymentID: k.ID, ProjectID: k.ProjectID}})
	files, err := s.DeploymentFiles(ctx, k.ID)
	must(t, err)
	equal(t, "other project's manifest", len(files), 3)
}

func testConcurrentCreateProject(t *testing.T, s apogee.Store) {
	alice := user(t, s, "alice@example.com")
	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p := &apogee.Project{ID: apogee.NewID(), Name: "race", OwnerID: alice.ID, CreatedAt: base}
			errs[i] = s.CreateProject(t.Context(), p)
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch apogee.ErrorCode(err) {
		case "":
			ok++
		case apogee.ECONFLICT:
		default:
			t.Errorf("concurrent CreateProject: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent creates of one name succeeded; want 1", ok, n)
	}
}

// testConcurrentPromote finalizes, promotes and rolls back one project
// from many goroutines; the alias must end on a ready deployment of the
// project and every finalize must happen exactly once.
func testConcurrentPromote(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	web := project(t, s, alice, "web")
	first := ready(t, s, web, apogee.TargetProduction, base, true)

	const n = 20
	ds := make([]*apogee.Deployment, n)
	for i := range ds {
		ds[i] = deployment(t, s, web, apogee.TargetProduction, base.Add(time.Duration(i+1)*time.Second))
	}
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		finalized int
	)
	for i, d := range ds {
		wg.Go(func() {
			// Each deployment is finalized twice at once: one must win.
			for range 2 {
				_, err := s.FinalizeDeployment(ctx, d.ID, base.Add(time.Hour), i%2 == 0)
				switch apogee.ErrorCode(err) {
				case "":
					mu.Lock()
					finalized++
					mu.Unlock()
				case apogee.ECONFLICT:
				default:
					t.Errorf("finalize: %v", err)
				}
			}
		})
		wg.Go(func() {
			err := s.SetProduction(ctx, web.ID, ds[(i+1)%n].ID)
			if code := apogee.ErrorCode(err); code != "" && code != apogee.ECONFLICT {
				t.Errorf("set production: %v", err)
			}
			if _, err := rollback(ctx, s, web.ID); err != nil && apogee.ErrorCode(err) != apogee.ECONFLICT {
				t.Errorf("rollback: %v", err)
			}
		})
	}
	wg.Wait()
	equal(t, "finalizes that succeeded", finalized, n)

	prod := productionID(t, s, web.ID)
	d, err := s.DeploymentByID(ctx, prod)
	must(t, err)
	if d.ProjectID != web.ID || d.Status != apogee.StatusReady {
		t.Errorf("production is %+v; want a ready deployment of the project", d)
	}
	routes, err := s.Routes(ctx)
	must(t, err)
	if len(routes) != n+2 { // the alias, first and the n deployments
		t.Errorf("Routes has %d routes; want %d", len(routes), n+2)
	}
	for _, r := range routes {
		if r.Host == web.Name && r.DeploymentID != prod {
			t.Errorf("route of %q is %s; project says %s", web.Name, r.DeploymentID, prod)
		}
	}
	// The chain is still whole: rolling back repeatedly ends at first.
	for range n + 1 {
		if _, err := rollback(ctx, s, web.ID); err != nil {
			wantCode(t, err, apogee.ECONFLICT)
			break
		}
	}
	equal(t, "production after rolling back all the way", productionID(t, s, web.ID), first.ID)
}

func testLargeManifest(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	web := project(t, s, alice, "web")

	files := manifest(10_000)
	d := &apogee.Deployment{ID: apogee.NewID(), ProjectID: web.ID, Target: apogee.TargetProduction, CreatedAt: base}
	d.Host = apogee.DeploymentHost(web.Name, d.ID)
	must(t, s.CreateDeployment(ctx, d, files))
	equal(t, "Files", d.Files, len(files))

	got, err := s.DeploymentFiles(ctx, d.ID)
	must(t, err)
	want := slices.Clone(files)
	slices.SortFunc(want, func(a, b apogee.File) int { return strings.Compare(a.Path, b.Path) })
	if !slices.Equal(got, want) {
		t.Fatalf("10,000-file manifest did not round-trip: got %d files", len(got))
	}
	ok, err := s.HasFile(ctx, d.ID, files[9_999].SHA256)
	must(t, err)
	equal(t, "HasFile(last)", ok, true)
	stored, err := s.DeploymentByID(ctx, d.ID)
	must(t, err)
	equal(t, "stored Files", stored.Files, len(files))
}

func testCanceledContext(t *testing.T, s apogee.Store) {
	alice := user(t, s, "alice@example.com")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.UserByID(ctx, alice.ID); err == nil {
		t.Error("UserByID with a canceled context succeeded")
	}
	p := &apogee.Project{ID: apogee.NewID(), Name: "web", OwnerID: alice.ID, CreatedAt: base}
	if err := s.CreateProject(ctx, p); err == nil {
		t.Error("CreateProject with a canceled context succeeded")
	}
	if _, err := s.ProjectByName(t.Context(), "web"); !errors.Is(err, apogee.ErrNotFound) {
		t.Errorf("project created despite a canceled context: %v", err)
	}
}

// claimConcurrently has workers claim a build each at once, at at, and
// returns what they claimed (a worker that finds none claims nothing).
func claimConcurrently(t *testing.T, s apogee.Store, workers int, at time.Time) []*apogee.Deployment {
	t.Helper()
	var mu sync.Mutex
	var out []*apogee.Deployment
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := s.ClaimBuild(context.Background(), fmt.Sprintf("node/%d", w), at)
			if apogee.ErrorCode(err) == apogee.ENOTFOUND {
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			out = append(out, d)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}
