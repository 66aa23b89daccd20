// Package resolver builds the DNS resolver Apogee looks names up with:
// the system's, or one that sends every query to a given DNS server
// (--dns-resolver), for private networks and tests.
package resolver

import (
	"context"
	"net"
	"strings"

	"github.com/apogee-dev/apogee"
)

// New returns net.DefaultResolver when addr is "", and otherwise a
// resolver that asks only the DNS server at addr ("10.0.0.2",
// "10.0.0.2:53", "[::1]:5353"; the port defaults to 53). Queries go over
// UDP and fall back to TCP for truncated answers, as Go's resolver does;
// /etc/hosts is not consulted for them.
func New(addr string) (*net.Resolver, error) {
	if addr == "" {
		return net.DefaultResolver, nil
	}
	server, err := normalize(addr)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			// network is "udp" or "tcp" (or their 4/6 forms); the address
			// Go picked from resolv.conf is replaced with server.
			if strings.HasPrefix(network, "tcp") {
				network = "tcp"
			} else {
				network = "udp"
			}
			return d.DialContext(ctx, network, server)
		},
	}, nil
}

// normalize returns addr as host:port.
func normalize(addr string) (string, error) {
	if ip := net.ParseIP(strings.Trim(addr, "[]")); ip != nil {
		return net.JoinHostPort(ip.String(), "53"), nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" {
		return "", apogee.Errorf(apogee.EINVALID, "DNS resolver %q is not host:port or an IP address (e.g. 10.0.0.2 or 127.0.0.1:5353)", addr)
	}
	return addr, nil
}
