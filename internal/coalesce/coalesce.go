// Package coalesce lets an HTTP/1.1 handler that has its whole response in
// memory send it with one write to the socket.
//
// net/http buffers a connection's output 4 KB at a time, so a response
// whose headers and body pass 4 KB (a 5 KB index.html) leaves in two
// write calls and two TCP segments: one when the buffer fills, one when
// the request finishes. On loopback and on busy edges each segment costs
// about as much as the Go code that made the response. A handler that
// calls Hold has the connection keep those writes, up to MaxHeld bytes,
// and send them as one when net/http reports the connection idle (the
// response is complete), or closes it.
//
// Only connections accepted through Listener and served by a server set
// up with Setup are held; for any other request (HTTPS, tests with
// httptest, HTTP/2) Hold does nothing. Streaming responses must not call
// Hold: their flushes would wait for the end of the response.
package coalesce

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
)

// MaxHeld bounds what one held response keeps in memory; past it, the
// held bytes and the rest go out as they come.
const MaxHeld = 64 << 10

// Listener returns l with every accepted connection able to hold
// writes.
func Listener(l net.Listener) net.Listener { return listener{l} }

type listener struct{ net.Listener }

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c}, nil
}

// Setup makes srv flush held writes when a response ends (ConnState) and
// lets handlers find their connection (ConnContext), keeping any hooks
// srv has already.
func Setup(srv *http.Server) {
	prevCtx, prevState := srv.ConnContext, srv.ConnState
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if prevCtx != nil {
			ctx = prevCtx(ctx, c)
		}
		if cc, ok := c.(*conn); ok {
			ctx = context.WithValue(ctx, connKey{}, cc)
		}
		return ctx
	}
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		if cc, ok := c.(*conn); ok && st != http.StateNew && st != http.StateActive {
			// Idle: the response is complete. Hijacked, closed: nothing
			// more comes from net/http.
			_ = cc.release()
		}
		if prevState != nil {
			prevState(c, st)
		}
	}
}

type connKey struct{}

// Hold makes the writes of r's response wait until it is complete, to
// leave as one. It is a no-op unless r came through Listener and Setup.
func Hold(r *http.Request) {
	if cc, ok := r.Context().Value(connKey{}).(*conn); ok {
		cc.mu.Lock()
		cc.hold = true
		cc.mu.Unlock()
	}
}

// conn holds writes while hold is set. net/http writes from the
// connection's goroutine only, but Close may come from another one
// (Server.Close), hence the mutex; it is never held while writing to the
// network, so that Close can always interrupt a write that blocks.
type conn struct {
	net.Conn
	mu   sync.Mutex
	hold bool
	buf  []byte
}

func (c *conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if !c.hold {
		c.mu.Unlock()
		return c.Conn.Write(p)
	}
	if len(c.buf)+len(p) <= MaxHeld {
		c.buf = append(c.buf, p...)
		c.mu.Unlock()
		return len(p), nil
	}
	c.mu.Unlock()
	// Too much to hold: what is held goes first, then p.
	if err := c.release(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// release sends what is held and stops holding.
func (c *conn) release() error {
	c.mu.Lock()
	c.hold = false
	b := c.buf
	c.buf = nil
	c.mu.Unlock()
	if len(b) == 0 {
		c.recycle(b)
		return nil
	}
	_, err := c.Conn.Write(b)
	c.recycle(b)
	return err
}

// recycle keeps a small buffer for the connection's next held response.
func (c *conn) recycle(b []byte) {
	if b == nil || cap(b) > 16<<10 {
		return
	}
	c.mu.Lock()
	if c.buf == nil {
		c.buf = b[:0]
	}
	c.mu.Unlock()
}

// Close sends what is held (a response with "Connection: close" ends
// here without an idle state) and closes the connection.
func (c *conn) Close() error {
	err := c.release()
	if cerr := c.Conn.Close(); cerr != nil {
		return cerr
	}
	return err
}

// CloseWrite keeps net/http's lingering close working.
func (c *conn) CloseWrite() error {
	if err := c.release(); err != nil {
		return err
	}
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// ReadFrom keeps sendfile and splice working for responses copied from a
// file (net/http looks for io.ReaderFrom on the connection).
func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	if err := c.release(); err != nil {
		return 0, err
	}
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(c.Conn, r)
}
