-- +goose Up
-- Plans and quotas (issue 5). A limit of -1 is unlimited. Exactly one plan
-- is the default (partial unique index); users with plan_id NULL are on it.
CREATE TABLE plans (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    is_default        BOOLEAN NOT NULL DEFAULT FALSE,
    projects          BIGINT NOT NULL,
    concurrent_builds BIGINT NOT NULL,
    build_minutes     BIGINT NOT NULL,
    storage_bytes     BIGINT NOT NULL,
    custom_domains    BIGINT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX plans_one_default ON plans (is_default) WHERE is_default;

-- The free plan, like a hobby tier: 10 projects, 1 build at a time,
-- 100 build minutes a month, 1 GiB of files, 5 custom domains.
INSERT INTO plans (id, name, is_default, projects, concurrent_builds, build_minutes, storage_bytes, custom_domains, created_at)
VALUES ('free', 'free', TRUE, 10, 1, 100, 1073741824, 5, date_trunc('microseconds', now()));

ALTER TABLE users ADD COLUMN plan_id TEXT REFERENCES plans (id);
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMPTZ;
CREATE INDEX users_plan ON users (plan_id);
-- Builds running per owner are counted at every claim.
CREATE INDEX deployments_status ON deployments (status, project_id);

-- +goose Down
DROP INDEX deployments_status;
DROP INDEX users_plan;
ALTER TABLE users DROP COLUMN disabled_at;
ALTER TABLE users DROP COLUMN plan_id;
DROP TABLE plans;
