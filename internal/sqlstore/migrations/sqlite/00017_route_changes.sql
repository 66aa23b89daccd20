-- +goose Up
-- The version of what the edge serves: one counter, bumped in the same
-- transaction as every change of a route (a deployment ready, a
-- production alias moved, a custom domain verified or removed, a project
-- deleted), and which project each version changed. Edges catch up from
-- here after a lost event. The counter is one row so that every bump
-- takes its lock: versions commit in order and without gaps.
CREATE TABLE route_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO route_version (id, version) VALUES (1, 0);
CREATE TABLE route_changes (
    version    BIGINT PRIMARY KEY,
    project_id TEXT NOT NULL
);

-- +goose Down
DROP TABLE route_changes;
DROP TABLE route_version;
