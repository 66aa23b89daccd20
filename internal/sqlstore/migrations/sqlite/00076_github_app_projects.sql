-- +goose Up
-- The GitHub App (issue 20): a project imported from a repository granted
-- to an installation of the app is built from the app's webhooks and
-- cloned, and its commits get statuses, with the installation's token.
-- Only a project linked here gets that token: its owner showed, at
-- import, that their GitHub account reaches the installation's
-- repository; a project that merely names the URL does not.
CREATE TABLE github_app_projects (
    project_id      TEXT PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    installation_id INTEGER NOT NULL,
    repo            TEXT NOT NULL, -- owner/name, lower case
    created_at      TEXT NOT NULL
);
CREATE INDEX github_app_projects_installation ON github_app_projects (installation_id, repo);

-- +goose Down
DROP TABLE github_app_projects;
