// Command appproxy serves Apogee's app proxy (internal/appproxy) in front
// of one instance at a loopback address, for bench/apps.sh: the same
// proxy, pool and target the edge uses, without the rest of the server.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/apogee-dev/apogee/internal/appproxy"
)

// instance is an app listening at addr, always ready.
type instance struct{ addr string }

func (i instance) ID() string  { return i.addr }
func (i instance) Ready() bool { return true }
func (i instance) Dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", i.addr)
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "address to serve on")
	backend := flag.String("backend", "", "the instance's address, host:port")
	profile := flag.String("cpuprofile", "", "write a CPU profile to this file until stopped")
	flag.Parse()
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "appproxy:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if *backend == "" {
		fmt.Fprintln(os.Stderr, "appproxy: -backend is required")
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p := appproxy.New(appproxy.Options{Log: log})
	srv := &http.Server{Addr: *listen, Handler: p.NewPool("bench", p.NewTarget(instance{*backend}))}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "appproxy:", err)
		return
	}
}
