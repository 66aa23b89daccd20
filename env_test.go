package apogee

import (
	"strings"
	"testing"
)

func TestValidateEnvKey(t *testing.T) {
	for _, tt := range []struct {
		key  string
		want string // "" means accepted; else a part of the message
	}{
		{"DATABASE_URL", ""},
		{"_PRIVATE", ""},
		{"lower_case9", ""},
		{"A", ""},
		{"NEXT_PUBLIC_API", ""},
		{strings.Repeat("K", MaxEnvKeyLen), ""},
		{"", "empty"},
		{strings.Repeat("K", MaxEnvKeyLen+1), "limit is 256"},
		{"9LIVES", "starts with a digit"},
		{"MY-VAR", `"-"`},
		{"MY VAR", `" "`},
		{"KEY=VALUE", `"="`},
		{"CAFÉ", "use only letters"},
		{"A\x00B", "use only letters"},
		{"APOGEE_TOKEN", "reserved"},
		{"apogee_token", "reserved"},
		{"APOGEE_", "reserved"},
		{"APOGEE", ""},
		{"XAPOGEE_", ""},
	} {
		err := ValidateEnvKey(tt.key)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("ValidateEnvKey(%.40q) = %v; want ok", tt.key, err)
		case tt.want != "" && (ErrorCode(err) != EINVALID || !strings.Contains(ErrorMessage(err), tt.want)):
			t.Errorf("ValidateEnvKey(%.40q) = %v; want EINVALID with %q", tt.key, err, tt.want)
		}
	}
}

func TestValidateEnvValue(t *testing.T) {
	for _, tt := range []struct {
		value string
		code  string
	}{
		{"", ""},
		{"postgres://u:p@h/db", ""},
		{"multi\nline", ""},
		{strings.Repeat("x", MaxEnvValueLen), ""},
		{strings.Repeat("x", MaxEnvValueLen+1), ETOOLARGE},
		{"a\x00b", EINVALID},
	} {
		err := ValidateEnvValue("K", tt.value)
		if ErrorCode(err) != tt.code {
			t.Errorf("ValidateEnvValue(%.20q…) = %v; want code %q", tt.value, err, tt.code)
		}
		if err != nil && len(tt.value) > 0 && strings.Contains(err.Error(), tt.value) {
			t.Errorf("error %q quotes the value", err)
		}
	}
}
