-- +goose Up
-- Custom domain claims (issue 10, item 6): an unverified domain is a claim
-- of one project and blocks no one; several projects may claim a name,
-- each with its own token, and the first to verify wins: at most one
-- verified row per name. SQLite cannot change a primary key: the table
-- is made again.
CREATE TABLE domains_claims (
    name        TEXT NOT NULL, -- lower-case FQDN
    project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    token       TEXT NOT NULL,
    verified_at TEXT,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (name, project_id)
);
INSERT INTO domains_claims (name, project_id, token, verified_at, created_at)
    SELECT name, project_id, token, verified_at, created_at FROM domains;
DROP TABLE domains;
ALTER TABLE domains_claims RENAME TO domains;
CREATE INDEX domains_project ON domains (project_id, name);
CREATE UNIQUE INDEX domains_verified_name ON domains (name) WHERE verified_at IS NOT NULL;

-- +goose Down
-- Keeps the verified claim of each name, else the oldest.
CREATE TABLE domains_one (
    name        TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    token       TEXT NOT NULL,
    verified_at TEXT,
    created_at  TEXT NOT NULL
);
INSERT INTO domains_one (name, project_id, token, verified_at, created_at)
    SELECT name, project_id, token, verified_at, created_at FROM domains d
    WHERE NOT EXISTS (SELECT 1 FROM domains o WHERE o.name = d.name AND o.project_id <> d.project_id
        AND ((o.verified_at IS NOT NULL AND d.verified_at IS NULL)
          OR ((o.verified_at IS NULL) = (d.verified_at IS NULL) AND (o.created_at < d.created_at
              OR o.created_at = d.created_at AND o.project_id < d.project_id))));
DROP TABLE domains;
ALTER TABLE domains_one RENAME TO domains;
CREATE INDEX domains_project ON domains (project_id, name);
