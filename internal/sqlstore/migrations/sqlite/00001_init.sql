-- Apogee's schema on SQLite. Times are TEXT in one fixed-width UTC form,
-- 2006-01-02T15:04:05.000000Z, so that they sort and compare as strings.

-- +goose Up
CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    email      TEXT NOT NULL UNIQUE, -- stored lower-case
    password   TEXT NOT NULL,
    admin      INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);

CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    hash         BLOB NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    revoked_at   TEXT,
    last_used_at TEXT
);
CREATE INDEX tokens_user ON tokens (user_id, created_at);

-- production_id is the production alias. SQLite resolves the reference to
-- deployments, created below, when it checks the key.
CREATE TABLE projects (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    owner_id      TEXT NOT NULL REFERENCES users (id),
    production_id TEXT REFERENCES deployments (id) ON DELETE SET NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX projects_owner ON projects (owner_id, name);
CREATE INDEX projects_production ON projects (production_id);

CREATE TABLE deployments (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    status     TEXT NOT NULL CHECK (status IN ('queued', 'building', 'uploading', 'ready', 'error', 'canceled', 'expired')),
    target     TEXT NOT NULL CHECK (target IN ('production', 'preview')),
    host       TEXT NOT NULL UNIQUE,
    files      INTEGER NOT NULL,
    size       INTEGER NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    ready_at   TEXT
);
CREATE INDEX deployments_project ON deployments (project_id, created_at, id);
CREATE INDEX deployments_uploading ON deployments (created_at) WHERE status = 'uploading';

CREATE TABLE deployment_files (
    deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    path          TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    size          INTEGER NOT NULL,
    mode          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (deployment_id, path)
) WITHOUT ROWID;
CREATE INDEX deployment_files_sha256 ON deployment_files (deployment_id, sha256);

-- +goose Down
DROP TABLE deployment_files;
DROP TABLE projects;
DROP TABLE deployments;
DROP TABLE tokens;
DROP TABLE users;
