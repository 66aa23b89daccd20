package secretbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/apogee-dev/apogee"
)

// KeyFileName is the key file's name in the data folder.
const KeyFileName = "secret.key"

// LoadOrCreateKeyFile returns the key kept in the file at path, making
// the file first (mode 0600, a fresh key from crypto/rand, in base64) if
// it does not exist; created says whether it did. The file is made under
// a temporary name and linked into place, so two processes starting at
// once end with one key and neither reads a half-written file.
//
// It refuses, with an *apogee.Error (EINVALID) saying what to do, a file
// that others than its owner may read or write, that is not a regular
// file, or that does not hold a key of KeySize bytes: the platform's
// secrets must not be sealed with a key anyone else can read, nor with a
// new key that would make every stored secret unreadable.
func LoadOrCreateKeyFile(path string) (key []byte, created bool, err error) {
	key, err = readKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("secretbox: create key folder: %w", err)
	}
	key = NewKey()
	tmp, err := os.CreateTemp(filepath.Dir(path), ".secret.key-*")
	if err != nil {
		return nil, false, fmt.Errorf("secretbox: create key file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the link, or on failure
	// CreateTemp makes the file 0600; say so anyway, for umasks that
	// would matter on other systems.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("secretbox: create key file: %w", err)
	}
	if _, err := tmp.WriteString(EncodeKey(key) + "\n"); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("secretbox: write key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("secretbox: write key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, false, fmt.Errorf("secretbox: write key file: %w", err)
	}
	// Link fails if path exists: another process made it meanwhile, and
	// its key is the one to use.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			key, err = readKeyFile(path)
			return key, false, err
		}
		return nil, false, fmt.Errorf("secretbox: create key file: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync() // make the new name durable
		d.Close()
	}
	return key, true, nil
}

// readKeyFile reads the key at path after checking the file's type and
// permissions. A missing file is an error matching fs.ErrNotExist.
func readKeyFile(path string) ([]byte, error) {
	fi, err := os.Stat(path) // a link to the key file (a mounted secret) is fine
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("secretbox: key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, apogee.Errorf(apogee.EINVALID,
			"secret key file %s is not a regular file (%s); replace it with the key file or pass --secret-key", path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, apogee.Errorf(apogee.EINVALID,
			"secret key file %s has permissions %04o, so others than its owner may read or change it; run `chmod 600 %s` and start again",
			path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secretbox: read key file: %w", err)
	}
	key, err := ParseKey(string(b))
	if err != nil {
		return nil, apogee.Errorf(apogee.EINVALID,
			"secret key file %s does not hold a key of %d bytes in base64 or hex (%d bytes long); restore the file from a backup, "+
				"or move it away to make a new key (secrets stored with the old key will not open)",
			path, KeySize, len(b))
	}
	return key, nil
}
