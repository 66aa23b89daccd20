package dnsserver_test

import (
	"strings"
	"testing"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/dnsserver"
)

func TestParseRecord(t *testing.T) {
	tests := []struct {
		name, typ, value string
		ttl              int
		want             string // the record's zone-file form, or "" for an error
		errHas           string
	}{
		{"@", "A", "192.0.2.1", 300, "example.com.\t300\tIN\tA\t192.0.2.1", ""},
		{"www", "AAAA", "2001:db8::1", 60, "www.example.com.\t60\tIN\tAAAA\t2001:db8::1", ""},
		{"www", "CNAME", "web.apogee.example", 300, "www.example.com.\t300\tIN\tCNAME\tweb.apogee.example.", ""},
		{"@", "MX", "10 mail.example.com", 300, "example.com.\t300\tIN\tMX\t10 mail.example.com.", ""},
		{"@", "TXT", "v=spf1 -all", 300, "example.com.\t300\tIN\tTXT\t\"v=spf1 -all\"", ""},
		{"@", "TXT", `"a" "b"`, 300, "example.com.\t300\tIN\tTXT\t\"a\" \"b\"", ""},
		{"@", "CAA", `0 issue "letsencrypt.org"`, 300, "example.com.\t300\tIN\tCAA\t0 issue \"letsencrypt.org\"", ""},
		{"_sip._tcp", "SRV", "10 5 5060 sip.example.com", 300, "_sip._tcp.example.com.\t300\tIN\tSRV\t10 5 5060 sip.example.com.", ""},
		{"@", "A", "2001:db8::1", 300, "", "IPv4 address"},
		{"@", "A", "192.0.2.1; evil", 300, "", "one line"},
		{"@", "MX", "mail.example.com", 300, "", "preference"},
		{"@", "PTR", "x.example.com", 300, "", "not supported"},
		{"@", "A", "192.0.2.1", 10, "", "TTL 10"},
		{"@", "A", "192.0.2.1", 86401, "", "TTL 86401"},
		{"@", "A", " ", 300, "", "needs a value"},
	}
	for _, tt := range tests {
		t.Run(tt.typ+" "+tt.value, func(t *testing.T) {
			rr, err := dnsserver.ParseRecord(&apogee.ZoneRecord{Zone: "example.com", Name: tt.name, Type: tt.typ, Value: tt.value, TTL: tt.ttl})
			if tt.want == "" {
				if err == nil || apogee.ErrorCode(err) != apogee.EINVALID || !strings.Contains(apogee.ErrorMessage(err), tt.errHas) {
					t.Fatalf("error %v; want EINVALID saying %q", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rr.String() != tt.want {
				t.Errorf("got %q; want %q", rr.String(), tt.want)
			}
		})
	}
}

func TestCheckRecord(t *testing.T) {
	existing := []*apogee.ZoneRecord{
		{ID: "r1", Zone: "example.com", Name: "www", Type: "CNAME", Value: "web.apogee.example"},
		{ID: "r2", Zone: "example.com", Name: "mail", Type: "A", Value: "192.0.2.25"},
	}
	tests := []struct {
		name, typ, value string
		code             string // "" = allowed
	}{
		{"@", "CNAME", "web.apogee.example", apogee.EINVALID},
		{"@", "NS", "ns1.other.net", apogee.EINVALID},
		{"www", "A", "192.0.2.1", apogee.ECONFLICT},
		{"www", "CNAME", "other.example", apogee.ECONFLICT},
		{"mail", "CNAME", "other.example", apogee.ECONFLICT},
		{"mail", "A", "192.0.2.25", apogee.ECONFLICT},
		{"mail", "A", "192.0.2.26", ""},
		{"mail", "MX", "10 mail.example.com", ""},
		{"sub", "NS", "ns1.other.net", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name+" "+tt.typ, func(t *testing.T) {
			err := dnsserver.CheckRecord(existing, &apogee.ZoneRecord{Zone: "example.com", Name: tt.name, Type: tt.typ, Value: tt.value})
			if got := apogee.ErrorCode(err); got != tt.code && !(tt.code == "" && err == nil) {
				t.Errorf("error %v (code %q); want code %q", err, got, tt.code)
			}
		})
	}
}
