package server

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/secretbox"
)

// setupSecrets loads the key that seals secrets at rest (environment
// variables, webhook secrets): --secret-key if given, else the key file
// in the data folder, made on the first start. It makes s.box and the
// key of upload URLs. The key itself is never logged.
func (s *Server) setupSecrets() error {
	var key []byte
	if s.cfg.SecretKey != "" {
		k, err := secretbox.ParseKey(s.cfg.SecretKey)
		if err != nil {
			return apogee.Errorf(apogee.EINVALID, "--secret-key (APOGEE_SECRET_KEY): %s", apogee.ErrorMessage(err))
		}
		key = k
	} else {
		path := filepath.Join(s.cfg.Data, secretbox.KeyFileName)
		k, created, err := secretbox.LoadOrCreateKeyFile(path)
		if err != nil {
			return err
		}
		key = k
		if created {
			s.log.Info("created the secret key that encrypts secrets at rest; back it up with the database", "path", path)
		}
		if !strings.HasPrefix(s.cfg.Database, "sqlite:") {
			s.log.Warn("secrets are encrypted with the key in the data folder; every server sharing this database needs the same key: "+
				"set --secret-key (APOGEE_SECRET_KEY) to the file's content on each", "path", path)
		}
	}
	box, err := secretbox.New(key)
	if err != nil {
		return err
	}
	// A key of its own for upload URLs: a leaked signature reveals
	// nothing of the key that seals secrets.
	if s.uploadKey, err = hkdf.Key(sha256.New, key, nil, "apogee upload URLs v1", 32); err != nil {
		return fmt.Errorf("server: derive the upload key: %w", err)
	}
	// And one for the nodes' CA (--node-tls): every node that shares the
	// secret key makes the same CA.
	if s.nodeSeed, err = hkdf.Key(sha256.New, key, nil, "apogee node CA v1", 32); err != nil {
		return fmt.Errorf("server: derive the node CA seed: %w", err)
	}
	clear(key)
	s.box = box
	return nil
}
