-- +goose Up
-- The traffic analytics' rollups (issue 15): the access writer sums each
-- deployment's requests per minute and per hour in memory and writes the
-- sums here, replacing its own row of the period as it grows (writer
-- names the access log of one server, so servers never overwrite each
-- other's rows; a period's rows add up). visitors is a HyperLogLog sketch,
-- latency a DDSketch of microseconds: both merge across rows, so any range
-- is summed from the rows alone. start_s is Unix seconds, period_s 60 or
-- 3600. No foreign key: rows of a deleted project go with pruning.
CREATE TABLE traffic_rollups (
    project_id    TEXT NOT NULL,
    deployment_id TEXT NOT NULL,
    period_s      INTEGER NOT NULL,
    start_s       BIGINT NOT NULL,
    writer        TEXT NOT NULL,
    requests      BIGINT NOT NULL,
    bytes         BIGINT NOT NULL,
    cache_hits    BIGINT NOT NULL,
    s1            BIGINT NOT NULL,
    s2            BIGINT NOT NULL,
    s3            BIGINT NOT NULL,
    s4            BIGINT NOT NULL,
    s5            BIGINT NOT NULL,
    visitors      BYTEA NOT NULL,
    latency       BYTEA NOT NULL,
    PRIMARY KEY (project_id, period_s, start_s, deployment_id, writer)
);
CREATE INDEX traffic_rollups_prune ON traffic_rollups (period_s, start_s);

-- The top tables (paths, referrers, 404s, countries, devices) of each
-- deployment's hours and days as one writer counted them with a
-- heavy-hitters sketch: its most frequent keys only, replaced as the
-- period goes on. Days keep a long range to a few thousand rows.
CREATE TABLE traffic_tops (
    project_id    TEXT NOT NULL,
    kind          TEXT NOT NULL,
    period_s      INTEGER NOT NULL,
    start_s       BIGINT NOT NULL,
    deployment_id TEXT NOT NULL,
    writer        TEXT NOT NULL,
    key           TEXT NOT NULL,
    count         BIGINT NOT NULL,
    PRIMARY KEY (project_id, kind, period_s, start_s, deployment_id, writer, key)
);
CREATE INDEX traffic_tops_prune ON traffic_tops (period_s, start_s);

-- +goose Down
DROP INDEX traffic_tops_prune;
DROP TABLE traffic_tops;
DROP INDEX traffic_rollups_prune;
DROP TABLE traffic_rollups;
