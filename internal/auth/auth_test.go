package auth

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/apogee-dev/apogee"
)

func TestPasswordRoundTrip(t *testing.T) {
	h, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not an argon2id PHC string with the default parameters", h)
	}
	if strings.Contains(h, "correct horse") {
		t.Fatal("hash contains the password")
	}
	tests := []struct {
		password string
		want     bool
	}{
		{"correct horse battery staple", true},
		{"correct horse battery stapl", false},
		{"", false},
		{"Correct horse battery staple", false},
	}
	for _, tt := range tests {
		got, err := VerifyPassword(h, tt.password)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("VerifyPassword(%q) = %v, want %v", tt.password, got, tt.want)
		}
	}
}

func TestSaltsDiffer(t *testing.T) {
	a, _ := HashPassword("same")
	b, _ := HashPassword("same")
	if a == b {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
}

func TestVerifyMalformed(t *testing.T) {
	for _, h := range []string{
		"", "plain", "$argon2i$v=19$m=1,t=1,p=1$c2FsdA$a2V5",
		"$argon2id$v=18$m=1,t=1,p=1$c2FsdA$a2V5",
		"$argon2id$v=19$m=x,t=1,p=1$c2FsdA$a2V5",
		"$argon2id$v=19$m=1,t=1,p=1$!!$a2V5",
		"$argon2id$v=19$m=1,t=1,p=1$c2FsdA$",
	} {
		if _, err := VerifyPassword(h, "x"); err != ErrMalformedHash {
			t.Errorf("VerifyPassword(%q) error = %v, want ErrMalformedHash", h, err)
		}
	}
}

func TestTokens(t *testing.T) {
	s1, h1 := NewToken()
	s2, h2 := NewToken()
	if s1 == s2 || bytes.Equal(h1, h2) {
		t.Fatal("two tokens are equal")
	}
	if !strings.HasPrefix(s1, TokenPrefix) || len(s1) < 40 {
		t.Fatalf("token %q lacks the prefix or entropy", s1)
	}
	if !bytes.Equal(HashToken(s1), h1) {
		t.Fatal("HashToken does not match the hash NewToken returned")
	}
	if BurnVerify("anything") {
		t.Fatal("BurnVerify returned true")
	}
}

func TestCheckNewPassword(t *testing.T) {
	for pw, ok := range map[string]bool{"": false, "short": false, "        ": false, "12345678": true, "a long passphrase": true} {
		if err := CheckNewPassword(pw); (err == nil) != ok {
			t.Errorf("CheckNewPassword(%q) = %v, want ok=%v", pw, err, ok)
		}
	}
}

type users map[string]*apogee.User

func (u users) UserByEmail(_ context.Context, email string) (*apogee.User, error) {
	if x, ok := u[email]; ok {
		return x, nil
	}
	return nil, apogee.ErrNotFound
}

func TestLogin(t *testing.T) {
	h, _ := HashPassword("right password")
	us := users{"a@example.com": {ID: "u1", Email: "a@example.com", Password: h}}
	ctx := context.Background()
	if u, err := Login(ctx, us, "a@example.com", "right password"); err != nil || u.ID != "u1" {
		t.Fatalf("right password: %v %v", u, err)
	}
	for _, c := range [][2]string{{"a@example.com", "wrong password"}, {"b@example.com", "right password"}} {
		if u, err := Login(ctx, us, c[0], c[1]); u != nil || !errors.Is(err, ErrBadLogin) {
			t.Errorf("Login(%q, %q) = %v, %v; want ErrBadLogin", c[0], c[1], u, err)
		}
	}
	// An account with no password (made through GitHub) is refused for
	// every password, the empty one included.
	us["g@example.com"] = &apogee.User{ID: "u2", Email: "g@example.com", Password: ""}
	for _, pw := range []string{"", "right password", "anything"} {
		if u, err := Login(ctx, us, "g@example.com", pw); u != nil || !errors.Is(err, ErrBadLogin) {
			t.Errorf("no-password account, Login(%q) = %v, %v; want ErrBadLogin", pw, u, err)
		}
	}
	us["c@example.com"] = &apogee.User{ID: "u3", Password: "not a hash"}
	if _, err := Login(ctx, us, "c@example.com", "x"); err == nil || errors.Is(err, ErrBadLogin) {
		t.Errorf("a corrupt stored hash gave %v, want an internal error", err)
	}
}
