package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/client"
	"github.com/apogee-dev/apogee/internal/resolver/resolvertest"
)

// TestDelegatedZone is issue 18 end to end in one server: a zone added
// through the API is answered by --dns-listen with the edge's address
// at its apex; once its delegation is found (a loopback DNS server plays
// the parent zone, through --dns-resolver) the apex serves the project;
// a record added through the API is answered without a restart.
func TestDelegatedZone(t *testing.T) {
	parent, parentAddr := resolvertest.Start(t)
	s, addr := startServer(t, Config{Data: t.TempDir(), Domain: "apogee.test", DNSListen: "127.0.0.1:0",
		DNSEdge: []string{"127.0.0.1"}, DNSResolver: parentAddr})
	c := client.New(addr, userToken(t, s.Store(), "alice@example.com", "password", false))
	ctx := context.Background()
	if _, err := c.CreateProject(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Deploy(ctx, site(t, "hello from the apex"), client.DeployOptions{Project: "web", Production: true}); err != nil {
		t.Fatal(err)
	}
	z, err := c.AddZone(ctx, apogee.AddZoneRequest{Name: "example.com", Project: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if len(z.Nameservers) != 2 || z.Nameservers[0] != "ns1.apogee.test" {
		t.Fatalf("nameservers %v; want the defaults from --domain", z.Nameservers)
	}

	ask := func(name string, qtype uint16) *dns.Msg {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), qtype)
		r, err := dns.ExchangeContext(ctx, m, s.DNSAddr())
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// answered polls until name answers one record: the zone reaches
	// the DNS server through the event bus.
	answered := func(name string, qtype uint16) dns.RR {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			if r := ask(name, qtype); len(r.Answer) > 0 {
				return r.Answer[0]
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s %s never answered", name, dns.TypeToString[qtype])
			}
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond): // poll interval
			}
		}
	}
	if a, ok := answered("example.com", dns.TypeA).(*dns.A); !ok || a.A.String() != "127.0.0.1" {
		t.Fatalf("example.com A = %v; want the edge's 127.0.0.1", a)
	}

	if _, err := c.VerifyZone(ctx, "example.com"); apogee.ErrorCode(err) != apogee.ECONFLICT {
		t.Fatalf("verify before the delegation: %v; want a conflict", err)
	}
	parent.SetNS("example.com", "ns1.apogee.test", "ns2.apogee.test")
	if z, err = c.VerifyZone(ctx, "example.com"); err != nil || !z.Verified {
		t.Fatalf("verify: %+v, %v", z, err)
	}
	waitFor(t, addr, "example.com", "hello from the apex")
	waitFor(t, addr, "www.example.com", "hello from the apex")

	if _, err := c.AddRecord(ctx, "example.com", apogee.AddRecordRequest{Name: "@", Type: "MX", Value: "10 mail.example.com"}); err != nil {
		t.Fatal(err)
	}
	if mx, ok := answered("example.com", dns.TypeMX).(*dns.MX); !ok || mx.Mx != "mail.example.com." {
		t.Fatalf("MX = %v", mx)
	}
	if r := ask("example.org", dns.TypeA); r.Rcode != dns.RcodeRefused {
		t.Errorf("a name of no zone: %s; want REFUSED", dns.RcodeToString[r.Rcode])
	}
}

func TestParseSecondary(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"192.0.2.53", "192.0.2.53:53", ""},
		{" 2001:db8::53 ", "[2001:db8::53]:53", ""},
		{"192.0.2.53:5353", "192.0.2.53:5353", ""},
		{"[2001:db8::53]:5353", "[2001:db8::53]:5353", ""},
		{"::ffff:192.0.2.53", "192.0.2.53:53", ""},
		{"ns2.example.net", "", "not an IP address"},
		{"192.0.2.53:0", "", "not an IP address"},
		{"", "", "not an IP address"},
	} {
		got, err := parseSecondary(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, %v; want an error saying %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got.String() != tc.want {
			t.Errorf("%q: %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}
