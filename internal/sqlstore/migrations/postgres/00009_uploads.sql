-- +goose Up
-- Pre-signed ZIP uploads (issue 3): a slot takes one PUT of a ZIP of a
-- project's source tree before expires_at; used_at, blob_sha256 and size
-- are set when the ZIP arrived, and a build then names the upload.
CREATE TABLE uploads (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    created_by  TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    blob_sha256 TEXT NOT NULL DEFAULT '',
    size        BIGINT NOT NULL DEFAULT 0,
    used_at     TIMESTAMPTZ
);
CREATE INDEX uploads_project ON uploads (project_id);

-- +goose Down
DROP TABLE uploads;
