package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/apogee-dev/apogee"
)

// CertStorage is a certmagic.Storage in the store's database, so that every
// Apogee process sharing the database shares certificates, ACME accounts,
// OCSP staples and the state of challenges in flight (a challenge begun by
// one edge can be answered by another).
//
// Keys are slash-separated paths, as certmagic makes them; a "directory"
// is any prefix that ends before a slash of a stored key. Values live in
// cert_storage. Load, Stat and List of a missing key return an error that
// matches fs.ErrNotExist; Delete of a missing key is not an error.
//
// Locks are rows of cert_locks with an expiry. A holder refreshes its lock
// every LockTTL/3 until Unlock, so a lock outlives a long ACME order but
// not a crashed process: LockTTL after its holder died, another process
// takes the lock over. Expiry compares the clocks of the processes, which
// must agree to well within LockTTL. Lock waits by polling and returns
// ctx's error if ctx ends first.
//
// CertStorage is safe for concurrent use. Locks are held per CertStorage:
// two CertStorage values are two holders, even in one process.
type CertStorage struct {
	s       *Store
	lockTTL time.Duration
	poll    time.Duration

	mu   sync.Mutex
	held map[string]*heldLock // lock name → what this holder holds
}

var _ certmagic.Storage = (*CertStorage)(nil)

// heldLock is a lock this CertStorage holds: its token and the refresher
// that keeps it alive.
type heldLock struct {
	token string
	stop  context.CancelFunc
	done  chan struct{}
}

// DefaultLockTTL is how long a lock lives without a refresh.
const DefaultLockTTL = 30 * time.Second

// CertStorage returns a certmagic.Storage on s. lockTTL <= 0 means
// DefaultLockTTL.
func (s *Store) CertStorage(lockTTL time.Duration) *CertStorage {
	if lockTTL <= 0 {
		lockTTL = DefaultLockTTL
	}
	return &CertStorage{
		s:       s,
		lockTTL: lockTTL,
		poll:    min(500*time.Millisecond, lockTTL/4),
		held:    map[string]*heldLock{},
	}
}

func (c *CertStorage) String() string { return "apogee sql certificate storage" }

// notExist is the error of a missing key.
func notExist(key string) error {
	return fmt.Errorf("sqlstore: certificate storage key %q: %w", key, fs.ErrNotExist)
}

// under returns the bounds of the keys strictly under directory key:
// key+"/" ≤ k < key+"0" ('0' follows '/' in byte order, and both
// databases compare these keys byte by byte).
func under(key string) (lo, hi string) { return key + "/", key + "0" }

// Store puts value at key, replacing any value there.
func (c *CertStorage) Store(ctx context.Context, key string, value []byte) error {
	if key == "" {
		return apogee.Errorf(apogee.EINVALID, "certificate storage key is empty")
	}
	if value == nil {
		value = []byte{}
	}
	_, err := c.s.exec(ctx, `INSERT INTO cert_storage (key, value, modified_at) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, modified_at = excluded.modified_at`,
		key, value, c.s.d.timeArg(time.Now()))
	return wrap("cert storage: store", err)
}

// Load returns the value at key.
func (c *CertStorage) Load(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := c.s.rdb.QueryRowContext(ctx, "SELECT value FROM cert_storage WHERE key = $1", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notExist(key)
	}
	if err != nil {
		return nil, wrap("cert storage: load", err)
	}
	return v, nil
}

// Delete deletes key and, if it is a directory, every key under it.
func (c *CertStorage) Delete(ctx context.Context, key string) error {
	lo, hi := under(key)
	_, err := c.s.exec(ctx, "DELETE FROM cert_storage WHERE key = $1 OR (key >= $2 AND key < $3)", key, lo, hi)
	return wrap("cert storage: delete", err)
}

// Exists reports whether key is stored or is a directory of stored keys.
func (c *CertStorage) Exists(ctx context.Context, key string) bool {
	lo, hi := under(key)
	var one int
	err := c.s.rdb.QueryRowContext(ctx,
		"SELECT 1 FROM cert_storage WHERE key = $1 OR (key >= $2 AND key < $3) LIMIT 1", key, lo, hi).Scan(&one)
	return err == nil
}

// List returns the keys and directories directly under path or, if
// recursive, every key and directory under it. path "" is the root.
func (c *CertStorage) List(ctx context.Context, path string, recursive bool) ([]string, error) {
	path = strings.TrimSuffix(path, "/")
	var (
		rows *sql.Rows
		err  error
	)
	if path == "" {
		rows, err = c.s.rdb.QueryContext(ctx, "SELECT key FROM cert_storage ORDER BY key")
	} else {
		lo, hi := under(path)
		rows, err = c.s.rdb.QueryContext(ctx,
			"SELECT key FROM cert_storage WHERE key >= $1 AND key < $2 ORDER BY key", lo, hi)
	}
	if err != nil {
		return nil, wrap("cert storage: list", err)
	}
	keys, err := collect(rows, func(row scanner) (k string, err error) {
		err = row.Scan(&k)
		return k, err
	})
	if err != nil {
		return nil, wrap("cert storage: list", err)
	}
	if len(keys) == 0 {
		return nil, notExist(path)
	}
	prefix := ""
	if path != "" {
		prefix = path + "/"
	}
	seen := map[string]bool{}
	var out []string
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, k := range keys {
		rest := strings.TrimPrefix(k, prefix)
		if !recursive {
			first, _, _ := strings.Cut(rest, "/")
			add(prefix + first)
			continue
		}
		// Every directory on the way, then the key.
		for i := 0; i < len(rest); i++ {
			if rest[i] == '/' {
				add(prefix + rest[:i])
			}
		}
		add(k)
	}
	slices.Sort(out)
	return out, nil
}

// Stat describes key: a stored key is terminal, a directory is not.
func (c *CertStorage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	var (
		v        []byte
		modified time.Time
	)
	err := c.s.rdb.QueryRowContext(ctx, "SELECT value, modified_at FROM cert_storage WHERE key = $1", key).
		Scan(&v, timeCol{&modified})
	switch {
	case err == nil:
		return certmagic.KeyInfo{Key: key, Modified: modified, Size: int64(len(v)), IsTerminal: true}, nil
	case !errors.Is(err, sql.ErrNoRows):
		return certmagic.KeyInfo{}, wrap("cert storage: stat", err)
	}
	lo, hi := under(key)
	err = c.s.rdb.QueryRowContext(ctx,
		"SELECT MAX(modified_at) FROM cert_storage WHERE key >= $1 AND key < $2 HAVING COUNT(*) > 0", lo, hi).
		Scan(timeCol{&modified})
	if errors.Is(err, sql.ErrNoRows) {
		return certmagic.KeyInfo{}, notExist(key)
	}
	if err != nil {
		return certmagic.KeyInfo{}, wrap("cert storage: stat", err)
	}
	return certmagic.KeyInfo{Key: key, Modified: modified, IsTerminal: false}, nil
}

// Lock takes the lock name, waiting while another holder has it and it
// has not expired.
func (c *CertStorage) Lock(ctx context.Context, name string) error {
	token := apogee.NewSecret(16)
	for {
		ok, err := c.tryLock(ctx, name, token)
		if err != nil {
			return err
		}
		if ok {
			break
		}
		// Jitter keeps waiting processes from polling in step.
		wait := c.poll/2 + rand.N(c.poll)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("sqlstore: cert storage: wait for lock %q: %w", name, ctx.Err())
		case <-t.C:
		}
	}

	rctx, stop := context.WithCancel(context.Background())
	h := &heldLock{token: token, stop: stop, done: make(chan struct{})}
	go c.refresh(rctx, name, h)
	c.mu.Lock()
	if old := c.held[name]; old != nil {
		// Only after the old lock expired and Unlock was never called.
		old.stop()
	}
	c.held[name] = h
	c.mu.Unlock()
	return nil
}

// tryLock inserts the lock row, or takes over an expired one, in one
// statement; it reports whether the lock is now token's.
func (c *CertStorage) tryLock(ctx context.Context, name, token string) (bool, error) {
	now := time.Now()
	n, err := c.s.exec(ctx, `INSERT INTO cert_locks (name, token, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at
		WHERE cert_locks.expires_at < $4`,
		name, token, c.s.d.timeArg(now.Add(c.lockTTL)), c.s.d.timeArg(now))
	if err != nil {
		return false, wrap("cert storage: lock", err)
	}
	return n == 1, nil
}

// refresh pushes the lock's expiry forward every lockTTL/3 until stopped.
func (c *CertStorage) refresh(ctx context.Context, name string, h *heldLock) {
	defer close(h.done)
	t := time.NewTicker(c.lockTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := c.s.exec(ctx, "UPDATE cert_locks SET expires_at = $3 WHERE name = $1 AND token = $2",
			name, h.token, c.s.d.timeArg(time.Now().Add(c.lockTTL)))
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			c.s.log.Warn("refresh certificate lock", "lock", name, "err", err)
		case n == 0:
			c.s.log.Warn("certificate lock expired and was taken over while held", "lock", name)
			return
		}
	}
}

// Unlock releases the lock name, which this CertStorage must hold.
func (c *CertStorage) Unlock(ctx context.Context, name string) error {
	c.mu.Lock()
	h := c.held[name]
	delete(c.held, name)
	c.mu.Unlock()
	if h == nil {
		return fmt.Errorf("sqlstore: cert storage: unlock %q: not locked by this holder", name)
	}
	h.stop()
	<-h.done
	n, err := c.s.exec(ctx, "DELETE FROM cert_locks WHERE name = $1 AND token = $2", name, h.token)
	if err != nil {
		return wrap("cert storage: unlock", err)
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: cert storage: unlock %q: the lock expired and another holder took it", name)
	}
	return nil
}
