-- +goose Up
-- The edge's request records (issue 15): one row per request, written in
-- batches by the access writer and pruned by age. No client address is
-- kept: visitor is a hash with a salt that changes every UTC day. at_ms is
-- Unix milliseconds, so that series group by integer division on both
-- databases. No foreign key: a request of a project deleted meanwhile is
-- stored and goes with pruning.
CREATE TABLE requests (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id    TEXT NOT NULL,
    deployment_id TEXT NOT NULL,
    at_ms         BIGINT NOT NULL,
    host          TEXT NOT NULL,
    method        TEXT NOT NULL,
    path          TEXT NOT NULL,
    status        INTEGER NOT NULL,
    bytes         BIGINT NOT NULL,
    duration_us   BIGINT NOT NULL,
    cache_hit     BOOLEAN NOT NULL,
    referrer      TEXT NOT NULL,
    country       TEXT NOT NULL,
    device        TEXT NOT NULL,
    visitor       TEXT NOT NULL
);
CREATE INDEX requests_project_at ON requests (project_id, at_ms);
CREATE INDEX requests_at ON requests (at_ms);

-- +goose Down
DROP INDEX requests_at;
DROP INDEX requests_project_at;
DROP TABLE requests;
