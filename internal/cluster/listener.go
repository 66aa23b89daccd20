package cluster

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The node-to-node protocol. An edge reaches an instance on another
// node through that node's private listener (--node-listen): it opens a
// TCP connection and sends
//
//	GET /v1/instances/<id> HTTP/1.1
//	Connection: Upgrade
//	Upgrade: apogee-instance
//	Authorization: Bearer <node secret>
//
// The node checks the secret (in constant time), finds the instance among
// those it runs, connects to it and answers 101 Switching Protocols; from
// then on the connection is the instance's port, over which the edge's
// proxy speaks HTTP/1.1 (keep-alive, WebSockets) as it does to a local
// instance. One connection costs one round trip more than a local one;
// the proxy keeps it for the next requests.
const (
	upgradeProto = "apogee-instance"
	instancePath = "/v1/instances/"
)

// Handler returns the handler of this node's private listener.
func (c *Cluster) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+instancePath+"{id}", c.serveInstance)
	mux.HandleFunc("GET /v1/node", func(w http.ResponseWriter, r *http.Request) {
		if !c.authorized(r) {
			refuse(w, http.StatusUnauthorized, "this is an Apogee node's private listener: send the node secret (--node-secret) as Authorization: Bearer")
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "%s %s\n", c.cfg.ID, strings.Join(c.cfg.Roles, ","))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		refuse(w, http.StatusNotFound, "this is an Apogee node's private listener: it answers only GET "+instancePath+"<instance> from other nodes")
	})
	return mux
}

// authorized reports whether r carries the node secret. Both sides are
// hashed first, so the comparison takes the same time whatever their
// lengths.
func (c *Cluster) authorized(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || got == "" {
		return false
	}
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(c.cfg.Secret))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

func refuse(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Connection", "close")
	w.WriteHeader(code)
	io.WriteString(w, msg+"\n")
}

func (c *Cluster) serveInstance(w http.ResponseWriter, r *http.Request) {
	if !c.authorized(r) {
		c.log.Warn("node listener: refused a request without the node secret", "from", r.RemoteAddr)
		refuse(w, http.StatusUnauthorized, "refused: no valid node secret (Authorization: Bearer <the --node-secret every node shares>)")
		return
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), upgradeProto) {
		refuse(w, http.StatusBadRequest, "refused: send Connection: Upgrade and Upgrade: "+upgradeProto)
		return
	}
	id := r.PathValue("id")
	if c.cfg.Local == nil {
		refuse(w, http.StatusNotFound, fmt.Sprintf("refused: node %s runs no apps (no runtime role), so no instance %q", c.cfg.ID, id))
		return
	}
	in := c.cfg.Local.Instance(id)
	if in == nil {
		refuse(w, http.StatusNotFound, fmt.Sprintf("refused: no instance %q runs on node %s", id, c.cfg.ID))
		return
	}
	up, err := in.Dial(r.Context())
	if err != nil {
		refuse(w, http.StatusBadGateway, fmt.Sprintf("instance %q on node %s does not take connections: %v", id, c.cfg.ID, err))
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		up.Close()
		refuse(w, http.StatusInternalServerError, "cannot take over the connection: "+err.Error())
		return
	}
	conn.SetDeadline(time.Time{})
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + upgradeProto + "\r\n\r\n")
	if err := brw.Flush(); err != nil {
		conn.Close()
		up.Close()
		return
	}
	c.trackConn(conn)
	defer c.untrackConn(conn)
	pipe(conn, brw.Reader, up)
}

// pipe copies between the edge's connection (with what its reader holds
// already) and the instance's until either ends.
func pipe(edge net.Conn, r *bufio.Reader, inst net.Conn) {
	var wg sync.WaitGroup
	wg.Go(func() {
		io.Copy(inst, r)
		closeWrite(inst)
	})
	io.Copy(edge, inst)
	closeWrite(edge)
	wg.Wait()
	edge.Close()
	inst.Close()
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		return
	}
	c.Close()
}

// trackConn keeps the tunnels this node serves, so that Close ends them.
func (c *Cluster) trackConn(conn net.Conn) {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	if c.conns == nil {
		c.conns = map[net.Conn]struct{}{}
	}
	c.conns[conn] = struct{}{}
}

func (c *Cluster) untrackConn(conn net.Conn) {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	delete(c.conns, conn)
}

// CloseTunnels ends every tunnel this node serves to its instances (its
// listener is closed by its owner).
func (c *Cluster) CloseTunnels() {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	for conn := range c.conns {
		conn.Close()
	}
}

// remote is an instance on another node, as the edge's proxy sees it.
type remote struct {
	node, addr, instance, release, secret string
	tls                                   *tls.Config  // nil: plain TCP
	listed                                atomic.Bool  // the node is live and reports the instance ready
	downUntil                             atomic.Int64 // unix nanos: a dial failed, not picked until then
}

// Ready reports whether the instance takes requests, as far as this
// node knows.
func (r *remote) Ready() bool {
	return r.listed.Load() && time.Now().UnixNano() >= r.downUntil.Load()
}

// ID names the instance and its node.
func (r *remote) ID() string { return r.instance + "@" + r.node }

// Label is the instance's release (the X-Apogee-Deployment header).
func (r *remote) Label() string { return r.release }

// Dial opens a tunnel to the instance through its node's listener.
func (r *remote) Dial(ctx context.Context) (net.Conn, error) {
	conn, err := DialWith(ctx, r.addr, r.secret, r.instance, r.tls)
	if err != nil {
		r.downUntil.Store(time.Now().Add(2 * time.Second).UnixNano())
		return nil, err
	}
	return conn, nil
}

// ErrRefused is the error of a tunnel the node refused.
var ErrRefused = errors.New("cluster: the node refused the tunnel")

// Dial opens a tunnel to instance through the listener of the node at
// addr, with the node secret, over plain TCP.
func Dial(ctx context.Context, addr, secret, instance string) (net.Conn, error) {
	return DialWith(ctx, addr, secret, instance, nil)
}

// DialWith is Dial over TLS with tc (nil: plain TCP).
func DialWith(ctx context.Context, addr, secret, instance string, tc *tls.Config) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cluster: dial node %s: %w", addr, err)
	}
	if tc != nil {
		tconn := tls.Client(conn, tc)
		if err := tconn.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("cluster: TLS with node %s: %w", addr, err)
		}
		conn = tconn
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	} else {
		conn.SetDeadline(time.Now().Add(10 * time.Second))
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	_, err = fmt.Fprintf(conn, "GET %s%s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: %s\r\nAuthorization: Bearer %s\r\n\r\n",
		instancePath, instance, addr, upgradeProto, secret)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("cluster: tunnel to %s on %s: %w", instance, addr, err)
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("cluster: tunnel to %s on %s: %w", instance, addr, err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 1024))
		conn.Close()
		return nil, fmt.Errorf("%w: %s on %s answered %s: %s", ErrRefused, instance, addr, res.Status, strings.TrimSpace(string(msg)))
	}
	if !stop() {
		conn.Close()
		return nil, ctx.Err()
	}
	conn.SetDeadline(time.Time{})
	if br.Buffered() > 0 {
		return &bufferedConn{Conn: conn, r: br}, nil
	}
	return conn, nil
}

type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }
