package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/apogee-dev/apogee"
)

// BeforeProduction is the platform's Gate on a platform of several
// nodes: for an app's release it places the project's number of
// instances on the runtime nodes (held for the release's boot timeout
// and a minute, so that the scheduler keeps them before the alias
// moves), wakes the nodes and waits until every instance is ready on its
// node. A node that could not start its instances refuses the move with
// its reason, and the placements are removed; the release that served
// keeps serving. A static deployment passes.
func (c *Cluster) BeforeProduction(ctx context.Context, p *apogee.Project, d *apogee.Deployment, files []apogee.File) error {
	rel, err := c.cfg.Store.Release(ctx, d.ID)
	if errors.Is(err, apogee.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cluster: release of %s: %w", d.ID, err)
	}
	n := p.Settings.App.InstancesOr()
	wait := time.Duration(rel.BootTimeout)*time.Second + time.Minute
	hold := time.Now().Add(wait)
	// A build's manifest is stored with the move: the runtime nodes
	// read it from here until then.
	if len(files) > 0 {
		if err := c.cfg.Store.SavePlacedManifest(ctx, d.ID, files); err != nil {
			return fmt.Errorf("cluster: keep the manifest of %s: %w", d.ID, err)
		}
	}
	if err := c.read(ctx); err != nil {
		return fmt.Errorf("cluster: read placements: %w", err)
	}
	ps := c.snapshotPlacements()
	have := 0
	live := c.live()
	for _, pl := range ps {
		if pl.ReleaseID != d.ID {
			continue
		}
		if _, ok := live[pl.NodeID]; ok {
			have += pl.Count
			pl.HoldUntil = &hold
			if err := c.cfg.Store.SetPlacement(ctx, pl); err != nil {
				return fmt.Errorf("cluster: hold placement: %w", err)
			}
		}
	}
	if have < n {
		if _, err := c.place(ctx, p.ID, d.ID, n-have, &hold, ps); err != nil {
			c.unplace(context.WithoutCancel(ctx), p, d.ID)
			return err
		}
	}
	c.publish(ctx)
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		c.mu.Lock()
		ch := c.changed
		ready, reason, node := 0, "", ""
		live := liveNodes(c.nodes, time.Now(), c.cfg.TTL)
		for _, pl := range c.placements {
			if pl.ReleaseID != d.ID {
				continue
			}
			if _, ok := live[pl.NodeID]; ok {
				ready += min(len(pl.Ready), pl.Count)
			}
			if pl.Error != "" {
				reason, node = pl.Error, pl.NodeID
			}
		}
		c.mu.Unlock()
		switch {
		case reason != "":
			c.unplace(context.WithoutCancel(ctx), p, d.ID)
			return apogee.Errorf(apogee.EINVALID, "release v%d of %s did not start on node %s: %s", rel.Version, p.Name, node, reason)
		case ready >= n:
			c.log.Info("app release ready on its nodes; production moves to it", "project", p.Name, "release", d.ID, "instances", n)
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			c.unplace(context.WithoutCancel(ctx), p, d.ID)
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return apogee.Errorf(apogee.EUNAVAILABLE, "release v%d of %s: %d of %d instances ready on the runtime nodes after %s", rel.Version, p.Name, ready, n, wait)
			}
			return ctx.Err()
		}
	}
}

// unplace removes every placement of a release (a promotion that
// failed), unless it serves production.
func (c *Cluster) unplace(ctx context.Context, p *apogee.Project, release string) {
	if p.ProductionID == release {
		return
	}
	if err := c.read(ctx); err != nil {
		c.log.Warn("cluster: read placements", "err", err)
		return
	}
	for _, pl := range c.snapshotPlacements() {
		if pl.ReleaseID == release {
			if err := c.cfg.Store.DeletePlacement(ctx, pl.ReleaseID, pl.NodeID); err != nil {
				c.log.Warn("cluster: remove a placement", "release", release, "node", pl.NodeID, "err", err)
			}
		}
	}
	c.publish(ctx)
}
