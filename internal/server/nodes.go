package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/appproxy"
	"github.com/apogee-dev/apogee/internal/cluster"
)

// nodeState is this server as a node of a platform that spans several
// (--node-listen; internal/cluster): the registry, the scheduler, the
// reconcile loop of its runtime and the private listener that the other
// nodes' edges reach its instances through.
type nodeState struct {
	cluster *cluster.Cluster
	ln      net.Listener
}

// normalizeNodes checks the node flags: a node listener needs the shared
// secret and backends every node shares.
func (c *Config) normalizeNodes() error {
	if c.NodeListen == "" {
		if c.NodeAdvertise != "" || c.NodeTLS {
			return apogee.Errorf(apogee.EINVALID, "--node-advertise and --node-tls need --node-listen")
		}
		return nil
	}
	if _, _, err := net.SplitHostPort(c.NodeListen); err != nil {
		return apogee.Errorf(apogee.EINVALID, "--node-listen %q: give host:port, e.g. 10.0.0.5:7946", c.NodeListen)
	}
	if len(c.NodeSecret) < 16 {
		return apogee.Errorf(apogee.EINVALID, "--node-listen needs --node-secret (or APOGEE_NODE_SECRET): at least 16 characters, the same on every node (e.g. openssl rand -hex 32)")
	}
	if c.Events == "" || c.Events == "local" {
		return apogee.Errorf(apogee.EINVALID, "--node-listen needs an event bus every node shares: --events nats://… or kafka://…")
	}
	if c.Database == "" || strings.HasPrefix(c.Database, "sqlite:") {
		return apogee.Errorf(apogee.EINVALID, "--node-listen needs a database every node shares: --database postgres://…")
	}
	if c.NodeAdvertise != "" {
		if _, _, err := net.SplitHostPort(c.NodeAdvertise); err != nil {
			return apogee.Errorf(apogee.EINVALID, "--node-advertise %q: give host:port", c.NodeAdvertise)
		}
	}
	return nil
}

// setupNodes opens the node listener and makes the cluster, when
// --node-listen is set. From then on the platform's gate and the edge's
// production app hosts go through it.
func (s *Server) setupNodes(context.Context) error {
	if s.cfg.NodeListen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.NodeListen)
	if err != nil {
		return apogee.Errorf(apogee.EINVALID, "cannot listen on %s: %v; choose another address with --node-listen", s.cfg.NodeListen, err)
	}
	addr := s.cfg.NodeAdvertise
	if addr == "" {
		host, _, _ := net.SplitHostPort(ln.Addr().String())
		if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
			ln.Close()
			return apogee.Errorf(apogee.EINVALID, "--node-listen %s listens on every interface: say where the other nodes reach it with --node-advertise host:port", s.cfg.NodeListen)
		}
		addr = ln.Addr().String()
	}
	log := s.log.With("component", "nodes")
	var local cluster.Local
	if s.apps.host != nil {
		local = s.apps.host
	}
	st, ok := s.store.(cluster.Store)
	if !ok {
		ln.Close()
		return apogee.Errorf(apogee.EINVALID, "--node-listen needs a store that keeps the node registry (SQLite or PostgreSQL)")
	}
	id := nodeID()
	var certs *cluster.Certs
	if s.cfg.NodeTLS {
		if certs, err = cluster.NodeCerts(s.nodeSeed, id); err != nil {
			ln.Close()
			return err
		}
		ln = tls.NewListener(ln, certs.ServerConfig())
	}
	c, err := cluster.New(cluster.Config{
		ID:     id,
		Certs:  certs,
		Roles:  s.cfg.Roles,
		Addr:   addr,
		Secret: s.cfg.NodeSecret,
		Store:  st,
		Bus:    s.bus,
		Local:  local,
		Proxy:  appproxy.New(appproxy.Options{Log: log, LabelHeader: "X-Apogee-Deployment"}),
		Log:    log,
	})
	if err != nil {
		ln.Close()
		return err
	}
	s.node = nodeState{cluster: c, ln: ln}
	s.apps.front.nodes.Store(c)
	log.Info("node", "id", c.ID(), "listen", ln.Addr().String(), "advertise", addr, "roles", strings.Join(s.cfg.Roles, ","), "tls", s.cfg.NodeTLS)
	return nil
}

// nodeID names this run of the node: the host's name and a random
// suffix (a restarted node is a new node; the old one's instances are
// placed again once its heartbeat lapsed).
func nodeID() string {
	host, _ := os.Hostname()
	if host == "" {
		host = "node"
	}
	b := make([]byte, 4)
	rand.Read(b)
	return host + "-" + hex.EncodeToString(b)
}

// runNodes serves the node listener and runs the cluster until ctx
// ends; then the listener and every tunnel through it close.
func (s *Server) runNodes(ctx context.Context) {
	c := s.node.cluster
	if c == nil {
		return
	}
	srv := &http.Server{Handler: c.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(s.node.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("node listener stopped", "err", err)
		}
	}()
	if err := c.Run(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("nodes: stopped", "err", err)
	}
	srv.Close()
	c.CloseTunnels()
}

// Node returns this server's cluster, nil without --node-listen.
func (s *Server) Node() *cluster.Cluster { return s.node.cluster }
