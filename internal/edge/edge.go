// Package edge serves static deployments by host: the hot path of Apogee.
//
// A request goes through one map read (host → site), one more (path →
// file) and, for a file whose bytes are cached, no allocation at all:
// every header value a response needs is built once, when a deployment's
// manifest is loaded, and assigned to the response header map as is.
//
// The host map is an immutable snapshot behind an atomic pointer. Writers
// (Load, Apply) are rare and serialised; they copy the snapshot, change the
// copy and swap it in, so readers never lock. Manifests are loaded lazily,
// on a deployment's first request, once per burst (singleflight), and kept
// for at most Config.MaxManifests deployments (CLOCK eviction). File bytes
// of small files come from a size-bounded cache in front of the blob
// store; large files, and ranges of them, are streamed from it.
package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/apogee-dev/apogee"
)

// Store is what the edge needs from the platform's records. Its methods
// are safe for concurrent use and honour ctx (see apogee.DeploymentStore).
type Store interface {
	// Routes returns every host the edge serves; a Route.Host is a host
	// label (project name or deployment host), or a full host name when it
	// contains a dot (custom domains, later).
	Routes(ctx context.Context) ([]apogee.Route, error)
	// DeploymentFiles returns a deployment's manifest; an error matching
	// apogee.ErrNotFound if the deployment does not exist.
	DeploymentFiles(ctx context.Context, id string) ([]apogee.File, error)
	// DeploymentServe returns the serve settings a deployment was
	// finalized with (see apogee.ServingStore).
	DeploymentServe(ctx context.Context, id string) (apogee.ServeSettings, error)
	// DeploymentVariants returns the precompressed variants of a
	// deployment's files (see apogee.VariantStore).
	DeploymentVariants(ctx context.Context, id string) ([]apogee.BlobVariant, error)
}

// Blobs is what the edge needs of the blob store (see apogee.Blobs): a
// small blob's bytes by its hash, to cache, and a reader of part of a
// large one, to stream. Both return apogee.ErrNotFound for a blob that is
// not stored. Safe for concurrent use.
type Blobs interface {
	Get(ctx context.Context, hash string) ([]byte, error)
	Open(ctx context.Context, hash string, offset, length int64) (io.ReadCloser, error)
}

// Config configures a Server. Domain, Store and Blobs are required.
type Config struct {
	// Domain is the platform's domain, e.g. "localhost": a route's host
	// label L is served at L+"."+Domain.
	Domain string
	Store  Store
	Blobs  Blobs
	// CacheBytes bounds the in-memory file cache (default 256 MiB). Files
	// larger than CacheBytes/8 are streamed from Blobs, never cached or
	// held whole in memory.
	CacheBytes int64
	// MaxManifests bounds how many deployments' manifests are kept in
	// memory at once (default 1,000); others are reloaded on demand.
	MaxManifests int
	// Log is used as is: the caller adds the component field.
	Log *slog.Logger
	// Registerer receives the edge's metrics; nil: not registered.
	Registerer prometheus.Registerer
}

// Defaults of Config.
const (
	DefaultCacheBytes   = 256 << 20
	DefaultMaxManifests = 1000
)

// loadTimeout bounds a manifest or blob load that serves requests: it is
// detached from the request that started it, since a burst of other
// requests may be waiting on the same load (singleflight).
const loadTimeout = 30 * time.Second

// Server serves static deployments by host. It is an http.Handler; the
// process routes only site hosts to it. Safe for concurrent use.
type Server struct {
	domain string // lower-case, without a trailing dot
	store  Store
	log    *slog.Logger
	m      *metrics
	cache  *cache

	routes atomic.Pointer[routes]
	wmu    sync.Mutex // serialises writers of routes (Load, Apply)

	manifests    singleflight.Group
	mmu          sync.Mutex // guards loaded and hand
	loaded       []*site    // sites with a manifest, in CLOCK order
	hand         int
	maxManifests int

	// reload is set when a reload from the store failed; Run retries it
	// every retryEvery.
	reload     atomic.Bool
	retryEvery time.Duration
}

// routes is one immutable snapshot of what the edge serves.
type routes struct {
	hosts map[string]*site // full lower-case host → site
	byID  map[string]*site // deployment id → site, for every site in hosts
}

// site is one deployment as the edge serves it. Every host that serves the
// deployment shares its site, so a manifest is loaded once.
type site struct {
	id    string
	hdrID []string // the X-Apogee-Deployment header value
	man   atomic.Pointer[manifest]
	ref   atomic.Bool // CLOCK reference bit of the manifest
}

func newSite(id string) *site { return &site{id: id, hdrID: []string{id}} }

// New returns a Server with an empty host map: call Load or Run.
func New(cfg Config) (*Server, error) {
	domain := strings.Trim(strings.ToLower(cfg.Domain), ".")
	if domain == "" {
		return nil, errors.New("edge: Config.Domain is empty")
	}
	if cfg.Store == nil || cfg.Blobs == nil {
		return nil, errors.New("edge: Config.Store and Config.Blobs are required")
	}
	if cfg.CacheBytes <= 0 {
		cfg.CacheBytes = DefaultCacheBytes
	}
	if cfg.MaxManifests <= 0 {
		cfg.MaxManifests = DefaultMaxManifests
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{
		domain:       domain,
		store:        cfg.Store,
		log:          cfg.Log,
		m:            m,
		maxManifests: cfg.MaxManifests,
		retryEvery:   2 * time.Second,
	}
	s.cache = newCache(cfg.Blobs, cfg.CacheBytes, m)
	s.routes.Store(&routes{hosts: map[string]*site{}, byID: map[string]*site{}})
	return s, nil
}

// Lookup returns the deployment that host serves. host may carry a port
// and any case; a host ParseHost refuses serves nothing.
func (s *Server) Lookup(host string) (deploymentID string, ok bool) {
	h, ok := ParseHost(host)
	if !ok {
		return "", false
	}
	st := s.routes.Load().hosts[h]
	if st == nil {
		return "", false
	}
	return st.id, true
}

// hostKey turns a route's host label into the full host it is served at.
// A name with a dot is a full host already (a custom domain).
func (s *Server) hostKey(label string) string {
	label = strings.ToLower(strings.TrimSuffix(label, "."))
	if strings.Contains(label, ".") {
		return label
	}
	return label + "." + s.domain
}

// Load rebuilds the whole host map from Store.Routes. Manifests of
// deployments still served are kept.
func (s *Server) Load(ctx context.Context) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	rs, err := s.store.Routes(ctx)
	if err != nil {
		s.reload.Store(true)
		return fmt.Errorf("edge: load routes: %w", err)
	}
	old := s.routes.Load()
	next := &routes{hosts: make(map[string]*site, len(rs)), byID: make(map[string]*site)}
	for _, r := range rs {
		if r.Host == "" || r.DeploymentID == "" {
			continue
		}
		st := next.byID[r.DeploymentID]
		if st == nil {
			st = old.byID[r.DeploymentID]
			if st == nil {
				st = newSite(r.DeploymentID)
			}
			next.byID[r.DeploymentID] = st
		}
		next.hosts[s.hostKey(r.Host)] = st
	}
	s.swap(next)
	s.reload.Store(false)
	s.log.Debug("routes loaded", "hosts", len(next.hosts), "deployments", len(next.byID))
	return nil
}

// Apply applies one event to the host map synchronously. A project
// deletion reloads everything from the store (bounded by a timeout); if
// that fails, the failure is logged and Run retries it.
func (s *Server) Apply(e apogee.Event) {
	switch e.Type {
	case apogee.EventAliasChanged:
		if e.Project == "" || e.DeploymentID == "" {
			return
		}
		s.set(s.hostKey(e.Project), e.DeploymentID)
	case apogee.EventDeploymentReady:
		if e.Host == "" || e.DeploymentID == "" {
			return
		}
		s.set(s.hostKey(e.Host), e.DeploymentID)
	case apogee.EventProjectDeleted, apogee.EventResync:
		ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
		defer cancel()
		if err := s.Load(ctx); err != nil {
			s.log.Error("reload of routes failed; will retry", "event", e.Type, "project", e.Project, "err", err)
		}
	case apogee.EventDomainChanged:
		// A custom domain (Host, a full name) moved to DeploymentID, or,
		// without one, was removed: removals are rare, so they reload.
		if e.Host == "" || !strings.Contains(e.Host, ".") {
			return
		}
		if e.DeploymentID != "" {
			s.set(s.hostKey(e.Host), e.DeploymentID)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
		defer cancel()
		if err := s.Load(ctx); err != nil {
			s.log.Error("reload after domain change failed; will retry", "domain", e.Host, "err", err)
		}
	}
}

// set points host at deployment id in a new snapshot.
func (s *Server) set(host, id string) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	old := s.routes.Load()
	if st := old.hosts[host]; st != nil && st.id == id {
		return
	}
	next := &routes{hosts: make(map[string]*site, len(old.hosts)+1), byID: make(map[string]*site, len(old.byID)+1)}
	for h, st := range old.hosts {
		next.hosts[h] = st
	}
	st := old.byID[id]
	if st == nil {
		st = newSite(id)
	}
	next.hosts[host] = st
	for _, st := range next.hosts {
		next.byID[st.id] = st
	}
	s.swap(next)
}

// swap publishes next and forgets the manifests of deployments no host
// serves any more. Callers hold wmu.
func (s *Server) swap(next *routes) {
	s.routes.Store(next)
	s.mmu.Lock()
	defer s.mmu.Unlock()
	kept := s.loaded[:0]
	for _, st := range s.loaded {
		if next.byID[st.id] == st {
			kept = append(kept, st)
		} else {
			st.man.Store(nil)
		}
	}
	clear(s.loaded[len(kept):])
	s.loaded = kept
	if s.hand >= len(kept) {
		s.hand = 0
	}
}

// Run subscribes to bus, loads the host map and applies events until ctx
// ends; then it returns nil. It subscribes before loading so that no event
// falls between the two. If the subscription ends while ctx is alive (the
// bus closed it), it subscribes again and reloads. Failed reloads are
// retried with backoff.
func (s *Server) Run(ctx context.Context, bus apogee.EventBus) error {
	backoff := newBackoff()
	for {
		ch, err := bus.Subscribe(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.log.Error("subscribe to events failed; retrying", "err", err)
			if !backoff.wait(ctx) {
				return nil
			}
			continue
		}
		if err := s.Load(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("load routes failed; will retry", "err", err)
		}
		start := time.Now()
		s.consume(ctx, ch)
		if ctx.Err() != nil {
			return nil
		}
		s.log.Warn("event subscription closed; resubscribing")
		if time.Since(start) > time.Minute {
			backoff.reset()
		}
		if !backoff.wait(ctx) {
			return nil
		}
	}
}

// consume applies events from ch until it closes or ctx ends, retrying a
// failed reload now and then.
func (s *Server) consume(ctx context.Context, ch <-chan apogee.Event) {
	retry := time.NewTicker(s.retryEvery)
	defer retry.Stop()
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				return
			}
			s.Apply(e)
		case <-retry.C:
			if s.reload.Load() {
				if err := s.Load(ctx); err != nil && ctx.Err() == nil {
					s.log.Error("load routes failed; will retry", "err", err)
				}
			}
		case <-ctx.Done():
			return
		}
	}
}

type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{d: 100 * time.Millisecond} }
func (b *backoff) reset()  { b.d = 100 * time.Millisecond }

// wait sleeps for the current delay, doubling it up to 5s; false if ctx
// ended first.
func (b *backoff) wait(ctx context.Context) bool {
	t := time.NewTimer(b.d)
	defer t.Stop()
	if b.d *= 2; b.d > 5*time.Second {
		b.d = 5 * time.Second
	}
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
