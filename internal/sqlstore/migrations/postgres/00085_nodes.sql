-- +goose Up
-- The node registry (issue 16, apps across nodes): each server of a
-- platform records itself here at every heartbeat; one whose heartbeat
-- lapsed is dead.
CREATE TABLE nodes (
    id          TEXT PRIMARY KEY,
    roles       TEXT NOT NULL DEFAULT '',
    addr        TEXT NOT NULL DEFAULT '',
    free_memory BIGINT NOT NULL DEFAULT 0,
    started_at  TIMESTAMPTZ NOT NULL,
    heartbeat   TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE nodes;
