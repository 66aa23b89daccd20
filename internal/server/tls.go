package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/certs"
	"github.com/apogee-dev/apogee/internal/edge"
	"github.com/apogee-dev/apogee/internal/resolver"
	"github.com/apogee-dev/apogee/internal/sqlstore"
)

// HTTPS. With --tls-listen the server runs a second listener that serves
// the same handler over TLS (HTTP/2 and HTTP/1.1) with certificates that
// certmagic obtains from the ACME CA at the first handshake for a name.
// Only names this platform serves get one (allowCert): the apex, a
// project's host, a deployment's host and verified custom domains;
// anything else is refused before any ACME request, so strangers cannot
// make the server order certificates for names it does not serve. The
// plain HTTP listener answers ACME HTTP-01 challenges and redirects (308)
// every other request for a host that has HTTPS to https://.

// tlsState is the server's HTTPS part; zero when --tls-listen is unset.
type tlsState struct {
	certs   *certs.Manager
	urlPort string // ":8443" in https URLs, "" for 443
}

// normalizeTLS checks the HTTPS and DNS settings.
func (c *Config) normalizeTLS() error {
	if _, err := resolver.New(c.DNSResolver); err != nil {
		return apogee.Errorf(apogee.EINVALID, "--dns-resolver: %s", apogee.ErrorMessage(err))
	}
	if c.TLSListen == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(c.TLSListen); err != nil {
		return apogee.Errorf(apogee.EINVALID, "--tls-listen %q is not host:port (e.g. :443)", c.TLSListen)
	}
	if c.ACMECA == "" {
		c.ACMECA = certs.DefaultCA
	}
	if !strings.HasPrefix(c.ACMECA, "https://") {
		return apogee.Errorf(apogee.EINVALID, "--acme-ca %q is not an https:// ACME directory URL", c.ACMECA)
	}
	if c.ACMECARoot != "" {
		if _, err := certs.LoadRoots(c.ACMECARoot); err != nil {
			return err
		}
	}
	return nil
}

// certStorer is a store that can keep certificates.
type certStorer interface {
	CertStorage(lockTTL time.Duration) *sqlstore.CertStorage
}

// setupTLS builds the certificate manager when HTTPS is configured.
func (s *Server) setupTLS(ctx context.Context) error {
	if s.cfg.TLSListen == "" {
		return nil
	}
	if certifiable(s.cfg.Domain) != nil {
		s.log.Warn("HTTPS is on but --domain is not a name a CA will certify; only verified custom domains will get certificates", "domain", s.cfg.Domain)
	}
	cs, ok := s.store.(certStorer)
	if !ok {
		return errors.New("the store cannot keep certificates")
	}
	cfg := certs.Config{
		CA:      s.cfg.ACMECA,
		Email:   s.cfg.ACMEEmail,
		Storage: cs.CertStorage(0),
		Allow:   s.allowCert,
		Log:     s.log.With("component", "certs"),
	}
	if s.cfg.ACMECARoot != "" {
		roots, err := certs.LoadRoots(s.cfg.ACMECARoot)
		if err != nil {
			return err
		}
		cfg.CARoots = roots
	}
	cfg.OnEvent = s.cfg.onCertEvent
	cfg.Wildcard = s.edge.Wildcard
	cfg.DisableTLSALPN = s.cfg.onlyHTTP01
	m, err := certs.New(cfg)
	if err != nil {
		return err
	}
	s.tls.certs = m
	return nil
}

// certifiable refuses names no public CA certifies.
func certifiable(name string) error {
	if name == "" || name == "localhost" || strings.HasSuffix(name, ".localhost") || isIP(name) || !strings.Contains(name, ".") {
		return fmt.Errorf("%q is not a name a CA can certify", name)
	}
	return nil
}

// allowCert is certmagic's decision function: nil for the apex, a
// project's host (deployed or not), a ready deployment's host and a
// verified custom domain. The edge's host map answers most names with one
// map read; the store is asked only for projects not deployed yet and
// custom domains whose project has no production deployment.
func (s *Server) allowCert(ctx context.Context, name string) error {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if err := certifiable(name); err != nil {
		return err
	}
	if name == s.cfg.Domain {
		return nil
	}
	if s.edge.WildcardOnly(name) {
		// Any label under a wildcard domain: unbounded names, so no
		// certificate each (a stranger could make the server order them
		// without end); the wildcard certificate is for DNS-01.
		return fmt.Errorf("%s is served only by a wildcard domain; it gets no certificate of its own", name)
	}
	if _, ok := s.edge.Lookup(name); ok {
		return nil
	}
	if label, ok := strings.CutSuffix(name, s.suffix); ok {
		if strings.Contains(label, ".") || apogee.ValidateProjectName(label) != nil {
			return fmt.Errorf("%s is not a host of this platform", name)
		}
		if _, err := s.store.ProjectByName(ctx, label); err != nil {
			return fmt.Errorf("%s is not a host of this platform", name)
		}
		return nil
	}
	d, err := s.store.DomainByName(ctx, name)
	if err != nil || !d.Verified() {
		return fmt.Errorf("%s is not a verified custom domain", name)
	}
	return nil
}

// hasTLS reports whether plain HTTP requests for host are redirected to
// HTTPS: the apex and every host the edge serves, when HTTPS is on and
// the name can have a certificate. One map read per request.
func (s *Server) hasTLS(host string) bool {
	if s.tls.certs == nil || certifiable(host) != nil {
		return false
	}
	if host == s.cfg.Domain {
		return true
	}
	_, ok := s.edge.Lookup(host)
	return ok
}

// httpHandler is the plain HTTP listener's handler: ACME HTTP-01
// challenges first, then a 308 to https:// for hosts that have HTTPS,
// then the server itself.
func (s *Server) httpHandler() http.Handler {
	if s.tls.certs == nil {
		return s
	}
	redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, ok := edge.ParseHost(r.Host)
		if !ok || strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") || !s.hasTLS(host) {
			s.ServeHTTP(w, r)
			return
		}
		http.Redirect(w, r, "https://"+host+s.tls.urlPort+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
	return s.tls.certs.HTTPChallengeHandler(redirect)
}

// setTLSListener makes URLs https:// with the TLS listener's port and
// tells the ACME issuer where challenges are answered. Call after
// setListener.
func (s *Server) setTLSListener(ln, tlsLn net.Listener) {
	host, tlsPort, _ := net.SplitHostPort(tlsLn.Addr().String())
	_, httpPort, _ := net.SplitHostPort(ln.Addr().String())
	hp, _ := strconv.Atoi(httpPort)
	tp, _ := strconv.Atoi(tlsPort)
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = ""
	}
	s.tls.certs.SetListeners(host, hp, tp)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scheme = "https"
	s.urlPort = ""
	if tlsPort != "443" {
		s.urlPort = ":" + tlsPort
	}
	s.tls.urlPort = s.urlPort
}
