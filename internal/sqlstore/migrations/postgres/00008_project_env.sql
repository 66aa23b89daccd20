-- +goose Up
-- Environment variables of projects (issue 3). value is sealed by the
-- API (internal/secretbox, "v1:…"): the database never holds plaintext.
CREATE TABLE project_env (
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    key        TEXT COLLATE "C" NOT NULL,
    value      TEXT NOT NULL,
    secret     BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (project_id, key)
);

-- +goose Down
DROP TABLE project_env;
