-- Custom domains (issue 4) and the key/value and lock tables behind
-- certmagic.Storage, so that every edge sharing the database shares
-- certificates, ACME accounts and challenge state.

-- +goose Up
CREATE TABLE domains (
    name        TEXT PRIMARY KEY, -- lower-case FQDN, unique across all projects
    project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    token       TEXT NOT NULL,
    verified_at TEXT,
    created_at  TEXT NOT NULL
);
CREATE INDEX domains_project ON domains (project_id, name);

CREATE TABLE cert_storage (
    key         TEXT PRIMARY KEY,
    value       BLOB NOT NULL,
    modified_at TEXT NOT NULL
);

CREATE TABLE cert_locks (
    name       TEXT PRIMARY KEY,
    token      TEXT NOT NULL, -- which holder: only it may refresh or release the lock
    expires_at TEXT NOT NULL
);

-- +goose Down
DROP TABLE cert_locks;
DROP TABLE cert_storage;
DROP TABLE domains;
