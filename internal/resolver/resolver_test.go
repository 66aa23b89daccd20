package resolver

import (
	"net"
	"slices"
	"testing"

	"github.com/apogee-dev/apogee/internal/resolver/resolvertest"
)

func TestResolver(t *testing.T) {
	zone, addr := resolvertest.Start(t)
	zone.Set("_apogee.www.example.com", "apogee-token")
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
