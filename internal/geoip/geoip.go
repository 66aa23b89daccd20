// Package geoip tells the country of a client's address from a MaxMind
// format database (GeoLite2-Country, GeoIP2-Country or -City, or any
// .mmdb with country.iso_code), for the Country conditions of Netlify
// redirects and Vercel's x-vercel-ip-country header (package rules).
package geoip

import (
	"fmt"
	"net/netip"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/apogee-dev/apogee/internal/rules"
)

var _ rules.Countries = (*DB)(nil)

// DB is an open country database. It is safe for concurrent use.
type DB struct {
	r *maxminddb.Reader
}

// Open reads the database at path (memory-mapped). It fails when the
// file is not a MaxMind database.
func Open(path string) (*DB, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("geoip: open %s: %w", path, err)
	}
	return &DB{r: r}, nil
}

// Country returns the ISO 3166-1 alpha-2 code of ip's country ("US"), or
// "" when the database does not know it. A registered country stands in
// for an address with no country of its own (anycast, satellite).
func (db *DB) Country(ip netip.Addr) string {
	var rec struct {
		Country struct {
			ISOCode string `maxminddb:"iso_code"`
		} `maxminddb:"country"`
		Registered struct {
			ISOCode string `maxminddb:"iso_code"`
		} `maxminddb:"registered_country"`
	}
	if err := db.r.Lookup(ip.Unmap()).Decode(&rec); err != nil {
		return ""
	}
	if rec.Country.ISOCode != "" {
		return rec.Country.ISOCode
	}
	return rec.Registered.ISOCode
}

// Close releases the database.
func (db *DB) Close() error { return db.r.Close() }
