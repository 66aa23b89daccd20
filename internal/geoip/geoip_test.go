package geoip_test

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/apogee-dev/apogee/internal/geoip"
)

// writeDB builds a tiny country database: networks to ISO codes, in
// the GeoLite2-Country layout.
func writeDB(t *testing.T, nets map[string]string, registered map[string]string) string {
	t.Helper()
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-Country", RecordSize: 24, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	insert := func(cidr, key, code string) {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		rec := mmdbtype.Map{mmdbtype.String(key): mmdbtype.Map{"iso_code": mmdbtype.String(code)}}
		if err := w.Insert(n, rec); err != nil {
			t.Fatal(err)
		}
	}
	for cidr, code := range nets {
		insert(cidr, "country", code)
	}
	for cidr, code := range registered {
		insert(cidr, "registered_country", code)
	}
	path := filepath.Join(t.TempDir(), "country.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCountry(t *testing.T) {
	path := writeDB(t, map[string]string{"81.2.69.0/24": "GB", "2001:db8::/32": "AU", "203.0.113.0/24": "US"},
		map[string]string{"198.51.100.0/24": "DE"})
	db, err := geoip.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, c := range []struct{ ip, want string }{
		{"81.2.69.142", "GB"},
		{"::ffff:81.2.69.142", "GB"}, // an IPv4 client on a dual-stack socket
		{"2001:db8::1", "AU"},
		{"203.0.113.9", "US"},
		{"198.51.100.7", "DE"}, // only a registered country
		{"192.0.2.1", ""},      // not in the database
	} {
		if got := db.Country(netip.MustParseAddr(c.ip)); got != c.want {
			t.Errorf("Country(%s) = %q, want %q", c.ip, got, c.want)
		}
	}
}

func TestOpenNotADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.mmdb")
	if err := os.WriteFile(path, []byte("not a database"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := geoip.Open(path); err == nil {
		t.Fatal("Open of a text file succeeded")
	}
	if _, err := geoip.Open(filepath.Join(t.TempDir(), "missing.mmdb")); err == nil {
		t.Fatal("Open of a missing file succeeded")
	}
}
