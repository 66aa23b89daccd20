package cli

import (
	"strings"
	"testing"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/platform"
	"github.com/apogee-dev/apogee/internal/resolver"
	"github.com/apogee-dev/apogee/internal/resolver/resolvertest"
)

func TestDNSCommands(t *testing.T) {
	parent, addr := resolvertest.Start(t)
	res, err := resolver.New(addr)
	if err != nil {
		t.Fatal(err)
	}
	realAPIWith(t, func(c *platform.Config) {
		c.Nameservers = []string{"ns1.apogee.test", "ns2.apogee.test"}
		c.Resolver = res
	})

	r := run(t, "", "dns", "zones", "add", "example.com", "--project", "web").ok(t)
	for _, want := range []string{"ns1.apogee.test", "ns2.apogee.test", "project web", "apogee dns zones verify example.com"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("zones add output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = run(t, "", "dns", "zones", "verify", "example.com")
	if r.code == 0 || !strings.Contains(r.stderr, "ns1.apogee.test") {
		t.Fatalf("verify before the delegation: code %d\n%s", r.code, r.stderr)
	}
	parent.SetNS("example.com", "ns1.apogee.test", "ns2.apogee.test")
	if z := oneJSON(t, run(t, "", "dns", "zones", "verify", "example.com", "--json").ok(t).stdout); z["verified"] != true {
		t.Fatalf("verify --json = %v", z)
	}
	zs := oneJSON(t, run(t, "", "dns", "zones", "list", "--json").ok(t).stdout)
	if l, _ := zs["zones"].([]any); len(l) != 1 {
		t.Fatalf("zones list --json = %v", zs)
	}

	rec := oneJSON(t, run(t, "", "dns", "records", "add", "example.com", "www", "cname", "web.apogee.test", "--ttl", "600", "--json").ok(t).stdout)
	if rec["type"] != "CNAME" || rec["ttl"] != float64(600) || rec["name"] != "www" {
		t.Fatalf("records add --json = %v", rec)
	}
	r = run(t, "", "dns", "records", "add", "example.com", "@", "MX", "10 mail.example.com").ok(t)
	if !strings.Contains(r.stdout, "example.com MX 10 mail.example.com") {
		t.Errorf("records add output:\n%s", r.stdout)
	}
	r = run(t, "", "dns", "records", "add", "example.com", "@", "CNAME", "web.apogee.test")
	if r.code == 0 || !strings.Contains(r.stderr, "apex") {
		t.Fatalf("a CNAME at the apex: code %d\n%s", r.code, r.stderr)
	}
	r = run(t, "", "dns", "records", "ls", "example.com").ok(t)
	for _, want := range []string{"www", "CNAME", "web.apogee.test", "600", "MX"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("records list lacks %q:\n%s", want, r.stdout)
		}
	}
	// update: the flags given change, the rest stay; a refused update
	// changes nothing.
	upd := oneJSON(t, run(t, "", "dns", "records", "update", "example.com", rec["id"].(string), "--value", "other.apogee.test", "--json").ok(t).stdout)
	if upd["id"] != rec["id"] || upd["value"] != "other.apogee.test" || upd["ttl"] != float64(600) || upd["name"] != "www" {
		t.Fatalf("records update --json = %v", upd)
	}
	r = run(t, "", "dns", "records", "update", "example.com", rec["id"].(string), "--name", "@")
	if r.code == 0 || !strings.Contains(r.stderr, "apex") {
		t.Fatalf("update to a CNAME at the apex: code %d\n%s", r.code, r.stderr)
	}
	r = run(t, "", "dns", "records", "update", "example.com", rec["id"].(string), "--ttl", "120").ok(t)
	if !strings.Contains(r.stdout, "www.example.com CNAME other.apogee.test (TTL 120)") {
		t.Errorf("records update output:\n%s", r.stdout)
	}
	r = run(t, "", "dns", "records", "update", "example.com", rec["id"].(string))
	if r.code == 0 || !strings.Contains(r.stderr, "othing to change: give --name") {
		t.Fatalf("update without flags: code %d\n%s", r.code, r.stderr)
	}
	r = run(t, "", "dns", "records", "update", "example.com", "nope", "--ttl", "120")
	if r.code == 0 || !strings.Contains(r.stderr, "apogee dns records list example.com") {
		t.Fatalf("update of a missing record: code %d\n%s", r.code, r.stderr)
	}
	rm := oneJSON(t, run(t, "", "dns", "records", "rm", "example.com", rec["id"].(string), "--json").ok(t).stdout)
	if rm["removed"] != rec["id"] {
		t.Fatalf("records rm --json = %v", rm)
	}
	list := oneJSON(t, run(t, "", "dns", "records", "list", "example.com", "--json").ok(t).stdout)
	if l, _ := list["records"].([]any); len(l) != 1 {
		t.Fatalf("records list --json after rm = %v", list)
	}
	run(t, "", "dns", "zones", "rm", "example.com").ok(t)
	r = run(t, "", "dns", "records", "list", "example.com", "--json")
	if e, _ := oneJSON(t, r.stdout)["error"].(map[string]any); r.code == 0 || e["code"] != apogee.ENOTFOUND {
		t.Fatalf("records of a removed zone: %s", r.stdout)
	}
}
