-- +goose Up
-- Releases of apps (issue 11): one per deployment of an app, the same id.
-- The tree is the deployment's manifest; the row adds how it starts, the
-- health check, a snapshot of the project's variables (env: JSON of
-- [{key, value, secret}] with values sealed as project_env keeps them)
-- and what made it. version counts a project's releases from 1.
-- released_at: the release command ran (it never runs again);
-- pruned_at: fell out of the kept releases, its manifest dropped.
CREATE TABLE releases (
    deployment_id   TEXT PRIMARY KEY REFERENCES deployments (id) ON DELETE CASCADE,
    project_id      TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    version         INTEGER NOT NULL,
    start_command   TEXT NOT NULL,
    release_command TEXT NOT NULL DEFAULT '',
    health_path     TEXT NOT NULL DEFAULT '/',
    boot_timeout    INTEGER NOT NULL DEFAULT 60,
    env             TEXT NOT NULL DEFAULT '[]',
    description     TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL,
    released_at     TEXT,
    pruned_at       TEXT,
    UNIQUE (project_id, version)
);

-- +goose Down
DROP TABLE releases;
