package appproxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// backend is a real HTTP server on loopback standing in for an instance.
type backend struct {
	id    string
	srv   *httptest.Server
	addr  string
	ready atomic.Bool
	dials atomic.Int64
	hits  atomic.Int64
}

func newBackend(t *testing.T, id string, h http.Handler) *backend {
	t.Helper()
	b := &backend{id: id}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		w.Header().Set("X-Instance", id)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(b.srv.Close)
	b.addr = b.srv.Listener.Addr().String()
	b.ready.Store(true)
	return b
}

func (b *backend) ID() string  { return b.id }
func (b *backend) Ready() bool { return b.ready.Load() }
func (b *backend) Dial(ctx context.Context) (net.Conn, error) {
	b.dials.Add(1)
	var d net.Dialer
	return d.DialContext(ctx, "tcp", b.addr)
}

// deadBackend is ready but nobody listens at its address.
func deadBackend(t *testing.T, id string) *backend {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{id: id, addr: l.Addr().String()}
	l.Close()
	b.ready.Store(true)
	return b
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// front serves pool on loopback and returns its URL.
func front(t *testing.T, h http.Handler) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}

func get(t *testing.T, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(body)
}

func echo() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s host=%s xff=%q xfh=%q xfp=%q fwd=%q xri=%q body=%s",
			r.Method, r.URL.RequestURI(), r.Host,
			r.Header.Values("X-Forwarded-For"), r.Header.Get("X-Forwarded-Host"), r.Header.Get("X-Forwarded-Proto"),
			r.Header.Get("Forwarded"), r.Header.Get("X-Real-Ip"), body)
	})
}

func TestProxyPassesRequestAndSetsForwardedHeaders(t *testing.T) {
	p := New(Options{Log: quiet()})
	b := newBackend(t, "a", echo())
	pool := p.NewPool("web", p.NewTarget(b))
	url := front(t, pool)

	res, body := get(t, url+"/path/x?a;b=1&c=%20", map[string]string{
		"Host":              "web.example.com",
		"X-Forwarded-For":   "6.6.6.6",
		"X-Forwarded-Host":  "evil.example",
		"X-Forwarded-Proto": "https",
		"Forwarded":         "for=6.6.6.6",
		"X-Real-Ip":         "6.6.6.6",
	})
	if res.StatusCode != 200 || res.Header.Get("X-Instance") != "a" {
		t.Fatalf("status %d, instance %q", res.StatusCode, res.Header.Get("X-Instance"))
	}
	want := `GET /path/x?a;b=1&c=%20 host=web.example.com xff=["127.0.0.1"] xfh="web.example.com" xfp="http" fwd="" xri="" body=`
	if body != want {
		t.Errorf("the instance saw\n%s\nwant\n%s", body, want)
	}

	// Behind TLS the instance is told https.
	ts := httptest.NewTLSServer(pool)
	t.Cleanup(ts.Close)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	tres, err := client.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	tb, _ := io.ReadAll(tres.Body)
	tres.Body.Close()
	if !strings.Contains(string(tb), `xfp="https"`) {
		t.Errorf("over TLS the instance saw %s", tb)
	}

	// A body goes through.
	pres, err := http.Post(url+"/form", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := io.ReadAll(pres.Body)
	pres.Body.Close()
	if !strings.HasPrefix(string(pb), "POST /form") || !strings.HasSuffix(string(pb), "body=hello") {
		t.Errorf("POST: %s", pb)
	}
}

// hold is a handler that blocks each request until released, and says
// when one has arrived.
type hold struct {
	arrived chan string
	release chan struct{}
}

func newHold() *hold { return &hold{arrived: make(chan string, 100), release: make(chan struct{})} }

func (h *hold) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.arrived <- r.URL.Path
	select {
	case <-h.release:
	case <-r.Context().Done():
	}
	io.WriteString(w, "released")
}

func TestRequestsSpreadOverIdleTargets(t *testing.T) {
	p := New(Options{Log: quiet()})
	a, b := newBackend(t, "a", echo()), newBackend(t, "b", echo())
	url := front(t, p.NewPool("web", p.NewTarget(a), p.NewTarget(b)))
	// With equal counts (none in flight), ties rotate.
	for i := range 20 {
		get(t, fmt.Sprintf("%s/spread/%d", url, i), nil)
	}
	if a.hits.Load() < 5 || b.hits.Load() < 5 {
		t.Errorf("hits a=%d b=%d: not spread", a.hits.Load(), b.hits.Load())
	}
}

func TestLeastInFlightPrefersIdleTarget(t *testing.T) {
	p := New(Options{Log: quiet()})
	ha := newHold()
	a := newBackend(t, "a", ha)
	b := newBackend(t, "b", echo())
	ta, tb := p.NewTarget(a), p.NewTarget(b)
	url := front(t, p.NewPool("web", ta, tb))

	// Hold one request on whichever target takes the first; make sure it
	// is a by sending until a holds one.
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(ha.release)
	for ta.InFlight() == 0 {
		done := make(chan struct{})
		wg.Go(func() { get(t, url+"/first", nil); close(done) })
		select {
		case <-ha.arrived:
		case <-done: // went to b and finished
		}
	}
	// a has one in flight, b none: every new request goes to b.
	for i := range 10 {
		res, _ := get(t, fmt.Sprintf("%s/n/%d", url, i), nil)
		if got := res.Header.Get("X-Instance"); got != "b" {
			t.Fatalf("request %d went to %q while a had %d in flight", i, got, ta.InFlight())
		}
	}
}

func TestNotReadyTargetsGetNothing(t *testing.T) {
	p := New(Options{Log: quiet()})
	a, b := newBackend(t, "a", echo()), newBackend(t, "b", echo())
	a.ready.Store(false)
	url := front(t, p.NewPool("web", p.NewTarget(a), p.NewTarget(b)))
	for range 10 {
		res, _ := get(t, url+"/", nil)
		if res.Header.Get("X-Instance") != "b" {
			t.Fatalf("went to %q", res.Header.Get("X-Instance"))
		}
	}
	if a.hits.Load() != 0 || a.dials.Load() != 0 {
		t.Errorf("a, not ready, got %d requests, %d dials", a.hits.Load(), a.dials.Load())
	}
	b.ready.Store(false)
	res, body := get(t, url+"/", nil)
	if res.StatusCode != 503 || !strings.Contains(body, "No instance of this app is ready") || res.Header.Get("Retry-After") == "" {
		t.Errorf("nothing ready: %d %q", res.StatusCode, body)
	}
	// An empty pool is the same.
	empty := front(t, p.NewPool("none"))
	if res, _ := get(t, empty+"/", nil); res.StatusCode != 503 {
		t.Errorf("empty pool: %d", res.StatusCode)
	}
}

func TestRetryOnlyWhenTheInstanceWasNeverReached(t *testing.T) {
	p := New(Options{Log: quiet()})
	dead := deadBackend(t, "dead")
	live := newBackend(t, "live", echo())
	// The dead one is first and has no requests: the balancer may pick it.
	url := front(t, p.NewPool("web", p.NewTarget(dead), p.NewTarget(live)))
	for i := range 10 {
		res, err := http.Post(fmt.Sprintf("%s/p/%d", url, i), "text/plain", strings.NewReader("payload"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.HasSuffix(string(body), "body=payload") {
			t.Fatalf("request %d: %d %s", i, res.StatusCode, body)
		}
	}
	if dead.dials.Load() == 0 {
		t.Fatal("the dead instance was never tried: the test proves nothing")
	}
	if live.hits.Load() != 10 {
		t.Errorf("live got %d of 10", live.hits.Load())
	}

	// Alone, a dead instance is 503.
	url2 := front(t, p.NewPool("solo", p.NewTarget(deadBackend(t, "dead2"))))
	if res, _ := get(t, url2+"/", nil); res.StatusCode != 503 {
		t.Errorf("only a dead instance: %d", res.StatusCode)
	}

	// A request that reached an instance which then failed is not retried.
	var broken atomic.Int64
	cut := newBackend(t, "cut", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		broken.Add(1)
		io.ReadAll(r.Body)
		c, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			c.Close()
		}
	}))
	other := newBackend(t, "other", echo())
	tc, to := p.NewTarget(cut), p.NewTarget(other)
	url3 := front(t, p.NewPool("cut", tc, to))
	failed := 0
	for i := range 10 {
		res, err := http.Post(fmt.Sprintf("%s/c/%d", url3, i), "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode == 502 {
			failed++
		}
	}
	if broken.Load() == 0 {
		t.Fatal("the cutting instance got no request: the test proves nothing")
	}
	if int64(failed) != broken.Load() || other.hits.Load() != 10-broken.Load() {
		t.Errorf("%d reached the cutting instance, %d answered 502, other got %d: a reached request was retried",
			broken.Load(), failed, other.hits.Load())
	}
}

func TestBodyLimit(t *testing.T) {
	p := New(Options{Log: quiet(), MaxBodyBytes: 1000})
	b := newBackend(t, "a", echo())
	url := front(t, p.NewPool("web", p.NewTarget(b)))

	// Declared too large: refused before the instance hears of it.
	res, err := http.Post(url+"/", "text/plain", strings.NewReader(strings.Repeat("x", 1001)))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 413 || b.hits.Load() != 0 {
		t.Fatalf("declared 1001 bytes: %d, instance hits %d", res.StatusCode, b.hits.Load())
	}
	// Chunked, too large: 413 while streaming.
	pr, pw := io.Pipe()
	go func() { pw.Write([]byte(strings.Repeat("y", 5000))); pw.Close() }()
	req, _ := http.NewRequest("POST", url+"/", pr)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 413 {
		t.Errorf("chunked 5000 bytes: %d", res.StatusCode)
	}
	// Within the limit: fine.
	res, err = http.Post(url+"/", "text/plain", strings.NewReader(strings.Repeat("z", 1000)))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("1000 bytes: %d", res.StatusCode)
	}
}

func TestResponseTimeout(t *testing.T) {
	p := New(Options{Log: quiet(), ResponseTimeout: 100 * time.Millisecond})
	h := newHold()
	defer close(h.release)
	url := front(t, p.NewPool("web", p.NewTarget(newBackend(t, "slow", h))))
	res, body := get(t, url+"/", nil)
	if res.StatusCode != 504 || !strings.Contains(body, "did not answer") {
		t.Errorf("%d %q", res.StatusCode, body)
	}
}

func TestWebSocketPassThrough(t *testing.T) {
	p := New(Options{Log: quiet()})
	b := newBackend(t, "ws", websocket.Handler(func(c *websocket.Conn) { io.Copy(c, c) }))
	tgt := p.NewTarget(b)
	url := front(t, p.NewPool("web", tgt))
	ws, err := websocket.Dial(strings.Replace(url, "http", "ws", 1)+"/socket", "", url)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	for _, msg := range []string{"hello", "world"} {
		if err := websocket.Message.Send(ws, msg); err != nil {
			t.Fatal(err)
		}
		var got string
		if err := websocket.Message.Receive(ws, &got); err != nil {
			t.Fatal(err)
		}
		if got != msg {
			t.Errorf("echo %q, want %q", got, msg)
		}
	}
	if tgt.InFlight() != 1 {
		t.Errorf("an open WebSocket counts as in flight: %d", tgt.InFlight())
	}
}

func TestServerSentEventsStream(t *testing.T) {
	p := New(Options{Log: quiet()})
	h := newHold()
	defer close(h.release)
	b := newBackend(t, "sse", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		h.ServeHTTP(w, r) // keeps the stream open
	}))
	url := front(t, p.NewPool("web", p.NewTarget(b)))
	res, err := http.Get(url + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	line, err := bufio.NewReader(res.Body).ReadString('\n')
	if err != nil || line != "data: first\n" {
		t.Fatalf("first event %q, %v: the stream was buffered", line, err)
	}
}

func TestSwitchAndDrain(t *testing.T) {
	p := New(Options{Log: quiet()})
	hOld := newHold()
	old := newBackend(t, "old", hOld)
	nu := newBackend(t, "new", echo())
	tOld, tNew := p.NewTarget(old), p.NewTarget(nu)
	pool := p.NewPool("web", tOld)
	url := front(t, pool)

	// A request in flight on the old release.
	done := make(chan string)
	go func() { _, body := get(t, url+"/long", nil); done <- body }()
	<-hOld.arrived

	prev := pool.Switch(tNew)
	if len(prev) != 1 || prev[0] != tOld {
		t.Fatalf("Switch returned %v", prev)
	}
	drained := make(chan int)
	go func() { drained <- tOld.Drain(context.Background(), time.Minute) }()
	// New requests go to the new release at once.
	for range 5 {
		if res, _ := get(t, url+"/", nil); res.Header.Get("X-Instance") != "new" {
			t.Fatalf("after the switch a request went to %q", res.Header.Get("X-Instance"))
		}
	}
	select {
	case n := <-drained:
		t.Fatalf("drain ended (%d canceled) while a request was in flight", n)
	default:
	}
	close(hOld.release)
	if body := <-done; body != "released" {
		t.Errorf("the old request got %q", body)
	}
	if n := <-drained; n != 0 {
		t.Errorf("drain canceled %d", n)
	}
	// A drained target is never picked again, even in a pool that still
	// holds it.
	stale := front(t, p.NewPool("stale", tOld))
	if res, _ := get(t, stale+"/", nil); res.StatusCode != 503 {
		t.Errorf("drained target served: %d", res.StatusCode)
	}
}

func TestDrainDeadlineCancelsWebSocket(t *testing.T) {
	p := New(Options{Log: quiet()})
	b := newBackend(t, "ws", websocket.Handler(func(c *websocket.Conn) { io.Copy(c, c) }))
	tgt := p.NewTarget(b)
	url := front(t, p.NewPool("web", tgt))
	ws, err := websocket.Dial(strings.Replace(url, "http", "ws", 1)+"/socket", "", url)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := websocket.Message.Send(ws, "x"); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := websocket.Message.Receive(ws, &got); err != nil {
		t.Fatal(err)
	}
	if n := tgt.Drain(context.Background(), 50*time.Millisecond); n != 1 {
		t.Fatalf("drain canceled %d, want the one WebSocket", n)
	}
	// The client sees its socket closed.
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := websocket.Message.Receive(ws, &got); err == nil {
		t.Errorf("the WebSocket still works after the drain deadline: %q", got)
	}
}

// TestDrainDeadlineCancelsPlainRequests: a plain GET (the proxy's own
// transport, no context of its own to cancel) still in flight at the
// drain deadline is ended, whether its instance has not answered yet
// (504) or is streaming its body, and the drain counts it.
func TestDrainDeadlineCancelsPlainRequests(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler func(h *hold) http.Handler
		// The answer the client sees: its status and the error of
		// reading its body to the end.
		status  int
		readErr bool
	}{{
		name:    "waiting for headers",
		handler: func(h *hold) http.Handler { return h },
		status:  http.StatusGatewayTimeout,
	}, {
		name: "streaming",
		handler: func(h *hold) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, "data: first\n\n")
				w.(http.Flusher).Flush()
				h.ServeHTTP(w, r)
			})
		},
		status:  http.StatusOK,
		readErr: true,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			p := New(Options{Log: quiet()})
			h := newHold()
			defer close(h.release)
			tgt := p.NewTarget(newBackend(t, "slow", tc.handler(h)))
			url := front(t, p.NewPool("web", tgt))
			type result struct {
				status  int
				readErr error
			}
			got := make(chan result, 1)
			streaming := make(chan struct{})
			go func() {
				res, err := http.Get(url + "/long")
				if err != nil {
					got <- result{0, err}
					return
				}
				defer res.Body.Close()
				br := bufio.NewReader(res.Body)
				if res.Header.Get("Content-Type") == "text/event-stream" {
					br.ReadString('\n') // the first event: the body is streaming
					close(streaming)
				}
				_, err = io.ReadAll(br)
				got <- result{res.StatusCode, err}
			}()
			<-h.arrived
			if tc.readErr {
				<-streaming
			}
			if n := tgt.Drain(context.Background(), 50*time.Millisecond); n != 1 {
				t.Fatalf("drain canceled %d, want 1", n)
			}
			select {
			case r := <-got:
				if r.status != tc.status || (r.readErr != nil) != tc.readErr {
					t.Errorf("got %d with read error %v, want %d with an error: %v", r.status, r.readErr, tc.status, tc.readErr)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the request outlived the drain deadline by 10 s")
			}
			if n := tgt.InFlight(); n != 0 {
				t.Errorf("%d requests still counted in flight", n)
			}
		})
	}
}

// TestContentTypeAsTheAppSentIt: the proxy passes the app's Content-Type
// and adds none when the app sent none (net/http would sniff the body).
func TestContentTypeAsTheAppSentIt(t *testing.T) {
	for _, tc := range []struct {
		name, sent string // "": no Content-Type at all
	}{
		{"none", ""},
		{"json", "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := New(Options{Log: quiet()})
			b := newBackend(t, "ct", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.sent == "" {
					w.Header()["Content-Type"] = nil // no sniffing on the app's side either
				} else {
					w.Header().Set("Content-Type", tc.sent)
				}
				io.WriteString(w, "<html><body>looks like HTML</body></html>")
			}))
			url := front(t, p.NewPool("web", p.NewTarget(b)))
			for _, method := range []string{"GET", "POST"} { // the plain transport and http.Transport
				var body io.Reader
				if method == "POST" {
					body = strings.NewReader("x")
				}
				req, _ := http.NewRequest(method, url+"/", body)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				got, ok := res.Header["Content-Type"]
				if tc.sent == "" && ok {
					t.Errorf("%s: the proxy added Content-Type %q", method, got)
				}
				if tc.sent != "" && res.Header.Get("Content-Type") != tc.sent {
					t.Errorf("%s: Content-Type %q, want %q", method, got, tc.sent)
				}
			}
		})
	}
}

// labeledBackend is a backend that names its release.
type labeledBackend struct {
	*backend
	release string
}

func (b labeledBackend) Label() string { return b.release }

// TestLabelHeaderNamesTheTargetThatAnswered: the header names the
// release whose target answered, replacing what the caller set before
// (the edge's idea of production) and what the app set; a target that is
// no Labeler leaves the caller's value; a retry names the target that
// finally answered.
func TestLabelHeaderNamesTheTargetThatAnswered(t *testing.T) {
	p := New(Options{Log: quiet(), LabelHeader: "X-Release"})
	forging := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Release", "forged")
		io.WriteString(w, "ok")
	})
	caller := func(pl *Pool) string {
		return front(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Release", "edge")
			pl.ServeHTTP(w, r)
		}))
	}
	for _, c := range []struct {
		name    string
		targets []*Target
		want    []string
	}{
		{"labeled", []*Target{p.NewTarget(labeledBackend{newBackend(t, "a", forging), "r2"})}, []string{"r2"}},
		{"not labeled", []*Target{p.NewTarget(newBackend(t, "b", echo()))}, []string{"edge"}},
		{"retried", []*Target{p.NewTarget(labeledBackend{deadBackend(t, "dead"), "r1"}), p.NewTarget(labeledBackend{newBackend(t, "c", forging), "r3"})},
			[]string{"r3"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			url := caller(p.NewPool("web", c.targets...))
			for range 4 { // every rotation of the balancer's start
				res, _ := get(t, url, nil)
				if got := res.Header.Values("X-Release"); res.StatusCode != 200 || strings.Join(got, ",") != strings.Join(c.want, ",") {
					t.Errorf("%d, X-Release %q, want %q", res.StatusCode, got, c.want)
				}
			}
		})
	}
}

// TestProxyDropsCookiesForOtherHosts: an instance's Set-Cookie reaches
// the browser only if its Domain is absent or the request's own host; a
// cookie for the platform's domain or a sibling site is dropped, with the
// others of the same response kept.
func TestProxyDropsCookiesForOtherHosts(t *testing.T) {
	p := New(Options{Log: quiet()})
	b := newBackend(t, "a", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, c := range r.URL.Query()["c"] {
			w.Header().Add("Set-Cookie", c)
		}
	}))
	url := front(t, p.NewPool("web", p.NewTarget(b)))
	const own = "theme=dark; Path=/"
	const ownDomain = "sid=1; Domain=Web.Apogee-Sites.test"
	const apex = "apogee_session=stolen; Domain=apogee-sites.test; Path=/"
	const sibling = "sid=2; Domain=.shop.apogee-sites.test"
	for _, tc := range []struct {
		name, host string
		cookies    []string
		want       []string
	}{
		{"host-only and own domain kept", "web.apogee-sites.test:8080", []string{own, ownDomain}, []string{own, ownDomain}},
		{"platform's domain dropped", "web.apogee-sites.test", []string{apex}, nil},
		{"sibling dropped, others kept", "web.apogee-sites.test", []string{own, sibling, ownDomain, apex}, []string{own, ownDomain}},
		{"own domain of another host dropped", "www.example.com", []string{ownDomain, own}, []string{own}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := neturl.Values{"c": tc.cookies}
			res, _ := get(t, url+"/?"+q.Encode(), map[string]string{"Host": tc.host})
			if got := res.Header.Values("Set-Cookie"); !slices.Equal(got, tc.want) {
				t.Errorf("Set-Cookie %q, want %q", got, tc.want)
			}
		})
	}
}

// rawBackend answers each connection's requests with the raw response
// answer gives for its number on that connection (1, 2, …); "" closes the
// connection without a word.
func rawBackend(t *testing.T, id string, answer func(n int) string) *backend {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for n := 1; ; n++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					req.Body.Close()
					a := answer(n)
					if a == "" {
						return
					}
					io.WriteString(c, a)
				}
			}()
		}
	}()
	b := &backend{id: id, addr: l.Addr().String()}
	b.ready.Store(true)
	return b
}

// TestPlainRequestsKeepAlive: bodiless GETs and HEADs go over kept-alive
// connections, 1xx answers are skipped, a HEAD's or a 204's empty body
// keeps the connection, and a connection the instance closed while it
// was idle is replaced without the request failing.
func TestPlainRequestsKeepAlive(t *testing.T) {
	t.Run("kept alive", func(t *testing.T) {
		b := rawBackend(t, "a", func(n int) string {
			switch n % 3 {
			case 0:
				return "HTTP/1.1 204 No Content\r\n\r\n"
			case 1:
				return "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
			}
			return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
		})
		p := New(Options{Log: quiet()})
		url := front(t, p.NewPool("web", p.NewTarget(b)))
		for i := range 9 {
			res, body := get(t, url, nil)
			want, wantBody := 200, "ok"
			if i%3 == 2 {
				want, wantBody = 204, ""
			}
			if res.StatusCode != want || body != wantBody {
				t.Errorf("request %d: %d %q, want %d %q", i, res.StatusCode, body, want, wantBody)
			}
		}
		if n := b.dials.Load(); n != 1 {
			t.Errorf("%d connections for 9 requests one after the other, want 1", n)
		}
	})
	t.Run("closed while idle", func(t *testing.T) {
		// One answer per connection, then a close without saying so.
		b := rawBackend(t, "b", func(n int) string {
			if n > 1 {
				return ""
			}
			return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
		})
		p := New(Options{Log: quiet()})
		url := front(t, p.NewPool("web", p.NewTarget(b)))
		for i := range 5 {
			if res, body := get(t, url, nil); res.StatusCode != 200 || body != "ok" {
				t.Errorf("request %d: %d %q", i, res.StatusCode, body)
			}
		}
		if n := b.dials.Load(); n < 5 {
			t.Errorf("%d connections, want a new one per request", n)
		}
	})
	t.Run("headers too large", func(t *testing.T) {
		huge := "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 11<<20) + "\r\nContent-Length: 0\r\n\r\n"
		b := rawBackend(t, "c", func(int) string { return huge })
		p := New(Options{Log: quiet()})
		url := front(t, p.NewPool("web", p.NewTarget(b)))
		if res, _ := get(t, url, nil); res.StatusCode != 502 {
			t.Errorf("response headers of 11 MiB: %d, want 502", res.StatusCode)
		}
	})
}
