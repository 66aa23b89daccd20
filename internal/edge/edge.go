// Package edge serves static deployments by host: the hot path of Apogee.
//
// A request goes through one map read (host → site), one more (path →
// file) and, for a file whose bytes are cached, no allocation at all:
// every header value a response needs is built once, when a deployment's
// manifest is loaded, and assigned to the response header map as is.
//
// The host map is an immutable snapshot behind an atomic pointer. Writers
// (Load, Apply, Check) are rare and serialised; they copy the snapshot,
// change the copy and swap it in, so readers never lock. The edge never
// trusts an event's contents for routing: an event names a project, and
// the edge reads that project's routes from the store. Each snapshot
// knows the store's route version it is complete to; Check, every
// Config.CheckEvery and whenever the bus says events were lost, reloads
// the projects whose routes changed since. Manifests are loaded lazily,
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
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/egress"
	"github.com/apogee-dev/apogee/internal/rules"
)

// Store is what the edge needs from the platform's records: seven
// methods. They are safe for concurrent use and honour ctx (see
// apogee.RouteStore and apogee.DeploymentStore).
type Store interface {
	// Routes returns every host the edge serves; a Route.Host is a host
	// label (project name or deployment host), or a full host name when it
	// contains a dot (a verified custom domain).
	Routes(ctx context.Context) ([]apogee.Route, error)
	// ProjectRoutes returns the routes of one project (none once it is
	// deleted).
	ProjectRoutes(ctx context.Context, projectID string) ([]apogee.Route, error)
	// RouteVersion and RouteChanges say what changed in the routes since
	// a version (see apogee.RouteStore).
	RouteVersion(ctx context.Context) (int64, error)
	RouteChanges(ctx context.Context, since int64, limit int) ([]apogee.RouteChange, error)
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

// Apps serves the hosts of app deployments (apogee.Route.App): their
// requests go to the app's instances, never to files. own reports
// whether the host is the deployment's own (<project>--<id>) rather than
// the project's production host or a custom domain of it. Safe for
// concurrent use.
type Apps interface {
	ServeApp(w http.ResponseWriter, r *http.Request, projectID, deploymentID string, own bool)
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
	// CheckEvery is how often the edge asks the store whether routes
	// changed without it hearing of it (a lost event), and reloads what
	// did (default 5 s).
	CheckEvery time.Duration
	// Log is used as is: the caller adds the component field.
	Log *slog.Logger
	// Registerer receives the edge's metrics; nil: not registered.
	Registerer prometheus.Registerer
	// Apps serves app deployments' hosts (nil: they answer 503, no app
	// runs here).
	Apps Apps
	// GeoIP tells the country of a client for rules with a Country
	// condition (nil: no database; compiling then warns about them).
	GeoIP rules.Countries
	// Proxy configures rules that answer from another server.
	Proxy ProxyConfig
	// Access receives a record of every request to a site (nil: none).
	Access AccessLog
}

// Defaults of Config.
const (
	DefaultCacheBytes   = 256 << 20
	DefaultMaxManifests = 1000
	DefaultCheckEvery   = 5 * time.Second
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
	apps   Apps
	log    *slog.Logger
	m      *metrics
	cache  *cache

	routes atomic.Pointer[routes]
	wmu    sync.Mutex // serialises writers of routes (Load, Apply, Check)
	// version is the store's route version the host map is complete to;
	// -1 until a Load succeeds. Guarded by wmu.
	version int64

	manifests    singleflight.Group
	mmu          sync.Mutex // guards loaded and hand
	loaded       []*site    // sites with a manifest, in CLOCK order
	hand         int
	maxManifests int

	checkEvery time.Duration

	geo         rules.Countries
	proxy       *httputil.ReverseProxy
	proxyPolicy egress.Policy
	access      AccessLog
}

// routes is one immutable snapshot of what the edge serves. A host is
// looked up exactly first, then among the branch hosts of wildcard
// domains, then by its parent under a wildcard domain: at most three
// map reads, none of which allocates.
type routes struct {
	hosts map[string]*site // full lower-case host → site
	byID  map[string]*site // deployment id → site, for every site in hosts, wild and wildBase
	// wild is the branch hosts under wildcard domains
	// (feature-x.example.com), served when no exact host has the name.
	wild map[string]*site
	// wildBase is the production of each wildcard domain by the name it
	// covers the hosts of ("example.com" for *.example.com).
	wildBase map[string]*site
}

func newRoutes(hosts, ids int) *routes {
	return &routes{hosts: make(map[string]*site, hosts), byID: make(map[string]*site, ids),
		wild: map[string]*site{}, wildBase: map[string]*site{}}
}

// site returns the site that serves host (lower-case, no port), or nil.
func (rt *routes) site(host string) *site {
	if st := rt.hosts[host]; st != nil {
		return st
	}
	if len(rt.wild) == 0 && len(rt.wildBase) == 0 {
		return nil
	}
	if st := rt.wild[host]; st != nil {
		return st
	}
	if i := strings.IndexByte(host, '.'); i > 0 {
		return rt.wildBase[host[i+1:]]
	}
	return nil
}

// site is one deployment as the edge serves it. Every host that serves the
// deployment shares its site, so a manifest is loaded once.
type site struct {
	id      string
	project string   // the project's id: a project's hosts reload together
	app     bool     // an app's release: requests go to Config.Apps
	own     string   // an app's own host (<project>--<id>.<domain>)
	hdrID   []string // the X-Apogee-Deployment header value
	man     atomic.Pointer[manifest]
	ref     atomic.Bool // CLOCK reference bit of the manifest
}

func newSite(r apogee.Route) *site {
	return &site{id: r.DeploymentID, project: r.ProjectID, app: r.App, hdrID: []string{r.DeploymentID}}
}

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
	if cfg.CheckEvery <= 0 {
		cfg.CheckEvery = DefaultCheckEvery
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
		apps:         cfg.Apps,
		log:          cfg.Log,
		m:            m,
		maxManifests: cfg.MaxManifests,
		version:      -1,
		checkEvery:   cfg.CheckEvery,
	}
	s.cache = newCache(cfg.Blobs, cfg.CacheBytes, m)
	s.geo = cfg.GeoIP
	s.access = cfg.Access
	s.proxy = newProxy(cfg.Proxy, s)
	s.proxyPolicy = egress.Policy{AllowPrivate: cfg.Proxy.AllowPrivate, Flag: "--proxy-allow-private", What: "the proxy rule's host"}
	s.routes.Store(newRoutes(0, 0))
	return s, nil
}

// Lookup returns the deployment that host serves. host may carry a port
// and any case; a host ParseHost refuses serves nothing.
func (s *Server) Lookup(host string) (deploymentID string, ok bool) {
	h, ok := ParseHost(host)
	if !ok {
		return "", false
	}
	st := s.routes.Load().site(h)
	if st == nil {
		return "", false
	}
	return st.id, true
}

// WildcardOnly reports whether host is served only as any label under a
// wildcard domain (its production), with no route naming it: such names
// are unbounded, so the server orders no certificate of their own.
func (s *Server) WildcardOnly(host string) bool {
	h, ok := ParseHost(host)
	if !ok {
		return false
	}
	rt := s.routes.Load()
	if rt.hosts[h] != nil || rt.wild[h] != nil {
		return false
	}
	return rt.site(h) != nil
}

// Wildcard returns the wildcard domain that serves host ("*.example.com"
// for feature-x.example.com, a branch host or any label under it), and
// false for a host with a route of its own or none at all.
func (s *Server) Wildcard(host string) (string, bool) {
	h, ok := ParseHost(host)
	if !ok {
		return "", false
	}
	rt := s.routes.Load()
	i := strings.IndexByte(h, '.')
	if rt.hosts[h] != nil || i <= 0 {
		return "", false
	}
	if rt.wild[h] == nil && rt.wildBase[h[i+1:]] == nil {
		return "", false
	}
	return "*." + h[i+1:], true
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
	s.m.reloads.Inc()
	// The version first: a change that lands between the two reads is
	// then seen again by Check, never missed.
	v, err := s.store.RouteVersion(ctx)
	if err != nil {
		return fmt.Errorf("edge: load routes: %w", err)
	}
	rs, err := s.store.Routes(ctx)
	if err != nil {
		return fmt.Errorf("edge: load routes: %w", err)
	}
	old := s.routes.Load()
	next := newRoutes(len(rs), 0)
	s.add(next, old, rs)
	s.swap(next)
	s.version = v
	s.log.Debug("routes loaded", "hosts", len(next.hosts), "deployments", len(next.byID), "version", v)
	return nil
}

// add puts rs into next, reusing old's site of a deployment when there
// is one (its manifest stays loaded).
func (s *Server) add(next, old *routes, rs []apogee.Route) {
	for _, r := range rs {
		if r.Host == "" || r.DeploymentID == "" {
			continue
		}
		st := next.byID[r.DeploymentID]
		if st == nil {
			if st = old.byID[r.DeploymentID]; st == nil {
				st = newSite(r)
			}
			next.byID[r.DeploymentID] = st
		}
		key := s.hostKey(r.Host)
		if st.app && strings.Contains(r.Host, "--") && !strings.Contains(r.Host, ".") {
			// A deployment's own host: project names never hold "--",
			// custom domains always hold a dot. Written only when it
			// changes: st may be a served site kept from old, read by
			// requests while this reload runs.
			if st.own != key {
				st.own = key
			}
		}
		switch base, wildcard := apogee.WildcardBase(key); {
		case wildcard:
			next.wildBase[base] = st
		case r.Wildcard:
			next.wild[key] = st
		default:
			next.hosts[key] = st
		}
	}
}

// reloadProject replaces every host of project id with what the store
// says it serves now (nothing, for a deleted project).
func (s *Server) reloadProject(ctx context.Context, id string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.m.projectReloads.Inc()
	rs, err := s.store.ProjectRoutes(ctx, id)
	if err != nil {
		return fmt.Errorf("edge: load routes of project %s: %w", id, err)
	}
	old := s.routes.Load()
	next := newRoutes(len(old.hosts)+len(rs), len(old.byID)+len(rs))
	for _, m := range [][2]map[string]*site{{old.hosts, next.hosts}, {old.wild, next.wild}, {old.wildBase, next.wildBase}} {
		for h, st := range m[0] {
			if st.project != id {
				m[1][h] = st
				next.byID[st.id] = st
			}
		}
	}
	s.add(next, old, rs)
	s.swap(next)
	return nil
}

// Apply applies one event synchronously. Only the project it names is
// taken from it: that project's routes are read from the store (bounded
// by a timeout), so a forged or stale event costs one reload and can
// route nothing the store does not say. A resync (the bus lost events)
// runs Check. A failure is logged; Check heals it later.
func (s *Server) Apply(e apogee.Event) {
	ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
	defer cancel()
	switch e.Type {
	case apogee.EventAliasChanged, apogee.EventDeploymentReady, apogee.EventDomainChanged, apogee.EventProjectDeleted:
		if e.ProjectID == "" {
			return
		}
		if err := s.reloadProject(ctx, e.ProjectID); err != nil {
			s.log.Error("reload of a project's routes failed; the next check retries", "event", e.Type, "project", e.ProjectID, "err", err)
		}
	case apogee.EventResync:
		if err := s.Check(ctx); err != nil {
			s.log.Error("route check after lost events failed; the next check retries", "err", err)
		}
	}
}

// checkLimit bounds the changes one Check reloads project by project;
// more reload everything.
const checkLimit = 1000

// Check catches up with route changes the edge did not hear of: it
// reloads the projects whose routes changed since the version the host
// map is complete to, or everything when that is unknown (no load yet,
// a failed one) or the store no longer keeps changes that old.
func (s *Server) Check(ctx context.Context) error {
	s.wmu.Lock()
	since := s.version
	s.wmu.Unlock()
	if since < 0 {
		return s.Load(ctx)
	}
	changes, err := s.store.RouteChanges(ctx, since, checkLimit)
	if err != nil {
		return fmt.Errorf("edge: route changes: %w", err)
	}
	if len(changes) == 0 {
		return nil
	}
	if changes[0].Version != since+1 || len(changes) == checkLimit {
		return s.Load(ctx)
	}
	done := map[string]bool{}
	for _, c := range changes {
		if !done[c.ProjectID] {
			done[c.ProjectID] = true
			if err := s.reloadProject(ctx, c.ProjectID); err != nil {
				return err
			}
		}
	}
	s.wmu.Lock()
	if s.version == since { // no Load moved it on meanwhile
		s.version = changes[len(changes)-1].Version
	}
	s.wmu.Unlock()
	s.log.Debug("routes caught up", "projects", len(done), "version", changes[len(changes)-1].Version)
	return nil
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
// bus closed it), it subscribes again and reloads. Every CheckEvery it
// runs Check, which also retries a failed load.
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

// consume applies events from ch until it closes or ctx ends, checking
// for changes it did not hear of every checkEvery.
func (s *Server) consume(ctx context.Context, ch <-chan apogee.Event) {
	check := time.NewTicker(s.checkEvery)
	defer check.Stop()
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				return
			}
			s.Apply(e)
		case <-check.C:
			if err := s.Check(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("route check failed; will retry", "err", err)
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
