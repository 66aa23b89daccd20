package cluster

import (
	"cmp"
	"context"
	"slices"

	"github.com/apogee-dev/apogee"
)

// Instances describes a project's instances on every node: this node's
// in full (its runtime's status), the others' as their nodes report them
// (a ready instance by its id; the ones not ready yet as starting, or
// crashed with the node's reason). Each names its node.
func (c *Cluster) Instances(ctx context.Context, project string) []apogee.AppInstance {
	p, err := c.cfg.Store.ProjectByName(ctx, project)
	if err != nil {
		return nil
	}
	var out []apogee.AppInstance
	if c.cfg.Local != nil {
		mine, _ := c.cfg.Local.Instances(project)
		for _, in := range mine {
			in.Node = c.cfg.ID
			out = append(out, in)
		}
	}
	live := c.live()
	for _, pl := range c.snapshotPlacements() {
		if pl.ProjectID != p.ID || pl.NodeID == c.cfg.ID {
			continue
		}
		if _, ok := live[pl.NodeID]; !ok {
			continue
		}
		for _, id := range pl.Ready {
			out = append(out, apogee.AppInstance{ID: id, Release: pl.ReleaseID, State: "ready", Healthy: true, Node: pl.NodeID})
		}
		for range pl.Count - len(pl.Ready) {
			in := apogee.AppInstance{Release: pl.ReleaseID, State: "starting", Node: pl.NodeID}
			if pl.Error != "" {
				in.State, in.Reason = "crashed", pl.Error
			}
			out = append(out, in)
		}
	}
	slices.SortStableFunc(out, func(a, b apogee.AppInstance) int {
		return cmp.Or(cmp.Compare(a.Release, b.Release), cmp.Compare(a.Node, b.Node), cmp.Compare(a.ID, b.ID))
	})
	return out
}
