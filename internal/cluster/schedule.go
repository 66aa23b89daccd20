package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/apogee-dev/apogee"
)

// drainGrace is how long the placements of a release that stopped
// serving production stay after the scheduler saw it: the edges move to
// the new release on the same event, and requests in flight finish.
const drainGrace = 5 * time.Second

// Spread returns where to place n more instances of a release, given
// the live runtime nodes, how many of the release each runs already, and
// each node's free memory: each instance goes to the node with the
// fewest of the release (an app's instances spread across nodes), ties
// to the one with the most free memory, then by id; mem is what each
// instance takes from its node. The result counts the new instances by
// node.
func Spread(nodes []apogee.Node, have map[string]int, n int, mem int64) map[string]int {
	type cand struct {
		id   string
		has  int
		free int64
	}
	cs := make([]*cand, 0, len(nodes))
	for _, nd := range nodes {
		cs = append(cs, &cand{id: nd.ID, has: have[nd.ID], free: nd.FreeMemory})
	}
	out := map[string]int{}
	if len(cs) == 0 {
		return out
	}
	for range n {
		best := slices.MinFunc(cs, func(a, b *cand) int {
			// A node that has no room for the instance comes last.
			if fa, fb := a.free >= mem, b.free >= mem; fa != fb {
				if fa {
					return -1
				}
				return 1
			}
			if c := cmp.Compare(a.has, b.has); c != 0 {
				return c
			}
			if c := cmp.Compare(b.free, a.free); c != 0 {
				return c
			}
			return cmp.Compare(a.id, b.id)
		})
		best.has++
		best.free -= mem
		out[best.id]++
	}
	return out
}

// runtimeNodes returns the live nodes that run apps, with their free
// memory less what is placed on them and not yet running.
func runtimeNodes(live map[string]apogee.Node, ps []apogee.Placement, mem int64) []apogee.Node {
	var out []apogee.Node
	for _, n := range live {
		if !n.HasRole(roleRuntime) {
			continue
		}
		for _, p := range ps {
			if p.NodeID == n.ID && p.Count > len(p.Ready) {
				n.FreeMemory -= int64(p.Count-len(p.Ready)) * mem
			}
		}
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b apogee.Node) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// place adds n instances of release (of project) to the nodes Spread
// chooses, holding them until hold (nil: none).
func (c *Cluster) place(ctx context.Context, projectID, release string, n int, hold *time.Time, ps []apogee.Placement) (int, error) {
	live := liveNodes(c.snapshotNodes(), time.Now(), c.cfg.TTL)
	nodes := runtimeNodes(live, ps, DefaultInstanceMemory)
	if len(nodes) == 0 {
		return 0, apogee.Errorf(apogee.EUNAVAILABLE, "no runtime node is up to run the app (start a server with --roles including runtime and --node-listen)")
	}
	have := map[string]int{}
	for _, p := range ps {
		if p.ReleaseID == release {
			if _, ok := live[p.NodeID]; ok {
				have[p.NodeID] = p.Count
			}
		}
	}
	placed := 0
	for node, k := range Spread(nodes, have, n, DefaultInstanceMemory) {
		if err := c.cfg.Store.SetPlacement(ctx, apogee.Placement{ReleaseID: release, NodeID: node, ProjectID: projectID, Count: have[node] + k, HoldUntil: hold}); err != nil {
			return placed, err
		}
		placed += k
		c.log.Info("app instances placed", "release", release, "node", node, "instances", have[node]+k)
	}
	return placed, nil
}

func (c *Cluster) snapshotNodes() []apogee.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.nodes)
}

func (c *Cluster) snapshotPlacements() []apogee.Placement {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.placements)
}

// schedule is the leader's pass: the instances placed on dead nodes go
// to live ones, every production release of an app has its instances
// placed, and the placements of releases that no longer serve (and are
// not held for a promotion) are removed. It reports whether it changed
// anything.
func (c *Cluster) schedule(ctx context.Context) (bool, error) {
	now := time.Now()
	live := liveNodes(c.snapshotNodes(), now, c.cfg.TTL)
	ps := c.snapshotPlacements()
	prod, err := c.cfg.Store.ProductionReleases(ctx)
	if err != nil {
		return false, fmt.Errorf("production releases: %w", err)
	}
	production := map[string]*apogee.Release{}
	for _, r := range prod {
		production[r.DeploymentID] = r
	}
	changed := false
	// Without a runtime node alive, what is placed stays where it is
	// until one comes: only what no longer serves is removed.
	canPlace := len(runtimeNodes(live, ps, DefaultInstanceMemory)) > 0
	byRelease := map[string][]apogee.Placement{}
	for _, p := range ps {
		byRelease[p.ReleaseID] = append(byRelease[p.ReleaseID], p)
	}
	var errs []error
	for id, rows := range byRelease {
		held := false
		for _, p := range rows {
			if p.HoldUntil != nil && now.Before(*p.HoldUntil) {
				held = true
			}
		}
		if production[id] == nil && !held {
			// No longer serving: drain, then remove.
			for _, p := range rows {
				if p.HoldUntil == nil {
					until := now.Add(drainGrace)
					p.HoldUntil = &until
					errs = append(errs, c.cfg.Store.SetPlacement(ctx, p))
				} else {
					errs = append(errs, c.cfg.Store.DeletePlacement(ctx, p.ReleaseID, p.NodeID))
					c.log.Info("app instances unplaced: the release no longer serves", "release", id, "node", p.NodeID)
				}
				changed = true
			}
			continue
		}
		if production[id] != nil {
			// Serving now: the promotion's hold has done its work, and
			// the release is removed as soon as it stops serving.
			for _, p := range rows {
				if p.HoldUntil != nil {
					p.HoldUntil = nil
					errs = append(errs, c.cfg.Store.SetPlacement(ctx, p))
					changed = true
				}
			}
		}
		if !canPlace {
			continue
		}
		// Instances on dead nodes go elsewhere.
		lost := 0
		var hold *time.Time
		for _, p := range rows {
			if _, ok := live[p.NodeID]; !ok {
				lost += p.Count
				hold = p.HoldUntil
				if err := c.cfg.Store.DeletePlacement(ctx, p.ReleaseID, p.NodeID); err != nil {
					errs = append(errs, err)
					continue
				}
				c.log.Warn("node is dead: its app instances are placed again", "node", p.NodeID, "release", id, "instances", p.Count)
				changed = true
			}
		}
		if lost > 0 {
			rest := slices.DeleteFunc(slices.Clone(ps), func(p apogee.Placement) bool { _, ok := live[p.NodeID]; return !ok })
			if _, err := c.place(ctx, rows[0].ProjectID, id, lost, hold, rest); err != nil {
				errs = append(errs, err)
			}
		} else if production[id] != nil {
			ch, err := c.rescale(ctx, id, rows, ps)
			if err != nil {
				errs = append(errs, err)
			}
			changed = changed || ch
		}
	}
	// Production releases of apps with nothing placed (a platform that
	// just turned to several nodes, or whose every runtime node died).
	for id, r := range production {
		if !canPlace {
			break
		}
		if len(byRelease[id]) > 0 {
			continue
		}
		p, err := c.cfg.Store.ProjectByID(ctx, r.ProjectID)
		if err != nil {
			if !errors.Is(err, apogee.ErrNotFound) {
				errs = append(errs, err)
			}
			continue
		}
		if _, err := c.place(ctx, r.ProjectID, id, p.Settings.App.InstancesOr(), nil, ps); err != nil {
			errs = append(errs, err)
			continue
		}
		changed = true
	}
	// Once a minute the registry forgets nodes dead for long (their
	// instances are placed elsewhere by now), and manifests kept for
	// promotions that placed nothing go.
	if now.Sub(c.swept) >= time.Minute {
		c.swept = now
		if err := c.cfg.Store.DeleteNodesBefore(ctx, now.Add(-forgetAfter)); err != nil {
			errs = append(errs, err)
		}
		if err := c.cfg.Store.DeleteStalePlacedManifests(ctx, now.Add(-forgetAfter)); err != nil {
			errs = append(errs, err)
		}
	}
	return changed, errors.Join(errs...)
}

// forgetAfter is how long a dead node stays in the registry.
const forgetAfter = 10 * time.Minute

// rescale keeps the instances placed of serving release (rows, every one
// on a live node) at its app's instance count, as `apogee apps scale`
// sets it: the missing ones are placed where Spread says, extra ones go
// from the nodes that run the most of them. It reports whether it
// changed anything.
func (c *Cluster) rescale(ctx context.Context, release string, rows, ps []apogee.Placement) (bool, error) {
	p, err := c.cfg.Store.ProjectByID(ctx, rows[0].ProjectID)
	if errors.Is(err, apogee.ErrNotFound) {
		return false, nil // deleted: its release stops serving
	}
	if err != nil {
		return false, fmt.Errorf("project of release %s: %w", release, err)
	}
	want, have := p.Settings.App.InstancesOr(), 0
	for _, r := range rows {
		have += r.Count
	}
	switch {
	case have < want:
		n, err := c.place(ctx, p.ID, release, want-have, nil, ps)
		return n > 0, err
	case have == want:
		return false, nil
	}
	was := map[string]int{}
	for _, r := range rows {
		was[r.NodeID] = r.Count
	}
	rows = slices.Clone(rows)
	for range have - want {
		most := 0
		for i, r := range rows {
			if r.Count > rows[most].Count || (r.Count == rows[most].Count && r.NodeID > rows[most].NodeID) {
				most = i
			}
		}
		rows[most].Count--
	}
	var errs []error
	for _, r := range rows {
		if r.Count == was[r.NodeID] {
			continue
		}
		r.HoldUntil = nil // serving: no promotion holds it
		if r.Count == 0 {
			errs = append(errs, c.cfg.Store.DeletePlacement(ctx, r.ReleaseID, r.NodeID))
		} else {
			errs = append(errs, c.cfg.Store.SetPlacement(ctx, r))
		}
		c.log.Info("app instances scaled down", "release", release, "node", r.NodeID, "instances", r.Count)
	}
	return true, errors.Join(errs...)
}

// CheckScale refuses a scale the nodes cannot act on: autoscaling (min
// below max) is each node's own, not yet the platform's.
func CheckScale(project string, s apogee.AppScale) error {
	if s.Min != s.Max {
		return apogee.Errorf(apogee.ECONFLICT, "autoscaling does not act across nodes yet: scale %s to a fixed number of instances (apogee apps scale %s --instances N)", project, project)
	}
	return nil
}

// SetScale takes a new instance count of project's app, whose settings
// the platform saved: the scheduler's next pass (this node's now, the
// leader's within a heartbeat) places or removes instances to match.
func (c *Cluster) SetScale(ctx context.Context, project string, s apogee.AppScale) error {
	if err := CheckScale(project, s); err != nil {
		return err
	}
	c.poke()
	return nil
}
