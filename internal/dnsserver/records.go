package dnsserver

import (
	"fmt"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/apogee-dev/apogee"
)

// ParseRecord turns a zone's record into the resource record it
// serves, or says in an EINVALID error what is wrong with it: an
// unknown type, a value that does not parse for its type, a TTL out of
// bounds. Names in values are absolute ("mail.example.com" is
// mail.example.com., never mail.example.com.<zone>). A TXT value
// without quotes is one string, spaces and all; with quotes it is
// read as in a zone file ("a" "b" is two strings).
func ParseRecord(r *apogee.ZoneRecord) (dns.RR, error) {
	if !slices.Contains(apogee.RecordTypes, r.Type) {
		return nil, apogee.Errorf(apogee.EINVALID, "record type %q is not supported; use one of %s", r.Type, strings.Join(apogee.RecordTypes, ", "))
	}
	if r.TTL < apogee.MinRecordTTL || r.TTL > apogee.MaxRecordTTL {
		return nil, apogee.Errorf(apogee.EINVALID, "TTL %d is out of bounds: use %d to %d seconds", r.TTL, apogee.MinRecordTTL, apogee.MaxRecordTTL)
	}
	value := strings.TrimSpace(r.Value)
	if value == "" {
		return nil, apogee.Errorf(apogee.EINVALID, "a %s record needs a value", r.Type)
	}
	hdr := dns.RR_Header{Name: dns.Fqdn(r.FQDN()), Rrtype: dns.StringToType[r.Type], Class: dns.ClassINET, Ttl: uint32(r.TTL)}
	if r.Type == "TXT" && !strings.HasPrefix(value, `"`) {
		if len(value) > 4000 {
			return nil, apogee.Errorf(apogee.EINVALID, "a TXT value is at most 4000 characters")
		}
		txt := &dns.TXT{Hdr: hdr}
		for len(value) > 255 { // one character-string holds 255 bytes
			txt.Txt = append(txt.Txt, value[:255])
			value = value[255:]
		}
		txt.Txt = append(txt.Txt, value)
		return txt, nil
	}
	if strings.ContainsAny(value, "\n;()") {
		return nil, apogee.Errorf(apogee.EINVALID, "a %s value is one line without ';' or parentheses", r.Type)
	}
	line := fmt.Sprintf("%s %d IN %s %s", hdr.Name, r.TTL, r.Type, value)
	zp := dns.NewZoneParser(strings.NewReader(line), ".", "")
	rr, ok := zp.Next()
	if err := zp.Err(); err != nil || !ok {
		return nil, apogee.Errorf(apogee.EINVALID, "%s value %q does not parse: %s", r.Type, r.Value, parseMessage(r.Type))
	}
	if _, more := zp.Next(); more {
		return nil, apogee.Errorf(apogee.EINVALID, "%s value %q holds more than one record", r.Type, r.Value)
	}
	return rr, nil
}

// parseMessage says what a value of type t looks like.
func parseMessage(t string) string {
	examples := map[string]string{
		"A": "an IPv4 address such as 192.0.2.1", "AAAA": "an IPv6 address such as 2001:db8::1",
		"CNAME": "a host name such as web.example.net", "NS": "a host name such as ns1.example.net",
		"MX": "a preference and a host, such as 10 mail.example.com", "CAA": `flags, tag and value, such as 0 issue "letsencrypt.org"`,
		"SRV": "priority, weight, port and target, such as 10 5 5060 sip.example.com", "TXT": "text",
	}
	return "expected " + examples[t]
}

// CheckRecord checks that r may join the zone's existing records: no
// CNAME at the apex, a CNAME alone at its name, NS only below the
// apex (the apex's are the platform's), no duplicate.
func CheckRecord(existing []*apogee.ZoneRecord, r *apogee.ZoneRecord) error {
	if r.Name == "@" && (r.Type == "CNAME" || r.Type == "NS") {
		if r.Type == "NS" {
			return apogee.Errorf(apogee.EINVALID, "the apex's NS records are Apogee's nameservers; an NS record delegates a name below the apex")
		}
		return apogee.Errorf(apogee.EINVALID, "a CNAME cannot be at the apex (%s): the apex has SOA and NS records; its A and AAAA records serve the zone's project", r.Zone)
	}
	for _, e := range existing {
		if e.Name != r.Name {
			continue
		}
		switch {
		case e.Type == "CNAME" && r.Type == "CNAME":
			return apogee.Errorf(apogee.ECONFLICT, "%s has a CNAME record already; a name has at most one", r.FQDN())
		case e.Type == "CNAME" || r.Type == "CNAME":
			return apogee.Errorf(apogee.ECONFLICT, "%s has a %s record; a CNAME cannot share its name with other records", r.FQDN(), e.Type)
		case e.Type == r.Type && strings.EqualFold(strings.TrimSuffix(e.Value, "."), strings.TrimSuffix(r.Value, ".")):
			return apogee.Errorf(apogee.ECONFLICT, "%s has this %s record already (id %s)", r.FQDN(), r.Type, e.ID)
		}
	}
	return nil
}
