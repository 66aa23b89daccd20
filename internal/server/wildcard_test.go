package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/client"
	"github.com/apogee-dev/apogee/internal/resolver/resolvertest"
	"github.com/apogee-dev/apogee/internal/testio"
)

// TestWildcardCertificate is issue 18's wildcard end to end: Apogee's
// DNS answers example.test; pebble resolves through it (-dnsserver), so
// the DNS-01 challenge for *.example.test is answered by the TXT record
// Apogee writes into its own zone. https://feature-x.example.test then
// serves the branch feature-x and any other label production, both
// under the one wildcard certificate, and the challenge record is gone.
func TestWildcardCertificate(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dnsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	pb := startPebbleDNS(t, ln.Addr().(*net.TCPAddr).Port, tlsLn.Addr().(*net.TCPAddr).Port, dnsAddr)
	parent, parentAddr := resolvertest.Start(t)

	orders := &obtaining{n: map[string]int{}}
	cfg := Config{Data: t.TempDir(), Listen: ln.Addr().String(), Domain: "apogee.test", CacheMB: 16, MaxFileMB: 8,
		UploadTTL: time.Hour, LogLevel: "warn", LogFormat: "text", ShutdownTTL: time.Second,
		TLSListen: tlsLn.Addr().String(), ACMECA: pb.dir, ACMECARoot: pb.caFile,
		DNSResolver: parentAddr, DNSListen: dnsAddr, DNSEdge: []string{"127.0.0.1"}}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	cfg.onCertEvent = orders.event
	ctx, cancel := context.WithCancel(context.Background())
	logs := &testio.Buffer{}
	s, err := New(ctx, cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.ServeTLS(ctx, ln, tlsLn) }()
	var clients []*http.Client
	t.Cleanup(func() {
		for _, c := range clients {
			c.CloseIdleConnections()
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		s.Close()
		if t.Failed() {
			t.Logf("apogee log:\n%s", logs.String())
		}
	})

	c := client.New("http://"+ln.Addr().String(), userToken(t, s.Store(), "alice@example.com", "password", false))
	p, err := c.CreateProject(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Deploy(ctx, site(t, "production"), client.DeployOptions{Project: "web", Production: true}); err != nil {
		t.Fatal(err)
	}
	preview, err := c.Deploy(ctx, site(t, "feature-x preview"), client.DeployOptions{Project: "web"})
	if err != nil {
		t.Fatal(err)
	}
	// The branch's stable host, as a push of feature-x would set it.
	if err := s.Store().SetBranchAlias(ctx, apogee.BranchAlias{ProjectID: p.ID, Branch: "feature-x",
		Host: apogee.BranchHost("web", "feature-x", false), DeploymentID: preview.Deployment.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddZone(ctx, apogee.AddZoneRequest{Name: "example.test"}); err != nil {
		t.Fatal(err)
	}
	parent.SetNS("example.test", "ns1.apogee.test", "ns2.apogee.test")
	if _, err := c.VerifyZone(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddDomain(ctx, "web", "*.example.test"); err != nil {
		t.Fatal(err)
	}
	waitRoute(t, s, "feature-x.example.test")

	roots := pb.roots(t)
	get := func(host string) (string, *tls.ConnectionState) {
		t.Helper()
		hc := &http.Client{Timeout: 150 * time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, tlsLn.Addr().String())
			},
			TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: host},
		}}
		clients = append(clients, hc)
		res, err := hc.Get("https://" + host + "/")
		if err != nil {
			t.Fatalf("GET https://%s/: %v", host, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b), res.TLS
	}
	for host, want := range map[string]string{"feature-x.example.test": "feature-x preview", "anything.example.test": "production"} {
		body, cs := get(host)
		if body != want {
			t.Errorf("https://%s/ = %q; want %q", host, body, want)
		}
		if names := cs.PeerCertificates[0].DNSNames; !slices.Equal(names, []string{"*.example.test"}) {
			t.Errorf("certificate of %s names %v; want the wildcard", host, names)
		}
	}
	if n := orders.count("*.example.test"); n != 1 {
		t.Errorf("%d ACME orders for *.example.test; want 1", n)
	}
	if rs, err := s.Store().ZoneRecords(ctx, "example.test"); err != nil || len(rs) != 0 {
		t.Errorf("zone records after the challenge: %+v, %v; want none", rs, err)
	}
}
