-- +goose Up
-- The rules of a deployment's routing files that were skipped, and why
-- (issue 14): a JSON array of apogee.RuleWarning, '' when none. Netlify
-- deploys without the rules it cannot process and says which.
ALTER TABLE deployments ADD COLUMN rule_warnings TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE deployments DROP COLUMN rule_warnings;
