-- +goose Up
-- Where the scheduler placed apps' instances: how many of a release each
-- node runs, and which of them are ready, as the node reports.
CREATE TABLE app_placements (
    release_id TEXT NOT NULL,
    node_id    TEXT NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    count      INTEGER NOT NULL,
    ready      TEXT NOT NULL DEFAULT '',
    error      TEXT NOT NULL DEFAULT '',
    hold_until TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (release_id, node_id)
);
-- The manifest of a release placed before its production move stored
-- it (a build's files are stored with the move): the runtime nodes lay
-- out its tree from it. It goes with the release's last placement.
CREATE TABLE placed_manifests (
    release_id TEXT PRIMARY KEY,
    files      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE placed_manifests;
DROP TABLE app_placements;
