package server

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/certs"
	"github.com/apogee-dev/apogee/internal/dnsserver"
)

// dnsState is the authoritative DNS server of delegated zones, when
// --dns-listen is set: opened by New (a port in use fails the start),
// served by Serve.
type dnsState struct {
	srv *dnsserver.Server
	pc  net.PacketConn
	ln  net.Listener
}

// normalizeDNS checks the DNS flags and fills the nameservers' default.
func (c *Config) normalizeDNS() error {
	if c.DNSListen == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(c.DNSListen); err != nil {
		return apogee.Errorf(apogee.EINVALID, "--dns-listen %q is not host:port (e.g. :53)", c.DNSListen)
	}
	if len(c.DNSNameservers) == 0 {
		if !strings.Contains(c.Domain, ".") || c.Domain == "localhost" || strings.HasSuffix(c.Domain, ".localhost") {
			return apogee.Errorf(apogee.EINVALID, "--dns-listen needs --dns-nameservers (the public names of this DNS server, e.g. ns1.example.net) when --domain is %q", c.Domain)
		}
		c.DNSNameservers = []string{"ns1." + c.Domain, "ns2." + c.Domain}
	}
	for _, e := range c.DNSEdge {
		if _, err := netip.ParseAddr(strings.TrimSpace(e)); err != nil {
			return apogee.Errorf(apogee.EINVALID, "--dns-edge %q is not an IP address", e)
		}
	}
	for _, e := range c.DNSSecondaries {
		if _, err := parseSecondary(e); err != nil {
			return err
		}
	}
	return nil
}

// parseSecondary reads an entry of --dns-secondaries: an IP address, or
// an IP address and the port its DNS server listens on for NOTIFY
// (default 53; "[::1]:5353" for IPv6).
func parseSecondary(e string) (netip.AddrPort, error) {
	e = strings.TrimSpace(e)
	if ip, err := netip.ParseAddr(e); err == nil {
		return netip.AddrPortFrom(ip.Unmap(), 53), nil
	}
	ap, err := netip.ParseAddrPort(e)
	if err != nil || ap.Port() == 0 {
		return netip.AddrPort{}, apogee.Errorf(apogee.EINVALID, "--dns-secondaries %q is not an IP address, or an IP address and port", e)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// setupDNS makes the DNS server, loads the zones and opens its port.
func (s *Server) setupDNS(ctx context.Context) error {
	if s.cfg.DNSListen == "" {
		return nil
	}
	var edge []netip.Addr
	for _, e := range s.cfg.DNSEdge {
		edge = append(edge, netip.MustParseAddr(strings.TrimSpace(e))) // checked by normalizeDNS
	}
	var secondaries []netip.Addr
	var notify []netip.AddrPort
	for _, e := range s.cfg.DNSSecondaries {
		ap, _ := parseSecondary(e) // checked by normalizeDNS
		secondaries = append(secondaries, ap.Addr())
		notify = append(notify, ap)
	}
	if len(edge) == 0 {
		s.log.Warn("--dns-edge is not set: delegated zones' apex and www have no A or AAAA records")
	}
	srv, err := dnsserver.New(dnsserver.Config{
		Nameservers: append([]string(nil), s.cfg.DNSNameservers...), Edge: edge, Secondaries: secondaries, Notify: notify},
		s.store, s.log.With("component", "dns"))
	if err != nil {
		return err
	}
	if err := srv.Load(ctx); err != nil {
		return err
	}
	pc, ln, err := dnsserver.Listen(s.cfg.DNSListen)
	if err != nil {
		return apogee.Errorf(apogee.EINVALID, "cannot answer DNS on %s: %v; choose another address with --dns-listen", s.cfg.DNSListen, err)
	}
	s.dns = dnsState{srv: srv, pc: pc, ln: ln}
	if s.tls.certs != nil {
		// Wildcard certificates by DNS-01, answered in the zone itself
		// and checked against this DNS server.
		addr := pc.LocalAddr().(*net.UDPAddr)
		ip := addr.IP
		if ip.IsUnspecified() {
			ip = net.IPv4(127, 0, 0, 1)
		}
		s.tls.certs.EnableDNS01(&certs.DNSProvider{Store: s.store, Changed: func(ctx context.Context, zone string) {
			if err := s.bus.Publish(context.WithoutCancel(ctx), apogee.Event{Type: apogee.EventZoneChanged, Host: zone}); err != nil {
				s.log.Error("publish zone change", "zone", zone, "err", err)
			}
		}}, []string{net.JoinHostPort(ip.String(), strconv.Itoa(addr.Port))})
	}
	s.log.Info("dns", "addr", pc.LocalAddr().String(), "zones", srv.Zones(), "nameservers", strings.Join(s.cfg.DNSNameservers, ","))
	return nil
}

// runDNS answers DNS and follows zone changes until ctx ends.
func (s *Server) runDNS(ctx context.Context) {
	if s.dns.srv == nil {
		return
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.dns.srv.Watch(ctx, s.bus); err != nil && ctx.Err() == nil {
			s.log.Error("dns zone watch stopped", "err", err)
		}
	}()
	if err := s.dns.srv.Serve(ctx, s.dns.pc, s.dns.ln); err != nil {
		s.log.Error("dns server stopped", "err", err)
	}
	wg.Wait()
	s.dns.srv.Close()
}

// DNSAddr is the address the DNS server answers on (--dns-listen); ""
// without one.
func (s *Server) DNSAddr() string {
	if s.dns.pc == nil {
		return ""
	}
	return s.dns.pc.LocalAddr().String()
}

// closeDNS closes the DNS port if Serve never ran.
func (s *Server) closeDNS() {
	if s.dns.pc != nil {
		s.dns.pc.Close()
		s.dns.ln.Close()
	}
}

// dnsNameservers are the nameservers users delegate zones to: none
// without --dns-listen, so the API refuses to add zones.
func (s *Server) dnsNameservers() []string {
	if s.cfg.DNSListen == "" {
		return nil
	}
	return s.cfg.DNSNameservers
}
