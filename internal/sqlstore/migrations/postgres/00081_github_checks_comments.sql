-- +goose Up
-- GitHub integration (issue 20): the check run reported for a deployment
-- of a project built through the GitHub App, so that its later news
-- updates it; and Apogee's one comment on a pull request per repository
-- and poster (the GitHub App's installation, or a user's OAuth token),
-- with one row per project of a monorepo, edited in place.
CREATE TABLE github_check_runs (
    deployment_id TEXT PRIMARY KEY REFERENCES deployments (id) ON DELETE CASCADE,
    github_id     BIGINT NOT NULL
);
CREATE TABLE github_pr_comments (
    repo       TEXT NOT NULL,
    number     INTEGER NOT NULL,
    poster     TEXT NOT NULL,
    comment_id BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (repo, number, poster)
);
CREATE TABLE github_pr_comment_rows (
    repo          TEXT NOT NULL,
    number        INTEGER NOT NULL,
    poster        TEXT NOT NULL,
    project_id    TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    project       TEXT NOT NULL,
    deployment_id TEXT NOT NULL,
    status        TEXT NOT NULL,
    inspect_url   TEXT NOT NULL DEFAULT '',
    preview_url   TEXT NOT NULL DEFAULT '',
    commit_sha    TEXT NOT NULL DEFAULT '',
    closed        BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (repo, number, poster, project_id)
);

-- +goose Down
DROP TABLE github_pr_comment_rows;
DROP TABLE github_pr_comments;
DROP TABLE github_check_runs;
