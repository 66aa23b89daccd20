-- +goose Up
-- Previews of pull requests (issue 20): a deployment may be the preview of
-- a pull request (pr_number, 0 for none) and built from a fork
-- (fork_repo, its clone URL; "" for the project's repository). One row
-- per pull request of a project: its head, whether it is open, and the id
-- of the one comment Apogee keeps up to date on it (0 until posted).
ALTER TABLE deployments ADD COLUMN pr_number INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deployments ADD COLUMN fork_repo TEXT NOT NULL DEFAULT '';
CREATE INDEX deployments_pr ON deployments (project_id, pr_number) WHERE pr_number <> 0;
CREATE TABLE pull_requests (
    project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    number      INTEGER NOT NULL,
    title       TEXT NOT NULL DEFAULT '',
    url         TEXT NOT NULL DEFAULT '',
    head_branch TEXT NOT NULL,
    head_repo   TEXT NOT NULL DEFAULT '',
    state       TEXT NOT NULL,
    merged      BOOLEAN NOT NULL DEFAULT FALSE,
    comment_id  BIGINT NOT NULL DEFAULT 0,
    updated_at  TIMESTAMPTZ NOT NULL,
    closed_at   TIMESTAMPTZ,
    PRIMARY KEY (project_id, number)
);

-- +goose Down
DROP TABLE pull_requests;
DROP INDEX deployments_pr;
ALTER TABLE deployments DROP COLUMN fork_repo;
ALTER TABLE deployments DROP COLUMN pr_number;
