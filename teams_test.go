package apogee

import (
	"strings"
	"testing"
)

// TestCheckInviteEmail: an invitation for an email is that account's
// alone, whatever the case; an open one is anyone's.
func TestCheckInviteEmail(t *testing.T) {
	for _, c := range []struct {
		invite, user string
		ok           bool
	}{
		{"", "anyone@example.com", true},
		{"bob@example.com", "bob@example.com", true},
		{"bob@example.com", "Bob@Example.COM", true},
		{" BOB@example.com", "bob@example.com ", true},
		{"bob@example.com", "mallory@example.com", false},
		{"bob@example.com", "bob@example.com.evil", false},
	} {
		err := CheckInviteEmail("acme", c.invite, c.user)
		if (err == nil) != c.ok {
			t.Errorf("invite %q, user %q: %v; want ok=%v", c.invite, c.user, err, c.ok)
			continue
		}
		if err != nil {
			if ErrorCode(err) != EFORBIDDEN || !strings.Contains(ErrorMessage(err), "sign in as "+c.invite) ||
				!strings.Contains(ErrorMessage(err), "team acme") {
				t.Errorf("refusal %v (code %s); want EFORBIDDEN naming the team and the account", err, ErrorCode(err))
			}
		}
	}
}
