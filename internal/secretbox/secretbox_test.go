package secretbox_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/secretbox"
)

func box(t *testing.T) *secretbox.Box {
	t.Helper()
	b, err := secretbox.New(bytes.Repeat([]byte{7}, secretbox.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealOpen(t *testing.T) {
	b := box(t)
	for _, tt := range []struct{ name, plain, purpose string }{
		{"empty", "", "env/p/EMPTY"},
		{"ascii", "postgres://u:hunter2@db/app", "env/p/DATABASE_URL"},
		{"unicode", "ключ 🔑", "env/p/K"},
		{"binary", "a\x00b\xffc", "webhook/p"},
		{"large", strings.Repeat("x", 64<<10), "env/p/BIG"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sealed := b.Seal(tt.plain, tt.purpose)
			if !strings.HasPrefix(sealed, "v1:") || !secretbox.IsSealed(sealed) {
				t.Fatalf("sealed %.20q… lacks the v1: prefix", sealed)
			}
			if len(tt.plain) >= 3 && strings.Contains(sealed, tt.plain) {
				t.Fatal("the sealed text contains the plaintext")
			}
			got, err := b.Open(sealed, tt.purpose)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.plain {
				t.Fatalf("Open = %q; want %q", got, tt.plain)
			}
		})
	}
}

// TestOpenFails covers every way a value may not open: each fails with
// EINTERNAL wrapping ErrDecrypt, never panics and never quotes the value.
func TestOpenFails(t *testing.T) {
	b := box(t)
	const plain, purpose = "s3cr3t-value", "env/p/TOKEN"
	sealed := b.Seal(plain, purpose)
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(sealed, "v1:"))
	flip := func(i int) string {
		c := bytes.Clone(raw)
		c[i] ^= 1
		return "v1:" + base64.StdEncoding.EncodeToString(c)
	}
	other, err := secretbox.New(bytes.Repeat([]byte{8}, secretbox.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, sealed, purpose string
		box                   *secretbox.Box
	}{
		{"wrong key", sealed, purpose, other},
		{"wrong purpose", sealed, "env/p/OTHER", b},
		{"other project", sealed, "env/q/TOKEN", b},
		{"flipped nonce bit", flip(0), purpose, b},
		{"flipped ciphertext bit", flip(14), purpose, b},
		{"flipped tag bit", flip(len(raw) - 1), purpose, b},
		{"truncated", "v1:" + base64.StdEncoding.EncodeToString(raw[:len(raw)-1]), purpose, b},
		{"too short", "v1:" + base64.StdEncoding.EncodeToString(raw[:10]), purpose, b},
		{"empty body", "v1:", purpose, b},
		{"not base64", "v1:!!!!", purpose, b},
		{"unknown version", "v9:" + strings.TrimPrefix(sealed, "v1:"), purpose, b},
		{"plaintext", plain, purpose, b},
		{"empty", "", purpose, b},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.box.Open(tt.sealed, tt.purpose)
			if err == nil {
				t.Fatalf("Open succeeded with %q", got)
			}
			if !errors.Is(err, secretbox.ErrDecrypt) || apogee.ErrorCode(err) != apogee.EINTERNAL {
				t.Fatalf("error %v: want EINTERNAL wrapping ErrDecrypt", err)
			}
			if msg := err.Error() + apogee.ErrorMessage(err); strings.Contains(msg, plain) || !strings.Contains(msg, "secret key") {
				t.Fatalf("message %q quotes the value or does not name the secret key", msg)
			}
		})
	}
}

func TestNonceUniqueness(t *testing.T) {
	b := box(t)
	const n = 10000
	seen := make(map[string]bool, n)
	for range n {
		s := b.Seal("same value", "env/p/K")
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "v1:"))
		if err != nil {
			t.Fatal(err)
		}
		nonce := string(raw[:12])
		if seen[nonce] {
			t.Fatal("a nonce repeated")
		}
		seen[nonce] = true
	}
}

func TestParseKey(t *testing.T) {
	key := bytes.Repeat([]byte{0xab, 0x01}, 16)
	for _, tt := range []struct {
		name, in string
		ok       bool
	}{
		{"base64", base64.StdEncoding.EncodeToString(key), true},
		{"base64 raw", base64.RawStdEncoding.EncodeToString(key), true},
		{"base64 url", base64.URLEncoding.EncodeToString(key), true},
		{"base64 with newline", base64.StdEncoding.EncodeToString(key) + "\n", true},
		{"hex", hex.EncodeToString(key), true},
		{"hex upper", strings.ToUpper(hex.EncodeToString(key)), true},
		{"short base64", base64.StdEncoding.EncodeToString(key[:16]), false},
		{"long hex", hex.EncodeToString(append(key, 1)), false},
		{"garbage", "correct horse battery staple", false},
		{"empty", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := secretbox.ParseKey(tt.in)
			if !tt.ok {
				if err == nil || apogee.ErrorCode(err) != apogee.EINVALID {
					t.Fatalf("ParseKey = %x, %v; want EINVALID", got, err)
				}
				if tt.in != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.in)) {
					t.Fatalf("error %q quotes the key", err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, key) {
				t.Fatalf("ParseKey = %x, %v; want %x", got, err, key)
			}
		})
	}
	if _, err := secretbox.New(key[:31]); apogee.ErrorCode(err) != apogee.EINVALID {
		t.Fatalf("New with 31 bytes: %v", err)
	}
}

func TestKeyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // made by LoadOrCreateKeyFile
	path := filepath.Join(dir, secretbox.KeyFileName)
	key, created, err := secretbox.LoadOrCreateKeyFile(path)
	if err != nil || !created || len(key) != secretbox.KeySize {
		t.Fatalf("first start: key %d bytes, created %v, err %v", len(key), created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("key file mode %04o; want 0600", perm)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".secret.key-*")); len(left) > 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	again, created, err := secretbox.LoadOrCreateKeyFile(path)
	if err != nil || created || !bytes.Equal(again, key) {
		t.Fatalf("second start: created %v, err %v, same key %v", created, err, bytes.Equal(again, key))
	}
	// What the file holds works as --secret-key on another server.
	b, _ := os.ReadFile(path)
	if k, err := secretbox.ParseKey(string(b)); err != nil || !bytes.Equal(k, key) {
		t.Fatalf("key file content does not parse as the key: %v", err)
	}

	for _, tt := range []struct {
		name    string
		mode    fs.FileMode
		content string
		want    string
	}{
		{"group readable", 0o640, secretbox.EncodeKey(key), "chmod 600"},
		{"world readable", 0o644, secretbox.EncodeKey(key), "0644"},
		{"world writable", 0o602, secretbox.EncodeKey(key), "chmod 600"},
		{"short key", 0o600, secretbox.EncodeKey(key[:16]), "32 bytes"},
		{"empty", 0o600, "", "32 bytes"},
		{"garbage", 0o600, "not a key at all", "32 bytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), secretbox.KeyFileName)
			if err := os.WriteFile(p, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, tt.mode); err != nil { // past the umask
				t.Fatal(err)
			}
			_, _, err := secretbox.LoadOrCreateKeyFile(p)
			if apogee.ErrorCode(err) != apogee.EINVALID || !strings.Contains(apogee.ErrorMessage(err), tt.want) || !strings.Contains(apogee.ErrorMessage(err), p) {
				t.Fatalf("error %v; want EINVALID naming the file and %q", err, tt.want)
			}
			if tt.content != "" && strings.Contains(err.Error(), tt.content) {
				t.Fatalf("error %q quotes the file's content", err)
			}
			// The file is left as it was: a bad key file is never replaced.
			if b, _ := os.ReadFile(p); string(b) != tt.content {
				t.Fatal("the key file was changed")
			}
		})
	}

	t.Run("directory", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), secretbox.KeyFileName)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, _, err := secretbox.LoadOrCreateKeyFile(p); apogee.ErrorCode(err) != apogee.EINVALID {
			t.Fatalf("key file is a directory: %v", err)
		}
	})
}

// TestKeyFileRace starts many "servers" on one empty data folder at once:
// they all end with the same key.
func TestKeyFileRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), secretbox.KeyFileName)
	const n = 16
	keys := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], _, errs[i] = secretbox.LoadOrCreateKeyFile(path) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !bytes.Equal(keys[i], keys[0]) {
			t.Fatal("two starts got different keys")
		}
	}
}
