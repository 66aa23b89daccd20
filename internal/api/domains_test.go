package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/api/apitest"
	"github.com/apogee-dev/apogee/internal/blob"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/platform"
	"github.com/apogee-dev/apogee/internal/sqlstore"
)

// fakeDNS answers TXT and host lookups from maps; a missing name is
// NXDOMAIN, as from a real resolver.
type fakeDNS struct {
	mu    sync.Mutex
	txt   map[string][]string
	hosts map[string][]string
}

func (f *fakeDNS) setTXT(name string, values ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.txt[name] = values
}

func (f *fakeDNS) LookupTXT(ctx context.Context, name string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if v, ok := f.txt[name]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (f *fakeDNS) LookupHost(ctx context.Context, host string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if v, ok := f.hosts[host]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// newDomainEnv is newEnv with the platform domain apogee.test and a fake
// DNS.
func newDomainEnv(t *testing.T) (*env, *fakeDNS) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(dir, "apogee.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	bl, err := blob.Open(ctx, "file://"+filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bl.Close() })
	dns := &fakeDNS{txt: map[string][]string{}, hosts: map[string][]string{
		"web.apogee.test": {"2001:db8::7", "203.0.113.7"},
	}}
	e := &env{t: t, store: st, blobs: bl, bus: events.NewLocal(log), now: time.Now().UTC()}
	a := apitest.New(t, platform.Config{
		Store: st, Blobs: bl, Bus: e.bus, MaxFileSize: maxFile, Log: log,
		SiteURL:   func(l string) string { return "https://" + l + ".apogee.test/" },
		DomainURL: func(n string) string { return "https://" + n + "/" },
		Domain:    "apogee.test",
		Resolver:  dns,
		Now:       e.clock,
	})
	e.srv = httptest.NewServer(a)
	t.Cleanup(e.srv.Close)
	return e, dns
}

// nextEvent returns the next event of type typ from evs, skipping others.
func nextEvent(t *testing.T, evs <-chan apogee.Event, typ string) apogee.Event {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev := <-evs:
			if ev.Type == typ {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s event", typ)
		}
	}
}

func TestDomainLifecycle(t *testing.T) {
	e, dns := newDomainEnv(t)
	tok := e.user("a@example.com")
	evs, _ := e.bus.Subscribe(t.Context())
	e.must(e.call("POST", "/api/v1/projects", tok, apogee.CreateProjectRequest{Name: "web"}), 201, nil)

	var www apogee.DomainView
	e.must(e.call("POST", "/api/v1/projects/web/domains", tok, apogee.CreateDomainRequest{Name: "WWW.Example.com."}), 201, &www)
	if www.Name != "www.example.com" || www.Project != "web" || www.Verified || www.VerifiedAt != nil ||
		www.URL != "https://www.example.com/" {
		t.Fatalf("created domain %+v", www)
	}
	if v := www.Verification; v.Type != "TXT" || v.Name != "_apogee.www.example.com" || !strings.HasPrefix(v.Value, "apogee-") {
		t.Fatalf("verification record %+v", v)
	}
	if r := www.DNS; r.Type != "CNAME" || r.Name != "www.example.com" || r.Value != "web.apogee.test" {
		t.Fatalf("traffic record %+v", r)
	}
	// The raw JSON has the fields scripts read.
	raw := e.call("GET", "/api/v1/domains/www.example.com", tok, nil)
	var m map[string]any
	if err := json.Unmarshal(raw.body, &m); err != nil || raw.status != 200 {
		t.Fatalf("GET domain: %d %s", raw.status, raw.body)
	}
	if v, _ := m["verification"].(map[string]any); v["type"] != "TXT" || v["name"] != "_apogee.www.example.com" || v["value"] != www.Verification.Value {
		t.Fatalf("verification JSON %v", m["verification"])
	}

	var apex apogee.DomainView
	e.must(e.call("POST", "/api/v1/projects/web/domains", tok, apogee.CreateDomainRequest{Name: "example.com"}), 201, &apex)
	if r := apex.DNS; r.Type != "A" || r.Value != "203.0.113.7" || !strings.Contains(r.Note, "apex") {
		t.Fatalf("apex traffic record %+v", r)
	}
	var list struct{ Domains []apogee.DomainView }
	e.must(e.call("GET", "/api/v1/projects/web/domains", tok, nil), 200, &list)
	if len(list.Domains) != 2 || list.Domains[0].Name != "example.com" || list.Domains[1].Name != "www.example.com" {
		t.Fatalf("list %+v", list.Domains)
	}
	e.wantErr(e.call("POST", "/api/v1/projects/web/domains", tok, apogee.CreateDomainRequest{Name: "www.example.com"}), 409, apogee.ECONFLICT)

	// No record, then a wrong one: 409 saying what was expected and found.
	b := e.wantErr(e.call("POST", "/api/v1/domains/www.example.com/verify", tok, nil), 409, apogee.ECONFLICT)
	if !strings.Contains(b.Error.Message, "no TXT record at _apogee.www.example.com") {
		t.Errorf("message %q", b.Error.Message)
	}
	dns.setTXT("_apogee.www.example.com", "something-else", "v=spf1 -all")
	b = e.wantErr(e.call("POST", "/api/v1/domains/www.example.com/verify", tok, nil), 409, apogee.ECONFLICT)
	if !strings.Contains(b.Error.Message, `"something-else"`) || !strings.Contains(b.Error.Message, www.Verification.Value) {
		t.Errorf("message %q does not say what was found and expected", b.Error.Message)
	}
	data, _ := b.Error.Data.(map[string]any)
	if found, _ := data["found"].([]any); len(found) != 2 {
		t.Errorf("error data %v lacks what was found", b.Error.Data)
	}

	// Verified before the first deployment: the edges hear that the
	// project's routes changed (and find none for the domain yet).
	dns.setTXT("_apogee.www.example.com", "something-else", www.Verification.Value)
	var v apogee.DomainView
	e.must(e.call("POST", "/api/v1/domains/www.example.com/verify", tok, nil), 200, &v)
	if !v.Verified || v.VerifiedAt == nil {
		t.Fatalf("verified domain %+v", v)
	}
	web, err := e.store.ProjectByName(t.Context(), "web")
	if err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, evs, apogee.EventDomainChanged); ev.Host != "www.example.com" || ev.ProjectID != web.ID {
		t.Fatalf("event %+v", ev)
	}

	// The domain follows the production alias: deploy, promote, rollback.
	// Each move tells the edges the project changed; its routes, the
	// domain's among them, are the store's.
	routeOf := func(what, want string) {
		t.Helper()
		if ev := nextEvent(t, evs, apogee.EventAliasChanged); ev.ProjectID != web.ID || ev.DeploymentID != want {
			t.Fatalf("after %s: event %+v; want alias.changed of %s to %s", what, ev, web.ID, want)
		}
		rs, err := e.store.ProjectRoutes(t.Context(), web.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Host == "www.example.com" && r.DeploymentID == want {
				return
			}
		}
		t.Fatalf("after %s: routes %+v lack www.example.com → %s", what, rs, want)
	}
	d1 := e.deploy(tok, "web", "production", file{"index.html", "one"})
	routeOf("deploy", d1.ID)
	d2 := e.deploy(tok, "web", "production", file{"index.html", "two"})
	routeOf("second deploy", d2.ID)
	e.must(e.call("POST", "/api/v1/projects/web/rollback", tok, nil), 200, nil)
	routeOf("rollback", d1.ID)
	e.must(e.call("POST", "/api/v1/projects/web/promote", tok, apogee.PromoteRequest{DeploymentID: d2.ID}), 200, nil)
	routeOf("promote", d2.ID)

	// Verifying again is a no-op that succeeds, even once the record is
	// gone, and changes no route.
	dns.setTXT("_apogee.www.example.com")
	version, err := e.store.RouteVersion(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	e.must(e.call("POST", "/api/v1/domains/www.example.com/verify", tok, nil), 200, &v)
	if now, err := e.store.RouteVersion(t.Context()); !v.Verified || err != nil || now != version {
		t.Fatalf("verify again: %+v, route version %d → %d (%v)", v, version, now, err)
	}

	e.must(e.call("DELETE", "/api/v1/domains/www.example.com", tok, nil), 204, nil)
	if ev := nextEvent(t, evs, apogee.EventDomainChanged); ev.Host != "www.example.com" || ev.ProjectID != web.ID {
		t.Fatalf("after delete: event %+v", ev)
	}
	e.wantErr(e.call("GET", "/api/v1/domains/www.example.com", tok, nil), 404, apogee.ENOTFOUND)
	e.wantErr(e.call("DELETE", "/api/v1/domains/www.example.com", tok, nil), 404, apogee.ENOTFOUND)
}

func TestDomainOwnership(t *testing.T) {
	e, dns := newDomainEnv(t)
	alice := e.user("alice@example.com")
	bob := e.user("bob@example.com")
	e.must(e.call("POST", "/api/v1/projects", alice, apogee.CreateProjectRequest{Name: "web"}), 201, nil)
	e.must(e.call("POST", "/api/v1/projects", bob, apogee.CreateProjectRequest{Name: "blog"}), 201, nil)
	var d apogee.DomainView
	e.must(e.call("POST", "/api/v1/projects/web/domains", alice, apogee.CreateDomainRequest{Name: "www.example.com"}), 201, &d)
	dns.setTXT("_apogee.www.example.com", d.Verification.Value)

	// Bob sees nothing of Alice's domain, and cannot take its name.
	e.wantErr(e.call("GET", "/api/v1/domains/www.example.com", bob, nil), 404, apogee.ENOTFOUND)
	e.wantErr(e.call("POST", "/api/v1/domains/www.example.com/verify", bob, nil), 404, apogee.ENOTFOUND)
	e.wantErr(e.call("DELETE", "/api/v1/domains/www.example.com", bob, nil), 404, apogee.ENOTFOUND)
	e.wantErr(e.call("GET", "/api/v1/projects/web/domains", bob, nil), 404, apogee.ENOTFOUND)
	e.wantErr(e.call("POST", "/api/v1/projects/web/domains", bob, apogee.CreateDomainRequest{Name: "x.example.com"}), 404, apogee.ENOTFOUND)
	// Alice's claim is unverified: it blocks no one (issue 10). Bob's
	// claim is his own, with a token of his own, and touches nothing of
	// Alice's.
	var bobs apogee.DomainView
	e.must(e.call("POST", "/api/v1/projects/blog/domains", bob, apogee.CreateDomainRequest{Name: "www.example.com"}), 201, &bobs)
	if bobs.Project != "blog" || bobs.Verification.Value == d.Verification.Value {
		t.Fatalf("Bob's claim %+v", bobs)
	}
	// Alice controls the DNS: her record verifies hers, not Bob's.
	b := e.wantErr(e.call("POST", "/api/v1/domains/www.example.com/verify", bob, nil), 409, apogee.ECONFLICT)
	if !strings.Contains(b.Error.Message, "is not verified") {
		t.Errorf("Bob's verify with Alice's record: %q", b.Error.Message)
	}
	got, err := e.store.DomainByName(t.Context(), "www.example.com")
	if err != nil || got.Verified() || got.ProjectID == "" {
		t.Fatalf("after Bob's attempts: %+v, %v", got, err)
	}
	e.must(e.call("POST", "/api/v1/domains/www.example.com/verify", alice, nil), 200, nil)
	// The first to verify wins: Bob's claim fails, saying why, and the
	// name is taken for new claims.
	b = e.wantErr(e.call("POST", "/api/v1/domains/www.example.com/verify", bob, nil), 409, apogee.ECONFLICT)
	if !strings.Contains(b.Error.Message, "was verified by another project first") {
		t.Errorf("Bob's verify after Alice's: %q", b.Error.Message)
	}
	e.must(e.call("DELETE", "/api/v1/domains/www.example.com", bob, nil), 204, nil)
	b = e.wantErr(e.call("POST", "/api/v1/projects/blog/domains", bob, apogee.CreateDomainRequest{Name: "www.example.com"}), 409, apogee.ECONFLICT)
	if b.Error.Message != `domain "www.example.com" is already used by another project` {
		t.Errorf("conflict message %q", b.Error.Message)
	}

	// Deleting the project frees the name.
	e.must(e.call("DELETE", "/api/v1/projects/web", alice, nil), 204, nil)
	e.must(e.call("POST", "/api/v1/projects/blog/domains", bob, apogee.CreateDomainRequest{Name: "www.example.com"}), 201, nil)
}

func TestDomainBadInput(t *testing.T) {
	e, _ := newDomainEnv(t)
	tok := e.user("a@example.com")
	e.must(e.call("POST", "/api/v1/projects", tok, apogee.CreateProjectRequest{Name: "web"}), 201, nil)
	for _, name := range []string{"", "apogee.test", "web.apogee.test", "127.0.0.1", "com", "a_b.example.com", "x.localhost", strings.Repeat("a", 64) + ".com"} {
		e.wantErr(e.call("POST", "/api/v1/projects/web/domains", tok, apogee.CreateDomainRequest{Name: name}), 400, apogee.EINVALID)
	}
	e.wantErr(e.call("POST", "/api/v1/projects/web/domains", tok, `{"name": "a.example.com", "extra": 1}`), 400, apogee.EINVALID)
	e.wantErr(e.call("GET", "/api/v1/domains/not_a_domain", tok, nil), 404, apogee.ENOTFOUND)
	e.wantErr(e.call("POST", "/api/v1/projects/web/domains", "", apogee.CreateDomainRequest{Name: "a.example.com"}), 401, apogee.EUNAUTHORIZED)
	ds, err := e.store.ListDomains(t.Context(), "")
	if err != nil || len(ds) != 0 {
		t.Fatalf("domains after bad input: %v, %v", ds, err)
	}
}
