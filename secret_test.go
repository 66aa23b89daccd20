package apogee_test

import (
	"strings"
	"testing"

	"github.com/apogee-dev/apogee"
)

func TestValidateSecretValue(t *testing.T) {
	for _, tt := range []struct {
		value string
		ok    bool
	}{{"", true}, {"ab", false}, {"1234567", false}, {"12345678", true}, {"ééééééé", false}, {"éééééééé", true}} {
		err := apogee.ValidateSecretValue("TOKEN", tt.value)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateSecretValue(%q) = %v, want ok=%v", tt.value, err, tt.ok)
		}
		if err != nil && (!strings.Contains(err.Error(), "at least 8") || tt.value != "" && strings.Contains(err.Error(), tt.value)) {
			t.Errorf("message %q should say the minimum and never the value", err)
		}
	}
}
