package egress

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestPolicy(t *testing.T) {
	t.Parallel()
	strict := Policy{}
	mirror := Policy{Allow: []netip.Prefix{netip.MustParsePrefix("10.1.2.0/24")}}
	open := Policy{AllowPrivate: true}
	for _, tt := range []struct {
		addr                 string
		strict, mirror, open bool
	}{
		{"93.184.216.34", true, true, true},
		{"2606:2800:220:1:248:1893:25c8:1946", true, true, true},
		{"127.0.0.1", false, false, true},
		{"127.0.0.2", false, false, true},
		{"::1", false, false, true},
		{"::ffff:127.0.0.1", false, false, true},
		{"10.0.0.1", false, false, true},
		{"10.1.2.3", false, true, true},
		{"172.16.0.1", false, false, true},
		{"192.168.1.1", false, false, true},
		{"169.254.169.254", false, false, true}, // the cloud metadata address
		{"fe80::1", false, false, true},
		{"fd00::1", false, false, true},
		{"100.64.0.1", false, false, true},
		{"0.0.0.0", false, false, true},
		{"224.0.0.1", false, false, true},
	} {
		a := netip.MustParseAddr(tt.addr)
		if got := strict.Allowed(a); got != tt.strict {
			t.Errorf("strict.Allowed(%s) = %v", a, got)
		}
		if got := mirror.Allowed(a); got != tt.mirror {
			t.Errorf("mirror.Allowed(%s) = %v", a, got)
		}
		if got := open.Allowed(a); got != tt.open {
			t.Errorf("open.Allowed(%s) = %v", a, got)
		}
	}
	for host, ok := range map[string]bool{"example.com": true, "localhost": false, "LOCALHOST.": false, "a.localhost": false,
		"127.0.0.1": false, "[::1]": false, "::1": false, "8.8.8.8": true} {
		if err := strict.CheckHost(host); (err == nil) != ok {
			t.Errorf("CheckHost(%s) = %v", host, err)
		}
	}
}

// TestDialChecksResolvedAddress: a name is judged by the address it
// resolves to when dialed, not by its spelling.
func TestDialChecksResolvedAddress(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	p := Policy{Flag: "--allow-x", What: "the thing's host"}
	_, err = p.DialContext(context.Background(), "tcp", net.JoinHostPort("localhost", port))
	var re *RefusedError
	if !errors.As(err, &re) || re.Host != "localhost" || !strings.Contains(err.Error(), "--allow-x") {
		t.Fatalf("dial localhost: %v", err)
	}
	c, err := Policy{AllowPrivate: true}.DialContext(context.Background(), "tcp", net.JoinHostPort("localhost", port))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// proxyClient is an HTTP client that goes through p.
func proxyClient(p *Proxy, rawURL string) *http.Client {
	u, _ := url.Parse(rawURL)
	return &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(u)}, Timeout: 30 * time.Second}
}

func TestProxy(t *testing.T) {
	t.Parallel()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Proxy-Authorization") != "" {
			t.Error("the proxy passed its credentials on")
		}
		fmt.Fprintf(w, "hello %s", r.URL.Path)
	}))
	defer backend.Close()
	tlsBackend := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "secure %s", r.URL.Path)
	}))
	defer tlsBackend.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(backend.URL, "http://"))

	loopback := Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	for _, tt := range []struct {
		name   string
		policy Policy
		url    string
		tls    bool
		code   int
		body   string
	}{
		{"http allowed", loopback, backend.URL + "/a", false, 200, "hello /a"},
		{"https (CONNECT) allowed", loopback, tlsBackend.URL + "/b", true, 200, "secure /b"},
		{"http refused", Policy{}, backend.URL + "/a", false, 403, "is not a public address"},
		{"http to a name refused after resolving", Policy{}, "http://localhost:" + port + "/a", false, 403, "resolves to 127.0.0.1"},
		{"https (CONNECT) refused", Policy{}, tlsBackend.URL + "/b", true, 0, "Forbidden"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := StartProxy(tt.policy, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			c := proxyClient(p, p.URL())
			if tt.tls {
				c.Transport.(*http.Transport).TLSClientConfig = tlsBackend.Client().Transport.(*http.Transport).TLSClientConfig
			}
			resp, err := c.Get(tt.url)
			if tt.code == 0 {
				if err == nil || !strings.Contains(err.Error(), tt.body) {
					t.Fatalf("err = %v, want %q", err, tt.body)
				}
				if p.Refused() == nil {
					t.Fatal("Refused() is nil after a refusal")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.code || !strings.Contains(string(b), tt.body) {
				t.Fatalf("%d %q, want %d %q", resp.StatusCode, b, tt.code, tt.body)
			}
			if (tt.code == 403) != (p.Refused() != nil) {
				t.Errorf("Refused() = %v", p.Refused())
			}
		})
	}

	t.Run("no credentials", func(t *testing.T) {
		p, err := StartProxy(loopback, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		u, _ := url.Parse(p.URL())
		u.User = url.UserPassword("apogee", "guess")
		resp, err := proxyClient(p, u.String()).Get(backend.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusProxyAuthRequired {
			t.Fatalf("status %d with a wrong password", resp.StatusCode)
		}
	})

	t.Run("close ends tunnels", func(t *testing.T) {
		echo, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer echo.Close()
		go func() {
			for {
				c, err := echo.Accept()
				if err != nil {
					return
				}
				go io.Copy(c, c)
			}
		}()
		p, err := StartProxy(loopback, nil)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(p.URL())
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		pass, _ := u.User.Password()
		req, _ := http.NewRequest(http.MethodConnect, "", nil)
		req.Host = echo.Addr().String()
		req.SetBasicAuth("apogee", pass)
		req.Header.Set("Proxy-Authorization", req.Header.Get("Authorization"))
		req.Header.Del("Authorization")
		req.Write(conn)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("CONNECT: %v %v", resp, err)
		}
		conn.Write([]byte("ping\n"))
		if line, err := br.ReadString('\n'); err != nil || line != "ping\n" {
			t.Fatalf("through the tunnel: %q %v", line, err)
		}
		p.Close()
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := br.ReadString('\n'); err == nil {
			t.Fatal("the tunnel is open after Close")
		}
	})
}
