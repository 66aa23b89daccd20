package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// unlimited puts u on a plan without limits, for tests about something
// else that run several builds of one owner at once.
func unlimited(t *testing.T, s apogee.Store, u *apogee.User) {
	t.Helper()
	p := &apogee.Plan{Name: "unlimited-" + u.ID, Limits: apogee.PlanLimits{
		Projects: -1, ConcurrentBuilds: -1, BuildMinutes: -1, StorageBytes: -1, CustomDomains: -1}}
	must(t, s.CreatePlan(t.Context(), p))
	must(t, s.SetUserPlan(t.Context(), u.ID, p.ID))
}

func testPlans(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	free, err := s.DefaultPlan(ctx)
	must(t, err)
	equal(t, "seeded default plan", free.ID+" "+free.Name, apogee.DefaultPlanID+" free")
	equal(t, "free limits", free.Limits, apogee.PlanLimits{
		Projects: 10, ConcurrentBuilds: 1, BuildMinutes: 100, StorageBytes: 1 << 30, CustomDomains: 5,
		AppMemoryMB: 512, AppCPUs: 1, AppPids: 256, AppInstances: 3, ReleasesKept: 10,
		RuntimeLogBytes: 100 << 20, RuntimeLogDays: 7, DNSZones: apogee.DefaultDNSZones, DNSRecords: apogee.DefaultDNSRecords,
		RequestLogDays: apogee.DefaultRequestLogDays, RequestLogRows: apogee.DefaultRequestLogRows, AuditLogDays: apogee.DefaultAuditLogDays})

	pro := &apogee.Plan{Name: "pro", CreatedAt: base, Limits: apogee.PlanLimits{
		Projects: 100, ConcurrentBuilds: 4, BuildMinutes: apogee.Unlimited, StorageBytes: 100 << 30, CustomDomains: 0,
		AppMemoryMB: 2048, AppCPUs: 1.5, AppPids: apogee.Unlimited, AppInstances: 10, ReleasesKept: 30,
		RuntimeLogBytes: 1 << 30, RuntimeLogDays: 30, DNSZones: 9, DNSRecords: apogee.Unlimited, RequestLogDays: 30, RequestLogRows: apogee.Unlimited, AuditLogDays: 365}}
	must(t, s.CreatePlan(ctx, pro))
	got, err := s.PlanByID(ctx, pro.ID)
	must(t, err)
	equal(t, "created plan", got, pro)
	wantCode(t, s.CreatePlan(ctx, &apogee.Plan{Name: "pro"}), apogee.ECONFLICT)
	_, err = s.PlanByID(ctx, "nosuch")
	wantCode(t, err, apogee.ENOTFOUND)

	pro.Name, pro.Limits.CustomDomains = "professional", 50
	pro.Limits.AppCPUs, pro.Limits.AppInstances, pro.Limits.RuntimeLogDays = 0.25, apogee.Unlimited, 14
	must(t, s.UpdatePlan(ctx, pro))
	got, err = s.PlanByID(ctx, pro.ID)
	must(t, err)
	equal(t, "updated plan", got, pro)
	free.Name = "professional"
	wantCode(t, s.UpdatePlan(ctx, free), apogee.ECONFLICT)
	free.Name = "free"
	wantCode(t, s.UpdatePlan(ctx, &apogee.Plan{ID: "nosuch", Name: "x"}), apogee.ENOTFOUND)
	free.Default = false
	wantCode(t, s.UpdatePlan(ctx, free), apogee.EINVALID)
	free.Default = true

	// Users: on the default plan until put on another.
	alice := user(t, s, "alice@example.com")
	p, err := s.UserPlan(ctx, alice.ID)
	must(t, err)
	equal(t, "plan of a new user", p.ID, free.ID)
	must(t, s.SetUserPlan(ctx, alice.ID, pro.ID))
	p, err = s.UserPlan(ctx, alice.ID)
	must(t, err)
	equal(t, "plan after set", p.ID, pro.ID)
	u, err := s.UserByID(ctx, alice.ID)
	must(t, err)
	equal(t, "user's plan id", u.PlanID, pro.ID)
	wantCode(t, s.SetUserPlan(ctx, alice.ID, "nosuch"), apogee.ENOTFOUND)
	wantCode(t, s.SetUserPlan(ctx, "nosuch", pro.ID), apogee.ENOTFOUND)
	_, err = s.UserPlan(ctx, "nosuch")
	wantCode(t, err, apogee.ENOTFOUND)

	plans, err := s.ListPlans(ctx)
	must(t, err)
	var names []string
	for _, p := range plans {
		names = append(names, fmt.Sprintf("%s:%d:%v", p.Name, p.Users, p.Default))
	}
	equal(t, "plans by name with users", names, []string{"free:0:true", "professional:1:false"})

	// A plan users are on, or the default, cannot be deleted.
	wantCode(t, s.DeletePlan(ctx, pro.ID), apogee.ECONFLICT)
	wantCode(t, s.DeletePlan(ctx, free.ID), apogee.ECONFLICT)
	wantCode(t, s.DeletePlan(ctx, "nosuch"), apogee.ENOTFOUND)

	// Making pro the default un-defaults free in the same transaction.
	pro.Default = true
	must(t, s.UpdatePlan(ctx, pro))
	d, err := s.DefaultPlan(ctx)
	must(t, err)
	equal(t, "new default", d.ID, pro.ID)
	got, err = s.PlanByID(ctx, free.ID)
	must(t, err)
	equal(t, "old default", got.Default, false)
	team := &apogee.Plan{Name: "team", Default: true}
	must(t, s.CreatePlan(ctx, team))
	d, err = s.DefaultPlan(ctx)
	must(t, err)
	equal(t, "created as default", d.ID, team.ID)

	must(t, s.SetUserPlan(ctx, alice.ID, ""))
	p, err = s.UserPlan(ctx, alice.ID)
	must(t, err)
	equal(t, "back on the default", p.ID, team.ID)
	must(t, s.DeletePlan(ctx, pro.ID))
	_, err = s.PlanByID(ctx, pro.ID)
	wantCode(t, err, apogee.ENOTFOUND)
}

func testDisableUser(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	web := project(t, s, alice, "web")
	live := ready(t, s, web, apogee.TargetProduction, base, true)
	at := base.Add(time.Hour)
	must(t, s.SetUserDisabled(ctx, alice.ID, &at))
	// A disabled user's sites keep serving: disabling stops the person.
	routes, err := s.Routes(ctx)
	must(t, err)
	served := map[string]string{}
	for _, r := range routes {
		served[r.Host] = r.DeploymentID
	}
	equal(t, "routes of a disabled user", served, map[string]string{"web": live.ID, live.Host: live.ID})
	u, err := s.UserByEmail(ctx, alice.Email)
	must(t, err)
	equal(t, "disabled at", u.DisabledAt, &at)
	equal(t, "disabled", u.Disabled(), true)
	must(t, s.SetUserDisabled(ctx, alice.ID, nil))
	u, err = s.UserByID(ctx, alice.ID)
	must(t, err)
	equal(t, "enabled", u.Disabled(), false)
	must(t, s.SetUserAdmin(ctx, alice.ID, true))
	u, err = s.UserByID(ctx, alice.ID)
	must(t, err)
	equal(t, "admin", u.Admin, true)
	wantCode(t, s.SetUserDisabled(ctx, "nosuch", &at), apogee.ENOTFOUND)
	wantCode(t, s.SetUserAdmin(ctx, "nosuch", true), apogee.ENOTFOUND)
}

func testUsage(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	bob := user(t, s, "bob@example.com")
	unlimited(t, s, alice)
	month := apogee.MonthStart(base)

	usage := func(u *apogee.User, now time.Time) apogee.Usage {
		t.Helper()
		got, err := s.Usage(ctx, u.ID, month, now)
		must(t, err)
		return *got
	}
	equal(t, "nothing used", usage(alice, base), apogee.Usage{})

	web := project(t, s, alice, "web")
	api := project(t, s, alice, "api")
	project(t, s, bob, "bobs")
	for _, name := range []string{"a.example.com", "b.example.com"} {
		must(t, s.CreateDomain(ctx, &apogee.Domain{Name: name, ProjectID: web.ID, Token: "t", CreatedAt: base}))
	}
	must(t, s.CreateDomain(ctx, &apogee.Domain{Name: "c.example.com", ProjectID: api.ID, Token: "t", CreatedAt: base}))

	// Storage: each hash once across all deployments and projects.
	ready(t, s, web, apogee.TargetProduction, base, true) // manifest(3): sizes 0, 1, 2
	ready(t, s, api, apogee.TargetProduction, base, true) // the same three files
	big := []apogee.File{{Path: "big.bin", SHA256: hash("big"), Size: 1000}, {Path: "copy.bin", SHA256: hash("big"), Size: 1000}}
	id := apogee.NewID()
	must(t, s.CreateDeployment(ctx, &apogee.Deployment{ID: id, ProjectID: api.ID, Target: apogee.TargetPreview,
		Host: apogee.DeploymentHost("api", id), CreatedAt: base}, big))

	// Build time: this month's builds, the running one up to now; last
	// month's build is not counted.
	last := queued(t, s, web, apogee.TargetPreview, base)
	b1, err := s.ClaimBuild(ctx, "node/1", month.Add(-time.Minute))
	must(t, err)
	equal(t, "first claim", b1.ID, last.ID)
	_, err = s.EndBuild(ctx, b1.ID, apogee.StatusError, "x", month.Add(10*time.Minute))
	must(t, err)
	queued(t, s, web, apogee.TargetPreview, base.Add(time.Second))
	b2, err := s.ClaimBuild(ctx, "node/1", base)
	must(t, err)
	_, err = s.FinishBuild(ctx, b2.ID, nil, base.Add(90*time.Second), false)
	must(t, err)
	queued(t, s, api, apogee.TargetPreview, base.Add(2*time.Second))
	_, err = s.ClaimBuild(ctx, "node/1", base.Add(time.Hour))
	must(t, err)
	queued(t, s, api, apogee.TargetPreview, base.Add(3*time.Second))

	got := usage(alice, base.Add(time.Hour+30*time.Second))
	equal(t, "alice's usage", got, apogee.Usage{
		Projects: 2, BuildsRunning: 1, BuildsQueued: 1, BuildSeconds: 120, StorageBytes: 1003, CustomDomains: 3,
		Storage: apogee.StorageUse{Files: 1003}})
	equal(t, "build minutes round up", got.BuildMinutes(), int64(2))
	equal(t, "bob's usage", usage(bob, base), apogee.Usage{Projects: 1})

	// Every other byte stored for alice counts too: precompressed copies
	// (once each), ZIPs received (built or not; one that is also a file
	// counts as the file), dependency caches and build logs (bytes, not
	// characters).
	files := manifest(3)
	must(t, s.PutVariants(ctx, []apogee.BlobVariant{
		{SHA256: files[1].SHA256, Encoding: apogee.EncodingGzip, VariantSHA256: hash("gz1"), Size: 11},
		{SHA256: files[2].SHA256, Encoding: apogee.EncodingGzip, VariantSHA256: hash("gz2"), Size: 13},
		{SHA256: hash("bobs-file"), Encoding: apogee.EncodingGzip, VariantSHA256: hash("gz3"), Size: 1000},
	}))
	zip := func(p *apogee.Project, h string, size int64, used bool) {
		up := &apogee.Upload{ID: apogee.NewID(), ProjectID: p.ID, CreatedBy: alice.ID, CreatedAt: base, ExpiresAt: base.Add(time.Hour)}
		must(t, s.CreateUpload(ctx, up))
		if used {
			_, err := s.UseUpload(ctx, up.ID, h, size, base)
			must(t, err)
		}
	}
	zip(web, hash("zip1"), 300, true)
	zip(api, hash("zip1"), 300, true) // the same ZIP again: once
	zip(api, hash("zip2"), 200, true)
	zip(api, hash("big"), 1000, true) // also a file: counted there
	zip(web, "", 0, false)            // never sent
	must(t, s.SetCacheBytes(ctx, web.ID, 5000))
	must(t, s.SetCacheBytes(ctx, api.ID, 700))
	wantNotFound(t, s.SetCacheBytes(ctx, "nosuch", 1), "nosuch")
	must(t, s.AppendLogs(ctx, b2.ID, []apogee.LogLine{{Seq: 1, Time: base, Stream: "stdout", Text: "héllo"}, {Seq: 2, Time: base, Stream: "stdout", Text: "abc"}}))
	got = usage(alice, base.Add(time.Hour+30*time.Second))
	want := apogee.StorageUse{Files: 1003, Variants: 24, Uploads: 500, Caches: 5700, Logs: 9}
	equal(t, "alice's storage", got.Storage, want)
	equal(t, "alice's storage bytes", got.StorageBytes, want.Total())
	equal(t, "bob's usage after", usage(bob, base), apogee.Usage{Projects: 1})

	// Old uploads go, except one a build waits for.
	must(t, s.QueueBuild(ctx, &apogee.Deployment{ID: apogee.NewID(), ProjectID: api.ID, Target: apogee.TargetPreview,
		CreatedAt: base.Add(4 * time.Second), Source: apogee.SourceZip, SourceBlob: hash("zip2")}))
	n, err := s.DeleteStaleUploads(ctx, base.Add(time.Minute))
	must(t, err)
	equal(t, "stale uploads deleted", n, int64(4))
	got = usage(alice, base.Add(time.Hour+30*time.Second))
	equal(t, "uploads after they went", got.Storage.Uploads, int64(200))
	n, err = s.DeleteStaleUploads(ctx, base.Add(-time.Minute))
	must(t, err)
	equal(t, "young uploads deleted", n, int64(0))

	// NewBytes: what a manifest would add to the owner's storage.
	n, err = s.NewBytes(ctx, alice.ID, append(manifest(4), big[0], apogee.File{Path: "n", SHA256: hash("new"), Size: 7}, apogee.File{Path: "m", SHA256: hash("new"), Size: 7}))
	must(t, err)
	equal(t, "new bytes for alice", n, int64(3+7)) // manifest(4)'s fourth file has size 3
	n, err = s.NewBytes(ctx, bob.ID, manifest(3))
	must(t, err)
	equal(t, "new bytes for bob", n, int64(3))
}

// testConcurrentBuildLimit: builds beyond an owner's concurrent builds
// stay queued, however many workers claim at once; other owners' builds
// are claimed meanwhile.
func testConcurrentBuildLimit(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com") // free: one build at a time
	bob := user(t, s, "bob@example.com")
	two := &apogee.Plan{Name: "two", Limits: apogee.PlanLimits{Projects: -1, ConcurrentBuilds: 2, BuildMinutes: -1, StorageBytes: -1, CustomDomains: -1}}
	must(t, s.CreatePlan(ctx, two))
	must(t, s.SetUserPlan(ctx, bob.ID, two.ID))
	web := project(t, s, alice, "web")
	site := project(t, s, bob, "site")
	for i := 0; i < 5; i++ {
		queued(t, s, web, apogee.TargetPreview, base.Add(time.Duration(i)*time.Second))
		queued(t, s, site, apogee.TargetPreview, base.Add(time.Duration(i)*time.Second+time.Millisecond))
	}
	claimAll := func() map[string]int {
		byProject := map[string]int{}
		for _, d := range claimConcurrently(t, s, 10, base.Add(time.Hour)) {
			byProject[d.ProjectID]++
		}
		return byProject
	}
	equal(t, "claimed by owner", claimAll(), map[string]int{web.ID: 1, site.ID: 2})
	equal(t, "nothing more to claim at the limit", claimAll(), map[string]int{})

	// One of alice's builds ends: exactly one more of hers starts.
	running, err := s.Usage(ctx, alice.ID, apogee.MonthStart(base), base)
	must(t, err)
	equal(t, "alice running and queued", [2]int64{running.BuildsRunning, running.BuildsQueued}, [2]int64{1, 4})
	ds, err := s.ListDeployments(ctx, web.ID, 0)
	must(t, err)
	for _, d := range ds {
		if d.Status == apogee.StatusBuilding {
			_, err := s.EndBuild(ctx, d.ID, apogee.StatusCanceled, "x", base.Add(time.Hour))
			must(t, err)
		}
	}
	equal(t, "after one ended", claimAll(), map[string]int{web.ID: 1})

	// An unlimited plan lets every queued build start.
	unlimited(t, s, alice)
	equal(t, "unlimited", claimAll(), map[string]int{web.ID: 3})
}
