-- +goose Up
-- Who holds which blob (issue 10, item 4): a blob's hash is a
-- capability. A manifest may name a blob without uploading it only if
-- its project's owner holds it: they uploaded its bytes (files, ZIPs) or
-- a build of theirs produced them. size is the blob's size as received
-- (-1: not known, rows made from manifests written before sizes were
-- checked; the platform asks the blob store then).
CREATE TABLE blob_holds (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sha256     TEXT NOT NULL,
    size       BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, sha256)
);
-- What their ready deployments and received ZIPs already hold.
INSERT INTO blob_holds (user_id, sha256, size, created_at)
SELECT p.owner_id, df.sha256, -1, MIN(d.created_at) FROM deployment_files df
    JOIN deployments d ON d.id = df.deployment_id
    JOIN projects p ON p.id = d.project_id
    WHERE d.status = 'ready'
    GROUP BY p.owner_id, df.sha256;
INSERT INTO blob_holds (user_id, sha256, size, created_at)
SELECT p.owner_id, u.blob_sha256, MAX(u.size), MIN(u.created_at) FROM uploads u
    JOIN projects p ON p.id = u.project_id
    WHERE u.used_at IS NOT NULL AND u.blob_sha256 <> ''
    AND NOT EXISTS (SELECT 1 FROM blob_holds h WHERE h.user_id = p.owner_id AND h.sha256 = u.blob_sha256)
    GROUP BY p.owner_id, u.blob_sha256;

-- The size of a project's dependency cache on the builders' disk
-- (issue 10, item 8), counted against its owner's storage.
ALTER TABLE projects ADD COLUMN cache_bytes BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE projects DROP COLUMN cache_bytes;
DROP TABLE blob_holds;
