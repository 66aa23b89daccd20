// Package resolvertest runs a real DNS server on loopback (UDP and TCP on
// one port) that answers TXT and NS records a test sets, for tests of
// custom domain and DNS zone verification through internal/resolver.
package resolvertest

import (
	"net"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Zone is the server's TXT and NS records; it is safe for concurrent
// use.
type Zone struct {
	mu  sync.Mutex
	txt map[string]string   // FQDN → value
	ns  map[string][]string // FQDN → nameservers' FQDNs
}

// SetNS makes name answer NS records naming hosts (a delegation as the
// parent zone's servers report it).
func (z *Zone) SetNS(name string, hosts ...string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	fq := make([]string, len(hosts))
	for i, h := range hosts {
		fq[i] = dns.Fqdn(h)
	}
	z.ns[dns.Fqdn(name)] = fq
}

// Set makes name answer value.
func (z *Zone) Set(name, value string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.txt[dns.Fqdn(name)] = value
}

// Start runs the server until t ends and returns its zone and address
// ("127.0.0.1:PORT"). Names without a record answer NXDOMAIN.
func Start(t testing.TB) (*Zone, string) {
	t.Helper()
	z := &Zone{txt: map[string]string{}, ns: map[string][]string{}}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		z.mu.Lock()
		v, ok := z.txt[q.Name]
		ns, nsOK := z.ns[q.Name]
		z.mu.Unlock()
		switch {
		case ok && q.Qtype == dns.TypeTXT:
			m.Answer = append(m.Answer, &dns.TXT{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 1}, Txt: []string{v}})
		case nsOK && q.Qtype == dns.TypeNS:
			for _, h := range ns {
				m.Answer = append(m.Answer, &dns.NS{
					Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: 1}, Ns: h})
			}
		default:
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})
	// UDP on a free port, then TCP on the same number, which another
	// process may hold: then again on another port.
	var pc net.PacketConn
	var ln net.Listener
	for try := 0; ; try++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		if try == 20 {
			t.Fatalf("no port free for both UDP and TCP: %v", err)
		}
	}
	udp := &dns.Server{PacketConn: pc, Handler: h}
	tcp := &dns.Server{Listener: ln, Handler: h}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	t.Cleanup(func() { udp.Shutdown(); tcp.Shutdown() })
	return z, pc.LocalAddr().String()
}
