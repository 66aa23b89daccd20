package cluster

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
)

// retryAfter is how long a runtime node waits before it tries again to
// start a placed release that failed to start.
const retryAfter = 10 * time.Second

// reconcile makes this node run what is placed on it: the instances it
// lacks start (in the background, one start per release at a time), the
// releases no longer placed here stop, and what runs is reported (the
// ready instances, or why they could not start).
func (c *Cluster) reconcile(ctx context.Context) {
	ps := c.snapshotPlacements()
	mine := map[string]apogee.Placement{}
	primary := map[string]string{} // release → the node that runs its release command
	for _, p := range ps {
		if p.NodeID == c.cfg.ID {
			mine[p.ReleaseID] = p
		}
		if q, ok := primary[p.ReleaseID]; !ok || p.NodeID < q {
			primary[p.ReleaseID] = p.NodeID
		}
	}
	local := c.cfg.Local
	now := time.Now()
	c.mu.Lock()
	var shrink []apogee.Placement
	for id, p := range mine {
		local.KeepRunning(id)
		c.running[id] = true
		if have := len(local.ReleaseInstances(id)); !c.starting[id] && have > p.Count {
			shrink = append(shrink, p) // scaled down: fewer placed here
		}
		if c.starting[id] || len(local.ReleaseInstances(id)) >= p.Count {
			continue
		}
		if f, ok := c.failures[id]; ok && now.Before(f.until) {
			continue
		}
		c.starting[id] = true
		go c.start(context.WithoutCancel(ctx), id, p.Count, primary[id] == c.cfg.ID)
	}
	var stop []string
	for id := range c.running {
		if _, ok := mine[id]; !ok && !c.starting[id] {
			delete(c.running, id)
			delete(c.reported, id)
			delete(c.failures, id)
			stop = append(stop, id)
		}
	}
	c.mu.Unlock()
	for _, p := range shrink {
		if err := local.ShrinkRelease(ctx, p.ReleaseID, p.Count); err != nil {
			c.log.Warn("cluster: stop instances no longer placed here", "release", p.ReleaseID, "err", err)
			continue
		}
		c.log.Info("app instances stopped: fewer placed here", "release", p.ReleaseID, "instances", p.Count)
	}
	for _, id := range stop {
		go func() {
			if err := local.StopRelease(context.WithoutCancel(ctx), id); err != nil {
				c.log.Warn("cluster: stop a release no longer placed here", "release", id, "err", err)
				return
			}
			c.log.Info("app instances stopped: no longer placed here", "release", id)
		}()
	}
	changed := false
	for id := range mine {
		var ready []string
		for _, in := range local.ReleaseInstances(id) {
			if in.Ready() {
				ready = append(ready, in.ID())
			}
		}
		slices.Sort(ready)
		c.mu.Lock()
		reason := c.failures[id].reason
		key := strings.Join(ready, ",") + "|" + reason
		same := c.reported[id] == key
		c.mu.Unlock()
		if same {
			continue
		}
		if _, err := c.cfg.Store.ReportPlacement(ctx, id, c.cfg.ID, ready, reason); err != nil {
			c.log.Warn("cluster: report placed instances", "release", id, "err", err)
			continue
		}
		c.mu.Lock()
		c.reported[id] = key
		c.mu.Unlock()
		changed = true
	}
	if changed {
		c.publish(ctx)
	}
}

// start starts n instances of a release here. Only the release's
// primary node runs its release command; the others wait until it ran.
func (c *Cluster) start(ctx context.Context, id string, n int, primary bool) {
	defer func() {
		c.mu.Lock()
		delete(c.starting, id)
		c.mu.Unlock()
		c.poke()
	}()
	if !primary {
		ok, err := c.cfg.Local.Released(ctx, id)
		if err != nil || !ok {
			return // the next pass asks again
		}
	}
	files, err := c.cfg.Store.PlacedManifest(ctx, id)
	if err == nil {
		err = c.cfg.Local.RunRelease(ctx, id, n, primary, files)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.failures[id] = failure{until: time.Now().Add(retryAfter), reason: apogee.ErrorMessage(err)}
		c.log.Warn("cluster: placed release did not start here", "release", id, "instances", n, "err", err)
		return
	}
	delete(c.failures, id)
	c.log.Info("app instances started as placed", "release", id, "instances", n)
}

// failure is why a placed release did not start here, and when to try
// again.
type failure struct {
	until  time.Time
	reason string
}
