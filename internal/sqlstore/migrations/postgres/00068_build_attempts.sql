-- +goose Up
-- Builder takeover (issue 16): a build whose builder stopped answering is
-- queued again for another builder, up to a bound; build_attempts counts
-- the takeovers.
ALTER TABLE deployments ADD COLUMN build_attempts INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE deployments DROP COLUMN build_attempts;
