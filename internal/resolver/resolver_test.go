package resolver

import (
	"net"
	"slices"
	"testing"

	"github.com/miekg/dns"
)

// fakeServer answers TXT queries for _apogee.www.example.com on UDP and
// TCP at one loopback port.
func fakeServer(t *testing.T) string {
	t.Helper()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		if q.Qtype == dns.TypeTXT && q.Name == "_apogee.www.example.com." {
			m.Answer = append(m.Answer, &dns.TXT{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 1},
				Txt: []string{"apogee-token"},
			})
		} else {
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	udp := &dns.Server{PacketConn: pc, Handler: h}
	tcp := &dns.Server{Listener: ln, Handler: h}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	t.Cleanup(func() { udp.Shutdown(); tcp.Shutdown() })
	return pc.LocalAddr().String()
}

func TestResolver(t *testing.T) {
	addr := fakeServer(t)
	r, err := New(addr)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.LookupTXT(t.Context(), "_apogee.www.example.com")
	if err != nil || !slices.Equal(got, []string{"apogee-token"}) {
		t.Fatalf("LookupTXT = %q, %v", got, err)
	}
	_, err = r.LookupTXT(t.Context(), "_apogee.other.example.com")
	if de, ok := err.(*net.DNSError); !ok || !de.IsNotFound {
		t.Fatalf("LookupTXT of a missing name = %v; want a not-found DNSError", err)
	}
}

func TestNew(t *testing.T) {
	if r, err := New(""); err != nil || r != net.DefaultResolver {
		t.Errorf("New(\"\") = %v, %v; want the default resolver", r, err)
	}
	for in, want := range map[string]string{"10.0.0.2": "10.0.0.2:53", "::1": "[::1]:53", "[::1]": "[::1]:53", "127.0.0.1:5353": "127.0.0.1:5353", "dns.internal:53": "dns.internal:53"} {
		if got, err := normalize(in); err != nil || got != want {
			t.Errorf("normalize(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"dns.internal", ":53", "10.0.0.2:"} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%q) succeeded", bad)
		}
	}
}
