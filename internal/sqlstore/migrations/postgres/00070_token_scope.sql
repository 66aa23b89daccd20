-- +goose Up
-- Tokens scoped to a team and read-only tokens (issue 19): team_id NULL is
-- a token for everything its user may do; read_only refuses every change.
ALTER TABLE tokens ADD COLUMN team_id TEXT REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE tokens ADD COLUMN read_only BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE tokens DROP COLUMN read_only;
ALTER TABLE tokens DROP COLUMN team_id;
