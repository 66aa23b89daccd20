// Package auth hashes passwords with argon2id, checks a sign-in against a
// user's hash, and makes API tokens whose secrets are stored only as
// SHA-256 hashes. It knows nothing of HTTP; internal/api decides who may
// do what.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/apogee-dev/apogee"
	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters. Defaults follow OWASP's password
// storage guidance (19 MiB, 2 passes, 1 lane).
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// DefaultParams are used by HashPassword.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// MinPasswordLen is the shortest password CheckNewPassword accepts.
const MinPasswordLen = 8

// CheckNewPassword refuses a password too short or only spaces, with an
// EINVALID message for the person choosing it.
func CheckNewPassword(password string) error {
	if len(password) < MinPasswordLen || strings.TrimSpace(password) == "" {
		return apogee.Errorf(apogee.EINVALID, "choose a password of at least %d characters (not only spaces)", MinPasswordLen)
	}
	return nil
}

// Users finds a user by email; apogee.UserStore is one.
type Users interface {
	UserByEmail(ctx context.Context, email string) (*apogee.User, error)
}

// ErrBadLogin is the answer to a wrong email or a wrong password alike.
var ErrBadLogin = apogee.Errorf(apogee.EUNAUTHORIZED, "wrong email or password")

// Login returns the user with this email and password, or ErrBadLogin,
// or ErrDisabled when the password is right but the account is disabled. An
// unknown email costs the same argon2id work as a wrong password, so the
// time of the answer does not tell which was wrong either.
func Login(ctx context.Context, users Users, email, password string) (*apogee.User, error) {
	u, err := users.UserByEmail(ctx, email)
	if errors.Is(err, apogee.ErrNotFound) {
		BurnVerify(password)
		return nil, ErrBadLogin
	}
	if err != nil {
		return nil, fmt.Errorf("auth: login: %w", err)
	}
	if !u.HasPassword() { // made through GitHub: no password signs in until one is set
		BurnVerify(password)
		return nil, ErrBadLogin
	}
	ok, err := VerifyPassword(u.Password, password)
	if err != nil {
		return nil, fmt.Errorf("auth: login: user %s: %w", u.ID, err)
	}
	if !ok {
		return nil, ErrBadLogin
	}
	if err := CheckActive(u); err != nil {
		return nil, err
	}
	return u, nil
}

// ErrDisabled is the answer to a disabled user's sign-in, token or
// session.
var ErrDisabled = apogee.Errorf(apogee.EUNAUTHORIZED, "this account is disabled; ask an admin of this Apogee server to enable it")

// CheckActive returns ErrDisabled for a user an admin disabled, nil
// otherwise. Every way in calls it: password sign-in (Login), API tokens,
// dashboard sessions, git push, and sign-in through GitHub.
func CheckActive(u *apogee.User) error {
	if u.Disabled() {
		return ErrDisabled
	}
	return nil
}

// ErrMalformedHash is returned for a stored hash that is not an argon2id
// PHC string.
var ErrMalformedHash = errors.New("auth: malformed password hash")

// HashPassword returns the argon2id hash of password in PHC string form:
// $argon2id$v=19$m=…,t=…,p=…$salt$key.
func HashPassword(password string) (string, error) {
	return hashWith(DefaultParams, password)
}

func hashWith(p Params, password string) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports whether password matches the PHC hash, in
// constant time with respect to the key.
func VerifyPassword(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, ErrMalformedHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, ErrMalformedHash
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return false, ErrMalformedHash
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, ErrMalformedHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, ErrMalformedHash
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is verified against when a login names an unknown user, so
// that the response time does not tell which part was wrong.
var dummyHash, _ = HashPassword("apogee-dummy-password")

// BurnVerify spends the time of one VerifyPassword call and returns false.
func BurnVerify(password string) bool {
	_, _ = VerifyPassword(dummyHash, password)
	return false
}

// TokenPrefix marks Apogee API tokens so secret scanners can find them.
const TokenPrefix = "apg_"

// NewToken returns a new token secret and the hash to store.
func NewToken() (secret string, hash []byte) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("auth: crypto/rand failed: " + err.Error())
	}
	secret = TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, HashToken(secret)
}

// HashToken returns the stored form of a token secret. Tokens carry 256
// bits of entropy, so a fast hash suffices: no dictionary to resist.
func HashToken(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}
