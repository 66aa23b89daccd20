-- +goose Up
-- Pushed repositories off the node's disk (issue 16): a repository pushed
-- with `git push` is a chain of git bundles in the blob store and its refs
-- here; a node's copy on disk is a cache. The lease serializes pushes to
-- one repository across nodes; version is compared and set by each push.
CREATE TABLE git_repos (
    project_id   TEXT PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    version      BIGINT NOT NULL DEFAULT 0,
    refs         TEXT NOT NULL DEFAULT '',
    lease_holder TEXT NOT NULL DEFAULT '',
    lease_until  TIMESTAMPTZ,
    updated_at   TIMESTAMPTZ NOT NULL
);
-- The bundles of a repository, in order; the blob collector keeps their
-- blobs (HashesInUse).
CREATE TABLE git_bundles (
    project_id TEXT NOT NULL REFERENCES git_repos (project_id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    sha256     TEXT NOT NULL,
    PRIMARY KEY (project_id, seq)
);
CREATE INDEX git_bundles_sha256 ON git_bundles (sha256);

-- +goose Down
DROP TABLE git_bundles;
DROP TABLE git_repos;
