-- +goose Up
-- Stable branch URLs (issue 13, item 11): <project>-git-<branch> serves
-- the newest ready deployment of a branch. One row per branch; host is
-- the label served under the platform's domain.
CREATE TABLE branch_aliases (
    project_id    TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    branch        TEXT NOT NULL,
    host          TEXT NOT NULL UNIQUE,
    deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    PRIMARY KEY (project_id, branch)
);

-- +goose Down
DROP TABLE branch_aliases;
