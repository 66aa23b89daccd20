-- +goose Up
-- Projects connected to a Git repository, and their settings (build
-- overrides, serving switches) as one JSON document: settings grow with
-- the platform and are read and written whole.
ALTER TABLE projects ADD COLUMN git_url TEXT NOT NULL DEFAULT '';
ALTER TABLE projects ADD COLUMN git_branch TEXT NOT NULL DEFAULT '';
ALTER TABLE projects ADD COLUMN webhook_secret TEXT NOT NULL DEFAULT '';
ALTER TABLE projects ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
CREATE INDEX projects_git_url ON projects (git_url);

-- Where a deployment came from and how its build went.
ALTER TABLE deployments ADD COLUMN source TEXT NOT NULL DEFAULT 'upload';
ALTER TABLE deployments ADD COLUMN branch TEXT NOT NULL DEFAULT '';
ALTER TABLE deployments ADD COLUMN commit_sha TEXT NOT NULL DEFAULT '';
ALTER TABLE deployments ADD COLUMN error TEXT NOT NULL DEFAULT '';
ALTER TABLE deployments ADD COLUMN build_started_at TIMESTAMPTZ;
ALTER TABLE deployments ADD COLUMN build_finished_at TIMESTAMPTZ;

-- +goose Down
DROP INDEX projects_git_url;
ALTER TABLE deployments DROP COLUMN build_finished_at;
ALTER TABLE deployments DROP COLUMN build_started_at;
ALTER TABLE deployments DROP COLUMN error;
ALTER TABLE deployments DROP COLUMN commit_sha;
ALTER TABLE deployments DROP COLUMN branch;
ALTER TABLE deployments DROP COLUMN source;
ALTER TABLE projects DROP COLUMN settings;
ALTER TABLE projects DROP COLUMN webhook_secret;
ALTER TABLE projects DROP COLUMN git_branch;
ALTER TABLE projects DROP COLUMN git_url;
