package cluster

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// nodeServerName is the name every node's certificate carries and every
// dialer checks.
const nodeServerName = "apogee-node"

// Certs are this node's credentials for mutual TLS between nodes
// (--node-tls): the platform's node CA and a certificate it issued to
// this node.
//
// The CA's key is derived from a seed every node holds (the platform's
// secret key, through HKDF), so every node makes the same CA certificate
// (Ed25519 signatures are deterministic) and issues its own certificate
// at start, without a round trip to anyone; a node's certificate lasts a
// year and names the node. Only a holder of the secret key can issue
// one, as only a holder of the node secret can open a tunnel without
// TLS; TLS adds that tunnels are encrypted and that both ends prove who
// they are.
type Certs struct {
	pool *x509.CertPool
	cert tls.Certificate
}

// NodeCerts makes the node CA from seed (32 bytes) and issues node's
// certificate.
func NodeCerts(seed []byte, node string) (*Certs, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, errors.New("cluster: the node CA seed must be 32 bytes")
	}
	caKey := ed25519.NewKeyFromSeed(seed)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Apogee node CA"},
		NotBefore:             time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2125, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(nil, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("cluster: make the node CA: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: node},
		DNSNames:     []string{nodeServerName},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}, ca, pub, caKey)
	if err != nil {
		return nil, fmt.Errorf("cluster: issue the node's certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &Certs{pool: pool, cert: tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}}, nil
}

// ServerConfig is the node listener's: it asks every client for a
// certificate of the node CA.
func (c *Certs) ServerConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{c.cert}, ClientCAs: c.pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13}
}

// ClientConfig is the dialer's: it shows this node's certificate and
// accepts only a node's.
func (c *Certs) ClientConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{c.cert}, RootCAs: c.pool,
		ServerName: nodeServerName, MinVersion: tls.VersionTLS13}
}
