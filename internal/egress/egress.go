// Package egress is the address policy of the server's own outgoing
// connections on users' behalf: webhook deliveries and Git fetches. A
// user names a URL; the server must not become their way into its own
// network (the API on loopback, Redis, the cloud metadata address,
// private ranges).
//
// The check runs at connect time, on the address actually dialed after
// DNS resolution (net.Dialer.Control), so a name that resolves to a
// public address when the URL is saved and to 127.0.0.1 later (DNS
// rebinding) is refused, and so is every redirect's target: each
// redirect is a new connection through the same dialer. A check of the
// URL's host when it is saved (CheckHost) only gives an early, clearer
// error.
//
// Programs the server runs (git) reach the network through a Proxy, an
// HTTP proxy on loopback that dials with the policy; see Proxy.
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/apogee-dev/apogee"
)

// Policy says which addresses a connection may reach. The zero Policy
// allows public unicast addresses only (apogee.PublicAddr).
type Policy struct {
	// AllowPrivate allows every address: loopback, private, link-local
	// (a self-hosted server whose Git or webhook receivers are on its
	// own network; tests).
	AllowPrivate bool
	// Allow lets these ranges through although not public.
	Allow []netip.Prefix
	// Flag names the server flag that sets AllowPrivate, for messages
	// ("--allow-private-git").
	Flag string
	// What names what connects, for messages ("the repository's host").
	What string
}

// RefusedError is a connection the policy refused.
type RefusedError struct {
	Addr   string // the address refused (an IP, or what could not be parsed)
	Host   string // the name that resolved to it, when known
	policy Policy
}

func (e *RefusedError) Error() string {
	what := e.policy.What
	if what == "" {
		what = "the host"
	}
	s := fmt.Sprintf("refused: %s", what)
	if e.Host != "" && e.Host != e.Addr {
		s += " " + e.Host
	}
	s += fmt.Sprintf(" resolves to %s, which is not a public address (loopback, private or link-local); this server connects only to public addresses", e.Addr)
	if e.policy.Flag != "" {
		s += fmt.Sprintf(" (a self-hosted server may allow private ones with %s)", e.policy.Flag)
	}
	return s
}

// Allowed reports whether a may be reached.
func (p Policy) Allowed(a netip.Addr) bool {
	if p.AllowPrivate {
		return true
	}
	a = a.Unmap()
	if apogee.PublicAddr(a) {
		return true
	}
	for _, pre := range p.Allow {
		if pre.Contains(a) {
			return true
		}
	}
	return false
}

// Control is a net.Dialer Control function that refuses addresses the
// policy does not allow. address is what the dialer connects to: an IP
// and a port, after resolution.
func (p Policy) Control(_, address string, _ syscall.RawConn) error {
	if p.AllowPrivate {
		return nil
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return &RefusedError{Addr: address, policy: p}
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !p.Allowed(a) {
		return &RefusedError{Addr: host, policy: p}
	}
	return nil
}

// Dialer returns a dialer that checks every address it connects to.
func (p Policy) Dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: p.Control}
}

// DialContext dials address (host:port) with a policy dialer, naming the
// host in a refusal.
func (p Policy) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := p.Dialer(30*time.Second).DialContext(ctx, network, address)
	var re *RefusedError
	if errors.As(err, &re) {
		host, _, _ := net.SplitHostPort(address)
		re.Host = host
		return nil, re
	}
	return c, err
}

// CheckHost refuses, before any connection, a host that is an address
// the policy does not allow or a name of this machine ("localhost",
// "*.localhost"). Other names are checked when dialed.
func (p Policy) CheckHost(host string) error {
	if p.AllowPrivate {
		return nil
	}
	h := strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return &RefusedError{Addr: "this machine (loopback)", Host: h, policy: p}
	}
	if a, err := netip.ParseAddr(h); err == nil && !p.Allowed(a) {
		return &RefusedError{Addr: a.String(), policy: p}
	}
	return nil
}
