// Package natstest runs a real NATS server inside a test process (the
// embedded github.com/nats-io/nats-server), so tests of the NATS event bus
// share no state with a NATS server of the machine. Only tests import it.
package natstest

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is an embedded NATS server on 127.0.0.1.
type Server struct {
	*server.Server
	port      int
	configure func(*server.Options)
}

// Start runs a NATS server on a free port of 127.0.0.1 until the test
// ends and returns it; URL() is what the bus dials.
func Start(tb testing.TB) *Server { return StartWith(tb, nil) }

// StartWith is Start with changes to the server's options (its users,
// tokens, nkeys).
func StartWith(tb testing.TB, configure func(*server.Options)) *Server {
	tb.Helper()
	s := &Server{Server: start(tb, -1, configure), configure: configure}
	s.port = s.Addr().(*net.TCPAddr).Port
	tb.Cleanup(func() { s.Shutdown() })
	return s
}

// URL is nats://127.0.0.1:port.
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.port) }

// Restart stops the server and starts a new one on the same port, so
// clients see the connection drop and come back.
func (s *Server) Restart(tb testing.TB, down time.Duration) {
	tb.Helper()
	s.Shutdown()
	s.WaitForShutdown()
	time.Sleep(down)
	s.Server = start(tb, s.port, s.configure)
}

func start(tb testing.TB, port int, configure func(*server.Options)) *server.Server {
	opts := &server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true}
	if configure != nil {
		configure(opts)
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		tb.Fatalf("embedded NATS server: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		tb.Fatal("embedded NATS server did not start within 10s")
	}
	return ns
}

// StartJetStream is Start with JetStream on, its streams kept in a
// directory of the test's.
func StartJetStream(tb testing.TB) *Server {
	dir := tb.TempDir()
	return StartWith(tb, func(o *server.Options) {
		o.JetStream = true
		o.StoreDir = dir
	})
}
