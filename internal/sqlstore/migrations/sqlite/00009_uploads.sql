-- +goose Up
-- Pre-signed ZIP uploads (issue 3): a slot takes one PUT of a ZIP of a
-- project's source tree before expires_at; used_at, blob_sha256 and size
-- are set when the ZIP arrived, and a build then names the upload.
CREATE TABLE uploads (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    created_by  TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    blob_sha256 TEXT NOT NULL DEFAULT '',
    size        INTEGER NOT NULL DEFAULT 0,
    used_at     TEXT
);
CREATE INDEX uploads_project ON uploads (project_id);

-- +goose Down
DROP TABLE uploads;
