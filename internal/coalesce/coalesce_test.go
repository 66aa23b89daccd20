package coalesce_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apogee-dev/apogee/internal/coalesce"
)

// counting counts the writes that reach the sockets it accepts.
type counting struct {
	net.Listener
	writes *atomic.Int64
}

func (l counting) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, l.writes}, nil
}

type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// serve runs h behind Listener and Setup on loopback and returns its
// address and the count of socket writes.
func serve(t *testing.T, h http.Handler) (string, *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	writes := new(atomic.Int64)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	coalesce.Setup(srv)
	go srv.Serve(coalesce.Listener(counting{l, writes}))
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String(), writes
}

// page answers body, calling Hold first when hold is set.
func page(body []byte, hold bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hold {
			coalesce.Hold(r)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=0, must-revalidate")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method != http.MethodHead {
			w.Write(body)
		}
	})
}

// request sends raw requests on one connection and reads the responses.
func request(t *testing.T, addr string, n int, method string, closeLast bool) []*http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	var out []*http.Response
	for i := range n {
		hdr := ""
		if closeLast && i == n-1 {
			hdr = "Connection: close\r\n"
		}
		if _, err := io.WriteString(c, method+" / HTTP/1.1\r\nHost: x\r\n"+hdr+"\r\n"); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatalf("body %d: %v", i, err)
		}
		res.Body = io.NopCloser(bytes.NewReader(b))
		out = append(out, res)
	}
	return out
}

func body(t *testing.T, res *http.Response) []byte {
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHeldResponseIsOneWrite(t *testing.T) {
	five := bytes.Repeat([]byte("0123456789"), 512) // 5 KB: headers and body pass 4 KB
	for _, c := range []struct {
		name      string
		hold      bool
		perAnswer int64
	}{
		{"held", true, 1},
		{"not held", false, 2}, // net/http's 4 KB buffer splits it
	} {
		t.Run(c.name, func(t *testing.T) {
			addr, writes := serve(t, page(five, c.hold))
			const n = 5
			for i, res := range request(t, addr, n, "GET", false) {
				if b := body(t, res); res.StatusCode != 200 || !bytes.Equal(b, five) {
					t.Fatalf("response %d: %d, %d bytes", i, res.StatusCode, len(b))
				}
			}
			if got := writes.Load(); got != n*c.perAnswer {
				t.Fatalf("%d responses took %d socket writes, want %d", n, got, n*c.perAnswer)
			}
		})
	}
}

// The edge cases: a response ending the connection, a body larger than
// what is held, HEAD, and a server that is not set up (httptest).
func TestHeldResponsesArriveWhole(t *testing.T) {
	five := bytes.Repeat([]byte("a"), 5000)
	big := bytes.Repeat([]byte("0123456789abcdef"), 20_000) // 320 KB > MaxHeld
	t.Run("connection close", func(t *testing.T) {
		addr, _ := serve(t, page(five, true))
		res := request(t, addr, 2, "GET", true)
		if b := body(t, res[1]); !bytes.Equal(b, five) || !res[1].Close {
			t.Fatalf("last response: %d bytes, close %v", len(b), res[1].Close)
		}
	})
	t.Run("larger than held", func(t *testing.T) {
		addr, _ := serve(t, page(big, true))
		for _, res := range request(t, addr, 2, "GET", false) {
			if b := body(t, res); !bytes.Equal(b, big) {
				t.Fatalf("got %d bytes, want %d", len(b), len(big))
			}
		}
	})
	t.Run("HEAD", func(t *testing.T) {
		addr, _ := serve(t, page(five, true))
		res := request(t, addr, 2, "HEAD", false)
		if res[1].ContentLength != int64(len(five)) {
			t.Fatalf("HEAD: Content-Length %d", res[1].ContentLength)
		}
	})
	t.Run("not set up", func(t *testing.T) {
		srv := httptest.NewServer(page(five, true))
		defer srv.Close()
		res, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if b := body(t, res); !bytes.Equal(b, five) {
			t.Fatalf("got %d bytes", len(b))
		}
	})
}

// A response that does not hold streams: what it flushes arrives while
// the handler still runs.
func TestStreamingIsNotHeld(t *testing.T) {
	arrived := make(chan struct{})
	addr, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-arrived:
		case <-time.After(5 * time.Second):
		}
		io.WriteString(w, "data: two\n\n")
	}))
	res, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	line, err := bufio.NewReader(res.Body).ReadString('\n')
	if err != nil || line != "data: one\n" {
		t.Fatalf("first event: %q, %v", line, err)
	}
	close(arrived)
}

// Server.Close interrupts a connection whose client reads nothing, held
// or not: the handler's write is blocked on a full socket when Close
// comes, and fails rather than completes.
func TestCloseInterruptsBlockedWrite(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 8<<20)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// The server's socket buffer is small, so the 8 MiB write cannot
	// complete while the client reads nothing.
	sl := &signalListener{Listener: l, writing: make(chan struct{}), wrote: make(chan error, 1)}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		coalesce.Hold(r)
		w.Write(big)
	})}
	coalesce.Setup(srv)
	go srv.Serve(coalesce.Listener(sl))
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.(*net.TCPConn).SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n") // and never read
	select {
	case <-sl.writing: // a write of the body is under way
	case <-time.After(5 * time.Second):
		t.Fatal("the handler never wrote its body")
	}
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Server.Close did not return while a write was blocked")
	}
	select {
	case err := <-sl.wrote:
		if err == nil {
			t.Fatal("the 8 MiB write completed although the client read nothing: it was never blocked")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the blocked write did not return after Close")
	}
}

// signalListener's connections have a small send buffer, close writing
// when a write of 1 MiB or more starts, and send its result to wrote.
type signalListener struct {
	net.Listener
	writing chan struct{}
	wrote   chan error
	once    sync.Once
}

func (l *signalListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if err := c.(*net.TCPConn).SetWriteBuffer(4096); err != nil {
		c.Close()
		return nil, err
	}
	return &signalConn{Conn: c, l: l}, nil
}

type signalConn struct {
	net.Conn
	l *signalListener
}

func (c *signalConn) Write(p []byte) (int, error) {
	if len(p) < 1<<20 {
		return c.Conn.Write(p)
	}
	c.l.once.Do(func() { close(c.l.writing) })
	n, err := c.Conn.Write(p)
	select {
	case c.l.wrote <- err:
	default:
	}
	return n, err
}
