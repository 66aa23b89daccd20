package cluster

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/apogee-dev/apogee/internal/appproxy"
)

// holdTimeout bounds how long a request waits for a ready instance of
// its release (a failover under way) before it is answered 503.
const holdTimeout = 15 * time.Second

// edgePool is the edge's pool of one release: its instances on every
// node.
type edgePool struct {
	pool *appproxy.Pool
	keys []string // of its targets, sorted: "node/instance", or "local"
}

// ServeApp serves a request for an app's production host from the
// instances of release on every node: this node's own through its
// proxy, the others' through their nodes' listeners. A request that
// finds no ready instance waits (a failover, a start) up to holdTimeout.
func (c *Cluster) ServeApp(w http.ResponseWriter, r *http.Request, release string) {
	c.mu.Lock()
	ep := c.pools[release]
	if ep == nil {
		ep = &edgePool{pool: c.cfg.Proxy.NewPool(release)}
		c.pools[release] = ep
		c.refreshLocked(release, ep)
	}
	c.mu.Unlock()
	if !hasReady(ep.pool) {
		deadline := time.NewTimer(holdTimeout)
		defer deadline.Stop()
		tick := time.NewTicker(100 * time.Millisecond) // local instances change state on their own
		defer tick.Stop()
		for !hasReady(ep.pool) {
			c.mu.Lock()
			ch := c.changed
			c.mu.Unlock()
			select {
			case <-ch:
			case <-tick.C:
				c.mu.Lock()
				c.refreshLocked(release, ep)
				c.mu.Unlock()
			case <-deadline.C:
				w.Header().Set("Retry-After", "1")
				http.Error(w, "503: no instance of the app is ready on any node; try again", http.StatusServiceUnavailable)
				return
			case <-r.Context().Done():
				w.WriteHeader(499)
				return
			}
		}
	}
	ep.pool.ServeHTTP(w, r)
}

func hasReady(p *appproxy.Pool) bool {
	for _, t := range p.Targets() {
		if !t.Draining() && t.Backend().Ready() {
			return true
		}
	}
	return false
}

// refresh brings every edge pool in step with the placements.
func (c *Cluster) refresh() {
	c.mu.Lock()
	defer c.mu.Unlock()
	placed := map[string]bool{}
	for _, p := range c.placements {
		placed[p.ReleaseID] = true
	}
	for id, ep := range c.pools {
		c.refreshLocked(id, ep)
		if !placed[id] && len(ep.pool.Targets()) == 0 {
			delete(c.pools, id)
		}
	}
	// Remote targets no pool holds any more are drained.
	used := map[*appproxy.Target]bool{}
	for _, ep := range c.pools {
		for _, t := range ep.pool.Targets() {
			used[t] = true
		}
	}
	for key, rm := range c.remotes {
		if !used[rm.target] {
			delete(c.remotes, key)
			go rm.target.Drain(context.Background(), 30*time.Second)
		}
	}
}

// refreshLocked sets the targets of one release's pool: this node's
// instances of it and the ready ones of every other live node. c.mu is
// held.
func (c *Cluster) refreshLocked(release string, ep *edgePool) {
	live := liveNodes(c.nodes, time.Now(), c.cfg.TTL)
	var targets []*appproxy.Target
	var keys []string
	for _, p := range c.placements {
		if p.ReleaseID != release {
			continue
		}
		if p.NodeID == c.cfg.ID {
			if c.cfg.Local != nil {
				for _, t := range c.cfg.Local.ReleaseTargets(release) {
					targets = append(targets, t)
					keys = append(keys, "local/"+t.Backend().ID())
				}
			}
			continue
		}
		n, ok := live[p.NodeID]
		if !ok {
			continue
		}
		for _, id := range p.Ready {
			key := p.NodeID + "/" + id
			rm := c.remotes[key]
			if rm == nil {
				b := &remote{node: p.NodeID, addr: n.Addr, instance: id, release: release, secret: c.cfg.Secret, tls: c.clientTLS}
				rm = &remoteTarget{remote: b, target: c.cfg.Proxy.NewTarget(b)}
				c.remotes[key] = rm
			}
			rm.remote.listed.Store(true)
			targets = append(targets, rm.target)
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	if slices.Equal(keys, ep.keys) {
		return
	}
	// Remote instances no longer listed are out of rotation at once.
	for key, rm := range c.remotes {
		if rm.remote.release == release && !slices.Contains(keys, key) {
			rm.remote.listed.Store(false)
		}
	}
	ep.keys = keys
	ep.pool.Switch(targets...)
}

// remoteTarget is a remote instance and its target in the edge's proxy.
type remoteTarget struct {
	remote *remote
	target *appproxy.Target
}
