package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/client"
	"github.com/apogee-dev/apogee/internal/testio"
)

// pebble is a running ACME test CA (Debian's pebble) with its DNS server
// (pebble-challtestsrv).
type pebble struct {
	dir      string // https://127.0.0.1:A/dir
	caFile   string // the root that signed pebble's own HTTPS certificate
	mgmt     string // https://127.0.0.1:B, pebble's management API
	dnsAddr  string // 127.0.0.1:P, the fake DNS
	chalMgmt string // http://127.0.0.1:M, challtestsrv's management API
	client   *http.Client
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// writeTestCA writes a CA and a certificate it signed for 127.0.0.1 and
// localhost, for pebble's own HTTPS listeners, and returns their files.
func writeTestCA(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "apogee test CA for pebble"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ = x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost", "pebble"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("cert.pem", "CERTIFICATE", leafDER), write("key.pem", "EC PRIVATE KEY", keyDER)
}

// startPebble starts pebble-challtestsrv and pebble, which validates
// HTTP-01 challenges on httpPort and TLS-ALPN-01 on tlsPort of whatever
// the fake DNS answers: 127.0.0.1 for every name.
func startPebble(t *testing.T, httpPort, tlsPort int) *pebble {
	t.Helper()
	return startPebbleDNS(t, httpPort, tlsPort, "")
}

// startPebbleDNS is startPebble with pebble resolving names through the
// DNS server at dnsAddr instead of pebble-challtestsrv, when it is set.
func startPebbleDNS(t *testing.T, httpPort, tlsPort int, dnsAddr string) *pebble {
	t.Helper()
	for _, bin := range []string{"pebble", "pebble-challtestsrv"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is not installed: apt-get install pebble (scripts/test.sh does)", bin)
		}
	}
	dir := t.TempDir()
	caFile, certFile, keyFile := writeTestCA(t, dir)
	dnsPort, chalPort, acmePort, mgmtPort := freePort(t), freePort(t), freePort(t), freePort(t)
	p := &pebble{
		dir:      fmt.Sprintf("https://127.0.0.1:%d/dir", acmePort),
		caFile:   caFile,
		mgmt:     fmt.Sprintf("https://127.0.0.1:%d", mgmtPort),
		dnsAddr:  fmt.Sprintf("127.0.0.1:%d", dnsPort),
		chalMgmt: fmt.Sprintf("http://127.0.0.1:%d", chalPort),
	}
	pool := x509.NewCertPool()
	b, _ := os.ReadFile(caFile)
	pool.AppendCertsFromPEM(b)
	p.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	cfg, _ := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress":                  fmt.Sprintf("127.0.0.1:%d", acmePort),
		"managementListenAddress":        fmt.Sprintf("127.0.0.1:%d", mgmtPort),
		"certificate":                    certFile,
		"privateKey":                     keyFile,
		"httpPort":                       httpPort,
		"tlsPort":                        tlsPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
	}})
	cfgFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(cfgFile, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &testio.Buffer{}
	start := func(name string, env []string, args ...string) {
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			if t.Failed() {
				t.Logf("%s output:\n%s", name, logs.String())
			}
		})
	}
	if dnsAddr != "" {
		p.dnsAddr = dnsAddr
	} else {
		start("pebble-challtestsrv", nil,
			"-dns01", p.dnsAddr, "-http01", "", "-https01", "", "-tlsalpn01", "",
			"-management", strings.TrimPrefix(p.chalMgmt, "http://"), "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "")
	}
	start("pebble", []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0"},
		"-config", cfgFile, "-dnsserver", p.dnsAddr)

	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := p.client.Get(p.dir)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not start: %v\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return p
}

// setTXT sets a TXT record in the fake DNS.
func (p *pebble) setTXT(t *testing.T, host, value string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"host": host, "value": value})
	res, err := http.Post(p.chalMgmt+"/set-txt", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("set-txt: %s", res.Status)
	}
}

// roots returns the root pebble issues certificates under.
func (p *pebble) roots(t *testing.T) *x509.CertPool {
	t.Helper()
	res, err := p.client.Get(p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("pebble's /roots/0 is not PEM: %s", b)
	}
	return pool
}

// obtaining counts certmagic's "cert_obtaining" events by name: each is
// the start of an ACME order.
type obtaining struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *obtaining) event(ctx context.Context, event string, data map[string]any) error {
	if event == "cert_obtaining" {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.n[fmt.Sprint(data["identifier"])]++
	}
	return nil
}

func (o *obtaining) count(name string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[name]
}

// TestHTTPSWithACME runs Apogee with --tls-listen against a real ACME CA
// (pebble) that validates real HTTP-01 challenges on Apogee's own HTTP
// listener, with DNS from pebble-challtestsrv, which also holds the TXT
// record that verifies the custom domain.
func TestHTTPSWithACME(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpPort, tlsPort := ln.Addr().(*net.TCPAddr).Port, tlsLn.Addr().(*net.TCPAddr).Port
	pb := startPebble(t, httpPort, tlsPort)

	orders := &obtaining{n: map[string]int{}}
	cfg := Config{Data: t.TempDir(), Listen: ln.Addr().String(), Domain: "apogee.test", CacheMB: 16, MaxFileMB: 8,
		UploadTTL: time.Hour, LogLevel: "warn", LogFormat: "text", ShutdownTTL: time.Second,
		TLSListen: tlsLn.Addr().String(), ACMECA: pb.dir, ACMECARoot: pb.caFile, ACMEEmail: "ops@example.com",
		DNSResolver: pb.dnsAddr}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	cfg.onCertEvent = orders.event
	cfg.onlyHTTP01 = true // the test is about the HTTP listener's challenge path
	ctx, cancel := context.WithCancel(context.Background())
	logs := &testio.Buffer{}
	s, err := New(ctx, cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.ServeTLS(ctx, ln, tlsLn) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		s.Close()
		if t.Failed() {
			t.Logf("apogee log:\n%s", logs.String())
		}
	})

	// A user, a project, a production deployment.
	secret := userToken(t, s.Store(), "admin@example.com", "password", false)
	c := client.New("http://"+ln.Addr().String(), secret) // an IP: the API, never redirected
	if _, err := c.CreateProject(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	d, err := c.Deploy(ctx, site(t, "hello over tls"), client.DeployOptions{Project: "web", Production: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("https://%s.apogee.test:%d/", d.Deployment.Host, tlsPort); d.URL != want {
		t.Errorf("deployment URL %q; want %q", d.URL, want)
	}

	// The custom domain: add, verify through the fake DNS.
	dom, err := c.AddDomain(ctx, "web", "www.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.VerifyDomain(ctx, "www.example.com"); apogee.ErrorCode(err) != apogee.ECONFLICT {
		t.Fatalf("verify before the TXT record: %v; want a conflict", err)
	}
	pb.setTXT(t, dom.Verification.Name+".", dom.Verification.Value)
	if _, err := c.VerifyDomain(ctx, "www.example.com"); err != nil {
		t.Fatalf("verify with the TXT record in the DNS: %v", err)
	}
	if _, err := c.AddDomain(ctx, "web", "unverified.example.com"); err != nil {
		t.Fatal(err)
	}
	waitRoute(t, s, "www.example.com")

	roots := pb.roots(t)
	var clients []*http.Client
	t.Cleanup(func() { // before the server stops
		for _, c := range clients {
			c.CloseIdleConnections()
		}
	})
	https := func(host string) *http.Client {
		c := &http.Client{
			Timeout: 90 * time.Second,
			Transport: &http.Transport{
				DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, network, tlsLn.Addr().String())
				},
				TLSClientConfig:   &tls.Config{RootCAs: roots, ServerName: host},
				ForceAttemptHTTP2: true,
			},
		}
		clients = append(clients, c)
		return c
	}

	// A verified custom domain and a project host get certificates at
	// the first handshake, and are served over HTTP/2.
	for _, host := range []string{"www.example.com", "web.apogee.test", d.Deployment.Host + ".apogee.test"} {
		res, err := https(host).Get("https://" + host + "/")
		if err != nil {
			t.Fatalf("GET https://%s/: %v", host, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(body) != "hello over tls" || res.Proto != "HTTP/2.0" {
			t.Fatalf("GET https://%s/ = %d %s %q; want 200 HTTP/2.0 with the site", host, res.StatusCode, res.Proto, body)
		}
		leaf := res.TLS.PeerCertificates[0]
		if err := leaf.VerifyHostname(host); err != nil {
			t.Errorf("certificate for %s: %v", host, err)
		}
		if n := orders.count(host); n != 1 {
			t.Errorf("%d ACME orders for %s; want 1", n, host)
		}
	}

	// Hosts the platform does not serve get no certificate and cause no
	// ACME order: the decision comes first.
	for _, host := range []string{"unverified.example.com", "stranger.example.org", "nosuch.apogee.test", "a.b.apogee.test", "localhost"} {
		conn, err := tls.Dial("tcp", tlsLn.Addr().String(), &tls.Config{RootCAs: roots, ServerName: host})
		if err == nil {
			conn.Close()
			t.Errorf("TLS handshake for %s succeeded", host)
		}
		if n := orders.count(host); n != 0 {
			t.Errorf("%d ACME orders for %s; want none", n, host)
		}
	}

	// Plain HTTP: hosts with HTTPS redirect with 308, except ACME
	// challenges; hosts without pass through.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	plain := func(host, path string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+path, nil)
		req.Host = host
		res, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	for _, host := range []string{"www.example.com", "web.apogee.test", "apogee.test"} {
		res := plain(host, "/a/b?c=d")
		want := "https://" + host + ":" + strconv.Itoa(tlsPort) + "/a/b?c=d"
		if res.StatusCode != http.StatusPermanentRedirect || res.Header.Get("Location") != want {
			t.Errorf("http://%s/a/b?c=d = %d → %q; want 308 → %q", host, res.StatusCode, res.Header.Get("Location"), want)
		}
		if res := plain(host, "/.well-known/acme-challenge/unknown-token"); res.StatusCode == http.StatusPermanentRedirect {
			t.Errorf("the ACME challenge path of %s is redirected", host)
		}
	}
	if res := plain("unverified.example.com", "/"); res.StatusCode != 404 {
		t.Errorf("http://unverified.example.com/ = %d; want 404 (no redirect, nothing served)", res.StatusCode)
	}
	if res := plain("127.0.0.1", "/healthz"); res.StatusCode != 200 {
		t.Errorf("http://127.0.0.1/healthz = %d; want 200", res.StatusCode)
	}

	// The certificate is in the SQL store: a second handshake, after the
	// in-memory cache, needs no new order.
	st, ok := s.Store().(certStorer)
	if !ok {
		t.Fatal("store keeps no certificates")
	}
	keys, err := st.CertStorage(0).List(ctx, "certificates", true)
	if err != nil || !strings.Contains(strings.Join(keys, "\n"), "www.example.com.crt") {
		t.Errorf("stored certificate keys: %q, %v", keys, err)
	}
}

// waitRoute waits until the edge serves host.
func waitRoute(t *testing.T, s *Server, host string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := s.edge.Lookup(host); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the edge does not route %s", host)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
