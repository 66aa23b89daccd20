package apogee

import "time"

// Node is one server of a platform that spans several (issue 16, "Apps
// across nodes"): what it records of itself in the store at each
// heartbeat. A node whose heartbeat is older than the platform's time to
// live is dead.
type Node struct {
	ID string `json:"id"`
	// Roles are the node's --roles (api, edge, builder, runtime).
	Roles []string `json:"roles"`
	// Addr is where the node's private listener (--node-listen) is
	// reached by the other nodes, host:port.
	Addr string `json:"addr"`
	// FreeMemory is the memory the node has for new app instances, in
	// bytes, when it last beat.
	FreeMemory int64     `json:"free_memory"`
	Started    time.Time `json:"started"`
	Heartbeat  time.Time `json:"heartbeat"`
}

// HasRole reports whether n takes role r.
func (n *Node) HasRole(r string) bool {
	for _, x := range n.Roles {
		if x == r {
			return true
		}
	}
	return false
}

// Placement is how many instances of an app's release one node runs: the
// scheduler writes Count, the node reports Ready (the ids of its
// instances of the release that take requests) and Error (why it could
// not start them). HoldUntil keeps the placement of a release that does
// not serve production (yet: a promotion waits for it) from the
// collector until then.
type Placement struct {
	ReleaseID string     `json:"release_id"`
	NodeID    string     `json:"node_id"`
	ProjectID string     `json:"project_id"`
	Count     int        `json:"count"`
	Ready     []string   `json:"ready,omitempty"`
	Error     string     `json:"error,omitempty"`
	HoldUntil *time.Time `json:"hold_until,omitempty"`
	UpdatedAt time.Time  `json:"updated_at"`
}
