package egress

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"
)

// Proxy is an HTTP proxy on loopback through which a program the server
// runs (git, which speaks HTTP through libcurl) reaches the network under
// the policy: CONNECT tunnels (https://) and absolute-form requests
// (http://), each dialed with Policy.DialContext. The program follows
// redirects itself, through the proxy again, so every hop is checked.
//
// Only the holder of the proxy's URL can use it: it asks for a random
// password (Proxy-Authorization: Basic), made per Proxy. A Proxy serves
// one job (a fetch) and is closed after it; Close ends its tunnels.
type Proxy struct {
	policy Policy
	ln     net.Listener
	srv    *http.Server
	auth   string // the expected Proxy-Authorization
	url    string
	rp     *httputil.ReverseProxy
	log    *slog.Logger

	mu      sync.Mutex
	refused *RefusedError // the last refusal, for the caller's message
	conns   map[net.Conn]struct{}
	closed  bool
	wg      sync.WaitGroup
}

// StartProxy starts a Proxy on 127.0.0.1 with a port of its own.
func StartProxy(policy Policy, log *slog.Logger) (*Proxy, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("egress: proxy: %w", err)
	}
	b := make([]byte, 24)
	rand.Read(b)
	pass := base64.RawURLEncoding.EncodeToString(b)
	p := &Proxy{
		policy: policy,
		ln:     ln,
		auth:   "Basic " + base64.StdEncoding.EncodeToString([]byte("apogee:"+pass)),
		url:    (&url.URL{Scheme: "http", User: url.UserPassword("apogee", pass), Host: ln.Addr().String()}).String(),
		log:    log,
		conns:  map[net.Conn]struct{}{},
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL = r.In.URL // absolute-form: the URL is the target
			r.Out.Host = r.In.Host
		},
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           p.dial,
			MaxIdleConns:          4,
			IdleConnTimeout:       30 * time.Second,
			ResponseHeaderTimeout: 5 * time.Minute,
		},
		FlushInterval: -1, // git reads its pack as it streams
		ErrorHandler:  p.fail,
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	p.srv = &http.Server{
		Handler:           p,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.srv.Serve(ln)
	}()
	return p, nil
}

// URL is the proxy's URL with its credentials, for the program's proxy
// setting (git's http.proxy). It is a secret of this Proxy.
func (p *Proxy) URL() string { return p.url }

// Refused returns the last connection the policy refused, or nil.
func (p *Proxy) Refused() *RefusedError {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused
}

// Close stops the proxy and ends its tunnels.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	err := p.srv.Close()
	p.wg.Wait() // Serve and the tunnels
	return err
}

func (p *Proxy) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := p.policy.DialContext(ctx, network, addr)
	var re *RefusedError
	if errors.As(err, &re) {
		p.mu.Lock()
		p.refused = re
		p.mu.Unlock()
		p.log.Info("egress: refused", "host", re.Host, "addr", re.Addr)
	}
	return c, err
}

func (p *Proxy) fail(w http.ResponseWriter, r *http.Request, err error) {
	var re *RefusedError
	if errors.As(err, &re) {
		http.Error(w, re.Error(), http.StatusForbidden)
		return
	}
	p.log.Debug("egress: proxy", "host", r.Host, "err", err)
	http.Error(w, "cannot reach "+r.Host, http.StatusBadGateway)
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("Proxy-Authorization")), []byte(p.auth)) != 1 {
		w.Header().Set("Proxy-Authenticate", `Basic realm="apogee"`)
		http.Error(w, "proxy authentication required", http.StatusProxyAuthRequired)
		return
	}
	if r.Method == http.MethodConnect {
		p.tunnel(w, r)
		return
	}
	if !r.URL.IsAbs() || r.URL.Scheme != "http" {
		http.Error(w, "only http:// requests and CONNECT are proxied", http.StatusBadRequest)
		return
	}
	p.rp.ServeHTTP(w, r)
}

// tunnel serves CONNECT host:port: it dials under the policy, answers
// 200 and copies both ways until either side closes.
func (p *Proxy) tunnel(w http.ResponseWriter, r *http.Request) {
	up, err := p.dial(r.Context(), "tcp", r.Host)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		http.Error(w, "cannot tunnel", http.StatusInternalServerError)
		return
	}
	down, buf, err := hj.Hijack()
	if err != nil {
		up.Close()
		return
	}
	if !p.track(up, down) {
		return
	}
	defer p.untrack(up, down)
	if _, err := down.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() {
		// Bytes the client sent after its CONNECT, already buffered.
		if n := buf.Reader.Buffered(); n > 0 {
			b, _ := buf.Reader.Peek(n)
			up.Write(b)
		}
		io.Copy(up, down)
		closeWrite(up)
		done <- struct{}{}
	}()
	go func() {
		io.Copy(down, up)
		closeWrite(down)
		done <- struct{}{}
	}()
	<-done
	<-done
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// track registers a tunnel's connections so that Close ends them; it
// closes them and says false if the proxy is closed already.
func (p *Proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	p.wg.Add(1)
	return true
}

func (p *Proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		c.Close()
		delete(p.conns, c)
	}
	p.wg.Done()
}
