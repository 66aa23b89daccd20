// Package secretbox seals the platform's small secrets (environment
// variable values, webhook secrets) for storage at rest with AES-256-GCM
// from the standard library.
//
// A sealed value is text: "v1:" + base64(nonce | ciphertext | tag), with a
// random 96-bit nonce per value. The "v1" prefix names the format and the
// key generation, so a later key rotation can add "v2:" values next to
// old ones and open both. Every value is sealed with associated data that
// says what it is for (such as "env/<project id>/<KEY>"), so a sealed
// value copied into another row, another project or another variable
// does not open there.
//
// The key is 32 bytes: from --secret-key (base64 or hex), or from a key
// file in the data folder that LoadOrCreateKeyFile makes on first start.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/apogee-dev/apogee"
)

// KeySize is the length of a key in bytes (AES-256).
const KeySize = 32

// prefix marks the format of a sealed value and the key it was sealed
// with.
const prefix = "v1:"

// ErrDecrypt means a sealed value did not open: it was sealed with
// another key, for another purpose, or altered. Open wraps it in an
// *apogee.Error with EINTERNAL; match it with errors.Is.
var ErrDecrypt = errors.New("secretbox: cannot decrypt")

// Box seals and opens values with one key. It is safe for concurrent use.
type Box struct {
	aead cipher.AEAD
}

var _ apogee.Sealer = (*Box)(nil)

// New returns a Box with key, which must be KeySize bytes. The Box keeps
// no reference to key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, apogee.Errorf(apogee.EINVALID, "a secret key is %d bytes; this one is %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	// The AEAD draws a random 96-bit nonce for every Seal and prepends
	// it to the ciphertext.
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	return &Box{aead: aead}, nil
}

// NewRandom returns a Box with a fresh random key that exists only in this
// process: what it seals cannot be opened after a restart. It is for
// tests and for an API built without a configured key.
func NewRandom() *Box {
	b, err := New(NewKey())
	if err != nil {
		panic(err) // unreachable: the key has the right size
	}
	return b
}

// NewKey returns KeySize random bytes from crypto/rand.
func NewKey() []byte {
	key := make([]byte, KeySize)
	rand.Read(key) // never fails since Go 1.24
	return key
}

// ParseKey decodes a key given as text: base64 (standard or URL alphabet,
// with or without padding) or hex of KeySize bytes. Surrounding spaces
// are ignored. The error never quotes the text, which may be a key.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == hex.EncodedLen(KeySize) {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) == KeySize {
				return k, nil
			}
			return nil, apogee.Errorf(apogee.EINVALID,
				"the secret key decodes to %d bytes; it must be %d bytes in base64 or hex (make one with `head -c 32 /dev/urandom | base64`)", len(k), KeySize)
		}
	}
	return nil, apogee.Errorf(apogee.EINVALID,
		"the secret key (%d characters) is neither base64 nor hex of %d bytes (make one with `head -c 32 /dev/urandom | base64`)", len(s), KeySize)
}

// EncodeKey returns key as standard base64, the form ParseKey reads and
// the key file holds.
func EncodeKey(key []byte) string { return base64.StdEncoding.EncodeToString(key) }

// Seal encrypts plaintext bound to purpose (associated data: the same
// purpose must be given to Open) and returns the sealed text. Every call
// uses a fresh random nonce, so sealing one value twice gives two
// different texts.
func (b *Box) Seal(plaintext, purpose string) string {
	ct := b.aead.Seal(nil, nil, []byte(plaintext), []byte(purpose))
	return prefix + base64.StdEncoding.EncodeToString(ct)
}

// Open decrypts a value made by Seal with the same key and purpose. A
// value of an unknown format, another key or purpose, or altered in any
// bit fails with an *apogee.Error (EINTERNAL) wrapping ErrDecrypt; the
// error never quotes the value.
func (b *Box) Open(sealed, purpose string) (string, error) {
	rest, ok := strings.CutPrefix(sealed, prefix)
	if !ok {
		return "", openError("it is not in a known sealed format")
	}
	ct, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return "", openError("it is not valid base64")
	}
	if len(ct) < b.aead.Overhead() {
		return "", openError("it is too short")
	}
	pt, err := b.aead.Open(nil, nil, ct, []byte(purpose))
	if err != nil {
		return "", openError("authentication failed: it was sealed with another secret key or was altered")
	}
	return string(pt), nil
}

// IsSealed reports whether s looks like a value made by Seal (it may
// still fail to open).
func IsSealed(s string) bool { return strings.HasPrefix(s, prefix) }

func openError(why string) error {
	return &apogee.Error{
		Code: apogee.EINTERNAL,
		Message: "a stored secret cannot be decrypted (" + why + "); " +
			"check that the server runs with the secret key it had when the secret was stored (--secret-key, APOGEE_SECRET_KEY or secret.key in the data folder)",
		Err: ErrDecrypt,
	}
}
