// Package cluster makes several servers one platform for apps, in the
// small, as Nomad does: a node registry (each node records its roles,
// its private address and its free memory at every heartbeat; a node
// whose heartbeat lapsed is dead), a scheduler that places apps'
// instances on runtime nodes (by free memory, an app's instances spread
// across nodes) and places again those of a dead node, a reconcile loop
// on each runtime node that starts and stops the instances placed on it,
// and the edge's pools, which reach instances on any node through the
// private listener of the node that runs them (see Handler and Dial).
//
// Everything lives in the store (nodes, app_placements); the event bus
// only wakes the loops sooner. A server runs this only with
// --node-listen: a single node has none of it on its request path.
package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/appproxy"
	"github.com/apogee-dev/apogee/internal/apps"
)

// Store is what the cluster reads and writes.
type Store interface {
	SaveNode(ctx context.Context, n *apogee.Node) error
	Nodes(ctx context.Context) ([]apogee.Node, error)
	DeleteNodesBefore(ctx context.Context, t time.Time) error
	Placements(ctx context.Context) ([]apogee.Placement, error)
	SetPlacement(ctx context.Context, p apogee.Placement) error
	DeletePlacement(ctx context.Context, releaseID, nodeID string) error
	SavePlacedManifest(ctx context.Context, releaseID string, files []apogee.File) error
	PlacedManifest(ctx context.Context, releaseID string) ([]apogee.File, error)
	DeleteStalePlacedManifests(ctx context.Context, before time.Time) error
	ReportPlacement(ctx context.Context, releaseID, nodeID string, ready []string, reason string) (bool, error)
	ProductionReleases(ctx context.Context) ([]*apogee.Release, error)
	ProjectByID(ctx context.Context, id string) (*apogee.Project, error)
	ProjectByName(ctx context.Context, name string) (*apogee.Project, error)
	Release(ctx context.Context, deploymentID string) (*apogee.Release, error)
}

// Local is this node's app runtime (apphost.Host); nil on a node
// without the runtime role.
type Local interface {
	RunRelease(ctx context.Context, releaseID string, n int, live bool, files []apogee.File) error
	Released(ctx context.Context, releaseID string) (bool, error)
	StopRelease(ctx context.Context, releaseID string) error
	ShrinkRelease(ctx context.Context, releaseID string, n int) error
	KeepRunning(releaseID string)
	ReleaseInstances(releaseID string) []apps.Instance
	ReleaseTargets(releaseID string) []*appproxy.Target
	Instance(id string) apps.Instance
	// Instances describes this node's instances of a project.
	Instances(project string) (running []apogee.AppInstance, warm []string)
}

// Roles, as --roles names them.
const (
	roleAPI     = "api"
	roleRuntime = "runtime"
)

// Defaults of Config.
const (
	DefaultHeartbeat = time.Second
	DefaultTTL       = 3 * time.Second
	// DefaultInstanceMemory is what the scheduler counts for an instance
	// (apps' default limit) when it weighs nodes' free memory.
	DefaultInstanceMemory = apps.DefaultMemory
)

// EventPlacement tells every node that placements changed: runtime
// nodes reconcile, edges refresh their pools.
const EventPlacement = "app.placement"

// Config is what a Cluster needs. ID, Addr, Secret, Store and Bus are
// required.
type Config struct {
	ID     string   // this node's id
	Roles  []string // this node's roles
	Addr   string   // where the other nodes reach this node's listener
	Secret string   // the nodes' shared secret (--node-secret)
	Store  Store
	Bus    apogee.EventBus
	Local  Local // nil: this node runs no apps
	// Certs, when set, are this node's for mutual TLS with the others:
	// the listener's owner serves Certs.ServerConfig, and tunnels are
	// dialed with Certs.ClientConfig. nil: plain TCP (the node secret
	// is checked either way).
	Certs *Certs
	// Proxy makes the edge's targets of remote instances and its pools.
	Proxy *appproxy.Proxy
	// Heartbeat is how often the node beats (default 1 s); TTL how long
	// after its last beat a node is dead (default 3 s).
	Heartbeat time.Duration
	TTL       time.Duration
	// FreeMemory returns the memory this node has for new instances
	// (default: the kernel's MemAvailable).
	FreeMemory func() int64
	Log        *slog.Logger
}

// Cluster is this node's part of the platform's apps across nodes.
type Cluster struct {
	cfg     Config
	log     *slog.Logger
	started time.Time

	mu         sync.Mutex
	nodes      []apogee.Node      // the last read, live or not
	placements []apogee.Placement // the last read
	changed    chan struct{}      // closed when nodes or placements were read anew
	wake       chan struct{}      // a reconcile and refresh soon
	pools      map[string]*edgePool
	remotes    map[string]*remoteTarget // by node/instance
	running    map[string]bool          // releases this node starts as placed
	starting   map[string]bool          // releases being started now
	reported   map[string]string        // release → what was last reported
	failures   map[string]failure       // release → why it could not start here

	clientTLS *tls.Config // nil: plain TCP
	swept     time.Time   // when the leader last removed stale manifests and nodes

	connMu sync.Mutex
	conns  map[net.Conn]struct{} // tunnels served to other nodes' edges
}

// New returns the cluster of cfg; Run runs it.
func New(cfg Config) (*Cluster, error) {
	if cfg.ID == "" || cfg.Addr == "" || cfg.Store == nil || cfg.Bus == nil || cfg.Proxy == nil {
		return nil, errors.New("cluster: ID, Addr, Store, Bus and Proxy are required")
	}
	if len(cfg.Secret) < 16 {
		return nil, apogee.Errorf(apogee.EINVALID, "the node secret (--node-secret or APOGEE_NODE_SECRET) must be at least 16 characters, the same on every node")
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.FreeMemory == nil {
		cfg.FreeMemory = memAvailable
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	var clientTLS *tls.Config
	if cfg.Certs != nil {
		clientTLS = cfg.Certs.ClientConfig()
	}
	return &Cluster{cfg: cfg, clientTLS: clientTLS, log: cfg.Log, started: time.Now(), changed: make(chan struct{}), wake: make(chan struct{}, 1),
		pools: map[string]*edgePool{}, remotes: map[string]*remoteTarget{}, running: map[string]bool{}, starting: map[string]bool{},
		reported: map[string]string{}, failures: map[string]failure{}}, nil
}

// ID returns this node's id.
func (c *Cluster) ID() string { return c.cfg.ID }

// Run beats, schedules (on the node that leads), reconciles this node's
// instances and refreshes the edge's pools until ctx ends. Placements
// are read at every heartbeat and at once when an event says they
// changed.
func (c *Cluster) Run(ctx context.Context) error {
	events, err := c.cfg.Bus.Subscribe(ctx)
	if err != nil {
		return fmt.Errorf("cluster: subscribe to events: %w", err)
	}
	if err := c.beat(ctx); err != nil {
		c.log.Error("node heartbeat", "err", err)
	}
	t := time.NewTicker(c.cfg.Heartbeat)
	defer t.Stop()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-events:
				if !ok {
					return
				}
				switch e.Type {
				case EventPlacement, apogee.EventAliasChanged, apogee.EventProjectDeleted, apogee.EventResync:
					c.poke()
				}
			}
		}
	}()
	for {
		c.pass(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := c.beat(ctx); err != nil && ctx.Err() == nil {
				c.log.Error("node heartbeat", "err", err)
			}
		case <-c.wake:
		}
	}
}

func (c *Cluster) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// beat records this node in the store.
func (c *Cluster) beat(ctx context.Context) error {
	now := time.Now()
	return c.cfg.Store.SaveNode(ctx, &apogee.Node{ID: c.cfg.ID, Roles: c.cfg.Roles, Addr: c.cfg.Addr,
		FreeMemory: c.cfg.FreeMemory(), Started: c.started, Heartbeat: now})
}

// pass reads the registry and the placements, then schedules (when this
// node leads), reconciles and refreshes.
func (c *Cluster) pass(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	if err := c.read(ctx); err != nil {
		if ctx.Err() == nil {
			c.log.Error("cluster: read nodes and placements", "err", err)
		}
		return
	}
	if c.leads() {
		if changed, err := c.schedule(ctx); err != nil {
			if ctx.Err() == nil {
				c.log.Error("cluster: schedule", "err", err)
			}
		} else if changed {
			c.publish(ctx)
			if err := c.read(ctx); err != nil {
				return
			}
		}
	}
	if c.cfg.Local != nil {
		c.reconcile(ctx)
	}
	c.refresh()
}

func (c *Cluster) publish(ctx context.Context) {
	if err := c.cfg.Bus.Publish(ctx, apogee.Event{Type: EventPlacement}); err != nil && ctx.Err() == nil {
		c.log.Warn("cluster: publish a placement change", "err", err)
	}
}

func (c *Cluster) read(ctx context.Context) error {
	nodes, err := c.cfg.Store.Nodes(ctx)
	if err != nil {
		return err
	}
	ps, err := c.cfg.Store.Placements(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.nodes, c.placements = nodes, ps
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	return nil
}

// live returns the nodes whose heartbeat is within the TTL.
func (c *Cluster) live() map[string]apogee.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return liveNodes(c.nodes, time.Now(), c.cfg.TTL)
}

func liveNodes(nodes []apogee.Node, now time.Time, ttl time.Duration) map[string]apogee.Node {
	out := map[string]apogee.Node{}
	for _, n := range nodes {
		if now.Sub(n.Heartbeat) <= ttl {
			out[n.ID] = n
		}
	}
	return out
}

// leads reports whether this node schedules: the live node with the
// smallest id among those with the api role (or among all, when none
// has it). Every node computes the same from the same registry; while
// two think they lead (a node just died or joined), both place the same
// way, so their writes agree.
func (c *Cluster) leads() bool {
	live := c.live()
	var ids, api []string
	for id, n := range live {
		ids = append(ids, id)
		if n.HasRole(roleAPI) {
			api = append(api, id)
		}
	}
	if len(api) > 0 {
		ids = api
	}
	if len(ids) == 0 {
		return false
	}
	return slices.Min(ids) == c.cfg.ID
}

// Nodes returns the registry as last read, with whether each is live.
func (c *Cluster) Nodes() ([]apogee.Node, map[string]bool) {
	live := c.live()
	c.mu.Lock()
	defer c.mu.Unlock()
	alive := map[string]bool{}
	for id := range live {
		alive[id] = true
	}
	return slices.Clone(c.nodes), alive
}

// memAvailable reads the kernel's estimate of the memory available for
// new work.
func memAvailable() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
