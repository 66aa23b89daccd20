package certs_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/libdns/libdns"
	"github.com/miekg/dns"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/certs"
	"github.com/apogee-dev/apogee/internal/dnsserver"
	"github.com/apogee-dev/apogee/internal/sqlstore"
)

// TestDNSProvider: the DNS-01 provider writes the challenge TXT into a
// zone of a real SQLite store; Apogee's DNS server, reloaded by
// Changed, answers it over UDP; it is gone after DeleteRecords; other
// records are refused and nothing changes.
func TestDNSProvider(t *testing.T) {
	ctx := t.Context()
	st, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "apogee.db"), nil)
	must(t, err)
	t.Cleanup(func() { st.Close() })
	u := &apogee.User{ID: apogee.NewID(), Email: "alice@example.com", Password: "x", CreatedAt: time.Now()}
	must(t, st.CreateUser(ctx, u))
	must(t, st.CreateZone(ctx, &apogee.Zone{Name: "example.test", OwnerID: u.ID}))
	srv, err := dnsserver.New(dnsserver.Config{Nameservers: []string{"ns1.apogee.test"}}, st, slog.New(slog.DiscardHandler))
	must(t, err)
	t.Cleanup(srv.Close)
	must(t, srv.Load(ctx))
	pc, ln, err := dnsserver.Listen("127.0.0.1:0")
	must(t, err)
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, pc, ln) }()
	t.Cleanup(func() { cancel(); <-done })

	var changed []string
	p := &certs.DNSProvider{Store: st, Changed: func(ctx context.Context, zone string) {
		changed = append(changed, zone)
		must(t, srv.Load(ctx))
	}}
	txt := func() []string {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion("_acme-challenge.example.test.", dns.TypeTXT)
		r, err := dns.ExchangeContext(ctx, m, pc.LocalAddr().String())
		must(t, err)
		var out []string
		for _, rr := range r.Answer {
			out = append(out, rr.(*dns.TXT).Txt...)
		}
		return out
	}
	const value = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
	recs, err := p.AppendRecords(ctx, "example.test.", []libdns.Record{libdns.RR{Name: "_acme-challenge", Type: "TXT", Data: value}})
	must(t, err)
	if len(recs) != 1 || recs[0].RR().Data != value || recs[0].RR().TTL != time.Minute {
		t.Fatalf("appended %+v", recs)
	}
	if got := txt(); !slices.Equal(got, []string{value}) {
		t.Fatalf("TXT after AppendRecords = %q; want %q", got, value)
	}
	for _, bad := range []libdns.RR{{Name: "www", Type: "TXT", Data: "x"}, {Name: "_acme-challenge", Type: "A", Data: "192.0.2.1"}} {
		if _, err := p.AppendRecords(ctx, "example.test.", []libdns.Record{bad}); err == nil {
			t.Errorf("AppendRecords(%+v) succeeded", bad)
		}
	}
	del, err := p.DeleteRecords(ctx, "example.test.", recs)
	must(t, err)
	if len(del) != 1 {
		t.Fatalf("deleted %+v", del)
	}
	if got := txt(); len(got) != 0 {
		t.Fatalf("TXT after DeleteRecords = %q", got)
	}
	if rs, _ := st.ZoneRecords(ctx, "example.test"); len(rs) != 0 {
		t.Errorf("records left: %+v", rs)
	}
	if !slices.Equal(changed, []string{"example.test", "example.test"}) {
		t.Errorf("Changed calls %q", changed)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
