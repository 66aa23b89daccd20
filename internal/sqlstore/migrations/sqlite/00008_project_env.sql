-- +goose Up
-- Environment variables of projects (issue 3). value is sealed by the
-- API (internal/secretbox, "v1:…"): the database never holds plaintext.
CREATE TABLE project_env (
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    secret     INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (project_id, key)
);

-- +goose Down
DROP TABLE project_env;
