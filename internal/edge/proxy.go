package edge

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"time"

	"github.com/apogee-dev/apogee/internal/egress"
	"github.com/apogee-dev/apogee/internal/rules"
)

// ProxyConfig is how the edge answers rules that proxy to another server
// (a Netlify 200 rule to a URL, a Vercel rewrite to one).
type ProxyConfig struct {
	// AllowPrivate lets proxy rules reach loopback, private and
	// link-local addresses (--proxy-allow-private). Off, such targets
	// are refused at connect time, after DNS resolution, as outgoing
	// webhooks are: a deployment's author must not make the edge their
	// way into its own network.
	AllowPrivate bool
	// Timeout bounds the connection, the TLS handshake and the wait for
	// the upstream's response headers (default 30 s). The body streams
	// for as long as it takes.
	Timeout time.Duration
}

// DefaultProxyTimeout is ProxyConfig.Timeout's default.
const DefaultProxyTimeout = 30 * time.Second

// newProxy returns the reverse proxy of proxy rules: the target URL of
// each request travels in its context.
func newProxy(cfg ProxyConfig, s *Server) *httputil.ReverseProxy {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultProxyTimeout
	}
	policy := egress.Policy{AllowPrivate: cfg.AllowPrivate, Flag: "--proxy-allow-private", What: "the proxy rule's host"}
	transport := &http.Transport{
		Proxy:                 nil, // the address check must see the upstream's address
		DialContext:           policy.Dialer(cfg.Timeout).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   cfg.Timeout,
		ResponseHeaderTimeout: cfg.Timeout,
		ExpectContinueTimeout: time.Second,
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			t := pr.In.Context().Value(proxyKey{}).(*proxyTarget)
			pr.Out.URL = t.url
			pr.Out.Host = "" // the upstream's own Host, from the URL
			pr.Out.RequestURI = ""
			// X-Forwarded-For, -Host and -Proto as the upstream expects
			// from a proxy; whatever the client sent of them is dropped.
			pr.SetXForwarded()
			for _, h := range t.headers {
				pr.Out.Header[h.Name] = h.Value
			}
		},
		Transport:     transport,
		FlushInterval: -1, // stream: server-sent events and long polls pass as they come
		ModifyResponse: func(resp *http.Response) error {
			t := resp.Request.Context().Value(proxyKey{}).(*proxyTarget)
			h := resp.Header
			h["X-Apogee-Deployment"] = t.site.hdrID
			if v := h["Set-Cookie"]; len(v) > 0 {
				// The upstream answers on the site's host: its cookies
				// pass the same filter as the site's own (setcookie).
				s.addCookies(h, v, resp.Request)
			}
			s.addHeaders(h, t.res.Headers, resp.Request)
			if t.res.Status != http.StatusOK && t.res.Status != 0 {
				resp.StatusCode = t.res.Status
				resp.Status = strconv.Itoa(t.res.Status) + " " + http.StatusText(t.res.Status)
			}
			s.m.count(resp.StatusCode)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			t := r.Context().Value(proxyKey{}).(*proxyTarget)
			var re *egress.RefusedError
			switch {
			case errors.As(err, &re):
				s.log.Warn("proxy rule refused", "deployment", t.site.id, "target", t.url.Redacted(), "err", err)
				s.error(w, r, pageProxyRefused, t.site)
			case r.Context().Err() != nil:
				// The client went away: nothing to answer.
			case isTimeout(err):
				s.log.Warn("proxy rule timed out", "deployment", t.site.id, "target", t.url.Redacted(), "err", err)
				s.error(w, r, pageProxyTimeout, t.site)
			default:
				s.log.Warn("proxy rule failed", "deployment", t.site.id, "target", t.url.Redacted(), "err", err)
				s.error(w, r, pageProxyFailed, t.site)
			}
		},
	}
}

var (
	pageProxyRefused = newPage(502, -1, "502: bad gateway", "This deployment forwards this path to an address the server does not connect to.")
	pageProxyFailed  = newPage(502, -1, "502: bad gateway", "This deployment forwards this path to another server, which could not be reached.")
	pageProxyTimeout = newPage(504, -1, "504: gateway timeout", "This deployment forwards this path to another server, which did not answer in time.")
)

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

type proxyKey struct{}

// proxyTarget is one proxied request's target and rule.
type proxyTarget struct {
	url     *url.URL
	headers []rules.Header
	res     rules.Result
	site    *site
}

// serveProxy answers r from res.Proxy.
func (s *Server) serveProxy(w http.ResponseWriter, r *http.Request, st *site, res rules.Result) {
	u, err := url.Parse(res.Proxy)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		s.log.Warn("proxy rule has an invalid target", "deployment", st.id, "target", res.Proxy)
		s.error(w, r, pageProxyFailed, st)
		return
	}
	if err := s.proxyPolicy.CheckHost(u.Hostname()); err != nil {
		s.log.Warn("proxy rule refused", "deployment", st.id, "target", u.Redacted(), "err", err)
		s.error(w, r, pageProxyRefused, st)
		return
	}
	t := &proxyTarget{url: u, headers: res.ProxyHeaders, res: res, site: st}
	ctx := context.WithValue(r.Context(), proxyKey{}, t)
	s.m.proxied.Inc()
	s.proxy.ServeHTTP(w, r.WithContext(ctx))
}
