-- +goose Up
-- The commit a Git deployment built (issue 13, item 10): its subject
-- line, its author's name and a link to it where the host is known
-- (GitHub, GitLab, Bitbucket), for lists as Vercel shows them.
ALTER TABLE deployments ADD COLUMN commit_message TEXT NOT NULL DEFAULT '';
ALTER TABLE deployments ADD COLUMN commit_author TEXT NOT NULL DEFAULT '';
ALTER TABLE deployments ADD COLUMN commit_url TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE deployments DROP COLUMN commit_url;
ALTER TABLE deployments DROP COLUMN commit_author;
ALTER TABLE deployments DROP COLUMN commit_message;
