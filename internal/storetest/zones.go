package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// testZones covers delegated DNS zones: one owner per name, listing by
// owner, verification, the project falling away with its project, and
// removal with the records.
func testZones(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	bob := user(t, s, "bob@example.com")
	web := project(t, s, alice, "web")

	z := &apogee.Zone{Name: "example.com", OwnerID: alice.ID, ProjectID: web.ID, CreatedAt: base}
	must(t, s.CreateZone(ctx, z))
	equal(t, "serial of a new zone", z.Serial, int64(1))
	wantCode(t, s.CreateZone(ctx, &apogee.Zone{Name: "example.com", OwnerID: bob.ID}), apogee.ECONFLICT)
	wantNotFound(t, s.CreateZone(ctx, &apogee.Zone{Name: "example.org", OwnerID: alice.ID, ProjectID: "nope"}), "nope")
	bobs := &apogee.Zone{Name: "bob.test", OwnerID: bob.ID, CreatedAt: base}
	must(t, s.CreateZone(ctx, bobs))

	got, err := s.ZoneByName(ctx, "example.com")
	must(t, err)
	equal(t, "ZoneByName", got, z)
	_, err = s.ZoneByName(ctx, "missing.com")
	wantNotFound(t, err, "missing.com")

	mine, err := s.ListZones(ctx, alice.ID)
	must(t, err)
	equal(t, "ListZones(alice)", mine, []*apogee.Zone{z})
	all, err := s.ListZones(ctx, "")
	must(t, err)
	equal(t, "ListZones(every owner)", all, []*apogee.Zone{bobs, z})

	at := base.Add(time.Hour)
	v, err := s.SetZoneVerified(ctx, "example.com", at)
	must(t, err)
	equal(t, "verified at", v.VerifiedAt, &at)
	_, err = s.SetZoneVerified(ctx, "missing.com", at)
	wantNotFound(t, err, "missing.com")

	must(t, s.DeleteProject(ctx, web.ID))
	got, err = s.ZoneByName(ctx, "example.com")
	must(t, err)
	equal(t, "zone's project after the project is deleted", got.ProjectID, "")

	must(t, s.AddZoneRecord(ctx, &apogee.ZoneRecord{Zone: "example.com", Name: "www", Type: "CNAME", Value: "web.apogee.test", TTL: 300}))
	must(t, s.DeleteZone(ctx, "example.com"))
	_, err = s.ZoneByName(ctx, "example.com")
	wantNotFound(t, err, "example.com")
	rs, err := s.ZoneRecords(ctx, "example.com")
	must(t, err)
	equal(t, "records of a deleted zone", len(rs), 0)
	wantNotFound(t, s.DeleteZone(ctx, "example.com"), "example.com")

	// The per-owner limit holds under concurrent creates.
	var wg sync.WaitGroup
	for i := range apogee.MaxZonesPerUser + 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.CreateZone(ctx, &apogee.Zone{Name: "z" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ".test", OwnerID: alice.ID})
		}()
	}
	wg.Wait()
	mine, err = s.ListZones(ctx, alice.ID)
	must(t, err)
	equal(t, "alice's zones after racing past the limit", len(mine), apogee.MaxZonesPerUser)
}

// testZoneRecords covers a zone's records: order, the serial moving
// with each change, and deletes of records of other zones refused.
func testZoneRecords(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	must(t, s.CreateZone(ctx, &apogee.Zone{Name: "example.com", OwnerID: alice.ID}))
	must(t, s.CreateZone(ctx, &apogee.Zone{Name: "example.net", OwnerID: alice.ID}))

	mx := &apogee.ZoneRecord{Zone: "example.com", Name: "@", Type: "MX", Value: "10 mail.example.com", TTL: 3600, CreatedAt: base}
	www := &apogee.ZoneRecord{Zone: "example.com", Name: "www", Type: "CNAME", Value: "web.apogee.test", TTL: 300, CreatedAt: base}
	txt := &apogee.ZoneRecord{Zone: "example.com", Name: "@", Type: "TXT", Value: `"v=spf1 -all"`, TTL: 300, CreatedAt: base}
	for _, r := range []*apogee.ZoneRecord{www, mx, txt} {
		must(t, s.AddZoneRecord(ctx, r))
		if r.ID == "" {
			t.Fatal("AddZoneRecord did not fill in the ID")
		}
	}
	wantNotFound(t, s.AddZoneRecord(ctx, &apogee.ZoneRecord{Zone: "missing.com", Name: "@", Type: "A", Value: "192.0.2.1", TTL: 60}), "missing.com")

	rs, err := s.ZoneRecords(ctx, "example.com")
	must(t, err)
	equal(t, "ZoneRecords by name and type", rs, []*apogee.ZoneRecord{mx, txt, www})
	z, err := s.ZoneByName(ctx, "example.com")
	must(t, err)
	equal(t, "serial after three adds", z.Serial, int64(4))

	wantNotFound(t, s.DeleteZoneRecord(ctx, "example.net", mx.ID), mx.ID)
	must(t, s.DeleteZoneRecord(ctx, "example.com", mx.ID))
	wantNotFound(t, s.DeleteZoneRecord(ctx, "example.com", mx.ID), mx.ID)
	rs, err = s.ZoneRecords(ctx, "example.com")
	must(t, err)
	equal(t, "ZoneRecords after a delete", rs, []*apogee.ZoneRecord{txt, www})
	z, err = s.ZoneByName(ctx, "example.com")
	must(t, err)
	equal(t, "serial after a delete", z.Serial, int64(5))

	// An update replaces every field but the id and the age, and moves
	// the serial; a record of another zone, or none, is not found and
	// moves nothing.
	changed := &apogee.ZoneRecord{ID: txt.ID, Zone: "example.com", Name: "_dmarc", Type: "TXT", Value: `"v=DMARC1; p=none"`, TTL: 600}
	must(t, s.UpdateZoneRecord(ctx, changed))
	equal(t, "created_at after an update", changed.CreatedAt, txt.CreatedAt)
	wantNotFound(t, s.UpdateZoneRecord(ctx, &apogee.ZoneRecord{ID: www.ID, Zone: "example.net", Name: "@", Type: "A", Value: "192.0.2.1", TTL: 60}), www.ID)
	wantNotFound(t, s.UpdateZoneRecord(ctx, &apogee.ZoneRecord{ID: "missing", Zone: "example.com", Name: "@", Type: "A", Value: "192.0.2.1", TTL: 60}), "missing")
	rs, err = s.ZoneRecords(ctx, "example.com")
	must(t, err)
	equal(t, "ZoneRecords after an update", rs, []*apogee.ZoneRecord{changed, www})
	z, err = s.ZoneByName(ctx, "example.com")
	must(t, err)
	equal(t, "serial after an update", z.Serial, int64(6))

	n, err := s.ZoneByName(ctx, "example.net")
	must(t, err)
	equal(t, "serial of the other zone", n.Serial, int64(1))
}
