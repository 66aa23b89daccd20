-- +goose Up
-- Monorepos (issue 20): a push that does not touch a project's root
-- folder or watch paths, or whose ignored build step exits 0, is recorded
-- as a skipped deployment: status canceled, skipped set, error saying
-- why. diff_base is the commit the push moved from, kept for the build
-- to compare with when the host's list of changed files was not whole.
ALTER TABLE deployments ADD COLUMN skipped BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE deployments ADD COLUMN diff_base TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE deployments DROP COLUMN diff_base;
ALTER TABLE deployments DROP COLUMN skipped;
