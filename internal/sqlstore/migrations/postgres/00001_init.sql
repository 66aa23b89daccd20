-- Apogee's schema on PostgreSQL. Text that is ordered or compared byte for
-- byte (names, hosts, paths, emails) uses the "C" collation so that the
-- order matches SQLite's whatever the database's locale.

-- +goose Up
CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    email      TEXT COLLATE "C" NOT NULL UNIQUE, -- stored lower-case
    password   TEXT NOT NULL,
    admin      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    hash         BYTEA NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ
);
CREATE INDEX tokens_user ON tokens (user_id, created_at);

CREATE TABLE projects (
    id            TEXT PRIMARY KEY,
    name          TEXT COLLATE "C" NOT NULL UNIQUE,
    owner_id      TEXT NOT NULL REFERENCES users (id),
    production_id TEXT, -- the production alias; its key is added below
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX projects_owner ON projects (owner_id, name);
CREATE INDEX projects_production ON projects (production_id);

CREATE TABLE deployments (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    status     TEXT NOT NULL CHECK (status IN ('queued', 'building', 'uploading', 'ready', 'error', 'canceled', 'expired')),
    target     TEXT NOT NULL CHECK (target IN ('production', 'preview')),
    host       TEXT COLLATE "C" NOT NULL UNIQUE,
    files      INTEGER NOT NULL,
    size       BIGINT NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    ready_at   TIMESTAMPTZ
);
CREATE INDEX deployments_project ON deployments (project_id, created_at, id);
CREATE INDEX deployments_uploading ON deployments (created_at) WHERE status = 'uploading';

ALTER TABLE projects ADD CONSTRAINT projects_production_fkey
    FOREIGN KEY (production_id) REFERENCES deployments (id) ON DELETE SET NULL;

CREATE TABLE deployment_files (
    deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    path          TEXT COLLATE "C" NOT NULL,
    sha256        TEXT NOT NULL,
    size          BIGINT NOT NULL,
    mode          BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (deployment_id, path)
);
CREATE INDEX deployment_files_sha256 ON deployment_files (deployment_id, sha256);

-- +goose Down
ALTER TABLE projects DROP CONSTRAINT projects_production_fkey;
DROP TABLE deployment_files;
DROP TABLE deployments;
DROP TABLE projects;
DROP TABLE tokens;
DROP TABLE users;
