package cli

import (
	"context"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/api/apitest"
	"github.com/apogee-dev/apogee/internal/auth"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/platform"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// txtDNS answers TXT lookups from a map.
type txtDNS struct {
	mu  sync.Mutex
	txt map[string]string
}

func (d *txtDNS) LookupTXT(ctx context.Context, name string) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if v, ok := d.txt[name]; ok {
		return []string{v}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (d *txtDNS) LookupHost(ctx context.Context, host string) ([]string, error) {
	return []string{"192.0.2.10"}, nil
}

// realAPI runs the real API on SQLite with project "web" and logs the CLI
// in through APOGEE_SERVER and APOGEE_TOKEN.
func realAPI(t *testing.T) *txtDNS {
	t.Helper()
	return realAPIWith(t, nil)
}

// realAPIWith is realAPI with the platform's configuration changed by
// configure.
func realAPIWith(t *testing.T, configure func(*platform.Config)) *txtDNS {
	t.Helper()
	env(t)
	ctx := context.Background()
	st, bl, _ := testbed.Backends(t)
	log := testbed.Quiet
	dns := &txtDNS{txt: map[string]string{}}
	cfg := platform.Config{Store: st, Blobs: bl, Bus: events.NewLocal(log), Log: log, Domain: "apogee.test", Resolver: dns}
	if configure != nil {
		configure(&cfg)
	}
	srv := httptest.NewServer(apitest.New(t, cfg))
	t.Cleanup(srv.Close)

	u := &apogee.User{ID: apogee.NewID(), Email: email, Password: "x", CreatedAt: time.Now()}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	secret, hash := auth.NewToken()
	if err := st.CreateToken(ctx, &apogee.Token{ID: apogee.NewID(), UserID: u.ID, Name: "t", Hash: hash, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateProject(ctx, &apogee.Project{Name: "web", OwnerID: u.ID}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("APOGEE_SERVER", srv.URL)
	t.Setenv("APOGEE_TOKEN", secret)
	return dns
}

func TestDomainsCommands(t *testing.T) {
	dns := realAPI(t)

	add := oneJSON(t, run(t, "", "domains", "add", "www.example.com", "--project", "web", "--json").ok(t).stdout)
	v, _ := add["verification"].(map[string]any)
	token, _ := v["value"].(string)
	if v["type"] != "TXT" || v["name"] != "_apogee.www.example.com" || !strings.HasPrefix(token, "apogee-") {
		t.Fatalf("add --json verification = %v", add["verification"])
	}
	if d, _ := add["dns"].(map[string]any); d["type"] != "CNAME" || d["value"] != "web.apogee.test" {
		t.Fatalf("add --json dns = %v", add["dns"])
	}

	r := run(t, "", "domains", "add", "example.com", "--project", "web").ok(t)
	for _, want := range []string{"TXT", "_apogee.example.com", " A ", "192.0.2.10", "apogee domains verify example.com"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("add output lacks %q:\n%s", want, r.stdout)
		}
	}

	// Not yet in the DNS: the error says what to create.
	r = run(t, "", "domains", "verify", "www.example.com")
	if r.code == 0 || !strings.Contains(r.stderr, "no TXT record at _apogee.www.example.com") || !strings.Contains(r.stderr, token) {
		t.Fatalf("verify before the record: code %d\n%s", r.code, r.stderr)
	}
	r = run(t, "", "domains", "verify", "www.example.com", "--json")
	if e, _ := oneJSON(t, r.stdout)["error"].(map[string]any); r.code == 0 || e["code"] != apogee.ECONFLICT {
		t.Fatalf("verify --json before the record: %s", r.stdout)
	}

	dns.mu.Lock()
	dns.txt["_apogee.www.example.com"] = token
	dns.mu.Unlock()
	got := oneJSON(t, run(t, "", "domains", "verify", "www.example.com", "--json").ok(t).stdout)
	if got["verified"] != true {
		t.Fatalf("verify --json = %v", got)
	}

	list := oneJSON(t, run(t, "", "domains", "list", "--project", "web", "--json").ok(t).stdout)
	if ds, _ := list["domains"].([]any); len(ds) != 2 {
		t.Fatalf("list --json = %v", list)
	}
	r = run(t, "", "domains", "ls", "-p", "web").ok(t)
	if !strings.Contains(r.stdout, "www.example.com") || !strings.Contains(r.stdout, "verified") || !strings.Contains(r.stdout, "pending") {
		t.Errorf("list output:\n%s", r.stdout)
	}

	rm := oneJSON(t, run(t, "", "domains", "remove", "www.example.com", "--json").ok(t).stdout)
	if rm["removed"] != "www.example.com" {
		t.Fatalf("remove --json = %v", rm)
	}
	r = run(t, "", "domains", "remove", "www.example.com")
	if r.code == 0 || !strings.Contains(r.stderr, "not found") {
		t.Fatalf("remove twice: code %d\n%s", r.code, r.stderr)
	}
	r = run(t, "", "domains", "add", "bad_name.example.com", "--project", "web")
	if r.code == 0 || !strings.Contains(r.stderr, "bad_name") {
		t.Fatalf("add of a bad name: code %d\n%s", r.code, r.stderr)
	}
}
