-- +goose Up
-- Outgoing webhooks of projects (issue 5, notifications). secret is
-- sealed by the API (internal/secretbox, "v1:…"); events is a
-- comma-separated filter ('' = every type); last_* is the last delivery.
CREATE TABLE webhooks (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    events      TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    last_status TEXT NOT NULL DEFAULT '',
    last_at     TEXT,
    last_code   INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX webhooks_project ON webhooks (project_id, created_at);

-- +goose Down
DROP TABLE webhooks;
