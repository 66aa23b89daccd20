// Package appproxy is the edge's reverse proxy to app instances.
//
// A Target is one instance as the proxy sees it: a keep-alive pool of
// connections dialed through the instance's own dialer (inside its
// network namespace), a count of requests in flight and a draining flag.
// A Pool is the set of targets that serve one host (a project's production
// release, or one release's own host); Switch replaces the set in one
// atomic step, so a request sees either the old release or the new one.
// Drain takes a target out of every pool's choice, lets its requests and
// WebSockets finish up to a deadline and then cancels what is left.
//
// Requests go through one httputil.ReverseProxy with Rewrite:
//
//   - the balancer picks the ready target with the fewest requests in
//     flight (ties rotate);
//   - X-Forwarded-For, -Host and -Proto are set from the connection the
//     edge accepted; the client's own X-Forwarded-*, Forwarded and
//     X-Real-Ip are dropped, never trusted;
//   - the Host header and the query string pass unchanged;
//   - a Set-Cookie in the response whose Domain reaches beyond the
//     request's host is dropped (package setcookie);
//   - WebSocket (Upgrade) and streaming responses (SSE) pass through,
//     flushed as they come;
//   - a body over Options.MaxBodyBytes is 413; no response headers within
//     Options.ResponseTimeout is 504;
//   - a request whose connection to an instance could not even be dialed
//     never reached it, and is sent to another ready target (at most
//     Options.Retries times); nothing else is retried, because a request
//     that reached an app may have changed something;
//   - no ready target is 503, an instance that failed mid-request 502,
//     each a small page saying so; with Options.Waker, a request that
//     finds no ready target is first held while the app wakes (the
//     activator: a bounded queue per pool, the first held request wakes
//     the app at once, bodies kept in memory up to 1 MiB and then on
//     disk, 503 with Retry-After at the hold timeout; see Waker);
//   - with Options.LabelHeader set, an answer from a Labeler target
//     names its label (the release) in that header.
//
// The proxy speaks HTTP/1.1 to instances and never uses proxy settings
// from the environment.
package appproxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apogee-dev/apogee/internal/setcookie"
)

// Backend is one instance the proxy can send requests to. Every
// apps.Instance is one.
type Backend interface {
	// ID names the instance in logs and figures.
	ID() string
	// Ready reports whether the instance takes new requests (it passed its
	// readiness check and is not failing liveness). It is called for every
	// request and must be cheap and safe for concurrent use.
	Ready() bool
	// Dial connects to the instance's HTTP port. It honours ctx's deadline
	// and cancellation.
	Dial(ctx context.Context) (net.Conn, error)
}

// Labeler is a Backend that names what it runs (an app instance: its
// release). With Options.LabelHeader set, every answer from it carries
// the label in that header, whatever the caller or the app set there:
// the answer says which release made it even when a switch raced the
// request.
type Labeler interface {
	Backend
	Label() string
}

// Options tune a Proxy. Zero values take the defaults.
type Options struct {
	// MaxBodyBytes bounds a request body (default 100 MiB, Cloudflare's
	// limit on its free plans; -1: no limit).
	MaxBodyBytes int64
	// ResponseTimeout bounds the wait for an instance's response headers
	// after the request was sent (default 30 s, Heroku's H12 router
	// timeout). Streaming bodies, SSE and WebSockets are not bounded by it.
	ResponseTimeout time.Duration
	// DialTimeout bounds connecting to an instance (default 5 s; a local
	// instance answers in microseconds or not at all).
	DialTimeout time.Duration
	// IdleConnsPerTarget is how many idle keep-alive connections each
	// target keeps (default 256).
	IdleConnsPerTarget int
	// IdleConnTimeout closes idle connections after this long (default
	// 90 s, net/http's default; Node's server closes idle keep-alive
	// connections after 5 s, and a closed one is redialed).
	IdleConnTimeout time.Duration
	// Retries is how many other targets a request that never reached an
	// instance is offered to (default 2).
	Retries int
	// Log receives proxy errors (default slog.Default()).
	Log *slog.Logger
	// LabelHeader is the response header that names the Labeler that
	// answered ("": none).
	LabelHeader string

	// Waker, when set, turns the proxy into an activator as well: a
	// request for a pool with no ready target is held while Waker wakes
	// the app, instead of answered 503 at once. See Waker.
	Waker Waker
	// HoldQueue bounds the requests held per pool (default
	// DefaultHoldQueue); one more is answered 503 at once.
	HoldQueue int
	// HoldTimeout is the shortest time a request is held (default
	// DefaultHoldTimeout); the pool's is max(HoldTimeout, BootFactor × its
	// slowest recent boot). Past it the request is answered 503 with
	// Retry-After.
	HoldTimeout time.Duration
	// HoldMemory is how many bytes of a held request's body stay in
	// memory (default DefaultHoldMemory); the rest waits in a temporary
	// file in TempDir (default os.TempDir()), removed when the request
	// ends.
	HoldMemory int64
	TempDir    string
	// HoldMemoryTotal and HoldDiskTotal bound the held bodies of every
	// pool together (defaults DefaultHoldMemoryTotal, DefaultHoldDiskTotal):
	// past the first a body goes to disk at once, past the second the
	// request is answered 503.
	HoldMemoryTotal int64
	HoldDiskTotal   int64
}

func (o *Options) defaults() {
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 100 << 20
	}
	if o.ResponseTimeout <= 0 {
		o.ResponseTimeout = 30 * time.Second
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.IdleConnsPerTarget <= 0 {
		o.IdleConnsPerTarget = 256
	}
	if o.IdleConnTimeout <= 0 {
		o.IdleConnTimeout = 90 * time.Second
	}
	if o.Retries < 0 {
		o.Retries = 0
	} else if o.Retries == 0 {
		o.Retries = 2
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.HoldQueue <= 0 {
		o.HoldQueue = DefaultHoldQueue
	}
	if o.HoldTimeout <= 0 {
		o.HoldTimeout = DefaultHoldTimeout
	}
	if o.HoldMemory <= 0 {
		o.HoldMemory = DefaultHoldMemory
	}
	if o.HoldMemoryTotal <= 0 {
		o.HoldMemoryTotal = DefaultHoldMemoryTotal
	}
	if o.HoldDiskTotal <= 0 {
		o.HoldDiskTotal = DefaultHoldDiskTotal
	}
}

// Proxy holds what every target and pool shares: the options and the one
// httputil.ReverseProxy. It is safe for concurrent use.
type Proxy struct {
	opts Options
	rp   *httputil.ReverseProxy
	// What held request bodies may still take (see Options.HoldMemoryTotal).
	memHeld, diskHeld budget
}

// New returns a proxy with opts.
func New(opts Options) *Proxy {
	opts.defaults()
	p := &Proxy{opts: opts}
	p.memHeld.left.Store(opts.HoldMemoryTotal)
	p.diskHeld.left.Store(opts.HoldDiskTotal)
	p.rp = &httputil.ReverseProxy{
		Rewrite:        rewrite,
		Transport:      roundTripper{},
		ErrorHandler:   p.proxyError,
		ModifyResponse: p.modifyResponse,
		BufferPool:     bufferPool{},
		ErrorLog:       slog.NewLogLogger(opts.Log.Handler(), slog.LevelWarn),
	}
	return p
}

// The instance's URL host: every target has its own transport, so the
// name only has to be valid.
var targetURL = &url.URL{Scheme: "http", Host: "instance"}

func rewrite(pr *httputil.ProxyRequest) {
	// pr.Out arrives without the client's X-Forwarded-For/-Host/-Proto
	// and Forwarded (ReverseProxy removes them before Rewrite); X-Real-Ip
	// is just as easy to forge.
	pr.Out.Header.Del("X-Real-Ip")
	setXForwarded(pr)
	pr.SetURL(targetURL)
	pr.Out.Host = pr.In.Host
	// Keep the query as sent: ReverseProxy would drop parameters it cannot
	// parse (a;b), which an app may rely on; the proxy makes no decision on
	// them.
	pr.Out.URL.RawQuery = pr.In.URL.RawQuery
	if rs := stateOf(pr.In.Context()); rs != nil && pr.Out.Body != nil && pr.Out.Body != http.NoBody {
		rs.body = &trackedBody{rc: pr.Out.Body}
		pr.Out.Body = rs.body
	}
}

// setXForwarded does what httputil.ProxyRequest.SetXForwarded does for a
// request whose X-Forwarded-* the ReverseProxy removed (all of ours):
// X-Forwarded-For is the client's address, -Host the Host it asked for,
// -Proto http or https. It makes one allocation for the three values,
// where SetXForwarded makes one per header.
func setXForwarded(pr *httputil.ProxyRequest) {
	if len(pr.Out.Header["X-Forwarded-For"]) > 0 {
		pr.SetXForwarded() // a Rewrite before us added one: keep its chain
		return
	}
	proto := "http"
	if pr.In.TLS != nil {
		proto = "https"
	}
	h := pr.Out.Header
	clientIP, _, err := net.SplitHostPort(pr.In.RemoteAddr)
	if err != nil {
		v := []string{pr.In.Host, proto}
		h["X-Forwarded-Host"], h["X-Forwarded-Proto"] = v[0:1:1], v[1:2:2]
		return
	}
	v := []string{clientIP, pr.In.Host, proto}
	h["X-Forwarded-For"], h["X-Forwarded-Host"], h["X-Forwarded-Proto"] = v[0:1:1], v[1:2:2], v[2:3:3]
}

// modifyResponse is the ReverseProxy's ModifyResponse: the label
// header, then the cookie filter.
func (p *Proxy) modifyResponse(res *http.Response) error {
	if _, ok := res.Header["Content-Type"]; !ok {
		// The app sent none: so does the proxy. Without this, net/http
		// would sniff the body and add one of its own.
		if rs := stateOf(res.Request.Context()); rs != nil {
			rs.w.Header()["Content-Type"] = nil
		}
	}
	p.label(res)
	p.dropForeignCookies(res.Request.Host, res.Header)
	return nil
}

// label names the target that answered in Options.LabelHeader, in
// place of any value the caller or the app set.
func (p *Proxy) label(res *http.Response) {
	if p.opts.LabelHeader == "" {
		return
	}
	if rs := stateOf(res.Request.Context()); rs != nil && rs.target != nil && rs.target.label != nil {
		rs.w.Header().Del(p.opts.LabelHeader)
		res.Header[p.opts.LabelHeader] = rs.target.label
	}
}

// dropForeignCookies removes from an instance's response header h every
// Set-Cookie whose Domain reaches beyond the request's host (package
// setcookie): an app on the sites domain, which is no public suffix,
// must not set cookies for its sibling sites or for the platform.
func (p *Proxy) dropForeignCookies(host string, h http.Header) {
	values := h["Set-Cookie"]
	if len(values) == 0 {
		return
	}
	if hn, _, err := net.SplitHostPort(host); err == nil {
		host = hn
	}
	host = strings.TrimSuffix(host, ".")
	kept, dropped := setcookie.Filter(host, values)
	if dropped == 0 {
		return
	}
	p.opts.Log.Debug("app proxy: dropped a Set-Cookie whose Domain is not the site's host", "host", host, "dropped", dropped)
	if len(kept) == 0 {
		h.Del("Set-Cookie")
	} else {
		h["Set-Cookie"] = kept
	}
}

// proxyError answers a request that failed between the proxy and the
// instance.
func (p *Proxy) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		mbe *http.MaxBytesError
		ne  net.Error
	)
	rs := stateOf(r.Context())
	id := ""
	if rs != nil && rs.target != nil {
		id = rs.target.backend.ID()
	}
	switch {
	case errors.Is(err, errNoTarget):
		writePage(w, pageUnavailable)
	case errors.As(err, new(*dialError)) && !(errors.As(err, &ne) && ne.Timeout()):
		// No instance could even be reached: as good as none ready.
		p.opts.Log.Warn("app proxy: no instance reachable", "instance", id, "err", err)
		writePage(w, pageUnavailable)
	case errors.As(err, &mbe):
		writePage(w, pageTooLarge)
	case rs != nil && errors.Is(rs.abortedBy(), errDrained):
		p.opts.Log.Info("app proxy: request canceled at the end of draining", "instance", id, "path", r.URL.Path)
		writePage(w, pageTimeout)
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads this.
		w.WriteHeader(499)
	case errors.As(err, &ne) && ne.Timeout():
		p.opts.Log.Warn("app proxy: instance timed out", "instance", id, "path", r.URL.Path, "err", err)
		writePage(w, pageTimeout)
	default:
		p.opts.Log.Warn("app proxy: instance failed", "instance", id, "path", r.URL.Path, "err", err)
		writePage(w, pageBadGateway)
	}
}

// roundTripper sends a request through the transport of the target the
// pool picked, and offers a request that never reached its instance to
// another target.
type roundTripper struct{}

func (roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	rs := stateOf(req.Context())
	if rs == nil || rs.target == nil {
		return nil, errNoTarget
	}
	for attempt := 0; ; attempt++ {
		var (
			res *http.Response
			err error
		)
		if plain(req) {
			res, err = rs.target.plain.RoundTrip(req, rs)
		} else {
			res, err = rs.target.transport.RoundTrip(req)
		}
		if err == nil {
			return res, nil
		}
		var de *dialError
		if !errors.As(err, &de) || (rs.body != nil && rs.body.touched()) || attempt >= rs.pool.proxy.opts.Retries {
			return nil, err
		}
		rs.pool.proxy.opts.Log.Info("app proxy: instance unreachable, trying another", "instance", rs.target.backend.ID(), "err", de.err)
		if !rs.pool.move(rs) {
			return nil, err
		}
	}
}

// dialError marks an error from dialing an instance: the request never
// reached it.
type dialError struct{ err error }

func (e *dialError) Error() string { return "dial instance: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// Timeout reports a dial timeout as a timeout (a 504, not a 502).
func (e *dialError) Timeout() bool {
	var ne net.Error
	return errors.As(e.err, &ne) && ne.Timeout()
}

// trackedBody is the outgoing request body. It tells whether any byte was
// read (a request whose body was sent, even in part, is never retried),
// and it does not close the incoming body when a transport gives up on
// one attempt, so the next attempt can still send it.
type trackedBody struct {
	rc   io.ReadCloser
	read atomic.Bool // the transport reads in its own goroutine
}

func (b *trackedBody) Read(p []byte) (int, error) {
	b.read.Store(true)
	return b.rc.Read(p)
}

// Close is a no-op: the server closes the incoming body when the handler
// returns.
func (b *trackedBody) Close() error { return nil }

func (b *trackedBody) touched() bool { return b.read.Load() }

// bufferPool lends 32 KiB copy buffers (ReverseProxy's own size) to the
// response copies.
type bufferPool struct{}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *copyBufs.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { copyBufs.Put(&b) }
