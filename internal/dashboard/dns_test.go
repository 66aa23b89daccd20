package dashboard

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/logs"
	"github.com/apogee-dev/apogee/internal/platform"
	"github.com/apogee-dev/apogee/internal/resolver"
	"github.com/apogee-dev/apogee/internal/resolver/resolvertest"
	"github.com/apogee-dev/apogee/internal/secretbox"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// newDNSEnv is newEnv with the platform's nameservers set (the server
// runs DNS) and a DNS server the test controls that plays the parent
// zones' servers for the delegation check.
func newDNSEnv(t *testing.T) (*env, *resolvertest.Zone) {
	t.Helper()
	store, blobs, _ := testbed.Backends(t)
	log := testbed.Quiet
	bus := events.NewLocal(log)
	t.Cleanup(func() { bus.Close() })
	parent, addr := resolvertest.Start(t)
	res, err := resolver.New(addr)
	if err != nil {
		t.Fatal(err)
	}
	hub := logs.NewHub(0)
	box := secretbox.NewRandom()
	svc, a := services(t, platform.Config{Store: store, Blobs: blobs, Bus: bus, Logs: hub, Log: log, Box: box,
		Domain: "apogee.test", Resolver: res, Nameservers: []string{"ns1.apogee.test", "ns2.apogee.test"}})
	d, err := New(Config{Store: store, Services: svc, Logs: hub, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: store, hub: hub, box: box, api: a, svc: svc, srv: httptest.NewServer(d)}
	t.Cleanup(e.srv.Close)
	e.alice = e.user("alice@example.com", false)
	e.bob = e.user("bob@example.com", false)
	e.admin = e.user("admin@example.com", true)
	return e, parent
}

// records returns the zone's records from the store.
func (e *env) records(zone string) []*apogee.ZoneRecord {
	e.t.Helper()
	rs, err := e.store.ZoneRecords(context.Background(), zone)
	if err != nil {
		e.t.Fatal(err)
	}
	return rs
}

// TestDNSZonesPage adds zones by the DNS page, sees the nameservers and
// the plan's limits, verifies a zone against a real DNS server (its
// error, then its success) and removes one; refusals are shown on the
// form and add nothing.
func TestDNSZonesPage(t *testing.T) {
	e, parent := newDNSEnv(t)
	e.project(e.alice, "web")
	e.project(e.bob, "bobs")
	alice, bob, anon := e.signedIn(e.alice), e.signedIn(e.bob), e.browser()

	want(t, "empty", alice.get("/dns"), 200, "No zones yet", `<a href="/dns" aria-current="page">DNS</a>`, "0 of 3 on your plan",
		`<option value="web">web</option>`)
	if strings.Contains(alice.get("/dns").body, "bobs") {
		t.Fatal("alice's DNS page offers bob's project")
	}
	res := alice.post("/dns/zones", url.Values{"name": {"Example.COM"}, "project": {"web"}})
	want(t, "add", res, http.StatusSeeOther)
	if res.location != "/dns/zones/example.com" {
		t.Fatalf("add went to %q; want the zone's page", res.location)
	}
	want(t, "zone page after add", alice.get("/dns/zones/example.com"), 200, "Zone example.com added", "ns1.apogee.test and ns2.apogee.test",
		"Not verified", "Verify delegation")
	want(t, "list", alice.get("/dns"), 200, `data-zone="example.com"`, `<a href="/projects/web">web</a>`, "ns1.apogee.test<br>ns2.apogee.test",
		"0 of 100", "1 of 3 on your plan", `aria-label="Verify example.com"`)

	for _, c := range []struct {
		what    string
		form    url.Values
		code    int
		message string
	}{
		{"a bad name", url.Values{"name": {"not a domain"}}, 400, "not a domain"},
		{"taken", url.Values{"name": {"example.com"}}, 409, "already added"},
		{"another user's project", url.Values{"name": {"example.org"}, "project": {"bobs"}}, 404, "bobs"},
	} {
		res := alice.post("/dns/zones", c.form)
		want(t, c.what, res, c.code, `<p class="error full" role="alert">`, c.message, `value="`+c.form.Get("name")+`"`)
	}
	want(t, "bob adds alice's", bob.post("/dns/zones", url.Values{"name": {"example.com"}}), 409, "already added")
	// The plan's third zone is the last; the fourth is a 402 on the form.
	for _, name := range []string{"example.net", "example.org"} {
		want(t, "add "+name, alice.post("/dns/zones", url.Values{"name": {name}}), http.StatusSeeOther)
	}
	want(t, "over the plan", alice.post("/dns/zones", url.Values{"name": {"example.dev"}}), http.StatusPaymentRequired,
		"allows 3 DNS zones and you have 3", `value="example.dev"`)
	if zs, _ := e.store.ListZones(context.Background(), e.alice.ID); len(zs) != 3 {
		t.Fatalf("alice has %d zones after the refusals; want 3", len(zs))
	}

	// Another user, signed out, without the form's token: nothing.
	want(t, "bob's page", bob.get("/dns"), 200, "No zones yet")
	want(t, "bob sees the zone", bob.get("/dns/zones/example.com"), 404)
	want(t, "bob verifies", bob.post("/dns/zones/example.com/verify", nil), 404)
	want(t, "bob removes", bob.post("/dns/zones/example.com/remove", nil), 404)
	want(t, "signed out", anon.get("/dns"), http.StatusSeeOther)
	want(t, "signed out remove", anon.post("/dns/zones/example.com/remove", nil), 403)
	want(t, "no csrf remove", alice.post("/dns/zones/example.com/remove", url.Values{"csrf": {""}}), 403)
	if _, err := e.store.ZoneByName(context.Background(), "example.com"); err != nil {
		t.Fatalf("a refused request removed the zone: %v", err)
	}

	// Verify: first the delegation is not there (the error says what
	// was found), then it is.
	want(t, "verify early", alice.post("/dns/zones/example.com/verify", url.Values{"return_to": {"/dns"}}), http.StatusSeeOther)
	want(t, "verify early message", alice.get("/dns"), 200, `class="flash error"`, "zone example.com is not delegated", "ns1.apogee.test, ns2.apogee.test")
	parent.SetNS("example.com", "ns1.apogee.test", "dns.other.net")
	want(t, "verify half", alice.post("/dns/zones/example.com/verify", nil), http.StatusSeeOther)
	want(t, "verify half message", alice.get("/dns/zones/example.com"), 200, `class="flash error"`, "dns.other.net")
	parent.SetNS("example.com", "ns1.apogee.test", "ns2.apogee.test")
	want(t, "verify", alice.post("/dns/zones/example.com/verify", nil), http.StatusSeeOther)
	want(t, "verified", alice.get("/dns/zones/example.com"), 200, "Zone example.com is verified", "Its apex and www serve project web",
		`<span class="badge ready">Verified</span>`)
	if d, err := e.store.DomainByName(context.Background(), "www.example.com"); err != nil || !d.Verified() {
		t.Fatalf("www.example.com = %+v, %v; want a verified domain of web", d, err)
	}

	want(t, "remove", alice.post("/dns/zones/example.net/remove", nil), http.StatusSeeOther)
	want(t, "removed", alice.get("/dns"), 200, "Zone example.net removed", "2 of 3 on your plan")
	if _, err := e.store.ZoneByName(context.Background(), "example.net"); err == nil {
		t.Fatal("the zone is still there")
	}
	// An admin sees and may change any zone, as in the API.
	want(t, "admin", e.signedIn(e.admin).get("/dns/zones/example.com"), 200, "example.com")
}

// TestDNSZoneRecords adds, edits and removes records on a zone's page;
// every refusal of the service (a CNAME at the apex, a conflict, a bad
// name, a TTL out of bounds, the plan's limit) is shown above its form
// with the values kept, and changes nothing.
func TestDNSZoneRecords(t *testing.T) {
	e, _ := newDNSEnv(t)
	e.project(e.alice, "web")
	alice, bob := e.signedIn(e.alice), e.signedIn(e.bob)
	want(t, "add zone", alice.post("/dns/zones", url.Values{"name": {"example.com"}, "project": {"web"}}), http.StatusSeeOther)

	page := alice.get("/dns/zones/example.com")
	want(t, "automatic records", page, 200, "No records of your own yet", `<tr class="automatic">`, "hostmaster.example.com (serial 1)",
		"Apogee&#39;s nameservers", "Serves project web", `<span class="tag">Automatic</span>`, "0 of 100 on your plan")
	if strings.Contains(page.body, "/records/") && strings.Contains(page.body, "?edit=") {
		t.Fatal("automatic records have edit links")
	}

	add := func(name, typ, value, ttl string) response {
		return alice.post("/dns/zones/example.com/records", url.Values{"name": {name}, "type": {typ}, "value": {value}, "ttl": {ttl}})
	}
	want(t, "add MX", add("@", "MX", "10 mail.example.com", "3600"), http.StatusSeeOther)
	want(t, "add www", add("www", "CNAME", "web.apogee.test", ""), http.StatusSeeOther)
	rs := e.records("example.com")
	if len(rs) != 2 {
		t.Fatalf("records = %v", rs)
	}
	mx, www := rs[0], rs[1]
	page = alice.get("/dns/zones/example.com")
	want(t, "records", page, 200, "Added www.example.com CNAME web.apogee.test", `data-record="`+mx.ID+`"`, "10 mail.example.com", ">3600<", mx.ID,
		"2 of 100 on your plan")
	// www has a CNAME of its own now: the edge's addresses are not answered there.
	if strings.Count(page.body, "Serves project web") != 1 {
		t.Errorf("want the apex's automatic A/AAAA only, www has its own CNAME:\n%s", page.body)
	}

	for _, c := range []struct {
		what                  string
		name, typ, value, ttl string
		code                  int
		message               string
	}{
		{"a CNAME at the apex", "@", "CNAME", "web.apogee.test", "300", 400, "a CNAME cannot be at the apex"},
		{"beside a CNAME", "www", "A", "192.0.2.1", "300", 409, "a CNAME cannot share its name"},
		{"a bad name", "a b", "A", "192.0.2.1", "300", 400, "use letters, digits"},
		{"a TTL too short", "api", "A", "192.0.2.1", "5", 400, "TTL 5 is out of bounds"},
		{"a TTL not a number", "api", "A", "192.0.2.1", "soon", 400, "is not a number"},
		{"a bad value", "api", "A", "not-an-address", "300", 400, ""},
	} {
		res := add(c.name, c.typ, c.value, c.ttl)
		want(t, c.what, res, c.code, `<p class="error full" role="alert">Record not added: `, c.message, `value="`+c.value+`"`)
	}
	if n := len(e.records("example.com")); n != 2 {
		t.Fatalf("%d records after the refused adds; want 2", n)
	}

	// Edit: the row becomes a form with the record's values; a refused
	// change shows above the table and keeps what was typed.
	want(t, "edit form", alice.get("/dns/zones/example.com?edit="+mx.ID), 200, `<tr data-record="`+mx.ID+`" class="editing">`,
		`action="/dns/zones/example.com/records/`+mx.ID+`#records"`, `id="edit-value" form="edit-record" name="value" value="10 mail.example.com"`)
	edit := func(id, name, typ, value, ttl string) response {
		return alice.post("/dns/zones/example.com/records/"+id, url.Values{"name": {name}, "type": {typ}, "value": {value}, "ttl": {ttl}})
	}
	want(t, "edit to a CNAME at the apex", edit(www.ID, "@", "CNAME", "web.apogee.test", "300"), 400,
		`<p class="error" role="alert">Record not saved: a CNAME cannot be at the apex`, `class="editing"`, `value="@"`)
	want(t, "edit TTL too long", edit(mx.ID, "@", "MX", "10 mail.example.com", "90000"), 400, "TTL 90000 is out of bounds")
	if rs := e.records("example.com"); *rs[0] != *mx || *rs[1] != *www {
		t.Fatalf("a refused edit changed the records: %+v %+v", rs[0], rs[1])
	}
	want(t, "edit", edit(mx.ID, "@", "MX", "20 mx.example.com", "600"), http.StatusSeeOther)
	want(t, "edited", alice.get("/dns/zones/example.com"), 200, "Saved example.com MX 20 mx.example.com (TTL 600)")
	if rs := e.records("example.com"); rs[0].ID != mx.ID || rs[0].Value != "20 mx.example.com" || rs[0].TTL != 600 || len(rs) != 2 {
		t.Fatalf("records after the edit: %+v", rs[0])
	}
	// Nothing the CSP (default-src 'self') would refuse on the DNS pages:
	// no inline style or script, nothing from another origin.
	for _, path := range []string{"/dns", "/dns/zones/example.com", "/dns/zones/example.com?edit=" + mx.ID} {
		page := alice.get(path).body
		if m := regexp.MustCompile(`(?i) style=|<style|src="(?:https?:)?//`).FindString(page); m != "" {
			t.Errorf("%s has %q, which the CSP refuses", path, m)
		}
		for _, tag := range regexp.MustCompile(`<script[^>]*>[^<]*`).FindAllString(page, -1) {
			if !regexp.MustCompile(`^<script src="/static/[^"]+"[^>]*>$`).MatchString(tag) {
				t.Errorf("%s has the script %q, which the CSP refuses", path, tag)
			}
		}
	}
	want(t, "edit a missing record", edit("nope", "@", "MX", "10 mail.example.com", "300"), http.StatusSeeOther)
	want(t, "missing record message", alice.get("/dns/zones/example.com"), 200, `class="flash error"`, `has no record &#34;nope&#34;`)

	// Bob: every route of alice's zone is the 404 page, and nothing changes.
	for _, c := range []struct{ path string }{
		{"/dns/zones/example.com/records"},
		{"/dns/zones/example.com/records/" + mx.ID},
		{"/dns/zones/example.com/records/" + mx.ID + "/remove"},
	} {
		want(t, "bob "+c.path, bob.post(c.path, url.Values{"name": {"x"}, "type": {"A"}, "value": {"192.0.2.1"}}), 404)
	}
	want(t, "bob's edit page", bob.get("/dns/zones/example.com?edit="+mx.ID), 404)
	if n := len(e.records("example.com")); n != 2 {
		t.Fatalf("%d records after bob's requests; want 2", n)
	}

	want(t, "remove", alice.post("/dns/zones/example.com/records/"+www.ID+"/remove", nil), http.StatusSeeOther)
	want(t, "removed", alice.get("/dns/zones/example.com"), 200, "Record removed", "1 of 100 on your plan")
	if rs := e.records("example.com"); len(rs) != 1 || rs[0].ID != mx.ID {
		t.Fatalf("records after the remove: %v", rs)
	}

	// The plan's record limit: a 402 above the form, nothing added.
	small := &apogee.Plan{Name: "small-dns", Limits: apogee.PlanLimits{Projects: -1, ConcurrentBuilds: -1, BuildMinutes: -1, StorageBytes: -1,
		CustomDomains: -1, DNSZones: -1, DNSRecords: 1}}
	if err := e.store.CreatePlan(context.Background(), small); err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetUserPlan(context.Background(), e.alice.ID, small.ID); err != nil {
		t.Fatal(err)
	}
	want(t, "full", alice.get("/dns/zones/example.com"), 200, "1 of 1 on your plan")
	want(t, "over the plan", add("@", "TXT", "v=spf1 -all", "300"), http.StatusPaymentRequired,
		"Record not added: your plan &#34;small-dns&#34; allows 1 record per DNS zone", `value="v=spf1 -all"`)
	if n := len(e.records("example.com")); n != 1 {
		t.Fatalf("%d records after the refusal; want 1", n)
	}
}

// TestDNSTeamScope: the DNS page has the projects page's scope tabs; in a
// team's scope it lists and adds the team's zones (for the team's
// projects), which a member sees and a stranger does not.
func TestDNSTeamScope(t *testing.T) {
	e, _ := newDNSEnv(t)
	ctx := apogee.NewContextWithUser(context.Background(), e.alice)
	if _, err := e.svc.Teams.CreateTeam(ctx, apogee.CreateTeamRequest{Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	inv, err := e.svc.Teams.Invite(ctx, "acme", apogee.TeamInviteRequest{Role: "member"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Teams.AcceptInvite(apogee.NewContextWithUser(context.Background(), e.bob), inv.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Projects.CreateProject(ctx, apogee.CreateProjectRequest{Name: "site", Team: "acme"}); err != nil {
		t.Fatal(err)
	}
	e.project(e.alice, "mine")
	alice, bob := e.signedIn(e.alice), e.signedIn(e.bob)

	want(t, "tabs", alice.get("/dns"), 200, `<nav class="tabs" aria-label="Scope" id="scope">`, `<a href="/dns?team=acme">acme</a>`)
	page := alice.get("/dns?team=acme")
	want(t, "team scope", page, 200, `<a href="/dns?team=acme" aria-current="page">acme</a>`, `<input type="hidden" name="team" value="acme">`,
		`<option value="site">site</option>`)
	if strings.Contains(page.body, `<option value="mine">`) {
		t.Error("the team's DNS page offers alice's own project")
	}
	// A team zone for a person's project is refused on the form.
	want(t, "person's project", alice.post("/dns/zones", url.Values{"name": {"acme.com"}, "team": {"acme"}, "project": {"mine"}}), 400,
		"project mine is not team acme", `value="acme.com"`)
	res := alice.post("/dns/zones", url.Values{"name": {"acme.com"}, "team": {"acme"}, "project": {"site"}})
	want(t, "add", res, http.StatusSeeOther)
	if z, err := e.store.ZoneByName(context.Background(), "acme.com"); err != nil || z.OwnerID == e.alice.ID {
		t.Fatalf("acme.com = %+v, %v; want the team's zone", z, err)
	}
	want(t, "zone page", alice.get("/dns/zones/acme.com"), 200, `<a href="/dns?team=acme">DNS of acme</a>`)
	want(t, "the scope is remembered", alice.get("/dns"), 200, `<a href="/dns?team=acme" aria-current="page">acme</a>`, `data-zone="acme.com"`)
	want(t, "personal scope", alice.get("/dns?team="), 200, "No zones yet", `<a href="/dns?team=" aria-current="page">Personal</a>`)
	want(t, "personal remembered", alice.get("/dns"), 200, "No zones yet")
	want(t, "the member's team scope", bob.get("/dns?team=acme"), 200, `data-zone="acme.com"`)
	want(t, "the member's zone page", bob.get("/dns/zones/acme.com"), 200, "acme.com")
	want(t, "the member removes", bob.post("/dns/zones/acme.com/remove", nil), http.StatusSeeOther)
	if _, err := e.store.ZoneByName(context.Background(), "acme.com"); err == nil {
		t.Fatal("the member's removal left the zone")
	}
	carol := e.signedIn(e.user("carol@example.com", false))
	want(t, "a stranger's team scope", carol.get("/dns?team=acme"), 404)
}
