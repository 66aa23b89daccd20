// Package server wires Apogee's roles into one process: it opens the
// store, blob store and event bus chosen by URL, builds the API and the
// edge, and serves both on one listener, choosing by Host.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/access"
	"github.com/apogee-dev/apogee/internal/api"
	"github.com/apogee-dev/apogee/internal/appwatch"
	"github.com/apogee-dev/apogee/internal/blob"
	"github.com/apogee-dev/apogee/internal/builder"
	"github.com/apogee-dev/apogee/internal/coalesce"
	"github.com/apogee-dev/apogee/internal/dashboard"
	"github.com/apogee-dev/apogee/internal/deploy"
	"github.com/apogee-dev/apogee/internal/edge"
	"github.com/apogee-dev/apogee/internal/egress"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/geoip"
	"github.com/apogee-dev/apogee/internal/github"
	"github.com/apogee-dev/apogee/internal/gitrepo"
	"github.com/apogee-dev/apogee/internal/gitserve"
	"github.com/apogee-dev/apogee/internal/logs"
	"github.com/apogee-dev/apogee/internal/nodejs"
	"github.com/apogee-dev/apogee/internal/notify"
	"github.com/apogee-dev/apogee/internal/platform"
	"github.com/apogee-dev/apogee/internal/resolver"
	"github.com/apogee-dev/apogee/internal/routemux"
	"github.com/apogee-dev/apogee/internal/rules"
	"github.com/apogee-dev/apogee/internal/runtimelog"
	"github.com/apogee-dev/apogee/internal/secretbox"
	"github.com/apogee-dev/apogee/internal/sqlstore"
)

// Server is one Apogee process with the roles its Config names.
type Server struct {
	cfg      Config
	ready    readiness      // of each role, at /readyz (roles.go)
	gh       *github.Client // sign-in with GitHub and its API (nil: off); githubClient
	ghApp    *github.App    // the platform's GitHub App (nil: off); githubApp
	log      *slog.Logger
	reg      *prometheus.Registry // every role's metrics, served at /metrics
	store    apogee.Store
	blobs    apogee.Blobs
	bus      apogee.EventBus
	edge     *edge.Server
	geo      *geoip.DB // --geoip-db; nil without
	hub      *logs.Hub
	platform *platform.Platform // the rules every way in calls (setupPlatform)
	builder  *builder.Builder
	repos    *gitrepo.Repos // pushed repositories; nil without git
	// nodes keeps the Node.js versions of builds and apps (nodeDist).
	nodes     *nodejs.Dist
	nodesOnce sync.Once
	apex      *routemux.Mux // its routes: Routes

	box *secretbox.Box // seals secrets at rest (see secrets.go)
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

	// Runtime logs of apps (runtimelogs.go): appWatch is the apps.Observer
	// to give a runtime; it writes instance output through runtimeLogs.
	runtimeLogs *runtimelog.Writer
	logPruner   *runtimelog.Pruner
	access      *access.Log // the edge's request records (issue 15)
	appWatch    *appwatch.Watcher

	apps appState  // the app runtime, when this process runs apps (apps.go)
	node nodeState // apps across nodes, with --node-listen (nodes.go)
	// nodeSeed makes the nodes' CA for --node-tls (nodes.go), derived
	// from the secret key.
	nodeSeed []byte

	uploads   chan struct{} // --max-uploads slots (limits.go)
	metricsLn net.Listener  // --metrics-listen's, opened by New, served by Serve
	dns       dnsState      // the authoritative DNS server, with --dns-listen (dns.go)
}

// listenMetrics opens the --metrics-listen listener, if one is asked
// for: a port in use fails the start, not the first scrape.
func (s *Server) listenMetrics(context.Context) error {
	if s.cfg.MetricsListen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.MetricsListen)
	if err != nil {
		return apogee.Errorf(apogee.EINVALID, "cannot listen on %s: %v; choose another address with --metrics-listen", s.cfg.MetricsListen, err)
	}
	s.metricsLn = ln
	s.log.Info("metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return nil
}

// metricsHandler serves /metrics of every role, and nothing else.
func (s *Server) metricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	return mux
}

// MetricsAddr is the address /metrics is served on (--metrics-listen);
// "" without one.
func (s *Server) MetricsAddr() string {
	if s.metricsLn == nil {
		return ""
	}
	return s.metricsLn.Addr().String()
}

// New opens the backends named in cfg (already normalized) and builds the
// roles, one named step after another. The edge's host map is loaded
// before New returns, so a server serves what it served before a restart
// from its first request.
func New(ctx context.Context, cfg Config, log *slog.Logger) (_ *Server, err error) {
	if cfg.SitesDomain == "" {
		cfg.SitesDomain = cfg.Domain // a Config built in code, not normalized
	}
	s := &Server{cfg: cfg, log: log, suffix: "." + cfg.SitesDomain, scheme: "http", reg: prometheus.NewRegistry(),
		uploads: make(chan struct{}, max(cfg.MaxUploads, 1))}
	defer func() {
		// s, not the result, which a failing return sets to nil.
		if err != nil {
			s.Close()
		}
	}()
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, step := range []func(context.Context) error{
		s.makePrivate,      // the data folder 0700, before anything is written in it (private.go)
		s.openBackends,     // the database, the secret key, blobs, the event bus
		s.makePrivate,      // and the database just made 0600
		s.setupEdge,        // the edge, its routes loaded
		s.setupHTTPS,       // certificates, when --tls-listen is set (tls.go)
		s.setupNotify,      // webhook deliveries and live notifications (notify.go)
		s.setupPlatform,    // the services: the platform's rules
		s.setupRuntimeLogs, // apps' runtime logs: the writer and the pruner (runtimelogs.go)
		s.setupApps,        // the app runtime, when this process runs apps (apps.go)
		s.setupNodes,       // apps across nodes, with --node-listen (nodes.go)
		s.setupBuilds,      // the sandbox and the builder, when this process builds (builds.go)
		s.setupApex,        // the API, git push, the dashboard and /healthz
		s.listenMetrics,    // /metrics on --metrics-listen, if set
		s.setupDNS,         // authoritative DNS of delegated zones, with --dns-listen (dns.go)
	} {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// openBackends opens the store, the secret key, the blob store and the
// event bus named by the configuration.
func (s *Server) openBackends(ctx context.Context) error {
	var err error
	if s.store, err = sqlstore.Open(ctx, s.cfg.Database, s.log.With("component", "store")); err != nil {
		return fmt.Errorf("open database %s: %w", Redacted(s.cfg.Database), err)
	}
	s.apps.front.store = s.store
	if err := s.setupSecrets(); err != nil {
		return err
	}
	if s.blobs, err = blob.Open(ctx, s.cfg.Blobs); err != nil {
		return fmt.Errorf("open blob store %s: %w", Redacted(s.cfg.Blobs), err)
	}
	// Pushed repositories: bundles in the blob store, refs and leases in
	// the store, this node's copies under <data>/git as a cache.
	host, _ := os.Hostname()
	if s.repos, err = gitrepo.New(gitrepo.Config{Root: filepath.Join(s.cfg.Data, "git"), Store: s.store, Blobs: s.blobs,
		Node: host + ":" + s.cfg.Data, Log: s.log.With("component", "git")}); err != nil {
		s.log.Warn("git push to the platform is off", "err", err)
		s.repos = nil
	}
	if s.bus, err = events.Open(ctx, s.cfg.Events, s.log.With("component", "events")); err != nil {
		return fmt.Errorf("event bus --events %s (APOGEE_EVENTS): %w", Redacted(s.cfg.Events), err)
	}
	return nil
}

// setupEdge makes the edge and loads its routes.
func (s *Server) setupEdge(ctx context.Context) error {
	var err error
	var geo rules.Countries // a nil interface without a database
	if s.cfg.GeoIPDB != "" {
		if s.geo, err = geoip.Open(s.cfg.GeoIPDB); err != nil {
			return fmt.Errorf("--geoip-db (APOGEE_GEOIP_DB): %w", err)
		}
		geo = s.geo
	}
	var countries access.Countries // a nil interface without a database
	if s.geo != nil {
		countries = s.geo
	}
	var accessLog edge.AccessLog // nil: none (a nil *access.Log would not be)
	if !s.cfg.NoAccessLog {
		var store access.Store = s.store
		if q, ok := s.bus.(access.Queue); ok { // Kafka: the fleet's writers put them in the database
			store = access.QueuedStore{Store: s.store, Queue: q, Key: apogee.NewID()}
		}
		s.access, err = access.New(access.Config{Store: store, Countries: countries, Log: s.log.With("component", "access"),
			Registerer: s.reg, Retentions: s.requestLogRetentions})
		if err != nil {
			return fmt.Errorf("access log: %w", err)
		}
		accessLog = s.access
	}
	s.edge, err = edge.New(edge.Config{
		Access:     accessLog,
		Domain:     s.cfg.SitesDomain,
		Store:      s.store,
		Blobs:      s.blobs,
		CacheBytes: s.cfg.CacheMB << 20,
		CheckEvery: s.cfg.RouteCheck,
		Apps:       &s.apps.front,
		GeoIP:      geo,
		Proxy:      edge.ProxyConfig{AllowPrivate: s.cfg.ProxyAllowPrivate},
		Log:        s.log.With("component", "edge"),
		Registerer: s.reg,
	})
	if err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	if err := s.edge.Load(ctx); err != nil {
		return fmt.Errorf("edge: load routes: %w", err)
	}
	s.ready.set(RoleEdge, "ready")
	return nil
}

// setupHTTPS gets certificates ready when --tls-listen is set.
func (s *Server) setupHTTPS(ctx context.Context) error {
	if err := s.setupTLS(ctx); err != nil {
		return fmt.Errorf("https: %w", err)
	}
	return nil
}

// logRelayer is a bus that also carries live logs between servers (NATS, Kafka).
type logRelayer interface{ RelayLogs(*logs.Hub) error }

// setupPlatform makes the log hub (relayed across servers by a NATS or Kafka bus)
// and the platform: the services every way in calls.
func (s *Server) setupPlatform(context.Context) error {
	s.hub = logs.NewHub(0)
	if nb, ok := s.bus.(logRelayer); ok { // live logs followed through another server
		if err := nb.RelayLogs(s.hub); err != nil {
			return fmt.Errorf("live logs over --events: %w", err)
		}
	}
	res, err := resolver.New(s.cfg.DNSResolver)
	if err != nil {
		return err
	}
	var ghApp platform.GitHubApp // verifies the GitHub App's deliveries
	if app, err := s.githubApp(); err != nil {
		return err
	} else if app != nil {
		ghApp = app
	}
	s.platform, err = platform.New(platform.Config{
		GitHubApp:    ghApp,
		Store:        s.store,
		Blobs:        s.blobs,
		Bus:          s.bus,
		Logs:         s.hub,
		Box:          s.box,
		Webhooks:     s.webhooks,
		Gate:         &s.apps.front,
		Apps:         &s.apps.front,
		Edge:         edgeCounter{s.reg},
		SiteURL:      s.SiteURL,
		DomainURL:    s.DomainURL,
		BaseURL:      s.URL,
		Domain:       s.cfg.Domain,
		SitesDomain:  s.cfg.SitesDomain,
		Resolver:     res,
		AppSandboxes: s.appSandboxes(),
		Nameservers:  s.dnsNameservers(),
		GitSchemes:   s.gitSchemes(),
		GitPolicy:    egress.Policy{AllowPrivate: s.cfg.AllowPrivateGit},
		MaxFileSize:  s.cfg.MaxFileMB << 20,
		MaxZipSize:   s.cfg.MaxZipMB << 20,
		UploadKey:    s.uploadKey,
		Rules:        deploy.Options{Countries: s.geo != nil},
		Log:          s.log.With("component", "platform"),
		Registerer:   s.reg,
	})
	return err
}

// setupApex serves the apex: the API, /healthz, git push and
// the dashboard, each calling the platform's services.
func (s *Server) setupApex(context.Context) error {
	svc := s.platform.Services()
	s.apex = routemux.New()
	s.apex.Handle("/api/", api.New(api.Config{
		Services:   svc,
		Logs:       s.store,
		Hub:        s.hub,
		Log:        s.log.With("component", "api"),
		Registerer: s.reg,
	}))
	s.apex.HandleFunc("GET /healthz", s.health) // also without the api role (ServeHTTP)
	s.apex.HandleFunc("GET /readyz", s.health)
	// git push to the platform: Git's smart HTTP through git http-backend.
	if s.repos == nil {
		// Said at start (openBackends).
	} else if gs, err := gitserve.New(gitserve.Config{Repos: s.repos,
		Auth: svc.Accounts, Projects: svc.Projects, Builds: svc.Builds,
		Logs: &gitserve.HubLogs{Store: s.store, Hub: s.hub, Deployments: svc.Deployments},
		Log:  s.log.With("component", "git")}); err != nil {
		s.log.Warn("git push to the platform is off", "err", err)
	} else {
		s.apex.Handle("/git/", gs)
	}
	gh, err := s.githubClient()
	if err != nil {
		return err
	}
	app, err := s.githubApp()
	if err != nil {
		return err
	}
	dcfg := dashboard.Config{
		GitHub:    gh,
		GitHubApp: app,
		AppLinks:  s.store,
		Guard:     s.platform.Guard(), // one sign-in limit for passwords and GitHub
		Store:     s.store,
		Services:  svc,
		Logs:      s.hub,
		SiteURL:   s.SiteURL,
		BaseURL:   s.URL,
		Signup:    s.cfg.Signup,
		Notify:    s.notifier,
		Log:       s.log.With("component", "dashboard"),

		MaxZipSize: s.cfg.MaxZipMB << 20,
	}
	if d := s.nodeDist(); d != nil {
		dcfg.NodeVersions = d // a nil *Dist in the interface would not be nil
	}
	dcfg.AppSandboxes = s.appSandboxes()
	dash, err := dashboard.New(dcfg)
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	s.apex.Handle("/", dash)
	return nil
}

// Routes returns the patterns of every route of the apex: the API's, the
// dashboard's, /healthz and git push. (/metrics is on --metrics-listen
// only.) The security suite's
// authorization matrix holds each to a row.
func (s *Server) Routes() []string { return s.apex.Routes() }

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
	return s.scheme + "://" + label + "." + s.cfg.SitesDomain + s.urlPort + "/"
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
	s.paceBody(w, r)
	host, ok := edge.ParseHost(r.Host)
	switch {
	case !ok:
	case len(host) > len(s.suffix) && strings.EqualFold(host[len(host)-len(s.suffix):], s.suffix):
	case strings.EqualFold(host, s.cfg.Domain) || isIP(host):
		if !s.cfg.Has(RoleAPI) {
			if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
				s.health(w, r)
			} else {
				notServed(w, RoleAPI)
			}
			return
		}
		if isUpload(r) {
			if !s.takeUpload(w, r) {
				return
			}
			defer s.releaseUpload()
		}
		s.apex.ServeHTTP(w, r)
		return
	}
	if !s.cfg.Has(RoleEdge) {
		notServed(w, RoleEdge)
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
	for _, run := range []func(context.Context){
		s.runNotify,      // notify.go
		s.logPruner.Run,  // apps' runtime logs kept within their plan's bounds
		s.runApps,        // the app runtime (apps.go)
		s.runNodes,       // apps across nodes (nodes.go)
		s.appWatch.Run,   // instances' output into runtime logs
		s.runDNS,         // authoritative DNS (dns.go)
		s.runAccess,      // request records into the store
		s.runAccessQueue, // on Kafka: the fleet's request records into the store, once
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(ctx)
		}()
	}

	hs := s.newHTTPServer(s.httpHandler())
	// Site files whole in memory leave in one write (package coalesce).
	coalesce.Setup(hs)
	servers := []*http.Server{hs}
	errc := make(chan error, 3)
	go func() { errc <- hs.Serve(coalesce.Listener(ln)) }()
	if tlsLn != nil {
		hts := s.newHTTPServer(s)
		hts.TLSConfig = s.tls.certs.TLSConfig()
		servers = append(servers, hts)
		go func() { errc <- hts.ServeTLS(tlsLn, "", "") }()
	}

	if s.metricsLn != nil {
		ms := s.newHTTPServer(s.metricsHandler())
		servers = append(servers, ms)
		go func() { errc <- ms.Serve(s.metricsLn) }()
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

// janitor expires uploads that were never finalized, deletes the blobs
// no deployment holds any more, prunes the audit log and deletes the
// cached repository copies nobody needs.
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
		// The audit log within each owner's plan (audit_log_days).
		if n, err := s.platform.PruneAudit(ctx); err != nil {
			if ctx.Err() == nil {
				s.log.Error("prune audit log", "err", err)
			}
		} else if n > 0 {
			s.log.Info("pruned audit log", "entries", n)
		}
		s.pruneRepos(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// repoCacheIdle is how long a node keeps its copy of a pushed repository
// that the store holds once nobody pushed, fetched or built it: the next
// use brings it back from the store's bundles.
const repoCacheIdle = 7 * 24 * time.Hour

// pruneRepos deletes this node's copies of pushed repositories that are
// only a cache and not needed: deleted projects', and idle ones.
func (s *Server) pruneRepos(ctx context.Context) {
	if s.repos == nil {
		return
	}
	exists := func(ctx context.Context, id string) (bool, error) {
		_, err := s.store.ProjectByID(ctx, id)
		if apogee.ErrorCode(err) == apogee.ENOTFOUND {
			return false, nil
		}
		return err == nil, err
	}
	if n, err := s.repos.Prune(ctx, repoCacheIdle, exists); err != nil {
		if ctx.Err() == nil {
			s.log.Error("prune cached repository copies", "err", err)
		}
	} else if n > 0 {
		s.log.Info("deleted cached repository copies", "count", n)
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
	// ZIP uploads as old: their ZIPs are garbage unless a build waits for
	// one, and stop counting against their owners' storage.
	n, err := s.store.DeleteStaleUploads(ctx, olderThan)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("delete stale ZIP uploads", "err", err)
		}
		return
	}
	if n > 0 {
		s.log.Info("deleted stale ZIP uploads", "count", n)
	}
}

// Close releases the backends.
func (s *Server) Close() error {
	var errs []error
	if s.tls.certs != nil {
		s.tls.certs.Close()
	}
	errs = append(errs, s.closeApps())
	if s.metricsLn != nil {
		s.metricsLn.Close() // if Serve never ran; closed twice is harmless
	}
	s.closeDNS()
	if s.runtimeLogs != nil {
		// After the runtime: its instances' last lines ("stopped") are in.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, s.runtimeLogs.Close(ctx))
		cancel()
	}
	if s.bus != nil {
		errs = append(errs, s.bus.Close())
	}
	if s.geo != nil {
		errs = append(errs, s.geo.Close())
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
	return "Apogee is running: dashboard and API at " + s.URL() + ", sites at " + s.schemeLocked() + "://<project>." + s.cfg.SitesDomain + s.urlPortLocked() + "/ — " + login
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

// runAccessQueue makes this server a member of the consumer group that
// writes the fleet's request records and rollups into the store, when
// the bus is Kafka; it returns at once otherwise.
func (s *Server) runAccessQueue(ctx context.Context) {
	q, ok := s.bus.(access.Queue)
	if !ok {
		return
	}
	for {
		err := access.WriteQueued(ctx, q, s.store, s.log.With("component", "access"))
		if ctx.Err() != nil {
			return
		}
		s.log.Error("writing the fleet's request records stopped; starting again in 5 s", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
}

// runAccess writes the edge's request records until ctx ends.
func (s *Server) runAccess(ctx context.Context) {
	if s.access == nil {
		return
	}
	if err := s.access.Run(ctx); err != nil {
		s.log.Error("access log stopped", "err", err)
	}
}
