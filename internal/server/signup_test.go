package server

import (
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// TestSignupModes checks --signup: open and invite, closed kept as
// another name for invite (the default).
func TestSignupModes(t *testing.T) {
	for _, c := range []struct{ in, want, code string }{
		{"", "invite", ""},
		{"invite", "invite", ""},
		{"closed", "invite", ""},
		{"open", "open", ""},
		{"Open", "", apogee.EINVALID},
		{"invites", "", apogee.EINVALID},
	} {
		cfg := Config{Data: "d", Listen: ":8080", Domain: "localhost", CacheMB: 1, MaxFileMB: 1, UploadTTL: time.Hour,
			LogLevel: "info", LogFormat: "text", Signup: c.in}
		err := cfg.Normalize()
		if got := apogee.ErrorCode(err); got != c.code {
			t.Errorf("--signup %q: Normalize() = %v, want code %q", c.in, err, c.code)
			continue
		}
		if c.code == "" && cfg.Signup != c.want {
			t.Errorf("--signup %q became %q, want %q", c.in, cfg.Signup, c.want)
		}
	}
}
