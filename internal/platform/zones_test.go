package platform_test

import (
	"context"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/platform"
	"github.com/apogee-dev/apogee/internal/resolver"
	"github.com/apogee-dev/apogee/internal/resolver/resolvertest"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// newZoneWorld returns a platform with nameservers and a resolver on
// loopback that plays the parent zones' servers, its store, that
// server's records, and the contexts of two users, alice and bob.
func newZoneWorld(t *testing.T) (apogee.Services, apogee.Store, *resolvertest.Zone, context.Context, context.Context) {
	t.Helper()
	st, bl, _ := testbed.Backends(t)
	z, addr := resolvertest.Start(t)
	res, err := resolver.New(addr)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := platform.New(platform.Config{Store: st, Blobs: bl, Bus: events.NewLocal(testbed.Quiet), Log: testbed.Quiet,
		Resolver: res, Nameservers: []string{"ns1.apogee.test", "ns2.apogee.test"}, Domain: "apogee.test"})
	if err != nil {
		t.Fatal(err)
	}
	svc := pl.Services()
	ctxOf := func(email string) context.Context {
		u := &apogee.User{ID: apogee.NewID(), Email: email, Password: "x", CreatedAt: time.Now()}
		if err := st.CreateUser(t.Context(), u); err != nil {
			t.Fatal(err)
		}
		return apogee.NewContextWithUser(t.Context(), u)
	}
	return svc, st, z, ctxOf("alice@example.com"), ctxOf("bob@example.com")
}

func TestZones(t *testing.T) {
	svc, st, parent, alice, bob := newZoneWorld(t)
	if _, err := svc.Projects.CreateProject(alice, apogee.CreateProjectRequest{Name: "web"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Projects.CreateProject(bob, apogee.CreateProjectRequest{Name: "bobs"}); err != nil {
		t.Fatal(err)
	}
	// Another user's project is not found, and nothing is made.
	_, err := svc.DNS.AddZone(alice, apogee.AddZoneRequest{Name: "example.com", Project: "bobs"})
	wantCode(t, err, apogee.ENOTFOUND)
	v, err := svc.DNS.AddZone(alice, apogee.AddZoneRequest{Name: "Example.COM.", Project: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if v.Name != "example.com" || v.Project != "web" || v.Verified || len(v.Nameservers) != 2 {
		t.Fatalf("AddZone = %+v", v)
	}
	for _, bad := range []string{"com", "web.apogee.test", "192.0.2.1"} {
		_, err := svc.DNS.AddZone(alice, apogee.AddZoneRequest{Name: bad})
		wantCode(t, err, apogee.EINVALID)
	}
	_, err = svc.DNS.AddZone(bob, apogee.AddZoneRequest{Name: "example.com"})
	wantCode(t, err, apogee.ECONFLICT)

	// Every call on alice's zone by bob: not found, nothing changed.
	_, err = svc.DNS.Zone(bob, "example.com")
	wantCode(t, err, apogee.ENOTFOUND)
	_, err = svc.DNS.Records(bob, "example.com")
	wantCode(t, err, apogee.ENOTFOUND)
	_, err = svc.DNS.AddRecord(bob, "example.com", apogee.AddRecordRequest{Name: "x", Type: "A", Value: "192.0.2.1"})
	wantCode(t, err, apogee.ENOTFOUND)
	_, err = svc.DNS.VerifyZone(bob, "example.com")
	wantCode(t, err, apogee.ENOTFOUND)
	wantCode(t, svc.DNS.RemoveZone(bob, "example.com"), apogee.ENOTFOUND)
	if zs, err := svc.DNS.Zones(bob, ""); err != nil || len(zs) != 0 {
		t.Fatalf("bob's zones = %v, %v; want none", zs, err)
	}

	// Records: validated, conflicts refused, defaults filled in.
	www, err := svc.DNS.AddRecord(alice, "example.com", apogee.AddRecordRequest{Name: "www", Type: "cname", Value: "web.apogee.test"})
	if err != nil {
		t.Fatal(err)
	}
	if www.TTL != apogee.DefaultTTL || www.Type != "CNAME" {
		t.Errorf("record = %+v; want TTL %d, type CNAME", www, apogee.DefaultTTL)
	}
	for _, tt := range []struct {
		req  apogee.AddRecordRequest
		code string
	}{
		{apogee.AddRecordRequest{Name: "@", Type: "CNAME", Value: "web.apogee.test"}, apogee.EINVALID},
		{apogee.AddRecordRequest{Name: "www", Type: "A", Value: "192.0.2.1"}, apogee.ECONFLICT},
		{apogee.AddRecordRequest{Name: "a b", Type: "A", Value: "192.0.2.1"}, apogee.EINVALID},
		{apogee.AddRecordRequest{Name: "x", Type: "A", Value: "192.0.2.1", TTL: 5}, apogee.EINVALID},
		{apogee.AddRecordRequest{Name: "x", Type: "A", Value: "nope"}, apogee.EINVALID},
	} {
		_, err := svc.DNS.AddRecord(alice, "example.com", tt.req)
		wantCode(t, err, tt.code)
	}
	rs, err := svc.DNS.Records(alice, "example.com")
	if err != nil || len(rs) != 1 {
		t.Fatalf("records after refused adds = %v, %v; want the one CNAME", rs, err)
	}
	wantCode(t, svc.DNS.RemoveRecord(bob, "example.com", www.ID), apogee.ENOTFOUND)
	wantCode(t, svc.DNS.RemoveRecord(alice, "example.com", "nope"), apogee.ENOTFOUND)
	if err := svc.DNS.RemoveRecord(alice, "example.com", www.ID); err != nil {
		t.Fatal(err)
	}

	// Verification asks the DNS: no delegation, another provider's,
	// then the platform's.
	_, err = svc.DNS.VerifyZone(alice, "example.com")
	wantCode(t, err, apogee.ECONFLICT)
	parent.SetNS("example.com", "ns1.apogee.test", "dns.other.net")
	_, err = svc.DNS.VerifyZone(alice, "example.com")
	wantCode(t, err, apogee.ECONFLICT)
	parent.SetNS("example.com", "ns1.apogee.test", "ns2.apogee.test")
	v, err = svc.DNS.VerifyZone(alice, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !v.Verified {
		t.Fatal("zone not verified after the delegation was found")
	}
	// The apex and www are now web's verified custom domains.
	for _, host := range []string{"example.com", "www.example.com"} {
		d, err := st.DomainByName(t.Context(), host)
		if err != nil || !d.Verified() {
			t.Errorf("domain %s = %+v, %v; want verified", host, d, err)
		}
	}
	before, err := st.DomainByName(t.Context(), "example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.DNS.RemoveZone(alice, "example.com"); err != nil {
		t.Fatal(err)
	}
	_, err = svc.DNS.Zone(alice, "example.com")
	wantCode(t, err, apogee.ENOTFOUND)
	// Without the zone nothing proves the names are alice's: they stay
	// web's domains, unverified, with the same TXT token as before.
	for _, host := range []string{"example.com", "www.example.com"} {
		d, err := st.DomainByName(t.Context(), host)
		if err != nil || d.Verified() || d.ProjectID != before.ProjectID {
			t.Errorf("domain %s after the zone's removal = %+v, %v; want web's, unverified", host, d, err)
		}
	}
	if d, _ := st.DomainByName(t.Context(), "example.com"); d != nil && d.Token != before.Token {
		t.Errorf("the apex's token changed from %q to %q: a TXT record made for it would no longer verify it", before.Token, d.Token)
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := apogee.ErrorCode(err); got != code {
		t.Fatalf("error %v (code %q); want code %q", err, got, code)
	}
}

// TestWildcardDomain: *.example.com is attached only when example.com
// is a verified zone of the project's owner, verified at once, and goes
// with the zone; bad input changes nothing.
func TestWildcardDomain(t *testing.T) {
	svc, st, parent, alice, bob := newZoneWorld(t)
	for ctx, name := range map[context.Context]string{alice: "web", bob: "bobs"} {
		if _, err := svc.Projects.CreateProject(ctx, apogee.CreateProjectRequest{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := svc.Domains.AddDomain(alice, "web", "*.example.com")
	wantCode(t, err, apogee.EINVALID) // no zone
	if _, err := svc.DNS.AddZone(alice, apogee.AddZoneRequest{Name: "example.com"}); err != nil {
		t.Fatal(err)
	}
	_, err = svc.Domains.AddDomain(alice, "web", "*.example.com")
	wantCode(t, err, apogee.ECONFLICT) // not verified
	parent.SetNS("example.com", "ns1.apogee.test", "ns2.apogee.test")
	if _, err := svc.DNS.VerifyZone(alice, "example.com"); err != nil {
		t.Fatal(err)
	}
	_, err = svc.Domains.AddDomain(bob, "bobs", "*.example.com")
	wantCode(t, err, apogee.EINVALID) // alice's zone
	for _, bad := range []string{"*.sub.example.com", "*.*.example.com", "*.apogee.test"} {
		_, err = svc.Domains.AddDomain(alice, "web", bad)
		if c := apogee.ErrorCode(err); c != apogee.EINVALID {
			t.Errorf("AddDomain(%q) = %v; want invalid", bad, err)
		}
	}
	v, err := svc.Domains.AddDomain(alice, "web", "*.Example.com")
	if err != nil {
		t.Fatal(err)
	}
	if v.Name != "*.example.com" || !v.Verified || v.DNS.Type != "NS" {
		t.Fatalf("AddDomain = %+v", v)
	}
	_, err = svc.Domains.AddDomain(alice, "web", "*.example.com")
	wantCode(t, err, apogee.ECONFLICT)
	if z, _ := st.ZoneByName(t.Context(), "example.com"); !z.Wildcard {
		t.Error("zone not Wildcard")
	}
	if _, err := svc.Domains.Domain(alice, "*.example.com"); err != nil {
		t.Errorf("Domain(*.example.com): %v", err)
	}
	if _, err := svc.Domains.Domain(bob, "*.example.com"); apogee.ErrorCode(err) != apogee.ENOTFOUND {
		t.Errorf("bob's Domain(*.example.com): %v; want not found", err)
	}
	if err := svc.DNS.RemoveZone(alice, "example.com"); err != nil {
		t.Fatal(err)
	}
	if cs, _ := st.DomainClaims(t.Context(), "*.example.com"); len(cs) != 0 {
		t.Errorf("the wildcard outlived its zone: %+v", cs)
	}
}

// TestUpdateRecord: an update is validated as an add is, against the
// zone's other records (not the record itself); a refused update
// changes nothing, and another user's zone or record is not found.
func TestUpdateRecord(t *testing.T) {
	svc, st, _, alice, bob := newZoneWorld(t)
	if _, err := svc.DNS.AddZone(alice, apogee.AddZoneRequest{Name: "example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.DNS.AddZone(alice, apogee.AddZoneRequest{Name: "example.net"}); err != nil {
		t.Fatal(err)
	}
	add := func(name, typ, value string) *apogee.ZoneRecord {
		t.Helper()
		r, err := svc.DNS.AddRecord(alice, "example.com", apogee.AddRecordRequest{Name: name, Type: typ, Value: value})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	mx := add("@", "MX", "10 mail.example.com")
	www := add("www", "CNAME", "web.apogee.test")
	add("api", "A", "192.0.2.1")
	str := func(s string) *string { return &s }
	num := func(n int) *int { return &n }

	for _, tt := range []struct {
		what string
		zone string
		id   string
		req  apogee.UpdateRecordRequest
		code string
	}{
		{"a CNAME at the apex", "example.com", www.ID, apogee.UpdateRecordRequest{Name: str("@")}, apogee.EINVALID},
		{"a CNAME beside an A", "example.com", www.ID, apogee.UpdateRecordRequest{Name: str("api")}, apogee.ECONFLICT},
		{"an A where a CNAME is", "example.com", mx.ID, apogee.UpdateRecordRequest{Name: str("www"), Type: str("A"), Value: str("192.0.2.9")}, apogee.ECONFLICT},
		{"a bad name", "example.com", mx.ID, apogee.UpdateRecordRequest{Name: str("a b")}, apogee.EINVALID},
		{"a TTL too short", "example.com", mx.ID, apogee.UpdateRecordRequest{TTL: num(5)}, apogee.EINVALID},
		{"a TTL too long", "example.com", mx.ID, apogee.UpdateRecordRequest{TTL: num(86401)}, apogee.EINVALID},
		{"a value of another type", "example.com", mx.ID, apogee.UpdateRecordRequest{Type: str("A")}, apogee.EINVALID},
		{"an unknown type", "example.com", mx.ID, apogee.UpdateRecordRequest{Type: str("PTR")}, apogee.EINVALID},
		{"a missing record", "example.com", "nope", apogee.UpdateRecordRequest{TTL: num(600)}, apogee.ENOTFOUND},
		{"a record of another zone", "example.net", mx.ID, apogee.UpdateRecordRequest{TTL: num(600)}, apogee.ENOTFOUND},
	} {
		t.Run(tt.what, func(t *testing.T) {
			before, _ := st.ZoneByName(t.Context(), "example.com")
			_, err := svc.DNS.UpdateRecord(alice, tt.zone, tt.id, tt.req)
			wantCode(t, err, tt.code)
			after, _ := st.ZoneByName(t.Context(), "example.com")
			if after.Serial != before.Serial {
				t.Errorf("serial moved from %d to %d on a refused update", before.Serial, after.Serial)
			}
		})
	}
	_, err := svc.DNS.UpdateRecord(bob, "example.com", mx.ID, apogee.UpdateRecordRequest{TTL: num(600)})
	wantCode(t, err, apogee.ENOTFOUND)

	// Its own name and type again are no conflict with itself.
	got, err := svc.DNS.UpdateRecord(alice, "example.com", www.ID, apogee.UpdateRecordRequest{Value: str("other.apogee.test"), TTL: num(3600)})
	if err != nil {
		t.Fatal(err)
	}
	want := &apogee.ZoneRecord{ID: www.ID, Zone: "example.com", Name: "www", Type: "CNAME", Value: "other.apogee.test", TTL: 3600, CreatedAt: www.CreatedAt}
	if *got != *want {
		t.Errorf("updated = %+v; want %+v", got, want)
	}
	got, err = svc.DNS.UpdateRecord(alice, "example.com", mx.ID, apogee.UpdateRecordRequest{Name: str("mail"), Type: str("txt"), Value: str("hello"), TTL: num(0)})
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "mail" || got.Type != "TXT" || got.TTL != apogee.DefaultTTL {
		t.Errorf("updated = %+v; want mail TXT with TTL %d", got, apogee.DefaultTTL)
	}
	rs, err := svc.DNS.Records(alice, "example.com")
	if err != nil || len(rs) != 3 {
		t.Fatalf("records = %v, %v; want the three, changed in place", rs, err)
	}
}

// TestTeamZones: a team's zone is seen by every member and changed by
// members and owners, as the team's projects are; a viewer sees it and
// is refused changes; someone outside the team is told it does not
// exist; the zone serves only a project of the team; it counts against
// the team's plan, not the person's who added it.
func TestTeamZones(t *testing.T) {
	svc, st, parent, alice, bob := newZoneWorld(t)
	u := &apogee.User{ID: apogee.NewID(), Email: "carol@example.com", Password: "x", CreatedAt: time.Now()}
	if err := st.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	carol := apogee.NewContextWithUser(t.Context(), u)
	if _, err := svc.Teams.CreateTeam(alice, apogee.CreateTeamRequest{Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	for who, role := range map[context.Context]string{bob: "member", carol: "viewer"} {
		inv, err := svc.Teams.Invite(alice, "acme", apogee.TeamInviteRequest{Role: role})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Teams.AcceptInvite(who, inv.Token); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.Projects.CreateProject(alice, apogee.CreateProjectRequest{Name: "site", Team: "acme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Projects.CreateProject(bob, apogee.CreateProjectRequest{Name: "bobs"}); err != nil {
		t.Fatal(err)
	}

	// Refused: a viewer adds; a zone of the team for a person's project;
	// nothing is made.
	_, err := svc.DNS.AddZone(carol, apogee.AddZoneRequest{Name: "acme.com", Team: "acme"})
	wantCode(t, err, apogee.EFORBIDDEN)
	_, err = svc.DNS.AddZone(bob, apogee.AddZoneRequest{Name: "acme.com", Team: "acme", Project: "bobs"})
	wantCode(t, err, apogee.EINVALID)
	_, err = svc.DNS.AddZone(bob, apogee.AddZoneRequest{Name: "acme.com", Team: "nope"})
	wantCode(t, err, apogee.ENOTFOUND)
	if zs, err := svc.DNS.Zones(alice, "acme"); err != nil || len(zs) != 0 {
		t.Fatalf("acme's zones after refused adds = %v, %v", zs, err)
	}

	// A member adds the team's zone for the team's project.
	v, err := svc.DNS.AddZone(bob, apogee.AddZoneRequest{Name: "acme.com", Team: "acme", Project: "site"})
	if err != nil {
		t.Fatal(err)
	}
	if v.Team != "acme" || v.Project != "site" {
		t.Fatalf("AddZone = %+v; want acme's zone serving site", v)
	}
	for who, ctx := range map[string]context.Context{"alice": alice, "bob": bob, "carol": carol} {
		zs, err := svc.DNS.Zones(ctx, "acme")
		if err != nil || len(zs) != 1 || zs[0].Name != "acme.com" {
			t.Errorf("%s lists acme's zones: %v, %v", who, zs, err)
		}
		if zs, err := svc.DNS.Zones(ctx, ""); err != nil || len(zs) != 0 {
			t.Errorf("%s's personal zones hold %v (%v): the team's zone is not theirs", who, zs, err)
		}
		if _, err := svc.DNS.Records(ctx, "acme.com"); err != nil {
			t.Errorf("%s reads acme.com's records: %v", who, err)
		}
	}
	// The viewer changes nothing; the member and the owner do.
	_, err = svc.DNS.AddRecord(carol, "acme.com", apogee.AddRecordRequest{Name: "x", Type: "A", Value: "192.0.2.1"})
	wantCode(t, err, apogee.EFORBIDDEN)
	_, err = svc.DNS.VerifyZone(carol, "acme.com")
	wantCode(t, err, apogee.EFORBIDDEN)
	wantCode(t, svc.DNS.RemoveZone(carol, "acme.com"), apogee.EFORBIDDEN)
	r, err := svc.DNS.AddRecord(bob, "acme.com", apogee.AddRecordRequest{Name: "x", Type: "A", Value: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.DNS.RemoveRecord(alice, "acme.com", r.ID); err != nil {
		t.Fatal(err)
	}
	parent.SetNS("acme.com", "ns1.apogee.test", "ns2.apogee.test")
	if v, err := svc.DNS.VerifyZone(bob, "acme.com"); err != nil || !v.Verified {
		t.Fatalf("the member verifies: %+v, %v", v, err)
	}
	if d, err := st.DomainByName(t.Context(), "acme.com"); err != nil || !d.Verified() {
		t.Errorf("acme.com after the team zone's verification = %+v, %v; want site's verified domain", d, err)
	}

	// Someone outside the team: as if the zone did not exist.
	dave := &apogee.User{ID: apogee.NewID(), Email: "dave@example.com", Password: "x", CreatedAt: time.Now()}
	if err := st.CreateUser(t.Context(), dave); err != nil {
		t.Fatal(err)
	}
	outsider := apogee.NewContextWithUser(t.Context(), dave)
	_, err = svc.DNS.Zone(outsider, "acme.com")
	wantCode(t, err, apogee.ENOTFOUND)
	_, err = svc.DNS.Zones(outsider, "acme")
	wantCode(t, err, apogee.ENOTFOUND)
	wantCode(t, svc.DNS.RemoveZone(outsider, "acme.com"), apogee.ENOTFOUND)

	// The member removes it.
	if err := svc.DNS.RemoveZone(bob, "acme.com"); err != nil {
		t.Fatal(err)
	}
	if zs, _ := svc.DNS.Zones(alice, "acme"); len(zs) != 0 {
		t.Errorf("acme's zones after removal: %v", zs)
	}
}
