-- +goose Up
-- The project's serve settings a deployment was finalized with: a
-- deployment never changes, so settings apply from the next one on.
ALTER TABLE deployments ADD COLUMN serve_settings TEXT NOT NULL DEFAULT '{}';

-- Precompressed variants by the content hash of the original blob, made
-- once at deploy time. variant_sha256 '' records that an encoding did not
-- pay off for that blob, so a redeploy does not try again.
CREATE TABLE blob_variants (
    sha256         TEXT NOT NULL,
    encoding       TEXT NOT NULL,
    variant_sha256 TEXT NOT NULL,
    size           BIGINT NOT NULL,
    PRIMARY KEY (sha256, encoding)
);
CREATE INDEX blob_variants_variant ON blob_variants (variant_sha256);

-- +goose Down
DROP TABLE blob_variants;
ALTER TABLE deployments DROP COLUMN serve_settings;
