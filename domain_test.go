package apogee

import (
	"strings"
	"testing"
)

func TestValidateDomainName(t *testing.T) {
	long := strings.Repeat("a", 63)
	tests := []struct {
		in, want string // want "" means refused
	}{
		{"www.example.com", "www.example.com"},
		{"WWW.Example.COM.", "www.example.com"},
		{"example.com", "example.com"},
		{"a-b.c0.example.co.uk", "a-b.c0.example.co.uk"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{long + ".example.com", long + ".example.com"},
		{"", ""},
		{"localhost", ""},
		{"web.localhost", ""},
		{"com", ""},
		{"127.0.0.1", ""},
		{"::1", ""},
		{"[2001:db8::1]", ""},
		{"1.2.3.4.5", ""}, // all-numeric TLD
		{"a..example.com", ""},
		{".example.com", ""},
		{"-a.example.com", ""},
		{"a-.example.com", ""},
		{"a_b.example.com", ""},
		{"www.exämple.com", ""},
		{"*.example.com", ""},
		{"a b.example.com", ""},
		{long + "a.example.com", ""},
		{strings.Repeat("abcdefghi.", 26) + "com", ""}, // 263 characters
		{"apogee.test", ""},                            // the platform's domain
		{"web.apogee.test", ""},                        // a host under it
		{"web.APOGEE.test", ""},
		{"notapogee.test", "notapogee.test"},
	}
	for _, tt := range tests {
		got, err := ValidateDomainName(tt.in, "apogee.test")
		if tt.want == "" {
			if err == nil {
				t.Errorf("ValidateDomainName(%q) = %q; want an error", tt.in, got)
			} else if ErrorCode(err) != EINVALID {
				t.Errorf("ValidateDomainName(%q) error code %q; want %q", tt.in, ErrorCode(err), EINVALID)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ValidateDomainName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
