package dnsserver_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/dnsserver"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/sqlstore"
)

// fixture is a real SQLite store holding example.com, attached to a
// project, with a record of every type, and a DNS server of it on
// loopback (UDP and TCP).
type fixture struct {
	store apogee.Store
	srv   *dnsserver.Server
	addr  string
}

var fixtureRecords = []struct{ name, typ, value string }{
	{"@", "MX", "10 mail.example.com"},
	{"@", "TXT", "v=spf1 include:_spf.example.net -all"},
	{"@", "CAA", `0 issue "letsencrypt.org"`},
	{"mail", "A", "192.0.2.25"},
	{"mail", "AAAA", "2001:db8::25"},
	{"blog", "CNAME", "mail.example.com"},
	{"docs", "CNAME", "web.apogee.test"},
	{"*.preview", "A", "192.0.2.80"},
	{"_acme-challenge", "TXT", "token-1"},
	{"_sip._tcp", "SRV", "10 5 5060 sip.example.com"},
	{"sub", "NS", "ns1.other.net"},
}

func newFixture(t testing.TB, secondaries ...netip.Addr) *fixture {
	t.Helper()
	return newFixtureWith(t, dnsserver.Config{Secondaries: secondaries}, nil)
}

// newFixtureWith is newFixture with cfg's Secondaries and Notify, and
// setup run on the server before its first Load.
func newFixtureWith(t testing.TB, cfg dnsserver.Config, setup func(*dnsserver.Server)) *fixture {
	t.Helper()
	ctx := t.Context()
	st, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "apogee.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	u := &apogee.User{ID: apogee.NewID(), Email: "alice@example.com", Password: "x", CreatedAt: time.Now()}
	must(t, st.CreateUser(ctx, u))
	p := &apogee.Project{ID: apogee.NewID(), Name: "web", OwnerID: u.ID, CreatedAt: time.Now()}
	must(t, st.CreateProject(ctx, p))
	must(t, st.CreateZone(ctx, &apogee.Zone{Name: "example.com", OwnerID: u.ID, ProjectID: p.ID}))
	must(t, st.CreateZone(ctx, &apogee.Zone{Name: "bare.test", OwnerID: u.ID}))
	for _, r := range fixtureRecords {
		must(t, st.AddZoneRecord(ctx, &apogee.ZoneRecord{Zone: "example.com", Name: r.name, Type: r.typ, Value: r.value, TTL: 300}))
	}
	// 40 TXT records at big: more than 512 bytes, less than 64 KiB.
	for i := range 40 {
		must(t, st.AddZoneRecord(ctx, &apogee.ZoneRecord{Zone: "example.com", Name: "big", Type: "TXT",
			Value: fmt.Sprintf("record %02d %s", i, strings.Repeat("x", 40)), TTL: 300}))
	}
	srv, err := dnsserver.New(dnsserver.Config{
		Nameservers: []string{"ns1.apogee.test", "ns2.apogee.test"},
		Edge:        []netip.Addr{netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("2001:db8::7")},
		Secondaries: cfg.Secondaries,
		Notify:      cfg.Notify,
	}, st, slog.New(slog.DiscardHandler))
	must(t, err)
	t.Cleanup(srv.Close)
	if setup != nil {
		setup(srv)
	}
	must(t, srv.Load(ctx))
	pc, ln, err := dnsserver.Listen("127.0.0.1:0")
	must(t, err)
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, pc, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &fixture{store: st, srv: srv, addr: pc.LocalAddr().String()}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// ask sends one query over net ("udp" or "tcp") and returns the answer.
func (f *fixture) ask(t *testing.T, network, name string, qtype uint16, edns bool) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	if edns {
		m.SetEdns0(1232, false)
	}
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	r, _, err := c.ExchangeContext(t.Context(), m, f.addr)
	if err != nil {
		t.Fatalf("%s %s %s: %v", network, name, dns.TypeToString[qtype], err)
	}
	return r
}

// rdata is the answer section in zone-file form without owner, TTL and
// class ("A 192.0.2.25"), sorted; owners other than the question's are
// kept ("blog.example.com. CNAME mail.example.com.").
func rdata(rrs []dns.RR, qname string) []string {
	var out []string
	for _, rr := range rrs {
		f := strings.Fields(rr.String())
		s := strings.Join(append([]string{f[3]}, f[4:]...), " ")
		if !strings.EqualFold(rr.Header().Name, dns.Fqdn(qname)) {
			s = rr.Header().Name + " " + s
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func TestAnswers(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name   string
		qtype  uint16
		rcode  int
		answer []string
		soa    bool // the SOA in the authority section (NXDOMAIN, NODATA)
		aa     bool
	}{
		// Serial 52: 1 at creation and one move for each of the 51 records.
		{"example.com", dns.TypeSOA, dns.RcodeSuccess, []string{"SOA ns1.apogee.test. hostmaster.example.com. 52 3600 600 1209600 300"}, false, true},
		{"example.com", dns.TypeNS, dns.RcodeSuccess, []string{"NS ns1.apogee.test.", "NS ns2.apogee.test."}, false, true},
		{"example.com", dns.TypeA, dns.RcodeSuccess, []string{"A 203.0.113.7"}, false, true},
		{"EXAMPLE.com", dns.TypeAAAA, dns.RcodeSuccess, []string{"AAAA 2001:db8::7"}, false, true},
		{"www.example.com", dns.TypeA, dns.RcodeSuccess, []string{"A 203.0.113.7"}, false, true},
		{"example.com", dns.TypeMX, dns.RcodeSuccess, []string{"MX 10 mail.example.com."}, false, true},
		{"example.com", dns.TypeTXT, dns.RcodeSuccess, []string{`TXT "v=spf1 include:_spf.example.net -all"`}, false, true},
		{"example.com", dns.TypeCAA, dns.RcodeSuccess, []string{`CAA 0 issue "letsencrypt.org"`}, false, true},
		{"mail.example.com", dns.TypeA, dns.RcodeSuccess, []string{"A 192.0.2.25"}, false, true},
		{"mail.example.com", dns.TypeAAAA, dns.RcodeSuccess, []string{"AAAA 2001:db8::25"}, false, true},
		{"_sip._tcp.example.com", dns.TypeSRV, dns.RcodeSuccess, []string{"SRV 10 5 5060 sip.example.com."}, false, true},
		{"_acme-challenge.example.com", dns.TypeTXT, dns.RcodeSuccess, []string{`TXT "token-1"`}, false, true},
		// A CNAME inside the zone is followed; one out of it is not.
		{"blog.example.com", dns.TypeA, dns.RcodeSuccess, []string{"CNAME mail.example.com.", "mail.example.com. A 192.0.2.25"}, false, true},
		{"blog.example.com", dns.TypeCNAME, dns.RcodeSuccess, []string{"CNAME mail.example.com."}, false, true},
		{"docs.example.com", dns.TypeA, dns.RcodeSuccess, []string{"CNAME web.apogee.test."}, false, true},
		// Wildcards answer for names below their encloser, not for it.
		{"pr-7.preview.example.com", dns.TypeA, dns.RcodeSuccess, []string{"A 192.0.2.80"}, false, true},
		{"preview.example.com", dns.TypeA, dns.RcodeSuccess, nil, true, true}, // an empty non-terminal: NODATA
		{"pr-7.preview.example.com", dns.TypeTXT, dns.RcodeSuccess, nil, true, true},
		// NODATA and NXDOMAIN.
		{"mail.example.com", dns.TypeTXT, dns.RcodeSuccess, nil, true, true},
		{"nope.example.com", dns.TypeA, dns.RcodeNameError, nil, true, true},
		{"a.b.mail.example.com", dns.TypeA, dns.RcodeNameError, nil, true, true},
		// A zone with no project has no A at its apex.
		{"bare.test", dns.TypeA, dns.RcodeSuccess, nil, true, true},
		{"www.bare.test", dns.TypeA, dns.RcodeNameError, nil, true, true},
		// Not ours: no recursion.
		{"example.org", dns.TypeA, dns.RcodeRefused, nil, false, false},
		{"com", dns.TypeNS, dns.RcodeRefused, nil, false, false},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, tt := range tests {
			t.Run(network+"/"+tt.name+"/"+dns.TypeToString[tt.qtype], func(t *testing.T) {
				r := f.ask(t, network, tt.name, tt.qtype, true)
				if r.Rcode != tt.rcode {
					t.Errorf("rcode %s; want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
				}
				if r.Authoritative != tt.aa || r.RecursionAvailable {
					t.Errorf("AA %v RA %v; want AA %v, RA false", r.Authoritative, r.RecursionAvailable, tt.aa)
				}
				if got := rdata(r.Answer, tt.name); !slices.Equal(got, tt.answer) {
					t.Errorf("answer\n got  %q\n want %q", got, tt.answer)
				}
				hasSOA := len(r.Ns) == 1 && r.Ns[0].Header().Rrtype == dns.TypeSOA
				if hasSOA != tt.soa {
					t.Errorf("authority %v; want the SOA: %v", r.Ns, tt.soa)
				}
				if r.IsEdns0() == nil && tt.rcode != dns.RcodeRefused {
					t.Error("no OPT record in the answer to an EDNS0 query")
				}
			})
		}
	}
}

func TestReferral(t *testing.T) {
	f := newFixture(t)
	r := f.ask(t, "udp", "host.sub.example.com", dns.TypeA, false)
	if r.Rcode != dns.RcodeSuccess || r.Authoritative || len(r.Answer) != 0 {
		t.Fatalf("rcode %s AA %v answer %v; want a referral: NOERROR, not authoritative, no answer", dns.RcodeToString[r.Rcode], r.Authoritative, r.Answer)
	}
	if got := rdata(r.Ns, "sub.example.com"); !slices.Equal(got, []string{"NS ns1.other.net."}) {
		t.Errorf("authority %q; want the delegation's NS", got)
	}
}

func TestTruncationAndTCPRetry(t *testing.T) {
	f := newFixture(t)
	udp := f.ask(t, "udp", "big.example.com", dns.TypeTXT, false)
	if !udp.Truncated {
		t.Fatalf("a %d-record answer over UDP without EDNS0 is not truncated", len(udp.Answer))
	}
	tcp := f.ask(t, "tcp", "big.example.com", dns.TypeTXT, false)
	if tcp.Truncated || len(tcp.Answer) != 40 {
		t.Fatalf("over TCP: truncated %v, %d records; want all 40", tcp.Truncated, len(tcp.Answer))
	}
	// A client that retries over TCP on TC gets every record.
	m := new(dns.Msg)
	m.SetQuestion("big.example.com.", dns.TypeTXT)
	c := &dns.Client{Timeout: 5 * time.Second}
	r, _, err := c.ExchangeContext(t.Context(), m, f.addr)
	must(t, err)
	if r.Truncated {
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(t.Context(), m, f.addr)
		must(t, err)
	}
	if len(r.Answer) != 40 {
		t.Errorf("after the TCP retry: %d records; want 40", len(r.Answer))
	}
}

func TestRefusesTransfersAndOtherOpcodes(t *testing.T) {
	f := newFixture(t)
	tr := &dns.Transfer{}
	m := new(dns.Msg)
	m.SetAxfr("example.com.")
	env, err := tr.In(m, f.addr)
	must(t, err)
	for e := range env {
		if e.Error == nil {
			t.Fatalf("AXFR of example.com gave %d records; want it refused", len(e.RR))
		}
	}
	n := new(dns.Msg)
	n.SetNotify("example.com.")
	r, err := dns.ExchangeContext(t.Context(), n, f.addr)
	must(t, err)
	if r.Rcode != dns.RcodeNotImplemented {
		t.Errorf("NOTIFY: rcode %s; want NOTIMP", dns.RcodeToString[r.Rcode])
	}
}

// TestReloadOnEvent: a record added in the store is answered once the
// event that says so reaches the server, and the SOA serial moves.
func TestReloadOnEvent(t *testing.T) {
	f := newFixture(t)
	bus := events.NewLocal(slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.srv.Watch(ctx, bus) }()
	t.Cleanup(func() { cancel(); <-done })

	before := f.ask(t, "udp", "example.com", dns.TypeSOA, false).Answer[0].(*dns.SOA).Serial
	must(t, f.store.AddZoneRecord(t.Context(), &apogee.ZoneRecord{Zone: "example.com", Name: "new", Type: "A", Value: "192.0.2.99", TTL: 60}))
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Published again on each round: the first may come before Watch subscribed.
		must(t, bus.Publish(t.Context(), apogee.Event{Type: apogee.EventZoneChanged, Host: "example.com"}))
		r := f.ask(t, "udp", "new.example.com", dns.TypeA, false)
		if r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("new.example.com still answers %s after the event", dns.RcodeToString[r.Rcode])
		}
		select {
		case <-t.Context().Done():
			return
		case <-time.After(20 * time.Millisecond): // poll interval, not synchronisation
		}
	}
	after := f.ask(t, "udp", "example.com", dns.TypeSOA, false).Answer[0].(*dns.SOA).Serial
	if after != before+1 {
		t.Errorf("serial %d after one added record; want %d", after, before+1)
	}
}

// TestAXFRToSecondary: a configured secondary gets the whole zone over
// TCP, SOA first and last; the same request from anyone else is
// refused (TestRefusesTransfersAndOtherOpcodes).
func TestAXFRToSecondary(t *testing.T) {
	f := newFixture(t, netip.MustParseAddr("127.0.0.1"))
	m := new(dns.Msg)
	m.SetAxfr("example.com.")
	env, err := new(dns.Transfer).In(m, f.addr)
	must(t, err)
	var rrs []dns.RR
	for e := range env {
		must(t, e.Error)
		rrs = append(rrs, e.RR...)
	}
	if len(rrs) < 2 || rrs[0].Header().Rrtype != dns.TypeSOA || rrs[len(rrs)-1].Header().Rrtype != dns.TypeSOA {
		t.Fatalf("transfer of %d records does not start and end with the SOA", len(rrs))
	}
	// SOA twice, 2 NS, 51 records, the edge's A and AAAA at the apex and www.
	if want := 2 + 2 + 51 + 4; len(rrs) != want {
		t.Errorf("transfer has %d records; want %d", len(rrs), want)
	}
	// A name that is not a zone's apex is not transferred.
	m.SetAxfr("www.example.com.")
	env, err = new(dns.Transfer).In(m, f.addr)
	must(t, err)
	for e := range env {
		if e.Error == nil {
			t.Fatal("AXFR of a name that is not a zone gave records")
		}
	}
}

// secondary is a secondary DNS server as BIND runs one: it acknowledges
// a NOTIFY and then transfers the zone (AXFR over TCP) from the primary.
type secondary struct {
	addr    netip.AddrPort
	primary atomic.Value  // string: the primary's address (set after the secondary starts)
	got     chan []dns.RR // each transfer's records
	notices atomic.Int64
}

func newSecondary(t *testing.T) *secondary {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	must(t, err)
	sec := &secondary{addr: netip.MustParseAddrPort(pc.LocalAddr().String()), got: make(chan []dns.RR, 16)}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		if r.Opcode != dns.OpcodeNotify || len(r.Question) != 1 {
			m := new(dns.Msg)
			m.SetRcode(r, dns.RcodeRefused)
			w.WriteMsg(m)
			return
		}
		sec.notices.Add(1)
		m := new(dns.Msg)
		m.SetReply(r)
		w.WriteMsg(m)
		zone := r.Question[0].Name
		go func() {
			x := new(dns.Msg)
			x.SetAxfr(zone)
			primary, _ := sec.primary.Load().(string)
			env, err := new(dns.Transfer).In(x, primary)
			if err != nil {
				return
			}
			var rrs []dns.RR
			for e := range env {
				if e.Error != nil {
					return
				}
				rrs = append(rrs, e.RR...)
			}
			sec.got <- rrs
		}()
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return sec
}

func (sec *secondary) transfer(t *testing.T) []dns.RR {
	t.Helper()
	select {
	case rrs := <-sec.got:
		return rrs
	case <-time.After(10 * time.Second):
		t.Fatal("the secondary was not notified and did not transfer the zone within 10 s")
		return nil
	}
}

// TestNotifyOnChange: a secondary is notified of a zone whose records
// changed and its transfer then holds the change; the first load (before
// the server answers) and a reload that changes nothing notify no one.
func TestNotifyOnChange(t *testing.T) {
	sec := newSecondary(t)
	var f *fixture
	f = newFixtureWith(t, dnsserver.Config{Secondaries: []netip.Addr{netip.MustParseAddr("127.0.0.1")}, Notify: []netip.AddrPort{sec.addr}},
		func(s *dnsserver.Server) { s.NotifyTimeout = 500 * time.Millisecond })
	sec.primary.Store(f.addr)
	// The first load, before the server listened, notified no one.
	select {
	case <-sec.got:
		t.Fatal("the first load notified a secondary before the server answered")
	case <-time.After(500 * time.Millisecond):
	}
	if n := sec.notices.Load(); n != 0 {
		t.Fatalf("%d NOTIFY at the first load", n)
	}

	must(t, f.store.AddZoneRecord(t.Context(), &apogee.ZoneRecord{Zone: "example.com", Name: "fresh", Type: "A", Value: "192.0.2.123", TTL: 60}))
	must(t, f.srv.Load(t.Context()))
	rrs := sec.transfer(t)
	if rrs[0].Header().Name != "example.com." {
		t.Fatalf("transferred %s, want example.com.", rrs[0].Header().Name)
	}
	found := false
	for _, rr := range rrs {
		if a, ok := rr.(*dns.A); ok && a.Hdr.Name == "fresh.example.com." && a.A.String() == "192.0.2.123" {
			found = true
		}
	}
	if !found {
		t.Error("the transfer after the NOTIFY lacks the new record")
	}

	before := sec.notices.Load()
	must(t, f.srv.Load(t.Context()))
	select {
	case rrs := <-sec.got:
		t.Errorf("a reload without changes notified %s", rrs[0].Header().Name)
	case <-time.After(time.Second):
	}
	if n := sec.notices.Load(); n != before {
		t.Errorf("%d NOTIFY after a reload without changes", n-before)
	}
}

// TestNotifyRetriesUntilAcknowledged: a secondary that does not answer
// gets the NOTIFY again, NotifyTries times in all.
func TestNotifyRetriesUntilAcknowledged(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	must(t, err)
	defer pc.Close()
	got := make(chan struct{}, 16)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			m := new(dns.Msg)
			if m.Unpack(buf[:n]) == nil && m.Opcode == dns.OpcodeNotify && m.Question[0].Name == "bare.test." {
				got <- struct{}{}
			}
		}
	}()
	f := newFixtureWith(t, dnsserver.Config{Notify: []netip.AddrPort{netip.MustParseAddrPort(pc.LocalAddr().String())}},
		func(s *dnsserver.Server) { s.NotifyTimeout, s.NotifyTries = 100*time.Millisecond, 3 })
	must(t, f.store.AddZoneRecord(t.Context(), &apogee.ZoneRecord{Zone: "bare.test", Name: "x", Type: "A", Value: "192.0.2.1", TTL: 60}))
	must(t, f.srv.Load(t.Context()))
	for i := range 3 {
		select {
		case <-got:
		case <-time.After(5 * time.Second):
			t.Fatalf("NOTIFY %d of 3 never came", i+1)
		}
	}
	select {
	case <-got:
		t.Error("a fourth NOTIFY came; NotifyTries is 3")
	case <-time.After(time.Second):
	}
}

// TestWildcardDomain: once *.example.com is a verified domain of a
// project, every name below the apex without records of its own answers
// with the edge's addresses; names with records keep them, and before
// that such a name is NXDOMAIN.
func TestWildcardDomain(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	if r := f.ask(t, "udp", "feature-x.example.com", dns.TypeA, true); r.Rcode != dns.RcodeNameError {
		t.Fatalf("before the wildcard domain: %s; want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
	p, err := f.store.ProjectByName(ctx, "web")
	must(t, err)
	must(t, f.store.CreateDomain(ctx, &apogee.Domain{Name: "*.example.com", ProjectID: p.ID, Token: "t", CreatedAt: time.Now()}))
	_, err = f.store.VerifyDomain(ctx, p.ID, "*.example.com", time.Now())
	must(t, err)
	must(t, f.srv.Load(ctx))
	tests := []struct {
		name  string
		qtype uint16
		want  []string
	}{
		{"feature-x.example.com", dns.TypeA, []string{"A 203.0.113.7"}},
		{"feature-x.example.com", dns.TypeAAAA, []string{"AAAA 2001:db8::7"}},
		{"mail.example.com", dns.TypeA, []string{"A 192.0.2.25"}},
		{"a.preview.example.com", dns.TypeA, []string{"A 192.0.2.80"}},
		{"bare.test", dns.TypeA, nil},
	}
	for _, tt := range tests {
		r := f.ask(t, "udp", tt.name, tt.qtype, true)
		if got := rdata(r.Answer, tt.name); !slices.Equal(got, tt.want) || !r.Authoritative {
			t.Errorf("%s %s = %v (aa %v); want %v", tt.name, dns.TypeToString[tt.qtype], got, r.Authoritative, tt.want)
		}
	}
}
