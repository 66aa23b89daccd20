package apogee

import "testing"

func TestValidateRecordName(t *testing.T) {
	tests := []struct{ in, want, code string }{
		{"", "@", ""},
		{"@", "@", ""},
		{"example.com.", "@", ""},
		{"WWW", "www", ""},
		{"www.example.com", "www", ""},
		{"www.example.com.", "www", ""},
		{"_acme-challenge", "_acme-challenge", ""},
		{"*", "*", ""},
		{"*.preview", "*.preview", ""},
		{"a.*", "", EINVALID},
		{"www.other.com.", "", EINVALID},
		{"a..b", "", EINVALID},
		{"bad name", "", EINVALID},
		{string(make([]byte, 64)), "", EINVALID},
	}
	for _, tt := range tests {
		got, err := ValidateRecordName(tt.in, "example.com")
		if ErrorCode(err) != tt.code || got != tt.want {
			t.Errorf("ValidateRecordName(%q) = %q, %v; want %q, code %q", tt.in, got, err, tt.want, tt.code)
		}
	}
}
