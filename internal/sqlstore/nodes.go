package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
)

// SaveNode records n's heartbeat: the node's row is made or replaced.
func (s *Store) SaveNode(ctx context.Context, n *apogee.Node) error {
	if n.ID == "" {
		return apogee.Errorf(apogee.EINVALID, "a node needs an id")
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO nodes (id, roles, addr, free_memory, started_at, heartbeat) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (id) DO UPDATE SET roles = excluded.roles, addr = excluded.addr, free_memory = excluded.free_memory, heartbeat = excluded.heartbeat`,
		n.ID, strings.Join(n.Roles, ","), n.Addr, n.FreeMemory, s.d.timeArg(n.Started), s.d.timeArg(n.Heartbeat))
	return wrap("save node", err)
}

// DeleteNodesBefore removes the nodes whose last heartbeat is before t.
func (s *Store) DeleteNodesBefore(ctx context.Context, t time.Time) error {
	_, err := s.db.ExecContext(ctx, "DELETE FROM nodes WHERE heartbeat < $1", s.d.timeArg(t))
	return wrap("delete old nodes", err)
}

// Nodes returns every node recorded, by id.
func (s *Store) Nodes(ctx context.Context) ([]apogee.Node, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT id, roles, addr, free_memory, started_at, heartbeat FROM nodes ORDER BY id")
	if err != nil {
		return nil, wrap("nodes", err)
	}
	defer rows.Close()
	var out []apogee.Node
	for rows.Next() {
		var n apogee.Node
		var roles string
		if err := rows.Scan(&n.ID, &roles, &n.Addr, &n.FreeMemory, timeCol{&n.Started}, timeCol{&n.Heartbeat}); err != nil {
			return nil, wrap("nodes", err)
		}
		n.Roles = splitList(roles)
		out = append(out, n)
	}
	return out, wrap("nodes", rows.Err())
}

// Placements returns every placement of apps' instances, by release and
// node.
func (s *Store) Placements(ctx context.Context) ([]apogee.Placement, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT release_id, node_id, project_id, count, ready, error, hold_until, updated_at
		FROM app_placements ORDER BY release_id, node_id`)
	if err != nil {
		return nil, wrap("placements", err)
	}
	defer rows.Close()
	var out []apogee.Placement
	for rows.Next() {
		var p apogee.Placement
		var ready string
		if err := rows.Scan(&p.ReleaseID, &p.NodeID, &p.ProjectID, &p.Count, &ready, &p.Error, nullTimeCol{&p.HoldUntil}, timeCol{&p.UpdatedAt}); err != nil {
			return nil, wrap("placements", err)
		}
		p.Ready = splitList(ready)
		out = append(out, p)
	}
	return out, wrap("placements", rows.Err())
}

// SetPlacement makes or changes the placement of p.Count instances of
// p.ReleaseID on p.NodeID, with p.HoldUntil. What the node reported
// stays, except its error: a new count is a new try.
func (s *Store) SetPlacement(ctx context.Context, p apogee.Placement) error {
	if p.ReleaseID == "" || p.NodeID == "" || p.ProjectID == "" || p.Count < 1 {
		return apogee.Errorf(apogee.EINVALID, "a placement needs a release, a node, a project and a count of at least 1")
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO app_placements (release_id, node_id, project_id, count, hold_until, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (release_id, node_id) DO UPDATE SET count = excluded.count, hold_until = excluded.hold_until, error = '', updated_at = excluded.updated_at`,
		p.ReleaseID, p.NodeID, p.ProjectID, p.Count, s.d.nullTimeArg(p.HoldUntil), s.d.timeArg(time.Now()))
	if isForeignKey(err) {
		return notFound("project", p.ProjectID)
	}
	return wrap("set placement", err)
}

// DeletePlacement removes the placement of a release on a node, and the
// release's placed manifest with its last placement.
func (s *Store) DeletePlacement(ctx context.Context, releaseID, nodeID string) error {
	return s.inTx(ctx, "delete placement", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM app_placements WHERE release_id = $1 AND node_id = $2", releaseID, nodeID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM placed_manifests WHERE release_id = $1
			AND NOT EXISTS (SELECT 1 FROM app_placements WHERE release_id = $1)`, releaseID)
		return err
	})
}

// SavePlacedManifest keeps the files of a release placed before its
// deployment's manifest is stored.
func (s *Store) SavePlacedManifest(ctx context.Context, releaseID string, files []apogee.File) error {
	b, err := json.Marshal(files)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO placed_manifests (release_id, files, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (release_id) DO UPDATE SET files = excluded.files`, releaseID, string(b), s.d.timeArg(time.Now()))
	return wrap("save placed manifest", err)
}

// DeleteStalePlacedManifests removes the placed manifests made before t
// of releases placed nowhere (a promotion refused before any placement).
func (s *Store) DeleteStalePlacedManifests(ctx context.Context, t time.Time) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM placed_manifests WHERE created_at < $1
		AND NOT EXISTS (SELECT 1 FROM app_placements WHERE app_placements.release_id = placed_manifests.release_id)`, s.d.timeArg(t))
	return wrap("delete stale placed manifests", err)
}

// PlacedManifest returns the files SavePlacedManifest kept for a
// release; nil when none.
func (s *Store) PlacedManifest(ctx context.Context, releaseID string) ([]apogee.File, error) {
	var b string
	err := s.rdb.QueryRowContext(ctx, "SELECT files FROM placed_manifests WHERE release_id = $1", releaseID).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, wrap("placed manifest", err)
	}
	var files []apogee.File
	if err := json.Unmarshal([]byte(b), &files); err != nil {
		return nil, fmt.Errorf("sqlstore: placed manifest of %s: %w", releaseID, err)
	}
	return files, nil
}

// ReportPlacement records what a node runs of a placed release: its
// ready instances and why the others are not (""). It reports whether
// the placement still exists.
func (s *Store) ReportPlacement(ctx context.Context, releaseID, nodeID string, ready []string, reason string) (bool, error) {
	res, err := s.db.ExecContext(ctx, "UPDATE app_placements SET ready = $3, error = $4, updated_at = $5 WHERE release_id = $1 AND node_id = $2",
		releaseID, nodeID, strings.Join(ready, ","), reason, s.d.timeArg(time.Now()))
	if err != nil {
		return false, wrap("report placement", err)
	}
	n, err := res.RowsAffected()
	return n > 0, wrap("report placement", err)
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
