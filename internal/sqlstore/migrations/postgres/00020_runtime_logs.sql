-- +goose Up
-- Runtime logs of app instances (issue 11), one log per project, numbered
-- by runtime_log_heads: an append bumps the project's head row and inserts
-- its lines in one transaction, so seq order is commit order. size is what
-- a line counts against the plan's runtime_log_bytes (its text and a
-- newline); the head keeps the sums for the pruner.
CREATE TABLE runtime_log_heads (
    project_id TEXT PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    last_seq   BIGINT NOT NULL,
    lines      BIGINT NOT NULL,
    bytes      BIGINT NOT NULL
);
CREATE TABLE runtime_logs (
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    seq        BIGINT NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    stream     TEXT NOT NULL,
    instance   TEXT NOT NULL,
    text       TEXT NOT NULL,
    size       BIGINT NOT NULL,
    PRIMARY KEY (project_id, seq)
);
-- Reads by time range and pruning by age.
CREATE INDEX runtime_logs_at ON runtime_logs (project_id, at);

-- +goose Down
DROP INDEX runtime_logs_at;
DROP TABLE runtime_logs;
DROP TABLE runtime_log_heads;
