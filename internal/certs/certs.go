// Package certs gets TLS certificates from an ACME CA through certmagic,
// on demand: at the first TLS handshake for a name, and only for names
// the caller's Allow function accepts, which it asks before any ACME
// request. Certificates, accounts and challenge state live in the given
// certmagic.Storage (the SQL store), so every edge sharing it shares them.
package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"golang.org/x/sync/singleflight"

	"github.com/apogee-dev/apogee"
)

// DefaultCA is Let's Encrypt's production directory.
const DefaultCA = certmagic.LetsEncryptProductionCA

// Config configures a Manager. Storage and Allow are required.
type Config struct {
	// CA is the ACME directory URL (default DefaultCA).
	CA string
	// CARoots, when set, are the only roots trusted for the CA's own
	// HTTPS endpoint (a private CA such as pebble).
	CARoots *x509.CertPool
	// Email is the ACME account's contact, optional.
	Email   string
	Storage certmagic.Storage
	// Allow decides whether a certificate may be obtained for name (lower
	// case, punycode). It is called before any ACME request for the
	// name; an error refuses the handshake. It must be cheap: it runs in
	// TLS handshakes for names that have no certificate yet.
	Allow func(ctx context.Context, name string) error
	// DisableTLSALPN leaves only the HTTP-01 challenge, which needs this
	// process's HTTP listener on port 80 as the CA sees it.
	DisableTLSALPN bool
	// OnEvent, if set, receives certmagic's events ("cert_obtaining",
	// "cert_obtained", "cert_failed", …), e.g. for tests.
	OnEvent func(ctx context.Context, event string, data map[string]any) error
	Log     *slog.Logger
	// Wildcard, if set, names the wildcard certificate that is to serve
	// name ("*.example.com" for feature-x.example.com), if any. Such
	// names get that one certificate, obtained by the DNS-01 challenge
	// once EnableDNS01 has run. It runs in handshakes: it must be cheap.
	Wildcard func(name string) (wildcard string, ok bool)
}

// Manager hands out certificates for TLS handshakes and answers ACME
// HTTP-01 challenges. Safe for concurrent use.
type Manager struct {
	cfg    Config
	magic  *certmagic.Config
	issuer *certmagic.ACMEIssuer
	cache  *certmagic.Cache
	once   sync.Once

	// wild manages wildcard certificates with a DNS-01-only issuer; nil
	// until EnableDNS01.
	wild     *certmagic.Config
	wildOnce singleflight.Group
	wildMu   sync.Mutex
	managed  map[string]bool // wildcard names wild manages
}

// LoadRoots reads a PEM file of CA certificates, e.g. pebble's or a
// company CA's, to trust for the ACME directory.
func LoadRoots(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, apogee.Errorf(apogee.EINVALID, "cannot read the ACME CA root %s: %v", path, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, apogee.Errorf(apogee.EINVALID, "%s holds no PEM certificate to trust for the ACME CA", path)
	}
	return pool, nil
}

// New returns a Manager. It makes no network request: the CA is first
// contacted at the first handshake that needs a certificate.
func New(cfg Config) (*Manager, error) {
	if cfg.Storage == nil || cfg.Allow == nil {
		return nil, errors.New("certs: Config.Storage and Config.Allow are required")
	}
	if cfg.CA == "" {
		cfg.CA = DefaultCA
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	zl := zapLogger(cfg.Log)
	m := &Manager{cfg: cfg, managed: map[string]bool{}}
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(c certmagic.Certificate) (*certmagic.Config, error) {
			if m.wild != nil && slices.ContainsFunc(c.Names, func(n string) bool { return strings.HasPrefix(n, "*.") }) {
				return m.wild, nil
			}
			return m.magic, nil
		},
		Logger: zl,
	})
	m.magic = certmagic.New(m.cache, certmagic.Config{
		Storage: cfg.Storage,
		OnDemand: &certmagic.OnDemandConfig{
			DecisionFunc: func(ctx context.Context, name string) error {
				if err := cfg.Allow(ctx, name); err != nil {
					cfg.Log.Info("certificate refused", "host", name, "reason", err)
					return err
				}
				return nil
			},
		},
		// Let's Encrypt ended OCSP in 2025; fetching staples from CAs
		// that have none would only add failing requests.
		OCSP:    certmagic.OCSPConfig{DisableStapling: true},
		OnEvent: cfg.OnEvent,
		Logger:  zl,
	})
	m.issuer = certmagic.NewACMEIssuer(m.magic, certmagic.ACMEIssuer{
		CA:                      cfg.CA,
		TrustedRoots:            cfg.CARoots,
		Email:                   cfg.Email,
		Agreed:                  true,
		DisableTLSALPNChallenge: cfg.DisableTLSALPN,
		Logger:                  zl,
	})
	m.magic.Issuers = []certmagic.Issuer{m.issuer}
	return m, nil
}

// EnableDNS01 makes wildcard names (Config.Wildcard) get certificates
// through the ACME DNS-01 challenge: p writes the TXT record into
// Apogee's own zone and resolvers (host:port, Apogee's DNS servers) are
// asked until they answer it. Every other name keeps HTTP-01 and
// TLS-ALPN-01. Call it before serving.
func (m *Manager) EnableDNS01(p *DNSProvider, resolvers []string) {
	zl := zapLogger(m.cfg.Log)
	m.wild = certmagic.New(m.cache, certmagic.Config{
		Storage: m.cfg.Storage,
		OCSP:    certmagic.OCSPConfig{DisableStapling: true},
		OnEvent: m.cfg.OnEvent,
		Logger:  zl,
	})
	issuer := certmagic.NewACMEIssuer(m.wild, certmagic.ACMEIssuer{
		CA:           m.cfg.CA,
		TrustedRoots: m.cfg.CARoots,
		Email:        m.cfg.Email,
		Agreed:       true,
		DNS01Solver: &certmagic.DNS01Solver{DNSManager: certmagic.DNSManager{
			DNSProvider: p, Resolvers: resolvers, TTL: time.Minute, Logger: zl,
		}},
		Logger: zl,
	})
	m.wild.Issuers = []certmagic.Issuer{issuer}
}

// wildcard makes sure the wildcard certificate w is managed (loaded
// from storage or obtained, then renewed); once per name, one caller at
// a time.
func (m *Manager) wildcard(ctx context.Context, w string) error {
	m.wildMu.Lock()
	done := m.managed[w]
	m.wildMu.Unlock()
	if done {
		return nil
	}
	_, err, _ := m.wildOnce.Do(w, func() (any, error) {
		if err := m.wild.ManageSync(ctx, []string{w}); err != nil {
			return nil, err
		}
		m.wildMu.Lock()
		m.managed[w] = true
		m.wildMu.Unlock()
		return nil, nil
	})
	if err != nil {
		m.cfg.Log.Warn("wildcard certificate not obtained", "name", w, "err", err)
	}
	return err
}

// SetListeners tells the ACME issuer where this process answers
// challenges: host is the address the listeners are bound to ("" for
// all), httpPort the plain HTTP listener's port (HTTP-01), tlsPort the TLS
// listener's (TLS-ALPN-01). Call it before serving. Outside tests the
// CA connects to ports 80 and 443 of the name; when these differ, a port
// forward must bridge them.
func (m *Manager) SetListeners(host string, httpPort, tlsPort int) {
	m.issuer.ListenHost = host
	m.issuer.AltHTTPPort = httpPort
	m.issuer.AltTLSALPNPort = tlsPort
}

// TLSConfig is the configuration of the TLS listener: certificates on
// demand, HTTP/2 and HTTP/1.1, and ACME's TLS-ALPN-01 protocol.
func (m *Manager) TLSConfig() *tls.Config {
	c := m.magic.TLSConfig()
	get := c.GetCertificate
	c.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if m.wild != nil && m.cfg.Wildcard != nil {
			if w, ok := m.cfg.Wildcard(strings.ToLower(hello.ServerName)); ok {
				if err := m.wildcard(hello.Context(), w); err != nil {
					return nil, err
				}
			}
		}
		return get(hello)
	}
	c.NextProtos = []string{"h2", "http/1.1", "acme-tls/1"}
	c.MinVersion = tls.VersionTLS12
	return c
}

// HTTPChallengeHandler answers ACME HTTP-01 challenges that this or any
// process sharing the storage began, and passes every other request to h.
func (m *Manager) HTTPChallengeHandler(h http.Handler) http.Handler {
	return m.issuer.HTTPChallengeHandler(h)
}

// Close stops certmagic's renewal and maintenance goroutines.
func (m *Manager) Close() {
	m.once.Do(m.cache.Stop)
}
