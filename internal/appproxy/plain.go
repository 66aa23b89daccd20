package appproxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// plainTransport sends a target's plain requests (GET and HEAD without a
// body, no Upgrade) on its own keep-alive connections: it writes the
// request and reads the response headers in the caller's goroutine, where
// http.Transport hands each request to a writer and a reader goroutine
// per connection. Under load that hand-off was a fifth of the proxy's CPU
// per request (bench/apps.sh). Everything else (bodies, WebSockets) goes
// through the target's http.Transport.
//
// It does what http.Transport does for these requests: keep-alive with a
// bounded idle pool and idle timeout, a response header timeout and size
// limit, 1xx responses skipped, and one retry on a fresh connection when
// a reused one turns out closed before any byte of the response (the
// instance closed it while idle; the request is idempotent and has no
// body).
type plainTransport struct {
	dial            func(ctx context.Context) (net.Conn, error) // errors are *dialError
	maxIdle         int
	idleTimeout     time.Duration
	responseTimeout time.Duration

	mu   sync.Mutex
	idle []*plainConn // most recently used last
}

// maxResponseHeaderBytes bounds an instance's response headers (as
// http.Transport's default).
const maxResponseHeaderBytes = 10 << 20

// plainConn is one connection to the instance.
type plainConn struct {
	conn net.Conn
	lr   io.LimitedReader // conn, bounded while headers are read
	br   *bufio.Reader
	bw   *bufio.Writer
	used time.Time // when it went idle
}

// plain reports whether req can go through the plain transport.
func plain(req *http.Request) bool {
	return (req.Method == http.MethodGet || req.Method == http.MethodHead) &&
		(req.Body == nil || req.Body == http.NoBody) && req.ContentLength == 0 &&
		len(req.TransferEncoding) == 0 && req.Header.Get("Upgrade") == "" && len(req.Trailer) == 0
}

// RoundTrip sends req, the request of rs, and returns the response with
// its headers read.
func (t *plainTransport) RoundTrip(req *http.Request, rs *reqState) (*http.Response, error) {
	ctx := req.Context()
	for {
		pc, reused := t.get()
		if pc == nil {
			c, err := t.dial(ctx)
			if err != nil {
				return nil, err
			}
			pc = &plainConn{conn: c}
			pc.lr.R = c
			pc.br = bufio.NewReaderSize(&pc.lr, 4<<10)
			pc.bw = bufio.NewWriterSize(c, 4<<10)
		}
		if err := rs.use(pc); err != nil {
			t.put(pc)
			return nil, err
		}
		res, retry, err := pc.roundTrip(ctx, req, t, rs)
		if err == nil {
			return res, nil
		}
		rs.use(nil)
		pc.conn.Close()
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		if err := rs.abortedBy(); err != nil {
			return nil, err
		}
		if !reused || !retry {
			return nil, err
		}
		// The instance had closed the idle connection: again on a new one.
	}
}

// roundTrip sends req on pc and reads the response headers. retry tells
// that the request failed before any byte of a response came back.
func (pc *plainConn) roundTrip(ctx context.Context, req *http.Request, t *plainTransport, rs *reqState) (res *http.Response, retry bool, err error) {
	stop := context.AfterFunc(ctx, func() { pc.conn.SetDeadline(aLongTimeAgo) })
	if err := req.Write(pc.bw); err != nil {
		stop()
		return nil, true, err
	}
	if err := pc.bw.Flush(); err != nil {
		stop()
		return nil, true, err
	}
	pc.setReadDeadline(ctx, rs, time.Now().Add(t.responseTimeout))
	pc.lr.N = maxResponseHeaderBytes
	for {
		res, err = http.ReadResponse(pc.br, req)
		if err != nil {
			stop()
			// Nothing came back at all: the connection was closed under
			// the request.
			retry = pc.lr.N == maxResponseHeaderBytes && pc.br.Buffered() == 0 &&
				(errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET))
			if pc.lr.N <= 0 {
				err = errors.New("appproxy: the instance's response headers are larger than 10 MiB")
			}
			return nil, retry, err
		}
		if res.StatusCode >= 200 || res.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		res.Body.Close() // a 1xx: the real response follows
	}
	pc.setReadDeadline(ctx, rs, time.Time{})
	pc.lr.N = 1<<63 - 1
	keep := !res.Close && !req.Close && res.ProtoAtLeast(1, 1) && res.StatusCode != http.StatusSwitchingProtocols
	res.Body = &plainBody{rc: res.Body, pc: pc, t: t, rs: rs, stop: stop, keep: keep}
	return res, false, nil
}

// setReadDeadline sets the read deadline of pc, unless ctx ended or rs
// was aborted meanwhile: their deadline in the past, which this would
// override, stays.
func (pc *plainConn) setReadDeadline(ctx context.Context, rs *reqState, t time.Time) {
	pc.conn.SetReadDeadline(t)
	if ctx.Err() != nil || rs.abortedBy() != nil {
		pc.conn.SetDeadline(aLongTimeAgo)
	}
}

// aLongTimeAgo is a deadline that makes blocked reads and writes return
// at once.
var aLongTimeAgo = time.Unix(1, 0)

// plainBody is a response body on a plain connection: read to its end, it
// gives the connection back to the idle pool; closed before, it closes
// the connection (the rest of the body would be in the way).
type plainBody struct {
	rc   io.ReadCloser
	pc   *plainConn
	t    *plainTransport
	rs   *reqState
	stop func() bool
	keep bool
	done bool
}

func (b *plainBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.finish(true)
	} else if err != nil {
		b.finish(false)
	}
	return n, err
}

func (b *plainBody) Close() error {
	b.finish(false)
	return nil
}

// finish gives the connection back when the body was read whole and the
// connection may be kept; it closes it otherwise. It acts once.
func (b *plainBody) finish(whole bool) {
	if b.done {
		return
	}
	b.done = true
	canceled := !b.stop()
	b.rs.use(nil)
	if b.rs.abortedBy() != nil {
		// Drain may have set a deadline on it.
		canceled = true
	}
	if whole && b.keep && !canceled && b.pc.br.Buffered() == 0 {
		b.t.put(b.pc)
		return
	}
	b.pc.conn.Close()
}

// get returns the most recently used idle connection still fresh, or nil.
func (t *plainTransport) get() (*plainConn, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for n := len(t.idle); n > 0; n = len(t.idle) {
		pc := t.idle[n-1]
		t.idle[n-1] = nil
		t.idle = t.idle[:n-1]
		if time.Since(pc.used) < t.idleTimeout {
			return pc, true
		}
		pc.conn.Close()
	}
	return nil, false
}

// put makes pc idle, or closes it when the pool is full.
func (t *plainTransport) put(pc *plainConn) {
	pc.used = time.Now()
	t.mu.Lock()
	if len(t.idle) < t.maxIdle {
		t.idle = append(t.idle, pc)
		pc = nil
	}
	t.mu.Unlock()
	if pc != nil {
		pc.conn.Close()
	}
}

// closeIdle closes every idle connection.
func (t *plainTransport) closeIdle() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, pc := range idle {
		pc.conn.Close()
	}
}
