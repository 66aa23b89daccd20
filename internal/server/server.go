// Package server wires Apogee's roles into one process: it opens the
// store, blob store and event bus chosen by URL, builds the API and the
// edge, and serves both on one listener, choosing by Host.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/api"
	"github.com/apogee-dev/apogee/internal/blob"
	"github.com/apogee-dev/apogee/internal/builder"
	"github.com/apogee-dev/apogee/internal/coalesce"
	"github.com/apogee-dev/apogee/internal/dashboard"
	"github.com/apogee-dev/apogee/internal/edge"
	"github.com/apogee-dev/apogee/internal/envvars"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/gitserve"
	"github.com/apogee-dev/apogee/internal/logs"
	"github.com/apogee-dev/apogee/internal/notify"
	"github.com/apogee-dev/apogee/internal/resolver"
	"github.com/apogee-dev/apogee/internal/secretbox"
	"github.com/apogee-dev/apogee/internal/sqlstore"
)

// Server is one Apogee process with every role.
type Server struct {
	cfg     Config
	log     *slog.Logger
	store   apogee.Store
	blobs   apogee.Blobs
	bus     apogee.EventBus
	edge    *edge.Server
	hub     *logs.Hub
	builder *builder.Builder
	api     *api.API
	apex    *http.ServeMux

	box *secretbox.Box   // seals secrets at rest (see secrets.go)
	env *envvars.Service // projects' environment variables, for the API and the builder
	// uploadKey signs pre-signed ZIP upload URLs; derived from the
	// secret key, so every server sharing that key accepts them.
	uploadKey []byte

	suffix  string // "." + domain, to tell a site host from the apex
	scheme  string // "http", or "https" with a TLS listener
	urlPort string // ":8080" in URLs, "" for port 80 (443 with TLS); set by Serve
	mu      sync.Mutex
	tls     tlsState

	notifier *notify.Notifier // deployment notifications: live and webhooks (notify.go)
	webhooks *notify.Sender
}

// New opens the backends named in cfg (already normalized) and builds the
// roles. The edge's host map is loaded before New returns, so a server
// serves what it served before a restart from its first request.
func New(ctx context.Context, cfg Config, log *slog.Logger) (_ *Server, err error) {
	s := &Server{cfg: cfg, log: log, suffix: "." + cfg.Domain, scheme: "http"}
	defer func() {
		// s, not the result, which a failing return sets to nil.
		if err != nil {
			s.Close()
		}
	}()
	if s.store, err = sqlstore.Open(ctx, cfg.Database, log.With("component", "store")); err != nil {
		return nil, fmt.Errorf("open database %s: %w", Redacted(cfg.Database), err)
	}
	if err := s.setupSecrets(); err != nil {
		return nil, err
	}
	if s.blobs, err = blob.Open(ctx, cfg.Blobs); err != nil {
		return nil, fmt.Errorf("open blob store %s: %w", Redacted(cfg.Blobs), err)
	}
	if s.bus, err = events.Open(ctx, cfg.Events, log.With("component", "events")); err != nil {
		return nil, fmt.Errorf("event bus --events %s (APOGEE_EVENTS): %w", Redacted(cfg.Events), err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.edge, err = edge.New(edge.Config{
		Domain:     cfg.Domain,
		Store:      s.store,
		Blobs:      s.blobs,
		CacheBytes: cfg.CacheMB << 20,
		Log:        log.With("component", "edge"),
		Registerer: reg,
	})
	if err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	if err := s.edge.Load(ctx); err != nil {
		return nil, fmt.Errorf("edge: load routes: %w", err)
	}
	res, err := resolver.New(cfg.DNSResolver)
	if err != nil {
		return nil, err
	}
	if err := s.setupTLS(ctx); err != nil {
		return nil, fmt.Errorf("https: %w", err)
	}
	if err := s.setupBuilds(); err != nil {
		return nil, err
	}
	if err := s.setupNotify(reg); err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	s.api = api.New(api.Config{
		Webhooks:    s.webhooks,
		Logs:        s.hub,
		GitSchemes:  s.gitSchemes(),
		Store:       s.store,
		Blobs:       s.blobs,
		Bus:         s.bus,
		SiteURL:     s.SiteURL,
		Domain:      cfg.Domain,
		Resolver:    res,
		DomainURL:   s.DomainURL,
		MaxFileSize: cfg.MaxFileMB << 20,
		MaxZipSize:  cfg.MaxZipMB << 20,
		UploadKey:   s.uploadKey,
		Log:         log.With("component", "api"),
		Registerer:  reg,
		Box:         s.box,
		Edge:        edgeCounter{reg},
		BaseURL:     s.URL,
	})
	s.apex = http.NewServeMux()
	s.apex.Handle("/api/", s.api)
	s.apex.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	s.apex.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	// git push to the platform: Git's smart HTTP through git http-backend.
	if gs, err := gitserve.New(gitserve.Config{Root: filepath.Join(cfg.Data, "git"), Store: s.store, Builds: s.api,
		Log: log.With("component", "git")}); err != nil {
		log.Warn("git push to the platform is off", "err", err)
	} else {
		s.apex.Handle("/git/", gs)
	}
	gh, err := s.githubClient()
	if err != nil {
		return nil, err
	}
	dash, err := dashboard.New(dashboard.Config{
		GitHub:  gh,
		Store:   s.store,
		API:     s.api,
		Logs:    s.hub,
		SiteURL: s.SiteURL,
		BaseURL: s.URL,
		Signup:  cfg.Signup,
		Notify:  s.notifier,
		Log:     log.With("component", "dashboard"),

		MaxZipSize: cfg.MaxZipMB << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	s.apex.Handle("/", dash)
	return s, nil
}

// Store returns the server's store (for commands that share the process).
func (s *Server) Store() apogee.Store { return s.store }

// URL is the dashboard and API's base URL, without a trailing slash.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.scheme + "://" + s.cfg.Domain + s.urlPort
}

// SiteURL is the public URL of a host label.
func (s *Server) SiteURL(label string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.scheme + "://" + label + "." + s.cfg.Domain + s.urlPort + "/"
}

// DomainURL is the public URL of a custom domain.
func (s *Server) DomainURL(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.scheme + "://" + name + s.urlPort + "/"
}

// ServeHTTP sends a request for the apex (or an IP address) to the
// dashboard and API and every other host to the edge. A Host that
// edge.ParseHost refuses goes to the edge too, which answers 400.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host, ok := edge.ParseHost(r.Host)
	switch {
	case !ok:
	case len(host) > len(s.suffix) && strings.EqualFold(host[len(host)-len(s.suffix):], s.suffix):
	case strings.EqualFold(host, s.cfg.Domain) || isIP(host):
		s.apex.ServeHTTP(w, r)
		return
	}
	s.edge.ServeHTTP(w, r)
}

func isIP(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return net.ParseIP(host) != nil
}

// Serve serves on ln until ctx ends, then shuts down gracefully. It runs
// the edge's event loop and the janitor that expires stale uploads. With
// --tls-listen it also listens there for HTTPS (see ServeTLS).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	var tlsLn net.Listener
	if s.tls.certs != nil {
		var err error
		if tlsLn, err = net.Listen("tcp", s.cfg.TLSListen); err != nil {
			return apogee.Errorf(apogee.EINVALID, "cannot listen on %s: %v; choose another address with --tls-listen", s.cfg.TLSListen, err)
		}
	}
	return s.ServeTLS(ctx, ln, tlsLn)
}

// ServeTLS is Serve with HTTP on ln and, if tlsLn is not nil (it must be
// nil unless --tls-listen is set), HTTPS on tlsLn.
func (s *Server) ServeTLS(ctx context.Context, ln, tlsLn net.Listener) error {
	s.setListener(ln)
	if tlsLn != nil {
		s.setTLSListener(ln, tlsLn)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		s.runBuilder(ctx)
	}()
	go func() {
		defer wg.Done()
		if err := s.edge.Run(ctx, s.bus); err != nil && ctx.Err() == nil {
			s.log.Error("edge event loop stopped", "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		s.janitor(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.runNotify(ctx)
	}()

	hs := &http.Server{
		Handler:           s.httpHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	// Site files whole in memory leave in one write (package coalesce).
	coalesce.Setup(hs)
	servers := []*http.Server{hs}
	errc := make(chan error, 2)
	go func() { errc <- hs.Serve(coalesce.Listener(ln)) }()
	if tlsLn != nil {
		hts := &http.Server{
			Handler:           s,
			TLSConfig:         s.tls.certs.TLSConfig(),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       120 * time.Second,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		}
		servers = append(servers, hts)
		go func() { errc <- hts.ServeTLS(tlsLn, "", "") }()
	}

	var err error
	select {
	case err = <-errc:
		// One listener failed: stop the other too.
		for _, srv := range servers {
			srv.Close()
		}
		for range len(servers) - 1 {
			<-errc
		}
	case <-ctx.Done():
		sctx, scancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTTL)
		for _, srv := range servers {
			err = errors.Join(err, srv.Shutdown(sctx))
		}
		scancel()
		for range servers {
			<-errc
		}
	}
	cancel()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// setListener takes the port of URLs from the listener's address.
func (s *Server) setListener(ln net.Listener) {
	_, port, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.urlPort = ""
	if port != "80" {
		s.urlPort = ":" + port
	}
}

// janitor expires uploads that were never finalized and deletes the
// blobs no deployment holds any more.
func (s *Server) janitor(ctx context.Context) {
	every := s.cfg.UploadTTL / 4
	if every > time.Hour {
		every = time.Hour
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		stale := time.Now().Add(-s.cfg.UploadTTL)
		s.expireUploads(ctx, stale)
		if n, freed, err := s.collectGarbage(ctx, stale); err != nil {
			if ctx.Err() == nil {
				s.log.Error("blob garbage collection", "err", err)
			}
		} else if n > 0 {
			s.log.Info("deleted unused blobs", "count", n, "bytes", freed)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// expireUploads expires uploads created before olderThan.
func (s *Server) expireUploads(ctx context.Context, olderThan time.Time) {
	ids, err := s.store.ExpireUploads(ctx, olderThan)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("expire stale uploads", "err", err)
		}
		return
	}
	if len(ids) > 0 {
		s.log.Info("expired stale uploads", "count", len(ids))
	}
}

// Close releases the backends.
func (s *Server) Close() error {
	var errs []error
	if s.tls.certs != nil {
		s.tls.certs.Close()
	}
	if s.bus != nil {
		errs = append(errs, s.bus.Close())
	}
	if s.blobs != nil {
		errs = append(errs, s.blobs.Close())
	}
	if s.store != nil {
		errs = append(errs, s.store.Close())
	}
	return errors.Join(errs...)
}

// Hint returns the one line `apogee server` prints at start.
func (s *Server) Hint(ctx context.Context) string {
	users, err := s.store.ListUsers(ctx)
	login := "log in with: apogee login --server " + s.URL()
	if err == nil && len(users) == 0 {
		login = "no users yet: apogee admin create-user --data " + strconv.Quote(s.cfg.Data) + " --email you@example.com --password '…' --admin, then " + login
	}
	return "Apogee is running: dashboard and API at " + s.URL() + ", sites at " + s.schemeLocked() + "://<project>." + s.cfg.Domain + s.urlPortLocked() + "/ — " + login
}

func (s *Server) schemeLocked() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.scheme
}

func (s *Server) urlPortLocked() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.urlPort
}
