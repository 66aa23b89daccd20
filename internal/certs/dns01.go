package certs

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/libdns/libdns"

	"github.com/apogee-dev/apogee"
)

// ZoneWriter is what the DNS-01 provider needs of the store: the
// records of Apogee's own delegated zones (see apogee.ZoneStore). Safe
// for concurrent use; honours ctx.
type ZoneWriter interface {
	AddZoneRecord(ctx context.Context, r *apogee.ZoneRecord) error
	ZoneRecords(ctx context.Context, zone string) ([]*apogee.ZoneRecord, error)
	DeleteZoneRecord(ctx context.Context, zone, id string) error
}

// DNSProvider is a libdns provider that answers ACME DNS-01 challenges
// in Apogee's own zones: it adds the _acme-challenge TXT record to the
// zone in the store and calls Changed, which tells the DNS servers
// (the event bus), so they answer it at once; it removes the record
// after. It writes nothing but _acme-challenge TXT records. Safe for
// concurrent use.
type DNSProvider struct {
	Store ZoneWriter
	// Changed is called after each change of zone (no trailing dot).
	Changed func(ctx context.Context, zone string)
}

var (
	_ libdns.RecordAppender = (*DNSProvider)(nil)
	_ libdns.RecordDeleter  = (*DNSProvider)(nil)
)

// challengeName returns rr's name relative to zone, or an error unless
// it is an ACME challenge TXT record.
func challengeName(rr libdns.RR) (string, error) {
	name := strings.ToLower(rr.Name)
	if rr.Type != "TXT" || (name != "_acme-challenge" && !strings.HasPrefix(name, "_acme-challenge.")) {
		return "", fmt.Errorf("certs: the DNS-01 provider writes only _acme-challenge TXT records, not %s %s", rr.Type, rr.Name)
	}
	return name, nil
}

// AppendRecords adds the challenge records to zone ("example.com.").
func (p *DNSProvider) AppendRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	zone = strings.ToLower(strings.TrimSuffix(zone, "."))
	var added []libdns.Record
	for _, rec := range recs {
		rr := rec.RR()
		name, err := challengeName(rr)
		if err != nil {
			return added, err
		}
		ttl := max(int(rr.TTL/time.Second), apogee.MinRecordTTL)
		r := &apogee.ZoneRecord{Zone: zone, Name: name, Type: "TXT", Value: rr.Data, TTL: ttl}
		if err := p.Store.AddZoneRecord(ctx, r); err != nil {
			return added, fmt.Errorf("certs: add %s TXT to zone %s: %w", name, zone, err)
		}
		added = append(added, libdns.TXT{Name: name, TTL: time.Duration(ttl) * time.Second, Text: rr.Data})
	}
	if len(added) > 0 && p.Changed != nil {
		p.Changed(ctx, zone)
	}
	return added, nil
}

// DeleteRecords removes the challenge records of zone that match recs
// by name and value.
func (p *DNSProvider) DeleteRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	zone = strings.ToLower(strings.TrimSuffix(zone, "."))
	existing, err := p.Store.ZoneRecords(ctx, zone)
	if err != nil {
		return nil, fmt.Errorf("certs: records of zone %s: %w", zone, err)
	}
	var deleted []libdns.Record
	for _, rec := range recs {
		rr := rec.RR()
		name, err := challengeName(rr)
		if err != nil {
			return deleted, err
		}
		for _, e := range existing {
			if e.Type == "TXT" && e.Name == name && (rr.Data == "" || e.Value == rr.Data) {
				if err := p.Store.DeleteZoneRecord(ctx, zone, e.ID); err != nil {
					return deleted, fmt.Errorf("certs: delete %s TXT of zone %s: %w", name, zone, err)
				}
				deleted = append(deleted, libdns.TXT{Name: name, TTL: time.Duration(e.TTL) * time.Second, Text: e.Value})
			}
		}
	}
	if len(deleted) > 0 && p.Changed != nil {
		p.Changed(ctx, zone)
	}
	return deleted, nil
}
