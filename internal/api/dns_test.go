package api_test

import (
	"testing"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/platform"
)

// TestDNSRoutesCheckTheOwner: every DNS route answers another user's
// zone as missing and changes nothing; the owner's calls work.
func TestDNSRoutesCheckTheOwner(t *testing.T) {
	e := newEnvWith(t, func(c *platform.Config) { c.Nameservers = []string{"ns1.apogee.test", "ns2.apogee.test"} })
	alice, bob := e.user("alice@example.com"), e.user("bob@example.com")
	e.must(e.call("POST", "/api/v1/projects", alice, map[string]string{"name": "web"}), 201, nil)

	var z apogee.ZoneView
	e.must(e.call("POST", "/api/v1/dns/zones", alice, map[string]string{"name": "example.com", "project": "web"}), 201, &z)
	if z.Name != "example.com" || z.Project != "web" || len(z.Nameservers) != 2 {
		t.Fatalf("zone = %+v", z)
	}
	var rec apogee.ZoneRecord
	e.must(e.call("POST", "/api/v1/dns/zones/example.com/records", alice,
		map[string]any{"name": "@", "type": "MX", "value": "10 mail.example.com", "ttl": 3600}), 201, &rec)

	for _, c := range []struct{ method, path string }{
		{"GET", "/api/v1/dns/zones/example.com"},
		{"POST", "/api/v1/dns/zones/example.com/verify"},
		{"DELETE", "/api/v1/dns/zones/example.com"},
		{"GET", "/api/v1/dns/zones/example.com/records"},
		{"POST", "/api/v1/dns/zones/example.com/records"},
		{"PATCH", "/api/v1/dns/zones/example.com/records/" + rec.ID},
		{"DELETE", "/api/v1/dns/zones/example.com/records/" + rec.ID},
	} {
		var body any
		if c.method == "POST" || c.method == "PATCH" {
			body = map[string]any{"name": "x", "type": "A", "value": "192.0.2.1"}
		}
		e.wantErr(e.call(c.method, c.path, bob, body), 404, apogee.ENOTFOUND)
		e.wantErr(e.call(c.method, c.path, "", body), 401, apogee.EUNAUTHORIZED)
	}
	var bobs struct{ Zones []apogee.ZoneView }
	e.must(e.call("GET", "/api/v1/dns/zones", bob, nil), 200, &bobs)
	if len(bobs.Zones) != 0 {
		t.Errorf("bob lists %d zones; want none", len(bobs.Zones))
	}

	// Nothing changed: alice still has her record.
	var recs struct{ Records []apogee.ZoneRecord }
	e.must(e.call("GET", "/api/v1/dns/zones/example.com/records", alice, nil), 200, &recs)
	if len(recs.Records) != 1 || recs.Records[0].Value != "10 mail.example.com" {
		t.Fatalf("records = %+v", recs.Records)
	}
	e.wantErr(e.call("POST", "/api/v1/dns/zones/example.com/records", alice,
		map[string]any{"name": "@", "type": "CNAME", "value": "web.apogee.test"}), 400, apogee.EINVALID)
	// PATCH changes the fields given and keeps the rest; a refused
	// change (a CNAME at the apex) leaves the record as it was.
	e.wantErr(e.call("PATCH", "/api/v1/dns/zones/example.com/records/"+rec.ID, alice,
		map[string]any{"type": "CNAME", "value": "web.apogee.test"}), 400, apogee.EINVALID)
	e.wantErr(e.call("PATCH", "/api/v1/dns/zones/example.com/records/nope", alice,
		map[string]any{"ttl": 600}), 404, apogee.ENOTFOUND)
	var upd apogee.ZoneRecord
	e.must(e.call("PATCH", "/api/v1/dns/zones/example.com/records/"+rec.ID, alice, map[string]any{"value": "20 mx.example.com"}), 200, &upd)
	if upd.ID != rec.ID || upd.Value != "20 mx.example.com" || upd.TTL != 3600 || upd.Type != "MX" || upd.Name != "@" {
		t.Fatalf("PATCH record = %+v", upd)
	}
	e.must(e.call("GET", "/api/v1/dns/zones/example.com/records", alice, nil), 200, &recs)
	if len(recs.Records) != 1 || recs.Records[0].Value != "20 mx.example.com" {
		t.Fatalf("records after PATCH = %+v", recs.Records)
	}
	e.must(e.call("DELETE", "/api/v1/dns/zones/example.com/records/"+rec.ID, alice, nil), 204, nil)
	e.must(e.call("DELETE", "/api/v1/dns/zones/example.com", alice, nil), 204, nil)
	e.wantErr(e.call("GET", "/api/v1/dns/zones/example.com", alice, nil), 404, apogee.ENOTFOUND)
}

// TestDNSZonesNeedTheDNSServer: without nameservers (no --dns-listen) a
// zone cannot be added.
func TestDNSZonesNeedTheDNSServer(t *testing.T) {
	e := newEnv(t)
	alice := e.user("alice@example.com")
	e.wantErr(e.call("POST", "/api/v1/dns/zones", alice, map[string]string{"name": "example.com"}), 503, apogee.EUNAVAILABLE)
}

// TestQuotaDNS: the plan bounds a user's zones and each zone's records;
// a refusal names the limit and adds nothing, and a larger plan lets the
// same request through.
func TestQuotaDNS(t *testing.T) {
	e := newEnvWith(t, func(c *platform.Config) { c.Nameservers = []string{"ns1.apogee.test", "ns2.apogee.test"} })
	alice := e.user("alice@example.com")
	e.onPlan("alice@example.com", "dns-small", map[string]int64{"dns_zones": 1, "dns_records": 2})

	e.must(e.call("POST", "/api/v1/dns/zones", alice, map[string]string{"name": "example.com"}), 201, nil)
	e.wantQuota(e.call("POST", "/api/v1/dns/zones", alice, map[string]string{"name": "example.org"}),
		apogee.LimitDNSZones, "allows 1 DNS zone and you have 1", "remove one")
	for i, value := range []string{"192.0.2.1", "192.0.2.2"} {
		e.must(e.call("POST", "/api/v1/dns/zones/example.com/records", alice,
			map[string]any{"name": "host" + string(rune('a'+i)), "type": "A", "value": value}), 201, nil)
	}
	e.wantQuota(e.call("POST", "/api/v1/dns/zones/example.com/records", alice,
		map[string]any{"name": "hostc", "type": "A", "value": "192.0.2.3"}),
		apogee.LimitDNSRecords, "allows 2 records per DNS zone and example.com has 2")

	var zones struct{ Zones []apogee.ZoneView }
	e.must(e.call("GET", "/api/v1/dns/zones", alice, nil), 200, &zones)
	var recs struct{ Records []apogee.ZoneRecord }
	e.must(e.call("GET", "/api/v1/dns/zones/example.com/records", alice, nil), 200, &recs)
	if len(zones.Zones) != 1 || len(recs.Records) != 2 {
		t.Fatalf("after the refusals: %d zones, %d records; want 1 and 2", len(zones.Zones), len(recs.Records))
	}

	e.onPlan("alice@example.com", "dns-unlimited", map[string]int64{"dns_zones": -1, "dns_records": -1})
	e.must(e.call("POST", "/api/v1/dns/zones", alice, map[string]string{"name": "example.org"}), 201, nil)
	e.must(e.call("POST", "/api/v1/dns/zones/example.com/records", alice,
		map[string]any{"name": "hostc", "type": "A", "value": "192.0.2.3"}), 201, nil)
}
