package dnsserver_test

import (
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkQueryUDP is the authoritative server's queries/s on loopback:
// parallel clients (8 per core), each on its own UDP socket, asking for an A record
// of the fixture's zone (a real server, a real SQLite store behind its
// snapshot). ns/op is per query across all clients.
func BenchmarkQueryUDP(b *testing.B) {
	f := newFixture(b)
	q := new(dns.Msg)
	q.SetQuestion("mail.example.com.", dns.TypeA)
	b.ReportAllocs()
	b.SetParallelism(8) // 8 clients per core, so the server is never idle waiting for one
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := dns.Dial("udp", f.addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		for pb.Next() {
			if err := c.WriteMsg(q); err != nil {
				b.Error(err)
				return
			}
			r, err := c.ReadMsg()
			if err != nil || len(r.Answer) != 1 {
				b.Errorf("answer %v, %v", r, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
}
