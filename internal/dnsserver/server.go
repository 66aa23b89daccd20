// Package dnsserver is Apogee's authoritative DNS server for the zones
// users delegate to the platform (apogee.Zone). It answers from a
// snapshot of every zone held in memory, swapped whole by Load, so a
// query takes no lock and reads no database: SOA and NS at each apex
// (the platform's nameservers), the zone's own records, and A/AAAA with
// the edge's addresses at the apex and www of a zone attached to a
// project, and at "*.<apex>" when a project has the wildcard domain. It answers NXDOMAIN and NODATA with the SOA in the authority
// section, follows CNAMEs inside a zone, serves wildcards (RFC 4592) and
// referrals for NS records below an apex, speaks EDNS0 and truncates
// UDP answers that do not fit (the client retries over TCP). It
// refuses recursion (names outside its zones), zone transfers except
// AXFR to configured secondaries, and every opcode but QUERY. When a
// zone's serial moves (or the zone is new), it sends the secondaries a
// NOTIFY (RFC 1996), resent until each acknowledges it, so they transfer
// the zone at once instead of at their next refresh (the first Load, made
// before the server answers, notifies no one).
package dnsserver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/apogee-dev/apogee"
)

// Config says what the server answers besides the zones' records.
type Config struct {
	// Nameservers are the host names of the platform's nameservers
	// (ns1.apogee.example): the NS records of every apex, and the SOA's
	// primary (the first). At least one.
	Nameservers []string
	// Edge is the edge's addresses: the A and AAAA records of the apex
	// and www of a zone attached to a project.
	Edge []netip.Addr
	// Secondaries are the addresses allowed to transfer zones (AXFR over
	// TCP): secondary DNS servers. Everyone else is refused.
	Secondaries []netip.Addr
	// Notify are the secondaries' DNS addresses (port 53, usually) that
	// get a NOTIFY when a zone changes; empty: none.
	Notify []netip.AddrPort
}

// Source is where the server reads zones: the store. Its methods are
// those of apogee.ZoneStore.
type Source interface {
	ListZones(ctx context.Context, ownerID string) ([]*apogee.Zone, error)
	ZoneRecords(ctx context.Context, zone string) ([]*apogee.ZoneRecord, error)
}

// Server answers DNS queries for the zones of its Source. It is safe
// for concurrent use: ServeDNS runs for every query at once while Load
// replaces the snapshot.
type Server struct {
	cfg    Config
	src    Source
	log    *slog.Logger
	snap   atomic.Pointer[snapshot]
	loadMu sync.Mutex // one Load at a time: a slow old load never replaces a newer one
	loaded bool       // a Load has run (under loadMu)

	notifyMu sync.Mutex
	notifyWG sync.WaitGroup
	// notifying is each zone's NOTIFY round in flight, canceled when a
	// newer serial starts one.
	notifying map[string]context.CancelFunc
	// NotifyTimeout and NotifyTries bound one NOTIFY: each try waits
	// NotifyTimeout for the answer (defaults notifyTimeout, notifyTries).
	NotifyTimeout time.Duration
	NotifyTries   int
}

var _ dns.Handler = (*Server)(nil)

// Timings of the records the server makes itself.
const (
	nsTTL      = 3600 // apex NS and SOA
	negTTL     = 300  // SOA minimum: how long a resolver caches NXDOMAIN and NODATA
	edgeTTL    = 300  // the edge's A and AAAA at a project's apex and www
	maxCNAMEs  = 8    // CNAMEs followed inside the zones for one answer
	maxUDPSize = 1232 // the EDNS0 buffer size the server offers (DNS flag day 2020)

	// RFC 1996 leaves the retry schedule to the primary; BIND resends a
	// NOTIFY 5 times, starting a few seconds apart.
	notifyTimeout = 2 * time.Second
	notifyTries   = 5
)

// New returns a server of src's zones; it answers REFUSED for every
// name until Load.
func New(cfg Config, src Source, log *slog.Logger) (*Server, error) {
	if len(cfg.Nameservers) == 0 {
		return nil, apogee.Errorf(apogee.EINVALID, "the DNS server needs the platform's nameservers' names (--dns-nameservers)")
	}
	for i, ns := range cfg.Nameservers {
		if _, ok := dns.IsDomainName(ns); !ok || !strings.Contains(strings.Trim(ns, "."), ".") {
			return nil, apogee.Errorf(apogee.EINVALID, "nameserver %q is not a full host name such as ns1.example.net", ns)
		}
		cfg.Nameservers[i] = dns.Fqdn(strings.ToLower(ns))
	}
	s := &Server{cfg: cfg, src: src, log: log}
	s.snap.Store(&snapshot{zones: map[string]*zone{}})
	return s, nil
}

// Load reads every zone from the source and makes them what the server
// answers, all at once. A record that no longer parses is logged and
// left out, never the whole zone.
func (s *Server) Load(ctx context.Context) error {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	zs, err := s.src.ListZones(ctx, "")
	if err != nil {
		return fmt.Errorf("dns: load zones: %w", err)
	}
	snap := &snapshot{zones: make(map[string]*zone, len(zs))}
	for _, z := range zs {
		rs, err := s.src.ZoneRecords(ctx, z.Name)
		if err != nil {
			return fmt.Errorf("dns: load records of %s: %w", z.Name, err)
		}
		snap.zones[dns.Fqdn(z.Name)] = s.build(z, rs)
	}
	old := s.snap.Swap(snap)
	if !s.loaded {
		// The first load, before the server answers: a NOTIFY now would
		// make secondaries transfer from a server that is not listening
		// yet. They catch up at their SOA refresh; later changes notify.
		s.loaded = true
		return nil
	}
	for apex, z := range snap.zones {
		if prev := old.zones[apex]; prev == nil || prev.soa.Serial != z.soa.Serial {
			s.notify(z)
		}
	}
	return nil
}

// notify tells every secondary of Config.Notify that z changed: a
// NOTIFY with z's SOA, over UDP, sent again (NotifyTries times in all)
// until the secondary answers it. A newer change of the zone replaces a
// round still in flight.
func (s *Server) notify(z *zone) {
	if len(s.cfg.Notify) == 0 {
		return
	}
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	if s.notifying == nil {
		s.notifying = map[string]context.CancelFunc{}
	}
	if cancel := s.notifying[z.apex]; cancel != nil {
		cancel()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.notifying[z.apex] = cancel
	timeout, tries := cmp.Or(s.NotifyTimeout, notifyTimeout), cmp.Or(s.NotifyTries, notifyTries)
	for _, to := range s.cfg.Notify {
		s.notifyWG.Add(1)
		go func() {
			defer s.notifyWG.Done()
			m := new(dns.Msg)
			m.SetNotify(z.apex)
			m.Authoritative = true
			m.Answer = []dns.RR{z.soa}
			c := &dns.Client{Net: "udp", Timeout: timeout}
			var err error
			for try := range tries {
				if try > 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(time.Duration(try) * timeout):
					}
				}
				var r *dns.Msg
				r, _, err = c.ExchangeContext(ctx, m, to.String())
				if err == nil && r.Opcode == dns.OpcodeNotify && r.Rcode == dns.RcodeSuccess {
					s.log.Debug("dns notify acknowledged", "zone", z.apex, "secondary", to, "serial", z.soa.Serial)
					return
				}
				if err == nil {
					err = fmt.Errorf("answered %s", dns.RcodeToString[r.Rcode])
				}
				if ctx.Err() != nil {
					return
				}
			}
			s.log.Warn("dns notify not acknowledged", "zone", z.apex, "secondary", to, "serial", z.soa.Serial, "tries", tries, "err", err)
		}()
	}
}

// Close stops the NOTIFY rounds in flight and waits for them.
func (s *Server) Close() {
	s.notifyMu.Lock()
	for _, cancel := range s.notifying {
		cancel()
	}
	s.notifyMu.Unlock()
	s.notifyWG.Wait()
}

// Zones returns how many zones the server answers for.
func (s *Server) Zones() int { return len(s.snap.Load().zones) }

// build makes one zone's answers.
func (s *Server) build(z *apogee.Zone, rs []*apogee.ZoneRecord) *zone {
	apex := dns.Fqdn(z.Name)
	zn := &zone{apex: apex, nodes: map[string]*node{}}
	zn.soa = &dns.SOA{
		Hdr: dns.RR_Header{Name: apex, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: nsTTL},
		Ns:  s.cfg.Nameservers[0], Mbox: "hostmaster." + apex, Serial: uint32(z.Serial),
		Refresh: 3600, Retry: 600, Expire: 1209600, Minttl: negTTL,
	}
	zn.add(zn.soa)
	for _, ns := range s.cfg.Nameservers {
		zn.add(&dns.NS{Hdr: dns.RR_Header{Name: apex, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: nsTTL}, Ns: ns})
	}
	for _, r := range rs {
		rr, err := ParseRecord(r)
		if err != nil {
			s.log.Warn("dns record left out", "zone", z.Name, "record", r.ID, "err", err)
			continue
		}
		zn.add(rr)
	}
	var hosts []string
	if z.ProjectID != "" {
		hosts = append(hosts, apex, "www."+apex)
	}
	if z.Wildcard {
		hosts = append(hosts, "*."+apex) // a wildcard domain: every name below the apex
	}
	for _, host := range hosts {
		if n := zn.nodes[host]; n != nil && (len(n.rrs[dns.TypeCNAME]) > 0 || len(n.rrs[dns.TypeA]) > 0 || len(n.rrs[dns.TypeAAAA]) > 0) {
			continue // the owner's records win
		}
		for _, ip := range s.cfg.Edge {
			hdr := dns.RR_Header{Name: host, Class: dns.ClassINET, Ttl: edgeTTL}
			if ip.Is4() {
				hdr.Rrtype = dns.TypeA
				zn.add(&dns.A{Hdr: hdr, A: ip.AsSlice()})
			} else {
				hdr.Rrtype = dns.TypeAAAA
				zn.add(&dns.AAAA{Hdr: hdr, AAAA: ip.AsSlice()})
			}
		}
	}
	return zn
}

// snapshot is every zone the server answers for, by apex FQDN.
type snapshot struct{ zones map[string]*zone }

// find returns the zone name is in: the one with the longest apex.
func (sn *snapshot) find(name string) *zone {
	for off, end := 0, false; !end; off, end = dns.NextLabel(name, off) {
		if z := sn.zones[name[off:]]; z != nil {
			return z
		}
	}
	return nil
}

type zone struct {
	apex  string
	soa   *dns.SOA
	nodes map[string]*node // by lower-case FQDN; names between a record and the apex are empty nodes
}

type node struct{ rrs map[uint16][]dns.RR }

func (z *zone) add(rr dns.RR) {
	name := strings.ToLower(rr.Header().Name)
	n := z.nodes[name]
	if n == nil {
		n = &node{rrs: map[uint16][]dns.RR{}}
		z.nodes[name] = n
	}
	n.rrs[rr.Header().Rrtype] = append(n.rrs[rr.Header().Rrtype], rr)
	// Empty non-terminals exist: their names answer NODATA, not NXDOMAIN.
	for off, end := dns.NextLabel(name, 0); !end && len(name[off:]) > len(z.apex); off, end = dns.NextLabel(name, off) {
		if z.nodes[name[off:]] == nil {
			z.nodes[name[off:]] = &node{rrs: map[uint16][]dns.RR{}}
		}
	}
}

// ServeDNS answers one query.
func (s *Server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	if len(r.Question) == 1 && r.Question[0].Qtype == dns.TypeAXFR && r.Opcode == dns.OpcodeQuery && s.transfer(w, r) {
		return
	}
	m := s.answer(r)
	size := dns.MinMsgSize
	if opt := r.IsEdns0(); opt != nil {
		size = max(dns.MinMsgSize, min(int(opt.UDPSize()), maxUDPSize))
		m.SetEdns0(maxUDPSize, false)
	}
	if _, tcp := w.LocalAddr().(*net.TCPAddr); tcp {
		size = dns.MaxMsgSize
	}
	m.Truncate(size)
	if err := w.WriteMsg(m); err != nil {
		s.log.Debug("dns answer not sent", "err", err)
	}
}

// transfer sends a whole zone to a secondary over TCP (AXFR) and
// reports whether it did; every other asker is answered REFUSED by
// answer.
func (s *Server) transfer(w dns.ResponseWriter, r *dns.Msg) bool {
	tcp, ok := w.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return false
	}
	ip, _ := netip.AddrFromSlice(tcp.IP)
	if !slices.Contains(s.cfg.Secondaries, ip.Unmap()) {
		return false
	}
	z := s.snap.Load().zones[strings.ToLower(r.Question[0].Name)]
	if z == nil {
		return false
	}
	// The SOA first and last, every other record between (RFC 5936).
	rrs := []dns.RR{z.soa}
	for _, n := range z.nodes {
		for t, set := range n.rrs {
			if t != dns.TypeSOA {
				rrs = append(rrs, set...)
			}
		}
	}
	rrs = append(rrs, z.soa)
	ch := make(chan *dns.Envelope, 1)
	tr := new(dns.Transfer)
	errc := make(chan error, 1)
	go func() { errc <- tr.Out(w, r, ch) }()
	for i := 0; i < len(rrs); i += 100 {
		ch <- &dns.Envelope{RR: rrs[i:min(i+100, len(rrs))]}
	}
	close(ch)
	if err := <-errc; err != nil {
		s.log.Warn("zone transfer", "zone", z.apex, "to", ip, "err", err)
	}
	w.Close()
	return true
}

// Answer returns the server's answer to r, before EDNS0 and truncation.
func (s *Server) answer(r *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Compress = true
	m.RecursionAvailable = false
	switch {
	case r.Opcode != dns.OpcodeQuery:
		return m.SetRcode(r, dns.RcodeNotImplemented)
	case len(r.Question) != 1:
		return m.SetRcode(r, dns.RcodeFormatError)
	}
	q := r.Question[0]
	if q.Qclass != dns.ClassINET || q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR {
		return m.SetRcode(r, dns.RcodeRefused)
	}
	name := strings.ToLower(q.Name)
	z := s.snap.Load().find(name)
	if z == nil {
		// Not one of ours, and this server does not recurse.
		return m.SetRcode(r, dns.RcodeRefused)
	}
	m.Authoritative = true
	z.resolve(m, name, q.Qtype, 0)
	return m
}

// resolve adds the answer for name and qtype to m.
func (z *zone) resolve(m *dns.Msg, name string, qtype uint16, depth int) {
	// A name at or below an NS record under the apex is delegated.
	for off, end := 0, false; !end && len(name[off:]) > len(z.apex); off, end = dns.NextLabel(name, off) {
		if n := z.nodes[name[off:]]; n != nil && len(n.rrs[dns.TypeNS]) > 0 {
			if depth == 0 {
				m.Authoritative = false
			}
			m.Ns = append(m.Ns, n.rrs[dns.TypeNS]...)
			return
		}
	}
	n, wild := z.nodes[name], false
	if n == nil {
		n, wild = z.wildcard(name), true
	}
	if n == nil {
		m.Rcode = dns.RcodeNameError
		m.Ns = append(m.Ns, z.soa)
		return
	}
	if cname := n.rrs[dns.TypeCNAME]; len(cname) > 0 && qtype != dns.TypeCNAME {
		m.Answer = append(m.Answer, owned(cname, name, wild)...)
		target := strings.ToLower(cname[0].(*dns.CNAME).Target)
		if depth < maxCNAMEs && dns.IsSubDomain(z.apex, target) {
			z.resolve(m, target, qtype, depth+1)
		}
		return
	}
	var rrs []dns.RR
	if qtype == dns.TypeANY {
		for _, set := range n.rrs {
			rrs = append(rrs, set...)
		}
	} else {
		rrs = n.rrs[qtype]
	}
	if len(rrs) == 0 {
		m.Ns = append(m.Ns, z.soa) // NODATA
		return
	}
	m.Answer = append(m.Answer, owned(rrs, name, wild)...)
}

// wildcard returns the wildcard node that answers for name, which has
// no node of its own: "*." + its closest encloser (RFC 4592), if any.
func (z *zone) wildcard(name string) *node {
	for off, end := dns.NextLabel(name, 0); !end && len(name[off:]) >= len(z.apex); off, end = dns.NextLabel(name, off) {
		if z.nodes[name[off:]] != nil {
			return z.nodes["*."+name[off:]]
		}
	}
	return nil
}

// owned returns rrs as records of name: copies with that owner when they
// come from a wildcard.
func owned(rrs []dns.RR, name string, wild bool) []dns.RR {
	if !wild {
		return rrs
	}
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		out[i] = dns.Copy(rr)
		out[i].Header().Name = name
	}
	return out
}

// Listen opens UDP and TCP on addr ("127.0.0.1:0" picks a port free for
// both).
func Listen(addr string) (net.PacketConn, net.Listener, error) {
	for try := 0; ; try++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dns: listen udp %s: %w", addr, err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		if _, port, _ := net.SplitHostPort(addr); port != "0" || try == 20 {
			return nil, nil, fmt.Errorf("dns: listen tcp %s: %w", addr, err)
		}
	}
}

// Serve answers queries on pc and ln until ctx ends, then closes both.
func (s *Server) Serve(ctx context.Context, pc net.PacketConn, ln net.Listener) error {
	udp := &dns.Server{PacketConn: pc, Handler: s, UDPSize: maxUDPSize}
	tcp := &dns.Server{Listener: ln, Handler: s}
	errc := make(chan error, 2)
	go func() { errc <- udp.ActivateAndServe() }()
	go func() { errc <- tcp.ActivateAndServe() }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	// Shutdown of a server that never started reports an error: ignore it.
	_ = udp.Shutdown()
	_ = tcp.Shutdown()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("dns: serve: %w", err)
	}
	return nil
}

// Watch reloads the zones whenever the event bus says one changed (or
// that events may have been missed), until ctx ends; and once when it
// has subscribed, for changes made since the last Load. Zones are
// small: each reload reads them all.
func (s *Server) Watch(ctx context.Context, bus apogee.EventBus) error {
	evs, err := bus.Subscribe(ctx)
	if err != nil {
		return fmt.Errorf("dns: subscribe to events: %w", err)
	}
	if err := s.Load(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("dns reload", "err", err)
	}
	for e := range evs {
		switch e.Type {
		case apogee.EventZoneChanged, apogee.EventProjectDeleted, apogee.EventResync:
			if err := s.Load(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("dns reload", "err", err)
			}
		}
	}
	return nil
}
